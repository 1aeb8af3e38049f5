"""Portal and app registrations: exact redirect URIs, loopback redirects for native apps."""

from __future__ import annotations

import hashlib

import pytest

from broker.errors import ConfigError
from broker.oidc.clients import load_clients

CLIENTS = {
    "portal": {
        "redirect_uris": ["https://dnevnik.example/cb"],
        "regions": ["77"],
        "login_url": "https://dnevnik.example/login",
        "secret_sha256": hashlib.sha256(b"s3cret").hexdigest(),
    },
    "app": {
        "redirect_uris": ["http://127.0.0.1/oauth", "http://[::1]/oauth", "http://127.0.0.1/q?app=1", "ru.dnevnik.app:/oauth"],
        "regions": ["77"],
        "login_url": "x",
    },
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


# An app's redirect URI is where the broker sends the person's browser with a code; a browser that
# reads the URI differently from the check goes elsewhere with it (WHATWG URL vs RFC 3986).
@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1/oauth", True),
        ("http://127.0.0.1:1/oauth", True),
        ("http://127.0.0.1:65535/oauth", True),
        ("http://[::1]:53117/oauth", True),
        ("http://[::1]/oauth", True),
        ("http://127.0.0.1:8080/q?app=1", True),  # the registered query, exactly
        # user info: the browser goes to the host after the @
        ("http://127.0.0.1:80@evil.example/oauth", False),
        ("http://127.0.0.1@evil.example/oauth", False),
        ("http://evil.example@127.0.0.1/oauth", False),
        ("http://evil.example:80@127.0.0.1:5000/oauth", False),
        ("http://[::1]:80@evil.example/oauth", False),
        ("http://127.0.0.1%40evil.example/oauth", False),
        ("http://127.0.0.1:80%40evil.example/oauth", False),
        # backslashes are slashes to a browser
        ("http://127.0.0.1\\@evil.example/oauth", False),
        ("http://evil.example\\@127.0.0.1/oauth", False),
        ("http://127.0.0.1:5000\\evil.example/oauth", False),
        ("http://127.0.0.1\\oauth", False),
        # other spellings of the loopback address, and hosts that only start with it
        ("http://127.0.0.1.evil.example/oauth", False),
        ("http://127.0.0.1.evil.example:5000/oauth", False),
        ("http://127.1/oauth", False),
        ("http://0x7f.0.0.1/oauth", False),
        ("http://0177.0.0.1/oauth", False),
        ("http://2130706433/oauth", False),
        ("http://127.0.0.2/oauth", False),
        ("http://[0:0:0:0:0:0:0:1]/oauth", False),
        ("http://[::ffff:127.0.0.1]/oauth", False),
        ("http://１２７.０.０.１/oauth", False),  # full-width digits: IDNA maps them to 127.0.0.1
        ("http://xn--127-0.0.0.1/oauth", False),
        ("http://LOCALHOST/oauth", False),
        ("http://localhost:53117/oauth", False),  # decided: IP literals only (RFC 8252 §8.3)
        ("HTTP://127.0.0.1/oauth", False),
        ("https://127.0.0.1/oauth", False),
        # fragments and queries that hide an authority
        ("http://127.0.0.1#@evil.example/oauth", False),
        ("http://127.0.0.1/oauth#@evil.example", False),
        ("http://127.0.0.1?@evil.example/oauth", False),
        ("http://127.0.0.1/oauth?@evil.example", False),
        ("http://127.0.0.1/oauth?", False),
        ("http://127.0.0.1/oauth#", False),
        ("http://127.0.0.1/q?app=2", False),
        ("http://[::1]:8080/q?app=1", False),  # registered for 127.0.0.1 only
        # the path exactly
        ("http://127.0.0.1:5000/oauth/", False),
        ("http://127.0.0.1:5000/OAUTH", False),
        ("http://127.0.0.1:5000/x/../oauth", False),
        ("http://127.0.0.1:5000//evil.example/oauth", False),
        # malformed ports and brackets: refused, never an exception
        ("http://127.0.0.1:abc/oauth", False),
        ("http://127.0.0.1:/oauth", False),
        ("http://127.0.0.1:0/oauth", False),
        ("http://127.0.0.1:99999/oauth", False),
        ("http://127.0.0.1:+80/oauth", False),
        ("http://127.0.0.1:80:80/oauth", False),
        ("http://[::1/oauth", False),
        ("http://[::1]x/oauth", False),
        ("http://127.0.0.1: 80/oauth", False),
        ("http://127.0.0.1:5\t000/oauth", False),
        (" http://127.0.0.1/oauth", False),
        ("http:/127.0.0.1/oauth", False),
        ("http:127.0.0.1/oauth", False),
        ("", False),
    ],
)
def test_an_app_loopback_redirect_must_be_the_registered_one_on_some_port(uri: str, allowed: bool) -> None:
    assert load_clients(CLIENTS)["app"].check_redirect_uri(uri) is allowed


@pytest.mark.parametrize(
    "uri",
    [
        "https://DNEVNIK.example/cb",
        "HTTPS://dnevnik.example/cb",
        "https://dnevnik.example:443/cb",
        "https://dnevnik.example/%63b",
        "https://dnevnik.example/cb#",
        "https://dnevnik.example/cb ",
        "https://dnevnik.example./cb",
        "https://x@dnevnik.example/cb",
        "https://dnevnik.example/cb\\",
    ],
)
def test_a_portal_redirect_uri_is_compared_as_an_exact_string(uri: str) -> None:
    """Even a URI that means the same as the registered one is refused: no normalisation."""
    assert load_clients(CLIENTS)["portal"].check_redirect_uri(uri) is False


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


SUPPORTED = {
    **CLIENTS["portal"],
    "name": "  Электронный дневник, Москва ",
    "support_phone": "+7 (495) 123-45-67",
    "support_url": "https://dnevnik.example/help",
    "support_email": "help@dnevnik.example",
    "logo_url": "https://dnevnik.example/logo.svg",
}


def test_a_portal_is_registered_with_its_name_support_contact_and_logo() -> None:
    portal = load_clients({"portal": SUPPORTED})["portal"]
    assert portal.name == "Электронный дневник, Москва"
    assert portal.support.phone == "+7 (495) 123-45-67" and portal.support.phone_href == "tel:+74951234567"
    assert (portal.support.url, portal.support.email) == ("https://dnevnik.example/help", "help@dnevnik.example")
    assert portal.logo_url == "https://dnevnik.example/logo.svg" and portal.support


def test_without_them_a_portal_is_named_by_its_id_and_has_no_support_contact_or_logo() -> None:
    portal = load_clients(CLIENTS)["portal"]
    assert portal.name == "portal" and not portal.support and portal.logo_url is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", 77),
        ("name", "Д" * 101),
        ("support_phone", "12345"),
        ("support_phone", "8 800 100-00-00 доб. 5"),
        ("support_phone", "+7 495 123 45 67 89 01 23"),  # 17 digits
        ("support_phone", 84951234567),
        ("support_email", "help"),
        ("support_email", "help@dnevnik"),
        ("support_email", "<help@dnevnik.example>"),
        ("support_url", "http://dnevnik.example/help"),  # not https
        ("support_url", "javascript:alert(1)"),
        ("support_url", "dnevnik.example/help"),
        ("support_url", "https://x@evil.example/help"),
        ("support_url", "https://dnevnik.example/he lp"),
        ("logo_url", "data:image/svg+xml,<svg/>"),
        ("logo_url", "//dnevnik.example/logo.svg"),
        ("logo_url", ["https://dnevnik.example/logo.svg"]),
    ],
)
def test_a_bad_name_support_contact_or_logo_names_its_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"OIDC_CLIENTS\.portal\.{key} "):
        load_clients({"portal": {**SUPPORTED, key: value}})


@pytest.mark.parametrize(
    "uri",
    ["https://dnevnik.example/login/esia", "https://dnevnik.example:443/login/esia?from=broker", "https://DNEVNIK.example/x"],
)
def test_a_portal_may_register_where_it_starts_a_fresh_login_on_its_own_origin(uri: str) -> None:
    clients = load_clients({"portal": {**CLIENTS["portal"], "initiate_login_uri": uri}})
    assert clients["portal"].initiate_login_uri == uri
    assert load_clients({"portal": CLIENTS["portal"]})["portal"].initiate_login_uri is None


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/login/esia",  # another origin: the broker would send people anywhere
        "http://dnevnik.example/login/esia",  # another scheme
        "https://dnevnik.example:8443/login/esia",  # another port
        "https://user@dnevnik.example/login/esia",
        "https://dnevnik.example/login#esia",
        "https://dnevnik.example/login esia",
        "/login/esia",
        "javascript:alert(1)",
        42,
    ],
)
def test_an_initiate_login_uri_off_the_portals_origin_names_its_key(uri: object) -> None:
    with pytest.raises(ConfigError, match=r"OIDC_CLIENTS\.portal\.initiate_login_uri"):
        load_clients({"portal": {**CLIENTS["portal"], "initiate_login_uri": uri}})
