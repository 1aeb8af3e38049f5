"""The three-party world of the flow tests: a standard OIDC client (the portal) → the broker → the mock ESIA.

All three talk over ``requests`` routed by ``responses`` into each app's test client
(``tests/routing.py``), so every hop is real HTTP semantics (redirects, cookies, form posts)
without sockets. The person's browser is a ``requests.Session`` that follows redirects by hand,
keeping cookies per host.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
import responses
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

import mock_esia
from broker import create_app
from broker.extensions import db
from broker.oidc import keys
from broker.wiring import make_esia_provider
from providers.transport import RequestsSender
from tests.databases import TEST_SNILS_KEY
from tests.keymaterial import write_rsa_pair
from tests.routing import route

BROKER = "https://broker.test"
PORTAL = "https://portal.test"
ESIA = "https://esia.test"
PORTAL_CALLBACK = f"{PORTAL}/callback"
PORTAL_SECRET = "portal-secret"
#: A second registered portal (another school's diary), with its own secret and callback.
SECOND_PORTAL = "second-portal"
SECOND_PORTAL_SECRET = "second-portal-secret"
SECOND_PORTAL_CALLBACK = "https://second.portal.test/callback"
ESIA_CALLBACK = f"{BROKER}/auth/esia/callback"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def make_material(folder: Path) -> dict[str, Path]:
    """Keys for a session, in ``folder``: the broker's ESIA client pair, its id_token key, the mock's folder."""
    key, certificate = write_rsa_pair(folder, "diary", "DIARY01")
    keys.generate_key_file(folder / "oidc.pem")
    return {"key": key, "certificate": certificate, "oidc": folder / "oidc.pem", "mock": folder / "mock"}


@dataclass
class World:
    broker: Flask
    esia: Flask
    browser: requests.Session = field(default_factory=requests.Session)

    def portal(self, **overrides: Any) -> OAuth2Session:
        return OAuth2Session(
            client_id=overrides.get("client_id", "portal"),
            client_secret=overrides.get("client_secret", PORTAL_SECRET),
            scope="openid profile email phone",
            redirect_uri=PORTAL_CALLBACK,
            code_challenge_method="S256",
        )

    def go(self, url: str, *, data: dict[str, str] | None = None) -> requests.Response:
        """One browser step (GET, or POST with ``data``), redirects not followed."""
        if data is None:
            return self.browser.get(url, allow_redirects=False)
        return self.browser.post(url, data=data, allow_redirects=False)

    def follow(self, response: requests.Response, stop: Callable[[str], bool]) -> requests.Response | str:
        """Follow redirects until one points where ``stop`` says; return that URL or the page."""
        while response.status_code in (301, 302, 303, 307):
            location = urljoin(response.url, response.headers["Location"])
            if stop(location):
                return location
            response = self.go(location)
        return response


GOST_CLIENT = Path(__file__).resolve().parent / "providers" / "data"
# How the broker meets ESIA: the legacy flow with an RSA CMS client_secret and RS256 tokens
# (the default here: fast), or the current flow with a raw GOST client_secret and either
# RS256 or GOST-signed tokens.
SETUPS = {
    "legacy-rsa": ("legacy", "rsa-cms", "RS256"),
    "current-gost-rs256": ("current", "gost-raw", "RS256"),
    "current-gost-gost": ("current", "gost-raw", "GOST3410_2012_256"),
    # The legacy flow with a GOST CMS client_secret (a command-line signer, set by broker_config).
    "legacy-gost": ("legacy", "openssl-cms", "RS256"),
}
DEFAULT_SETUP = "legacy-rsa"


@contextmanager
def opened_world(
    material: dict[str, Path], database_url: str, setup: str = DEFAULT_SETUP, broker_config: dict[str, Any] | None = None
) -> Iterator[World]:
    """The mock ESIA and the broker (on ``database_url``, migrated already: tests/databases.py)
    wired together behind ``responses``; ``broker_config`` overrides the broker's keys (another signer)."""
    flow, signer, jwt_alg = SETUPS[setup]
    if signer != "rsa-cms":  # every GOST signer signs with the GOST test pair
        client_key, client_certificate = GOST_CLIENT / "client-gost.key", GOST_CLIENT / "client-gost.cer"
    else:
        client_key, client_certificate = material["key"], material["certificate"]
    token_certificate = material["mock"] / ("esia-gost.cer" if jwt_alg.startswith("GOST") else "esia-rsa.cer")
    esia = mock_esia.create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(material["mock"]),
            "PUBLIC_URL": ESIA,
            "CLIENTS": {
                "DIARY01": {
                    "certificates": [client_certificate.read_text()],
                    "redirect_uris": [ESIA_CALLBACK, f"{BROKER}/oidc/logged-out"],
                    "scopes": ["openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile"],
                    "jwt_alg": jwt_alg,
                }
            },
        }
    )
    broker = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "flow-secret",
            "SNILS_HASH_KEY": TEST_SNILS_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REGION_CACHE_SECONDS": 0,
            "OIDC_ISSUER": BROKER,
            "OIDC_SIGNING_KEY_FILES": [str(material["oidc"])],
            "OIDC_CLIENTS": {
                "portal": {
                    "redirect_uris": [PORTAL_CALLBACK],
                    "post_logout_redirect_uris": [f"{PORTAL}/bye"],
                    "regions": ["77", "50", "39"],
                    "login_url": f"{PORTAL}/login",
                    "initiate_login_uri": f"{PORTAL}/initiate",  # tests/flows/authlib_portal.py
                    "secret_sha256": hashlib.sha256(PORTAL_SECRET.encode()).hexdigest(),
                },
                SECOND_PORTAL: {
                    "redirect_uris": [SECOND_PORTAL_CALLBACK],
                    "regions": ["77"],
                    "login_url": "https://second.portal.test/login",
                    "secret_sha256": hashlib.sha256(SECOND_PORTAL_SECRET.encode()).hexdigest(),
                },
            },
            "ESIA_BASE_URL": ESIA,
            "ESIA_CLIENT_ID": "DIARY01",
            "ESIA_FLOW": flow,
            "ESIA_SIGNER": signer,
            "ESIA_KEY_FILE": str(client_key),
            "ESIA_CERTIFICATE_FILE": str(client_certificate),
            "ESIA_TOKEN_CERTIFICATE_FILES": [str(token_certificate)],
            "ESIA_REDIRECT_URI": ESIA_CALLBACK,
            **(broker_config or {}),
        }
    )
    # The broker's own ESIA client speaks http.client, which responses cannot route: here it sends
    # through requests (timed when metrics are on, as the broker's own sender would be).
    broker.extensions["broker"].esia = make_esia_provider(broker.config, RequestsSender(requests.Session()))
    with broker.app_context():
        runner = broker.test_cli_runner()
        assert runner.invoke(args=["registry", "import", "--allow-links", str(EXAMPLES / "registry.csv")]).exit_code == 0
        assert runner.invoke(args=["regions", "enable", "77", "50", "--comment", "flow tests"]).exit_code == 0
        db.session.remove()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as routes:
        route(routes, ESIA, esia)
        route(routes, BROKER, broker)
        yield World(broker, esia)
    with broker.app_context():
        db.session.remove()
        db.engine.dispose()


@dataclass
class Login:
    """One portal login driven through to its end."""

    world: World
    portal: OAuth2Session
    verifier: str
    nonce: str
    state: str
    page: requests.Response | None = None  # a broker page where the login stopped
    callback: str | None = None  # the portal callback URL the browser reached

    def token(self) -> dict[str, Any]:
        assert self.callback is not None
        return self.portal.fetch_token(f"{BROKER}/oidc/token", authorization_response=self.callback, code_verifier=self.verifier)


def start_login(world: World, region: str | None = "77", **params: str) -> tuple[Login, requests.Response]:
    portal = world.portal()
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    extra = {"region": region} if region else {}
    url, state = portal.create_authorization_url(f"{BROKER}/oidc/authorize", code_verifier=verifier, nonce=nonce, **extra, **params)
    return Login(world, portal, verifier, nonce, state), world.go(url)


def log_in(world: World, person: str, region: str = "77") -> Login:
    """The whole browser path for mock person ``person`` (login ``person``, password test1234)."""
    login, response = start_login(world, region)
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str), "the broker should send the browser to ESIA's login page"
    answer = world.go(at_esia, data={"login": person, "password": "test1234"})
    end = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    if isinstance(end, str):
        login.callback = end
    else:
        login.page = end
    return login


def verify_id_token(token: str, nonce: str | None = None) -> dict[str, Any]:
    jwks = requests.get(f"{BROKER}/oidc/jwks").json()
    claims = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == BROKER and claims["aud"] == "portal"
    if nonce:
        assert claims["nonce"] == nonce
    return claims


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def csrf(page: str) -> str:
    """The CSRF token of one of the broker's login pages (the chooser, the contacts, the invite code)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has a CSRF token"
    return match.group(1)


def confirm_contacts(world: World, login: Login, phone: str, email: str) -> Login:
    """Confirm a phone and an e-mail on the first link's page where ``login`` stopped; on to the portal."""
    assert login.page is not None and login.page.url.endswith("/auth/confirm")
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(login.page.text), "phone": phone, "email": email})
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str), "the confirmation leads back to the portal"
    login.callback = callback
    return login


def ask_link(account_id: str, return_to: str = f"{PORTAL}/settings", secret: str = PORTAL_SECRET) -> requests.Response:
    """The portal asks the broker for a link URL for a diary account signed in with a password."""
    return requests.post(f"{BROKER}/oidc/link", data={"account_id": account_id, "return_to": return_to}, auth=("portal", secret))


def link_through_esia(world: World, account_id: str, person: str) -> requests.Response | str:
    """The link flow for mock person ``person``, to where the broker sends the browser back."""
    url = ask_link(account_id).json()["url"]
    at_esia = world.follow(world.go(url), lambda u: urlsplit(u).path == "/login")
    assert isinstance(at_esia, str)
    answer = world.go(at_esia, data={"login": person, "password": "test1234"})
    return world.follow(answer, lambda u: u.startswith(f"{PORTAL}/settings"))
