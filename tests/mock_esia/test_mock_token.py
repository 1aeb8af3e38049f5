"""The token endpoints, /aas/oauth2/te and /aas/oauth2/v3/te: code exchange, refresh and errors."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

import pytest

from tests.esiaspec import b64url

from .esia_test_client import Jwt, esia_timestamp
from .registration import GOST_CLIENT_ID, GOST_REDIRECT_URI

SCOPE = "openid fullname birthdate gender snils"


def esia_error(answer) -> tuple[str, str]:
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    return body["error"], body["error_description"]


def pkce() -> tuple[str, str]:
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def test_the_legacy_flow_returns_esias_token_response(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")
    form = esia.v1_token_form(code, SCOPE)

    answer = esia.token("v1", form)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "no-store" in answer.headers["Cache-Control"]
    body = answer.json()
    assert set(body) == {"access_token", "id_token", "state", "token_type", "expires_in"}
    assert body["state"] == form["state"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600


def test_the_current_flow_with_pkce_returns_tokens_and_a_refresh_token_when_offline(esia):
    verifier, challenge = pkce()
    code, _ = esia.code_for("v2", SCOPE, "adult-verified", code_challenge=challenge, access_type="offline")

    answer = esia.token("v3", esia.v3_token_form(code, SCOPE, code_verifier=verifier))

    body = answer.json()
    assert answer.status_code == 200, body
    assert set(body) == {"access_token", "id_token", "refresh_token", "state", "token_type", "expires_in"}
    assert uuid.UUID(body["refresh_token"])


def test_no_id_token_without_openid(esia):
    code, _ = esia.code_for("v1", "fullname", "adult-verified")

    body = esia.token("v1", esia.v1_token_form(code, "fullname")).json()

    assert "id_token" not in body and "access_token" in body


def test_a_token_request_may_narrow_the_scope_to_openid_as_ekapusta_does(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")

    body = esia.token("v1", esia.v1_token_form(code, "openid")).json()

    assert Jwt.parse(body["access_token"]).claims["scope"].split()[1] == "fullname?oid=1000300005"


def test_a_token_request_for_more_than_was_authorized_is_esia_007011(esia):
    code, _ = esia.code_for("v1", "openid fullname", "adult-verified")

    assert esia_error(esia.token("v1", esia.v1_token_form(code, "openid fullname snils")))[1].startswith("ESIA-007011")


@pytest.mark.parametrize("flow", ["v1", "v3"])
def test_a_reused_code_is_esia_007011_and_revokes_the_first_tokens(esia, flow):
    code, _ = esia.code_for("v1" if flow == "v1" else "v2", SCOPE, "adult-verified")
    make_form = esia.v1_token_form if flow == "v1" else esia.v3_token_form
    first = esia.token(flow, make_form(code, SCOPE)).json()
    assert esia.person_api("/rs/prns/1000300005", first["access_token"]).status_code == 200

    again = esia.token(flow, make_form(code, SCOPE))

    error, description = esia_error(again)
    assert error == "invalid_grant"
    assert description.startswith("ESIA-007011: The provided authorization grant or refresh token is invalid, expired, revoked")
    assert again.json()["state"]
    assert esia.person_api("/rs/prns/1000300005", first["access_token"]).status_code == 401


def test_an_expired_code_is_esia_007011(esia, clock):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")
    clock.advance(121)

    assert esia_error(esia.token("v1", esia.v1_token_form(code, SCOPE)))[1].startswith("ESIA-007011")


def test_an_unknown_code_is_esia_007011(esia):
    assert esia_error(esia.token("v1", esia.v1_token_form("made-up-code", SCOPE)))[0] == "invalid_grant"


def test_a_code_issued_to_another_system_is_esia_007011(esia, app, client_for):
    code, _ = esia.code_for("v1", "openid fullname", "adult-verified")
    other = client_for(app, client_id=GOST_CLIENT_ID, redirect_uri=esia.redirect_uri)

    assert esia_error(other.token("v1", other.v1_token_form(code, "openid fullname")))[1].startswith("ESIA-007011")


def test_a_different_redirect_uri_at_the_token_endpoint_is_esia_007011(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")

    answer = esia.token("v1", esia.v1_token_form(code, SCOPE, redirect_uri="http://diary.test/other"))

    assert esia_error(answer)[1].startswith("ESIA-007011")


def test_missing_token_parameters_are_named_in_esia_007014(esia):
    form = esia.v3_token_form("some-code", SCOPE)
    for name in ("client_certificate_hash", "timestamp"):
        del form[name]

    assert esia_error(esia.token("v3", form)) == (
        "invalid_request",
        "ESIA-007014: The request doesn`t contain the mandatory parameter [client_certificate_hash, timestamp].",
    )


def test_a_json_body_is_not_read_so_every_parameter_is_missing(esia):
    form = esia.v1_token_form("some-code", SCOPE)

    answer = esia.http.post(esia.url("/aas/oauth2/te"), data=json.dumps(form), headers={"Content-Type": "application/json"})

    error, description = esia_error(answer)
    assert description.startswith("ESIA-007014: The request doesn`t contain the mandatory parameter [client_id, grant_type, code,")
    assert "state" not in answer.json()


def test_a_bad_token_request_signature_is_esia_007053(esia):
    code, _ = esia.code_for("v2", SCOPE, "adult-verified")
    form = esia.v3_token_form(code, SCOPE)
    unsigned_code = esia.v3_token_form(code + "x", SCOPE, state=form["state"], timestamp=form["timestamp"])["client_secret"]

    answer = esia.token("v3", {**form, "client_secret": unsigned_code})

    assert esia_error(answer) == ("access_denied", "ESIA-007053: OAuthErrorEnum.clientSecretWrong")


def test_a_stale_token_request_is_esia_007015(esia, clock):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")

    answer = esia.token("v1", esia.v1_token_form(code, SCOPE, timestamp=esia_timestamp(clock() - 3600)))

    assert esia_error(answer)[1].startswith("ESIA-007015")


def test_an_unsupported_grant_type_is_esia_007009(esia):
    form = esia.v1_token_form("code", SCOPE, grant_type="password")

    assert esia_error(esia.token("v1", form))[0] == "unsupported_grant_type"


def test_pkce_a_wrong_verifier_is_esia_007040(esia):
    verifier, challenge = pkce()
    code, _ = esia.code_for("v2", SCOPE, "adult-verified", code_challenge=challenge)

    answer = esia.token("v3", esia.v3_token_form(code, SCOPE, code_verifier=pkce()[0]))

    assert esia_error(answer)[1].startswith("ESIA-007040")


def test_pkce_a_missing_verifier_is_esia_007040(esia):
    verifier, challenge = pkce()
    code, _ = esia.code_for("v2", SCOPE, "adult-verified", code_challenge=challenge)

    assert esia_error(esia.token("v3", esia.v3_token_form(code, SCOPE)))[1].startswith("ESIA-007040")


def test_pkce_a_verifier_without_a_challenge_is_esia_007039(esia):
    code, _ = esia.code_for("v2", SCOPE, "adult-verified")

    assert esia_error(esia.token("v3", esia.v3_token_form(code, SCOPE, code_verifier=pkce()[0])))[1].startswith("ESIA-007039")


def test_a_failed_exchange_does_not_use_the_code_up(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")
    assert esia.token("v1", esia.v1_token_form(code, SCOPE, redirect_uri="http://diary.test/x")).status_code == 400

    assert esia.token("v1", esia.v1_token_form(code, SCOPE)).status_code == 200


def test_refresh_in_the_current_flow_rotates_the_refresh_token(esia):
    verifier, challenge = pkce()
    code, _ = esia.code_for("v2", SCOPE, "adult-verified", code_challenge=challenge, access_type="offline")
    first = esia.token("v3", esia.v3_token_form(code, SCOPE, code_verifier=verifier)).json()

    refreshed = esia.token("v3", esia.v3_refresh_form(first["refresh_token"], SCOPE))
    again = esia.token("v3", esia.v3_refresh_form(first["refresh_token"], SCOPE))

    body = refreshed.json()
    assert refreshed.status_code == 200, body
    assert body["refresh_token"] != first["refresh_token"]
    assert Jwt.parse(body["access_token"]).claims["urn:esia:sbj_id"] == 1000300005
    assert esia_error(again)[1].startswith("ESIA-007011")


def test_refresh_as_aisgorod_signs_it_without_a_certificate_hash(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified", access_type="offline")
    first = esia.token("v1", esia.v1_token_form(code, SCOPE)).json()
    form = {
        "client_id": esia.client_id,
        "scope": SCOPE,
        "timestamp": esia_timestamp(esia.now()),
        "state": str(uuid.uuid4()),
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
    }
    message = form["client_id"] + form["scope"] + form["timestamp"] + form["state"] + form["refresh_token"]
    form["client_secret"] = b64url(esia.gost.sign(message.encode()))

    answer = esia.token("v3", form)

    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == form["state"]


def test_refresh_in_the_legacy_flow(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified", access_type="offline")
    first = esia.token("v1", esia.v1_token_form(code, SCOPE)).json()
    form = esia.v1_token_form("", SCOPE, grant_type="refresh_token", refresh_token=first["refresh_token"])
    del form["code"], form["redirect_uri"]

    answer = esia.token("v1", form)

    assert answer.status_code == 200, answer.text
    assert "refresh_token" in answer.json()


def test_a_system_set_to_gost_tokens_gets_gost_signed_tokens(app, client_for):
    esia = client_for(app, client_id=GOST_CLIENT_ID, redirect_uri=GOST_REDIRECT_URI)
    body = esia.login_and_exchange("v2", "openid fullname", "adult-standard")
    certificate = esia.http.get(esia.url("/__mock__/esia-gost.cer")).text

    for token in (body["access_token"], body["id_token"]):
        jwt = Jwt.parse(token)
        assert jwt.header["alg"] == "GOST3410_2012_256"
        assert len(jwt.signature) == 64
        assert jwt.verifies_with_gost(certificate)
    assert esia.person_api("/rs/prns/1000300006", body["access_token"]).status_code == 200
