"""The diary's mobile app as the refresh-token tests drive it: a public client (no secret) that logs in
through the system browser and then refreshes, revokes and calls userinfo with its tokens; shared by
``test_oidc_refresh.py`` and ``test_oidc_revoke.py``."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select

from broker import services
from broker.db.models import RefreshFamily
from broker.extensions import db
from tests.clock import FrozenClock
from tests.world import BROKER, PORTAL_CALLBACK, PORTAL_SECRET, World

APP = "diary-app"
APP_CALLBACK = "http://127.0.0.1/callback"  # a native app's loopback redirect (RFC 8252 §7.3)
ACCOUNT = "d-016"  # namesake-1's diary account, linked by the registry: no questions at login
DAY = 24 * 3600


def sign_in(world: World, scope: str = "openid profile offline_access", client_id: str = APP) -> tuple[OAuth2Session, dict[str, Any]]:
    """The app's login through the system browser (namesake-1 at ESIA), then its token request."""
    public = client_id == APP
    client = OAuth2Session(
        client_id=client_id,
        client_secret=None if public else PORTAL_SECRET,
        scope=scope,
        redirect_uri=APP_CALLBACK if public else PORTAL_CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(
        f"{BROKER}/oidc/authorize", code_verifier=verifier, nonce=secrets.token_urlsafe(16), region="77"
    )
    back = APP_CALLBACK if public else PORTAL_CALLBACK
    end = world.follow(world.go(url), lambda u: u.startswith(back) or urlsplit(u).path == "/login")
    assert isinstance(end, str)
    if not end.startswith(back):  # no broker session in this browser yet: off to ESIA
        answer = world.go(end, data={"login": "namesake-1", "password": "test1234"})
        end = world.follow(answer, lambda u: u.startswith(back))
        assert isinstance(end, str)
    return client, client.fetch_token(f"{BROKER}/oidc/token", authorization_response=end, code_verifier=verifier)


def refresh(refresh_token: str, client_id: str = APP, auth: tuple[str, str] | None = None) -> requests.Response:
    """A refresh request as any client sends it, read raw (errors included)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if auth is None:
        data["client_id"] = client_id
    return requests.post(f"{BROKER}/oidc/token", data=data, auth=auth)


def refused(answer: requests.Response) -> bool:
    return answer.status_code == 400 and answer.json()["error"] == "invalid_grant" and "access_token" not in answer.json()


def userinfo(access_token: str) -> int:
    return requests.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def frozen(world: World) -> FrozenClock:
    """Stop the broker's clock where it is now; the test moves it."""
    clock = FrozenClock()
    with world.broker.app_context():
        services.current().clock = clock
    return clock


def families(world: World) -> list[Any]:
    with world.broker.app_context():
        rows = db.session.execute(select(RefreshFamily)).scalars().all()
        db.session.remove()
    return list(rows)
