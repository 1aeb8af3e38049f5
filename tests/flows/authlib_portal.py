"""A diary portal written on Authlib's Flask client, as portals are: it starts logins at the broker
and reads its answers (codes, and the OIDC error responses of refused logins).

Its browser is a Flask test client (it keeps the portal's session cookie); the person's way between
the portal and the broker goes through the flow tests' world.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, request, session
from flask.testing import FlaskClient

from tests.world import BROKER, PORTAL, PORTAL_CALLBACK, PORTAL_SECRET, World


def portal_app() -> Flask:
    """The portal: ``/start`` sends the browser to the broker (``/initiate`` too, when the broker
    asks for a fresh login: its ``initiate_login_uri``), ``/callback`` reads the answer.

    The callback answers JSON: ``{"sub": …}`` when signed in, ``{"error", "description"}`` (401)
    for an OIDC error response, 400 for a state this browser's session never sent.
    """
    app = Flask("portal")
    app.secret_key = "portal-session-secret"
    oauth = OAuth(app)
    broker: Any = oauth.register(
        "broker",
        client_id="portal",
        client_secret=PORTAL_SECRET,
        server_metadata_url=f"{BROKER}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )

    @app.get("/start")
    def start() -> Any:
        return broker.authorize_redirect(PORTAL_CALLBACK, region="77")

    @app.get("/initiate")
    def initiate() -> Any:
        # OIDC Core §4, "Initiating Login from a Third Party": a fresh login of the portal's own
        # (new state, nonce and PKCE), started only for the issuer it knows.
        if request.args.get("iss") != BROKER:
            return "unknown issuer", 400
        return broker.authorize_redirect(PORTAL_CALLBACK, region="77")

    @app.get("/callback")
    def callback() -> Any:
        if broker.framework.get_state_data(session, request.args.get("state", "")) is None:
            return "unknown state", 400  # not a request this browser made: nothing is believed
        try:
            token = broker.authorize_access_token()
        except OAuthError as error:
            return {"error": error.error, "description": error.description}, 401
        return {"sub": token["userinfo"]["sub"]}

    return app


def start_at_portal(world: World, portal: FlaskClient) -> str:
    """The person clicks «Войти через Госуслуги» on the portal: ESIA's login page the broker sends them to."""
    answer = portal.get(f"{PORTAL}/start")
    assert answer.status_code == 302 and answer.location.startswith(f"{BROKER}/oidc/authorize")
    at_esia = world.follow(world.go(answer.location), lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    return at_esia
