"""The authorization endpoints, /aas/oauth2/ac and /aas/oauth2/v2/ac, with ESIA's error codes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.esiaspec import b64url
from tests.keymaterial import make_rsa_key

from .esia_test_client import DATA, RsaSigner, esia_timestamp, redirect_query
from .registration import REDIRECT_URI

SCOPE = "openid fullname birthdate"


def error_of(answer) -> tuple[str, str, str | None]:
    """(error, ESIA code, state) of an error redirect back to the client."""
    query = redirect_query(answer)
    assert answer.headers["Location"].startswith(REDIRECT_URI + "?")
    return query["error"], query["error_description"][:11], query.get("state")


@pytest.mark.parametrize("flow", ["v1", "v2"])
def test_a_valid_request_is_sent_to_the_login_page(esia, flow):
    params = esia.v1_params(SCOPE) if flow == "v1" else esia.v2_params(SCOPE)

    answer = esia.authorize(flow, params)

    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["rid"][0]


@pytest.mark.parametrize(
    ("flow", "dropped"),
    [
        ("v1", ["state", "scope"]),
        ("v1", ["timestamp"]),
        ("v2", ["client_certificate_hash"]),
        ("v2", ["client_secret", "response_type"]),
    ],
)
def test_missing_parameters_are_named_in_esia_007014(esia, flow, dropped):
    params = esia.v1_params(SCOPE) if flow == "v1" else esia.v2_params(SCOPE)
    state = params["state"]
    for name in dropped:
        del params[name]

    answer = esia.authorize(flow, params)

    query = redirect_query(answer)
    assert query["error"] == "invalid_request"
    order = ("client_id", "client_secret", "client_certificate_hash", "redirect_uri", "scope", "response_type", "state", "timestamp")
    expected = ", ".join(name for name in order if name in dropped)
    assert query["error_description"] == f"ESIA-007014: The request doesn`t contain the mandatory parameter [{expected}]."
    assert query.get("state") == (None if "state" in dropped else state)


def test_a_missing_redirect_uri_is_shown_on_esias_page_not_redirected(esia):
    params = esia.v1_params(SCOPE)
    del params["redirect_uri"]

    answer = esia.authorize("v1", params)

    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "ESIA-007014" in answer.text and "[redirect_uri]" in answer.text


def test_an_unknown_system_is_esia_007002_on_a_page(esia):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, client_id="NOSUCH"))

    assert answer.status_code == 400
    assert "ESIA-007002" in answer.text


def test_an_unregistered_redirect_uri_is_esia_007023_on_a_page(esia):
    answer = esia.authorize("v2", esia.v2_params(SCOPE, redirect_uri="http://evil.test/callback"))

    assert answer.status_code == 400
    assert "ESIA-007023" in answer.text
    assert "Location" not in answer.headers


def test_a_redirect_uri_registered_as_an_origin_admits_any_path_on_it(app, esia):
    clients = app.extensions["mock_esia"].clients
    clients["DIARY01"] = replace(clients["DIARY01"], redirect_uris=("http://diary.test/",))

    assert esia.authorize("v1", esia.v1_params(SCOPE)).status_code == 302
    assert esia.authorize("v1", esia.v1_params(SCOPE, redirect_uri="http://diary.test:8080/x")).status_code == 400


def test_a_repeated_parameter_is_esia_007003(esia):
    params = esia.v1_params(SCOPE)
    query = list(params.items()) + [("scope", "openid")]

    answer = esia.http.get(esia.url("/aas/oauth2/ac"), params=query, allow_redirects=False)

    assert error_of(answer)[:2] == ("invalid_request", "ESIA-007003")


def test_a_response_type_other_than_code_is_esia_007012(esia):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, response_type="token"))

    assert error_of(answer)[:2] == ("unsupported_response_type", "ESIA-007012")


@pytest.mark.parametrize(
    "timestamp",
    ["2026-01-01T12:00:00+03:00", "2026.01.01 12:00:00  0300", "2026.13.45 12:00:00 +0300"],
    ids=["iso", "plus-decoded-as-space", "impossible-date"],
)
def test_a_malformed_timestamp_is_reported_as_missing(esia, timestamp):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, timestamp=timestamp))

    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error_description"][0].startswith(
        "ESIA-007014: The request doesn`t contain the mandatory parameter [timestamp]"
    )


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_the_window_is_esia_007015(esia, clock, skew):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, timestamp=esia_timestamp(clock() + skew)))

    assert error_of(answer)[1] == "ESIA-007015"


def test_a_timestamp_in_any_time_zone_inside_the_window_is_accepted(esia, clock):
    utc_stamp = esia_timestamp(clock() - 200, dt.UTC)

    assert esia.authorize("v2", esia.v2_params(SCOPE, timestamp=utc_stamp)).status_code == 302


def test_a_state_that_is_not_a_uuid_is_esia_007003(esia):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, state="not-a-uuid"))

    assert error_of(answer) == ("invalid_request", "ESIA-007003", "not-a-uuid")


def test_a_cms_signature_over_other_data_is_esia_007053(esia):
    params = esia.v1_params(SCOPE)
    forged = esia.v1_params(SCOPE, state=str(uuid.uuid4()))["client_secret"]

    answer = esia.authorize("v1", {**params, "client_secret": forged})

    assert error_of(answer) == ("access_denied", "ESIA-007053", params["state"])


def test_a_cms_signature_by_an_unregistered_certificate_is_esia_007053(esia):
    key = make_rsa_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(esia.rsa.certificate.subject)
        .issuer_name(esia.rsa.certificate.issuer)
        .public_key(key.public_key())
        .serial_number(esia.rsa.certificate.serial_number)
        .not_valid_before(esia.rsa.certificate.not_valid_before_utc)
        .not_valid_after(esia.rsa.certificate.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    esia.rsa = RsaSigner(key, certificate)

    assert error_of(esia.authorize("v1", esia.v1_params(SCOPE)))[1] == "ESIA-007053"


def test_a_cms_signature_without_signed_attributes_is_accepted(esia):
    esia.rsa.attributes = False
    try:
        assert esia.authorize("v1", esia.v1_params(SCOPE)).status_code == 302
    finally:
        esia.rsa.attributes = True


def test_a_garbage_client_secret_is_esia_007053(esia):
    answer = esia.authorize("v1", esia.v1_params(SCOPE, client_secret="%%%not base64%%%"))

    assert error_of(answer)[1] == "ESIA-007053"


@pytest.mark.parametrize(
    "certificate_hash",
    ["lower", "sha256", "sha1", "unknown"],
)
def test_a_certificate_hash_other_than_streebog_of_a_registered_certificate(esia, certificate_hash):
    der = esia.gost.certificate_der
    value = {
        "lower": esia.gost.certificate_hash.lower(),
        "sha256": hashlib.sha256(der).hexdigest().upper(),
        "sha1": hashlib.sha1(der).hexdigest().upper(),
        "unknown": "00" * 32,
    }[certificate_hash]

    answer = esia.authorize("v2", esia.v2_params(SCOPE, client_certificate_hash=value))

    if certificate_hash == "lower":
        assert answer.status_code == 302
    else:
        assert error_of(answer)[:2] == ("access_denied", "ESIA-007053")


def test_a_gost_signature_by_another_key_is_esia_007053(esia, other_gost_signer):
    params = esia.v2_params(SCOPE)
    message = params["client_id"] + params["scope"] + params["timestamp"] + params["state"] + params["redirect_uri"]

    answer = esia.authorize("v2", {**params, "client_secret": b64url(other_gost_signer.sign(message.encode()))})

    assert error_of(answer)[1] == "ESIA-007053"


def test_a_gost_signature_in_cryptopro_byte_order_is_esia_007053(esia):
    params = esia.v2_params(SCOPE)
    message = params["client_id"] + params["scope"] + params["timestamp"] + params["state"] + params["redirect_uri"]
    reversed_signature = esia.gost.sign(message.encode())[::-1]

    answer = esia.authorize("v2", {**params, "client_secret": b64url(reversed_signature)})

    assert error_of(answer)[1] == "ESIA-007053"


@pytest.mark.parametrize("encoding", ["base64url-padded", "base64"])
def test_the_raw_signature_may_come_in_any_base64_variant(esia, encoding):
    params = esia.v2_params(SCOPE)
    message = params["client_id"] + params["scope"] + params["timestamp"] + params["state"] + params["redirect_uri"]
    signature = esia.gost.sign(message.encode())
    encoded = base64.urlsafe_b64encode(signature) if encoding == "base64url-padded" else base64.b64encode(signature)

    assert esia.authorize("v2", {**params, "client_secret": encoded.decode()}).status_code == 302


def test_the_legacy_signed_string_is_accepted_at_v2_as_fr05t1k_3x_sends_it(esia):
    params = esia.v2_params(SCOPE)
    legacy = params["scope"] + params["timestamp"] + params["client_id"] + params["state"]

    answer = esia.authorize("v2", {**params, "client_secret": b64url(esia.gost.sign(legacy.encode()))})

    assert answer.status_code == 302


def test_scope_org_is_signed_after_scope_as_ilimurzin_esia_does(esia):
    params = esia.v2_params(SCOPE, scope_org="org_shortname")
    message = params["client_id"] + params["scope"] + "org_shortname" + params["timestamp"] + params["state"] + params["redirect_uri"]

    answer = esia.authorize("v2", {**params, "client_secret": b64url(esia.gost.sign(message.encode()))})

    assert answer.status_code == 302


def test_an_unknown_scope_is_esia_007006(esia):
    assert error_of(esia.authorize("v1", esia.v1_params("openid fullname superpowers")))[:2] == ("invalid_scope", "ESIA-007006")


@pytest.mark.parametrize("flow", ["v1", "v2"])
def test_a_scope_the_system_was_not_granted_is_esia_007019(esia, flow):
    params = esia.v1_params("openid inn") if flow == "v1" else esia.v2_params("openid inn")

    answer = esia.authorize(flow, params)

    assert redirect_query(answer)["error_description"] == "ESIA-007019: OAuthErrorEnum.noGrants"


def test_old_style_scope_uris_are_read_as_names(esia):
    assert esia.authorize("v1", esia.v1_params("http://esia.gosuslugi.ru/openid http://esia.gosuslugi.ru/fullname")).status_code == 302


def test_an_unknown_access_type_is_esia_007003(esia):
    assert error_of(esia.authorize("v1", esia.v1_params(SCOPE, access_type="forever")))[1] == "ESIA-007003"


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_accepts_only_s256_challenges(esia, method):
    if method is None:
        overrides = {"code_challenge": "short"}
    else:
        overrides = {"code_challenge": b64url(b"x" * 32), "code_challenge_method": method}

    assert error_of(esia.authorize("v2", esia.v2_params(SCOPE, **overrides)))[1] == "ESIA-007003"


def test_a_person_who_declines_consent_is_sent_back_with_esia_007004(esia):
    params = esia.v1_params(SCOPE)

    answer = esia.log_in(esia.authorize("v1", params), login="decline")

    query = redirect_query(answer)
    assert query == {
        "error": "access_denied",
        "error_description": "ESIA-007004: The resource owner or authorization server denied the request.",
        "state": params["state"],
    }


def conf_acc() -> str:
    return base64.b64encode(b"conf_acc").decode()


def test_person_filter_conf_acc_refuses_an_unconfirmed_account_with_esia_007055(esia):
    params = esia.v2_params(SCOPE, person_filter=conf_acc())

    answer = esia.log_in(esia.authorize("v2", params), login="teen-simple")

    assert error_of(answer) == ("access_denied", "ESIA-007055", params["state"])


def test_person_filter_conf_acc_admits_a_confirmed_account(esia):
    params = esia.v2_params(SCOPE, person_filter=conf_acc())

    answer = esia.log_in(esia.authorize("v2", params), login="teen-verified")

    assert "code" in redirect_query(answer)


@pytest.mark.parametrize(
    ("filter_value", "login", "admitted"),
    [("acc_kid", "kid", True), ("acc_kid", "teacher", False), ("acc_not_kid", "kid", False)],
)
def test_person_filter_for_child_accounts(esia, filter_value, login, admitted):
    params = esia.v2_params(SCOPE, person_filter=base64.b64encode(filter_value.encode()).decode())

    query = redirect_query(esia.log_in(esia.authorize("v2", params), login=login))

    assert ("code" in query) is admitted
    if not admitted:
        assert query["error_description"].startswith("ESIA-007062")


def test_an_unknown_person_filter_is_esia_007003(esia):
    assert error_of(esia.authorize("v2", esia.v2_params(SCOPE, person_filter="eHl6")))[1] == "ESIA-007003"


def test_the_code_comes_back_with_the_requests_state(esia):
    params = esia.v1_params(SCOPE)

    query = redirect_query(esia.log_in(esia.authorize("v1", params), login="adult-verified"))

    assert set(query) == {"code", "state"}
    assert query["state"] == params["state"]
    assert len(query["code"]) >= 32


def test_the_legacy_flow_accepts_a_gost_cms_made_by_openssl_smime(esia, openssl, tmp_path):
    params = esia.v1_params(SCOPE, client_secret="")
    message = tmp_path / "message"
    message.write_bytes((params["scope"] + params["timestamp"] + params["client_id"] + params["state"]).encode())
    signed = openssl.run(
        "smime",
        "-sign",
        "-binary",
        "-noattr",
        "-outform",
        "DER",
        "-in",
        str(message),
        "-signer",
        str(DATA / "client-gost.cer"),
        "-inkey",
        str(DATA / "client-gost.key"),
    )
    assert signed.returncode == 0, signed.stderr

    answer = esia.authorize("v1", {**params, "client_secret": b64url(signed.stdout)})

    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?")
