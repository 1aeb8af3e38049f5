"""The token request: its form and signature per flow, the verified result, and transport failures."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from matching import EsiaOid, Reason
from providers import (
    AuthorizationRequest,
    EsiaTokens,
    InvalidUpstreamResponseError,
    ProviderError,
    Signer,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)
from tests.clock import FakeClock
from tests.esiaspec import gost_verify, streebog, unb64url
from tests.opensslgost import Openssl

from .factory import ProviderFactory
from .upstream import ABSENT, BASE_URL, CLIENT_ID, GOST, OID, REDIRECT_URI, Upstream, form_of

CURRENT_TE = f"{BASE_URL}/aas/oauth2/v3/te"
LEGACY_TE = f"{BASE_URL}/aas/oauth2/te"
SCOPE = "openid fullname birthdate gender snils id_doc email mobile"
CODE = "eyJ2ZXIiOjF9.c29tZS1jb2Rl.c2ln"


def test_current_flow_posts_a_new_state_pkce_and_a_secret_signed_over_the_code(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, gost_signer: Signer
) -> None:
    provider = make_provider()
    request = provider.authorize()
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint())
    provider.exchange_code(CODE, request)
    sent = http.calls[0].request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = form_of(sent)
    assert set(form) == {
        "client_id", "code", "grant_type", "client_secret", "state", "redirect_uri", "scope", "timestamp",
        "token_type", "client_certificate_hash", "code_verifier",
    }  # fmt: skip
    assert (form["client_id"], form["code"], form["redirect_uri"], form["scope"]) == (
        CLIENT_ID,
        CODE,
        REDIRECT_URI,
        SCOPE,
    )
    assert (form["grant_type"], form["token_type"]) == ("authorization_code", "Bearer")
    assert uuid.UUID(form["state"]).version == 4 and form["state"] != request.state
    assert form["code_verifier"] == request.code_verifier
    assert form["client_certificate_hash"] == streebog(gost_signer.certificate_der).hex().upper()
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2} \+0000", form["timestamp"])
    signed = CLIENT_ID + SCOPE + form["timestamp"] + form["state"] + REDIRECT_URI + CODE
    assert gost_verify(gost_signer.certificate_der, signed.encode(), unb64url(form["client_secret"]))


def test_legacy_flow_posts_a_cms_secret_over_scope_timestamp_client_and_state(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream
) -> None:
    provider = make_provider(flow="legacy")
    request = provider.authorize()
    http.add_callback(responses.POST, LEGACY_TE, callback=upstream.token_endpoint())
    provider.exchange_code(CODE, request)
    form = form_of(http.calls[0].request)
    assert "client_certificate_hash" not in form and "code_verifier" not in form
    assert form["state"] != request.state


def test_openssl_verifies_the_legacy_secret_as_a_cms_signature_over_scope_timestamp_client_and_state(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, openssl: Openssl, tmp_path: Path
) -> None:
    provider = make_provider(flow="legacy")
    http.add_callback(responses.POST, LEGACY_TE, callback=upstream.token_endpoint())
    provider.exchange_code(CODE, provider.authorize())
    form = form_of(http.calls[0].request)
    (tmp_path / "sig").write_bytes(unb64url(form["client_secret"]))
    (tmp_path / "data").write_text(SCOPE + form["timestamp"] + CLIENT_ID + form["state"])
    command = ["cms", "-verify", "-binary", "-inform", "DER", "-noverify"]
    command += ["-in", str(tmp_path / "sig"), "-content", str(tmp_path / "data")]
    assert openssl.run(*command).returncode == 0


@pytest.mark.parametrize("alg", ["RS256", GOST])
def test_returns_verified_tokens_with_the_oid_they_agree_on(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, clock: FakeClock, alg: str
) -> None:
    upstream.alg = alg
    provider = make_provider()
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint())
    tokens = provider.exchange_code(CODE, provider.authorize())
    assert (tokens.oid, tokens.amr, tokens.expires_at) == (str(OID), ("PWD",), int(clock.now) + 3600)
    assert tokens.refresh_token == "5b0e8a52-1f0c-4f7e-9d2a-3c4b5a6d7e8f"
    assert tokens.id_claims["urn:esia:sbj"]["urn:esia:sbj:is_tru"] is True
    assert tokens.access_claims["client_id"] == CLIENT_ID
    assert tokens.access_token not in repr(tokens) and tokens.id_token not in repr(tokens)
    assert "urn:esia:sid" not in repr(tokens)


def test_accepts_a_nonce_that_is_ours_and_tokens_within_the_leeway(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, clock: FakeClock
) -> None:
    provider = make_provider()
    request = provider.authorize()
    issued = clock.now
    http.add_callback(
        responses.POST,
        CURRENT_TE,
        callback=upstream.token_endpoint(
            access_token=upstream.access_token(exp=int(issued) - 50, iat=int(issued) + 50, nbf=int(issued) + 50),
            id_token=upstream.id_token(nonce=request.nonce, sub=str(OID), aud=[CLIENT_ID], amr=["PWD", "DS"]),
            refresh_token=None,
        ),
    )
    tokens = provider.exchange_code(CODE, request)
    assert (tokens.oid, tokens.refresh_token, tokens.amr) == (str(OID), None, ("PWD", "DS"))


@pytest.mark.parametrize(
    ("said", "read"),
    [(-3600, "as said"), (-5, "as said"), (0, "as said"), (60, "now"), (None, None)],
    ids=["an hour ago (ESIA's single sign-on)", "seconds ago", "now", "ahead within the leeway", "not said"],
)
def test_reads_when_esia_says_the_person_authenticated_never_later_than_now(
    http: responses.RequestsMock,
    make_provider: ProviderFactory,
    upstream: Upstream,
    clock: FakeClock,
    said: int | None,
    read: str | None,
) -> None:
    provider = make_provider()
    claims = {"auth_time": int(clock.now) + said} if said is not None else {"auth_time": ABSENT}
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint(id_token=upstream.id_token(**claims)))
    tokens = provider.exchange_code(CODE, provider.authorize())
    expected = {"as said": int(clock.now) + (said or 0), "now": clock.now, None: None}[read]
    assert tokens.auth_time == expected


def test_every_call_has_explicit_connect_and_read_timeouts(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream
) -> None:
    provider = make_provider(connect_timeout=2.5, read_timeout=7.0)
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint())
    tokens = provider.exchange_code(CODE, provider.authorize())
    person_body = json.dumps({"trusted": True, "firstName": "Иван"})
    http.add(responses.GET, f"{BASE_URL}/rs/prns/{OID}", body=person_body, content_type="application/json")
    http.add(responses.GET, f"{BASE_URL}/rs/prns/{OID}/ctts", json={"size": 0}, content_type="application/json")
    provider.fetch_person(tokens)
    provider.fetch_contacts(tokens)
    timeouts = [call.request.req_kwargs["timeout"] for call in http.calls]  # type: ignore[attr-defined]
    assert timeouts == [(2.5, 7.0)] * 3


HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"


def esia_error(code: str, error: str, text: str) -> dict[str, Any]:
    return {"json": {"error": error, "error_description": f"{code}: {text}", "state": "x"}}


@pytest.mark.parametrize(
    ("answer", "error", "status", "esia_code"),
    [
        ({"body": requests.exceptions.ConnectTimeout("connect timed out")}, UpstreamUnavailableError, None, None),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, UpstreamUnavailableError, None, None),
        ({"body": requests.exceptions.ConnectionError("refused")}, UpstreamUnavailableError, None, None),
        ({"body": requests.exceptions.ChunkedEncodingError("cut")}, UpstreamUnavailableError, None, None),
        ({"status": 503, "body": HTML_503, "content_type": "text/html"}, UpstreamUnavailableError, 503, None),
        ({"status": 500, "json": {"error": "server_error"}}, UpstreamUnavailableError, 500, None),
        ({"status": 429, "body": "slow down"}, UpstreamUnavailableError, 429, None),
        ({"status": 302, "headers": {"Location": "https://esia.test/maintenance"}}, UpstreamUnavailableError, 302, None),
        ({"status": 200, "body": "<html>Технические работы</html>", "content_type": "text/html"},
         UpstreamUnavailableError, 200, None),
        ({"status": 400, **esia_error("ESIA-007011", "invalid_grant", "The provided authorization grant …")},
         UpstreamRefusedError, 400, "ESIA-007011"),
        ({"status": 400, **esia_error("ESIA-007014", "invalid_request",
                                      "The request doesn`t contain the mandatory parameter [state, client_id].")},
         UpstreamRefusedError, 400, "ESIA-007014"),
        ({"status": 400, **esia_error("ESIA-007053", "access_denied", "OAuthErrorEnum.clientSecretWrong")},
         UpstreamRefusedError, 400, "ESIA-007053"),
        ({"status": 400, **esia_error("ESIA-007040", "invalid_grant", "The code_verifier does not match")},
         UpstreamRefusedError, 400, "ESIA-007040"),
        ({"status": 400, **esia_error("ESIA-007008", "temporarily_unavailable", "overloaded")},
         UpstreamUnavailableError, 400, "ESIA-007008"),
        ({"status": 400, "body": "Bad Request", "content_type": "text/plain"}, UpstreamRefusedError, 400, None),
        ({"status": 403, "body": "<html>Forbidden</html>", "content_type": "text/html"}, UpstreamRefusedError, 403, None),
        ({"status": 200, "body": '{"access_token": "eyJ', "content_type": "application/json"},
         InvalidUpstreamResponseError, None, None),
        ({"status": 200, "json": ["access_token"]}, InvalidUpstreamResponseError, None, None),
    ],
)  # fmt: skip
def test_token_request_failures_are_provider_errors_and_never_retried(
    http: responses.RequestsMock,
    make_provider: ProviderFactory,
    answer: dict[str, Any],
    error: type[ProviderError],
    status: int | None,
    esia_code: str | None,
) -> None:
    provider = make_provider()
    http.add(responses.POST, CURRENT_TE, **answer)
    with pytest.raises(error) as info:
        provider.exchange_code(CODE, provider.authorize())
    assert type(info.value) is error
    assert len(http.calls) == 1  # a code is single-use: no retry, whatever happened
    assert getattr(info.value, "status", None) == status and info.value.esia_code == esia_code
    expected = {
        UpstreamUnavailableError: Reason.ESIA_UNAVAILABLE,
        UpstreamRefusedError: Reason.ESIA_ERROR,
        InvalidUpstreamResponseError: Reason.ESIA_ERROR,
    }
    assert info.value.reason is expected[error]
    assert CODE not in str(info.value)
    if isinstance(answer.get("body"), Exception):
        assert isinstance(info.value.__cause__, requests.RequestException)


def test_tokens_value_is_frozen(http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream) -> None:
    provider = make_provider()
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint())
    tokens = provider.exchange_code(CODE, provider.authorize())
    assert isinstance(tokens, EsiaTokens)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tokens.oid = EsiaOid("1")  # type: ignore[misc]


def test_a_stored_request_works_after_a_restart(http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream) -> None:
    """The broker may keep state, nonce and verifier in its database and rebuild the request."""
    original = make_provider().authorize()
    rebuilt = AuthorizationRequest(url="", state=original.state, nonce=original.nonce, code_verifier=original.code_verifier, timestamp="")
    http.add_callback(responses.POST, CURRENT_TE, callback=upstream.token_endpoint())
    assert make_provider().exchange_code(CODE, rebuilt).oid == str(OID)
    assert form_of(http.calls[0].request)["code_verifier"] == original.code_verifier
