"""Portal and app registrations: exact redirect URIs, loopback redirects for native apps."""

from __future__ import annotations

import hashlib

import pytest

from broker.clients import load_clients
from broker.errors import ConfigError

CLIENTS = {
    "portal": {
        "redirect_uris": ["https://dnevnik.example/cb"],
        "regions": ["77"],
        "login_url": "https://dnevnik.example/login",
        "secret_sha256": hashlib.sha256(b"s3cret").hexdigest(),
    },
    "app": {"redirect_uris": ["http://127.0.0.1/oauth", "ru.dnevnik.app:/oauth"], "regions": ["77"], "login_url": "x"},
}


@pytest.mark.parametrize(
    ("client_id", "uri", "allowed"),
    [
        ("portal", "https://dnevnik.example/cb", True),
        ("portal", "https://dnevnik.example/cb?x=1", False),
        ("portal", "https://dnevnik.example/cb/", False),
        ("portal", "https://evil.example/cb", False),
        ("app", "http://127.0.0.1:53117/oauth", True),  # RFC 8252 §7.3: any port on loopback
        ("app", "http://127.0.0.1:53117/other", False),
        ("app", "http://localhost:53117/oauth", False),
        ("app", "ru.dnevnik.app:/oauth", True),  # a private-use scheme, exactly
        ("portal", "http://127.0.0.1:53117/cb", False),  # loopback ports are for public apps only
    ],
)
def test_redirect_uris_match_exactly_except_loopback_ports_for_apps(client_id: str, uri: str, allowed: bool) -> None:
    assert load_clients(CLIENTS)[client_id].check_redirect_uri(uri) is allowed


def test_a_confidential_portal_authenticates_with_its_secret_and_an_app_cannot() -> None:
    clients = load_clients(CLIENTS)
    assert clients["portal"].check_client_secret("s3cret") and not clients["portal"].check_client_secret("nope")
    assert clients["portal"].check_endpoint_auth_method("client_secret_basic", "token")
    assert not clients["portal"].check_endpoint_auth_method("none", "token")
    assert clients["app"].is_public and clients["app"].check_endpoint_auth_method("none", "token")
    assert not clients["app"].check_client_secret("")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"redirect_uris": []}, "redirect_uris is empty"),
        ({"regions": []}, "regions is empty"),
        ({"login_url": ""}, "login_url is missing"),
        ({"secret_sha256": "s3cret"}, "secret_sha256 must be the 64 lowercase hex digits"),
    ],
)
def test_a_bad_registration_names_its_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_clients({"portal": {**CLIENTS["portal"], **change}})
