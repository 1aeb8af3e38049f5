"""``prompt`` and ``max_age`` (OIDC Core §3.1.2.1), with an OpenID-Certified library as the portal.

pyoidc (``oic``) reads the authorization response (``iss`` included), exchanges the code and
verifies the id_token: signature, issuer, audience, expiry, nonce, and ``auth_time`` against the
request's ``max_age``.

ESIA's single sign-on may answer a login without asking the person again; its id_token's
``auth_time`` then says when it last did. The mock sends that with its ``old_auth_time`` switch
(the login page's ``old-auth-time`` choice): an ``auth_time`` an hour before the login.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from oic.oauth2.message import Message
from oic.oic import Client
from oic.oic.message import AuthorizationErrorResponse, AuthorizationRequest, AuthorizationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from sqlalchemy import func, select

from broker.db.models import DiarySession, LoginAttempt
from broker.extensions import db
from tests.world import BROKER, PORTAL_CALLBACK, PORTAL_SECRET, World, log_in

pytestmark = pytest.mark.flow


class Freshness(TypedDict, total=False):
    """The request parameters that ask for a recent login."""

    prompt: str
    max_age: str


@dataclass
class CertifiedPortal:
    """A portal built on pyoidc's ``Client``: one authorization request at a time."""

    world: World
    client: Client
    request: AuthorizationRequest | None = None
    verifier: str = ""

    @classmethod
    def open(cls, world: World) -> CertifiedPortal:
        client = Client(client_id="portal", client_authn_method=CLIENT_AUTHN_METHOD)
        client.client_secret = PORTAL_SECRET
        client.redirect_uris = [PORTAL_CALLBACK]
        client.provider_config(BROKER)  # discovery and the JWKS, as a real portal starts
        return cls(world, client)

    def authorize(self, region: str | None = "77", raw: dict[str, str] | None = None, **params: str) -> requests.Response:
        """Send the person's browser to the broker; the broker's first answer.

        ``raw``: parameters put into the URL as they are (pyoidc refuses to send malformed ones).
        """
        pkce, self.verifier = self.client.add_code_challenge()
        args: dict[str, Any] = {
            "response_type": "code",
            "scope": "openid profile",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "redirect_uri": PORTAL_CALLBACK,
            **pkce,
            **params,
        }
        if region:
            args["region"] = region
        self.request = self.client.construct_AuthorizationRequest(request_args=args)
        self.client.authz_req[args["state"]] = self.request
        url = self.request.request(self.client.authorization_endpoint)
        if raw:
            query = {**dict(parse_qsl(urlsplit(url).query)), **raw}
            url = urlunsplit(urlsplit(url)._replace(query=urlencode(query)))
        return self.world.go(url)

    def answer(self, callback: str) -> Message:
        """pyoidc's reading of the broker's redirect back (it checks ``iss`` when present): an
        ``AuthorizationResponse`` or an ``AuthorizationErrorResponse``, which callers tell apart."""
        assert callback.startswith(PORTAL_CALLBACK)
        return self.client.parse_response(AuthorizationResponse, info=urlsplit(callback).query, sformat="urlencoded")

    def id_token(self, callback: str) -> Any:
        """Exchange the code and verify the id_token strictly, as a certified RP does."""
        assert self.request is not None
        response = self.answer(callback)
        assert isinstance(response, AuthorizationResponse), response.to_dict()
        assert response["state"] == self.request["state"] and response["iss"] == BROKER
        tokens = self.client.do_access_token_request(
            state=response["state"],
            request_args={"code": response["code"], "redirect_uri": PORTAL_CALLBACK, "code_verifier": self.verifier},
            authn_method="client_secret_basic",
        )
        id_token = tokens["id_token"]
        self.client.verify_id_token(id_token, self.request)  # nonce, and auth_time against max_age
        assert "auth_time" in id_token
        return id_token


ESIA_SSO_AGE = 3600  # how long ago the mock's old_auth_time says the person was asked


def age_session(world: World, seconds: int) -> int:
    """Move the session and its login ``seconds`` into the past; return its new auth_time."""
    with world.broker.app_context():
        session = db.session.scalars(select(DiarySession)).one()
        session.created_at = session.created_at - timedelta(seconds=seconds)
        session.auth_time = session.auth_time - timedelta(seconds=seconds)
        db.session.commit()
        return int(session.auth_time.timestamp())


def at_esia(world: World, response: requests.Response) -> str | None:
    """The ESIA login page the broker sent the browser to, or None if it answered otherwise."""
    found = world.follow(response, lambda url: urlsplit(url).path == "/login" or url.startswith(PORTAL_CALLBACK))
    return found if isinstance(found, str) and urlsplit(found).path == "/login" else None


def log_in_at_esia(world: World, login_page: str, person: str = "namesake-1", *, sso: bool = False) -> str:
    """Log in on ESIA's page; ``sso``: ESIA answers from its single sign-on (auth_time an hour old)."""
    form = {"login": person, "password": "test1234"} | ({"fault": "old-auth-time"} if sso else {})
    answer = world.go(login_page, data=form)
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str), "the login should end at the portal"
    return callback


def signed_in(world: World) -> int:
    """Log the browser in (a linked person: no questions); return the session's auth_time, aged 10 min."""
    assert log_in(world, "namesake-1").callback is not None
    return age_session(world, 600)


# -- prompt=login and max_age: a new ESIA login ---------------------------------------------


@pytest.mark.parametrize("params", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "60"}])
def test_a_stale_or_refused_session_logs_the_person_in_again_through_esia(world: World, params: Freshness) -> None:
    old_auth_time = signed_in(world)
    portal = CertifiedPortal.open(world)
    login_page = at_esia(world, portal.authorize(**params))
    assert login_page is not None, "the broker must not answer from the old session"
    id_token = portal.id_token(log_in_at_esia(world, login_page))
    assert id_token["auth_time"] >= old_auth_time + 600 and id_token["sub"] == "d-016"


# -- ESIA's single sign-on: auth_time is when ESIA last asked the person -------------------------


def test_the_id_token_reports_when_esia_asked_the_person_not_when_the_broker_signed_them_in(world: World) -> None:
    portal = CertifiedPortal.open(world)
    login_page = at_esia(world, portal.authorize())
    assert login_page is not None
    id_token = portal.id_token(log_in_at_esia(world, login_page, sso=True))
    assert id_token["auth_time"] <= time.time() - ESIA_SSO_AGE


@pytest.mark.parametrize("params", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "60"}, {"max_age": "1800"}])
def test_a_new_login_that_esia_answers_without_asking_the_person_is_login_required(world: World, params: Freshness) -> None:
    """OIDC Core §3.1.2.1: an OP that cannot reauthenticate the person returns login_required."""
    signed_in(world)  # a session 10 minutes old, older than max_age=60: a new ESIA login
    age_session(world, 3600)  # and older than max_age=1800 too
    sessions_before = session_count(world)
    portal = CertifiedPortal.open(world)
    login_page = at_esia(world, portal.authorize(**params))
    assert login_page is not None
    response = world.go(login_page, data={"login": "namesake-1", "password": "test1234", "fault": "old-auth-time"})
    callback = world.follow(response, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str), "the portal gets an answer, not a page"
    answer = portal.answer(callback)
    assert isinstance(answer, AuthorizationErrorResponse), "no code whose auth_time breaks the request"
    assert portal.request is not None
    assert (answer["error"], answer["state"], answer["iss"]) == ("login_required", portal.request["state"], BROKER)
    # Nothing is made of that ESIA answer: no session, and the attempt says why.
    assert session_count(world) == sessions_before
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc()).limit(1)).one()
        assert (attempt.outcome, attempt.reason) == ("refused", "reauthentication_required")
        db.session.remove()


def session_count(world: World) -> int:
    with world.broker.app_context():
        count = db.session.scalar(select(func.count()).select_from(DiarySession)) or 0
        db.session.remove()
        return count


def test_a_new_login_from_esias_single_sign_on_within_max_age_gets_a_code(world: World) -> None:
    signed_in(world)
    age_session(world, 3 * 3600)  # older than max_age: a new ESIA login, which SSO answers (1 h)
    portal = CertifiedPortal.open(world)
    login_page = at_esia(world, portal.authorize(max_age="7200"))
    assert login_page is not None
    id_token = portal.id_token(log_in_at_esia(world, login_page, sso=True))  # pyoidc checks max_age
    assert time.time() - 7200 <= id_token["auth_time"] <= time.time() - ESIA_SSO_AGE


def test_max_age_is_measured_from_when_esia_asked_the_person_not_from_the_sessions_start(world: World) -> None:
    portal = CertifiedPortal.open(world)
    login_page = at_esia(world, portal.authorize())
    assert login_page is not None
    portal.id_token(log_in_at_esia(world, login_page, sso=True))
    # The session is seconds old, but ESIA asked the person an hour ago.
    assert at_esia(world, portal.authorize(max_age="1800")) is not None
    expect_error(portal, portal.authorize(prompt="none", max_age="1800"), "login_required")
    response = portal.authorize(max_age="7200")
    assert response.status_code == 302 and response.headers["Location"].startswith(PORTAL_CALLBACK)


def test_a_session_within_max_age_answers_at_once_with_its_auth_time(world: World) -> None:
    auth_time = signed_in(world)
    portal = CertifiedPortal.open(world)
    response = portal.authorize(max_age="3600")
    assert response.status_code == 302 and response.headers["Location"].startswith(PORTAL_CALLBACK)
    assert portal.id_token(response.headers["Location"])["auth_time"] == auth_time


def test_without_prompt_or_max_age_the_session_answers_at_once(world: World) -> None:
    auth_time = signed_in(world)
    portal = CertifiedPortal.open(world)
    response = portal.authorize()
    assert response.status_code == 302 and response.headers["Location"].startswith(PORTAL_CALLBACK)
    assert portal.id_token(response.headers["Location"])["auth_time"] == auth_time


# -- prompt=none: a code from the session, or an error, never a page --------------------------


def test_prompt_none_with_a_live_session_returns_a_code_silently(world: World) -> None:
    auth_time = signed_in(world)
    portal = CertifiedPortal.open(world)
    response = portal.authorize(prompt="none")
    assert response.status_code == 302 and response.headers["Location"].startswith(PORTAL_CALLBACK)
    assert portal.id_token(response.headers["Location"])["auth_time"] == auth_time


def expect_error(portal: CertifiedPortal, response: requests.Response, error: str) -> None:
    assert response.status_code == 302, "no page may be shown"
    answer = portal.answer(response.headers["Location"])
    assert isinstance(answer, AuthorizationErrorResponse), answer.to_dict()
    assert portal.request is not None
    assert (answer["error"], answer["state"], answer["iss"]) == (error, portal.request["state"], BROKER)


def test_prompt_none_without_a_session_answers_login_required(world: World) -> None:
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(prompt="none"), "login_required")


def test_prompt_none_with_a_session_older_than_max_age_answers_login_required(world: World) -> None:
    signed_in(world)
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(prompt="none", max_age="60"), "login_required")


def test_prompt_none_after_logout_answers_login_required(world: World) -> None:
    signed_in(world)
    with world.broker.app_context():
        db.session.scalars(select(DiarySession)).one().revoked_at = db.func.now()
        db.session.commit()
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(prompt="none"), "login_required")


@pytest.mark.parametrize(
    ("region", "why"),
    [(None, "the region chooser"), ("39", "the region_disabled refusal"), ("01", "a region the portal does not serve")],
)
def test_prompt_none_where_a_page_would_be_shown_answers_interaction_required(world: World, region: str | None, why: str) -> None:
    signed_in(world)
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(region=region, prompt="none"), "interaction_required")


def test_prompt_none_with_login_is_an_invalid_request(world: World) -> None:
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(prompt="none login"), "invalid_request")


@pytest.mark.parametrize("max_age", ["-1", "ten", "1e3", "١٢", "9999999999"])
def test_a_malformed_max_age_is_sent_back_as_invalid_request(world: World, max_age: str) -> None:
    portal = CertifiedPortal.open(world)
    expect_error(portal, portal.authorize(raw={"max_age": max_age}), "invalid_request")
