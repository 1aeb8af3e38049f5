"""The authorization URL in both flows, the callback, logout, and what the config accepts."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from matching import Reason
from providers import (
    AuthorizationRequest,
    ConsentDeclinedError,
    InvalidUpstreamResponseError,
    ProviderConfigError,
    ProviderError,
    Signer,
    StateMismatchError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)
from tests.clock import FakeClock
from tests.esiaspec import b64url, gost_verify, streebog, unb64url
from tests.opensslgost import Openssl

from .factory import ProviderFactory
from .upstream import BASE_URL, CLIENT_ID, REDIRECT_URI

SCOPE = "openid fullname birthdate gender snils id_doc email mobile"
NEW_YEAR = 1767225600.0  # 2026-01-01 00:00:00 UTC


def query(url: str) -> dict[str, str]:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(found) == 1 for found in values.values()), "a parameter is repeated"
    return {name: found[0] for name, found in values.items()}


def test_current_flow_url_carries_a_signed_secret_certificate_hash_and_pkce(
    make_provider: ProviderFactory, gost_signer: Signer, clock: FakeClock
) -> None:
    clock.now = NEW_YEAR
    request = make_provider().authorize()
    assert request.url.startswith(f"{BASE_URL}/aas/oauth2/v2/ac?")
    params = query(request.url)
    assert set(params) == {
        "client_id", "client_secret", "client_certificate_hash", "redirect_uri", "scope", "response_type",
        "state", "timestamp", "access_type", "nonce", "code_challenge", "code_challenge_method",
    }  # fmt: skip
    assert (params["client_id"], params["redirect_uri"], params["scope"]) == (CLIENT_ID, REDIRECT_URI, SCOPE)
    assert (params["response_type"], params["access_type"], params["code_challenge_method"]) == (
        "code",
        "online",
        "S256",
    )
    assert (params["state"], params["nonce"], params["timestamp"]) == (request.state, request.nonce, request.timestamp)
    assert params["client_certificate_hash"] == streebog(gost_signer.certificate_der).hex().upper()
    assert request.code_verifier is not None and 43 <= len(request.code_verifier) <= 128
    assert params["code_challenge"] == b64url(hashlib.sha256(request.code_verifier.encode()).digest())
    secret = params["client_secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", secret)  # 64 bytes, unpadded base64url
    signed = (CLIENT_ID + SCOPE + request.timestamp + request.state + REDIRECT_URI).encode()
    assert gost_verify(gost_signer.certificate_der, signed, unb64url(secret))


def test_legacy_flow_url_carries_a_detached_cms_secret_and_no_pkce(make_provider: ProviderFactory) -> None:
    request = make_provider(flow="legacy").authorize()
    assert request.url.startswith(f"{BASE_URL}/aas/oauth2/ac?")
    params = query(request.url)
    assert set(params) == {
        "client_id", "client_secret", "redirect_uri", "scope", "response_type", "state", "timestamp",
        "access_type", "nonce",
    }  # fmt: skip
    assert request.code_verifier is None
    assert "=" not in params["client_secret"]


def test_openssl_verifies_the_legacy_url_secret_as_a_cms_signature_over_scope_timestamp_client_and_state(
    make_provider: ProviderFactory, openssl: Openssl, tmp_path: Path
) -> None:
    request = make_provider(flow="legacy").authorize()
    (tmp_path / "sig").write_bytes(unb64url(query(request.url)["client_secret"]))
    command = ["cms", "-verify", "-binary", "-inform", "DER", "-noverify", "-in", str(tmp_path / "sig")]

    def verifies(message: str) -> bool:
        (tmp_path / "data").write_text(message)
        return openssl.run(*command, "-content", str(tmp_path / "data")).returncode == 0

    assert verifies(SCOPE + request.timestamp + CLIENT_ID + request.state)
    assert not verifies(CLIENT_ID + SCOPE + request.timestamp + request.state)  # the current flow's order


def test_timestamp_is_in_esia_format_and_url_encoded(make_provider: ProviderFactory, clock: FakeClock) -> None:
    clock.now = NEW_YEAR + 3661.75
    request = make_provider().authorize()
    assert request.timestamp == "2026.01.01 01:01:01 +0000"
    assert "timestamp=2026.01.01+01%3A01%3A01+%2B0000" in request.url


def test_every_login_gets_a_fresh_uuid4_state_nonce_and_verifier(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    first, second = provider.authorize(), provider.authorize()
    assert uuid.UUID(first.state).version == 4 and str(uuid.UUID(first.state)) == first.state
    assert (first.state, first.nonce, first.code_verifier) != (second.state, second.nonce, second.code_verifier)
    assert first.state != second.state and first.nonce != second.nonce


def test_sends_offline_access_and_the_person_filter_in_base64(make_provider: ProviderFactory) -> None:
    params = query(make_provider(access_type="offline", person_filter="conf_acc").authorize().url)
    assert params["access_type"] == "offline"
    assert base64.b64decode(params["person_filter"]) == b"conf_acc"


def test_authorization_request_does_not_show_its_pkce_verifier(make_provider: ProviderFactory) -> None:
    request = make_provider().authorize()
    assert request.code_verifier is not None
    assert request.code_verifier not in repr(request) and request.code_verifier not in request.url


def test_logout_url_names_the_client_and_redirect_url(make_provider: ProviderFactory) -> None:
    url = make_provider().logout_url("https://diary.test/bye?x=1")
    assert url.startswith(f"{BASE_URL}/idp/ext/Logout?")
    assert query(url) == {"client_id": CLIENT_ID, "redirect_url": "https://diary.test/bye?x=1"}


# -- the callback ------------------------------------------------------------------------------


def pending(state: str = "6e1f8c2a-0d3b-4a5e-9f7c-1b2d3e4f5a6b") -> AuthorizationRequest:
    return AuthorizationRequest(url="", state=state, nonce="n", code_verifier=None, timestamp="")


def test_callback_returns_the_code_when_the_state_is_ours(make_provider: ProviderFactory) -> None:
    request = pending()
    assert make_provider().parse_callback({"code": "c0de", "state": request.state}, request) == "c0de"


OURS = pending().state


@pytest.mark.parametrize(
    ("args", "error", "reason", "esia_code"),
    [
        ({"code": "c0de"}, StateMismatchError, Reason.ESIA_ERROR, None),
        ({"code": "c0de", "state": str(uuid.uuid4())}, StateMismatchError, Reason.ESIA_ERROR, None),
        ({"code": "c0de", "state": OURS.upper()}, StateMismatchError, Reason.ESIA_ERROR, None),
        ({"state": OURS}, InvalidUpstreamResponseError, Reason.ESIA_ERROR, None),
        ({"code": "", "state": OURS}, InvalidUpstreamResponseError, Reason.ESIA_ERROR, None),
        (
            {"error": "access_denied", "state": OURS,
             "error_description": "ESIA-007004: The resource owner or authorization server denied the request."},
            ConsentDeclinedError, Reason.ESIA_DENIED, "ESIA-007004",
        ),
        (
            {"error": "access_denied", "error_description": "ESIA-007053: OAuthErrorEnum.clientSecretWrong",
             "state": OURS},
            UpstreamRefusedError, Reason.ESIA_ERROR, "ESIA-007053",
        ),
        (
            {"error": "access_denied", "state": OURS,
             "error_description": "ESIA-007055: Вход в систему осуществляется с неподтвержденной учетной записью"},
            UpstreamRefusedError, Reason.ESIA_ERROR, "ESIA-007055",
        ),
        (
            {"error": "invalid_request", "state": OURS,
             "error_description": "ESIA-007014: The request doesn`t contain the mandatory parameter [timestamp]."},
            UpstreamRefusedError, Reason.ESIA_ERROR, "ESIA-007014",
        ),
        (
            {"error": "temporarily_unavailable", "state": OURS,
             "error_description": "ESIA-007008: The authorization server is currently unable to handle the request"},
            UpstreamUnavailableError, Reason.ESIA_UNAVAILABLE, "ESIA-007008",
        ),
        ({"error": "server_error", "state": OURS}, UpstreamUnavailableError, Reason.ESIA_UNAVAILABLE, None),
        ({"error": "access_denied", "state": OURS}, UpstreamRefusedError, Reason.ESIA_ERROR, None),
        (
            {"error": "access_denied", "error_description": "ESIA-7004 declined", "state": OURS},
            UpstreamRefusedError, Reason.ESIA_ERROR, None,
        ),
        (
            {"error": "access_denied", "error_description": "ESIA-007004: denied", "state": str(uuid.uuid4())},
            StateMismatchError, Reason.ESIA_ERROR, None,
        ),
        (
            {"error": "access_denied", "error_description": "ESIA-007004: denied"},
            StateMismatchError, Reason.ESIA_ERROR, None,
        ),
    ],
)  # fmt: skip
def test_callback_errors_map_to_provider_errors(
    make_provider: ProviderFactory,
    args: dict[str, str],
    error: type[ProviderError],
    reason: Reason,
    esia_code: str | None,
) -> None:
    with pytest.raises(error) as info:
        make_provider().parse_callback(args, pending())
    assert type(info.value) is error
    assert (info.value.reason, info.value.esia_code) == (reason, esia_code)


def test_callback_error_keeps_the_oauth_error_but_not_free_text(make_provider: ProviderFactory) -> None:
    args = {"error": "invalid_scope", "error_description": "ESIA-007019: OAuthErrorEnum.noGrants", "state": OURS}
    with pytest.raises(UpstreamRefusedError) as info:
        make_provider().parse_callback(args, pending())
    assert (info.value.error, info.value.esia_code) == ("invalid_scope", "ESIA-007019")
    assert "noGrants" not in str(info.value)
    injected = {"error": "<script>alert(1)</script>", "state": OURS}
    with pytest.raises(UpstreamRefusedError) as info:
        make_provider().parse_callback(injected, pending())
    assert info.value.error is None and "script" not in str(info.value)


# -- the config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"base_url": "esia.test"}, "base_url"),
        ({"client_id": ""}, "client_id"),
        ({"redirect_uri": "/callback"}, "redirect_uri"),
        ({"issuer": ""}, "issuer"),
        ({"certificate_files": ()}, "certificate_files"),
        ({"flow": "v4"}, "flow"),
        ({"flow": "current", "signer": "rsa"}, "raw GOST signer"),
        ({"flow": "legacy", "signer": "gost"}, "CMS signer"),
        ({"scopes": ("fullname", "snils")}, "openid"),
        ({"scopes": ("openid", "fullname snils")}, "single words"),
        ({"connect_timeout": 0}, "timeout"),
        ({"read_timeout": -1}, "timeout"),
        ({"leeway": 3600}, "leeway"),
        ({"access_type": "forever"}, "access_type"),
        ({"person_filter": "adults"}, "person_filter"),
    ],
)
def test_config_names_what_is_wrong(
    make_provider: ProviderFactory, rsa_signer: Signer, gost_signer: Signer, overrides: dict[str, Any], words: str
) -> None:
    signers = {"rsa": rsa_signer, "gost": gost_signer}
    values = {name: signers.get(value, value) if name == "signer" else value for name, value in overrides.items()}
    with pytest.raises(ProviderConfigError, match=words):
        make_provider.config(**values)


def test_config_refuses_unreadable_esia_certificates(make_provider: ProviderFactory, tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="Cannot read the ESIA certificate file"):
        make_provider(certificate_files=(str(tmp_path / "nowhere.cer"),))
