"""Authorization codes: single use, a replay revokes what the code bought, and every
authorization response names its issuer (RFC 6749 §4.1.2, RFC 9207)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from broker import services
from broker.db.models import AccessToken, AuthorizationCode
from broker.extensions import db
from broker.ops import retention
from tests.world import (
    BROKER,
    PORTAL_CALLBACK,
    PORTAL_SECRET,
    SECOND_PORTAL,
    SECOND_PORTAL_SECRET,
    Login,
    World,
    log_in,
    query_of,
    start_login,
)

pytestmark = pytest.mark.flow


def exchange_again(login: Login, auth: tuple[str, str] = ("portal", PORTAL_SECRET)) -> requests.Response:
    """The token request of ``login`` once more, exactly as the portal sent it (by client ``auth``)."""
    assert login.callback is not None
    return requests.post(
        f"{BROKER}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(login.callback)["code"],
            "redirect_uri": PORTAL_CALLBACK,
            "code_verifier": login.verifier,
        },
        auth=auth,
    )


def userinfo(access_token: str) -> requests.Response:
    return requests.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_a_replayed_code_is_refused_and_revokes_the_access_token_it_bought(world: World) -> None:
    login = log_in(world, "namesake-1")
    token = login.token()
    assert userinfo(token["access_token"]).status_code == 200
    replay = exchange_again(login)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "access_token" not in replay.json()
    assert userinfo(token["access_token"]).status_code == 401


def test_a_replay_revokes_only_the_tokens_of_that_code(world: World) -> None:
    first = log_in(world, "namesake-1")
    first_token = first.token()
    second, response = start_login(world)  # the same browser, signed in: a second code at once
    second.callback = response.headers["Location"]
    second_token = second.token()
    assert exchange_again(first).status_code == 400
    assert userinfo(first_token["access_token"]).status_code == 401
    assert userinfo(second_token["access_token"]).status_code == 200


def test_a_spent_code_presented_by_another_portal_is_refused_and_revokes_nothing(world: World) -> None:
    """A code that leaked to another registered portal: that portal cannot end the first one's tokens."""
    login = log_in(world, "namesake-1")
    token = login.token()
    foreign = exchange_again(login, auth=(SECOND_PORTAL, SECOND_PORTAL_SECRET))
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_grant"
    assert userinfo(token["access_token"]).status_code == 200
    assert exchange_again(login).status_code == 400  # the code's own portal replaying it still revokes
    assert userinfo(token["access_token"]).status_code == 401


def test_an_unspent_code_presented_by_another_portal_is_refused_and_stays_the_first_portals(world: World) -> None:
    login = log_in(world, "namesake-1")
    foreign = exchange_again(login, auth=(SECOND_PORTAL, SECOND_PORTAL_SECRET))  # the code, verifier and all
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_grant"
    assert userinfo(login.token()["access_token"]).status_code == 200


def test_an_unknown_code_revokes_nothing(world: World) -> None:
    login = log_in(world, "namesake-1")
    token = login.token()
    login.callback = f"{PORTAL_CALLBACK}?code=never-issued&state={login.state}"
    assert exchange_again(login).status_code == 400
    assert userinfo(token["access_token"]).status_code == 200


def test_a_spent_code_is_kept_until_it_would_have_expired_then_purged(world: World) -> None:
    log_in(world, "namesake-1").token()
    with world.broker.app_context():
        code = db.session.scalars(select(AuthorizationCode)).one()
        assert code.redeemed_at is not None
        token = db.session.scalars(select(AccessToken)).one()
        assert token.code_digest == code.code_digest
        retention.purge(datetime.now(UTC), attempt_days=30, audit_days=30, actor="cli:test")
        assert db.session.scalars(select(AuthorizationCode)).all() != []  # not expired yet: kept
        later = datetime.now(UTC) + timedelta(minutes=2)
        report = retention.purge(later, attempt_days=30, audit_days=30, actor="cli:test")
        assert report.removed["oidc_codes"] == 1
        assert db.session.scalars(select(AuthorizationCode)).all() == []


def test_the_authorization_response_names_the_issuer(world: World) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None and query_of(login.callback)["iss"] == BROKER
    assert verify_discovery()["authorization_response_iss_parameter_supported"] is True


def test_an_error_sent_back_to_the_portal_names_the_issuer_too(world: World) -> None:
    # No PKCE: the request is refused with a redirect to the portal (RFC 9207 §2: errors too).
    answer = world.go(
        f"{BROKER}/oidc/authorize?response_type=code&client_id=portal&redirect_uri={PORTAL_CALLBACK}&scope=openid&state=s1&region=77"
    )
    assert answer.status_code == 302
    query = query_of(answer.headers["Location"])
    assert (query["error"], query["state"], query["iss"]) == ("invalid_request", "s1", BROKER)


def test_the_code_at_the_callback_is_kept_as_the_request_asked_it_and_answers_its_state(world: World) -> None:
    """The callback issues the code without Authlib validating the kept request again (docs/adr/0023):
    the code's row carries the request's redirect URI, nonce, PKCE challenge and the scope the portal may have."""
    login, response = start_login(world, scope="openid profile offline_access")  # offline_access: public clients only
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    end = world.follow(world.go(at_esia, data={"login": "namesake-1", "password": "test1234"}), lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(end, str)
    answer = query_of(end)
    assert (answer["state"], answer["iss"]) == (login.state, BROKER) and set(answer) == {"code", "state", "iss"}
    with world.broker.app_context():
        code = db.session.scalars(select(AuthorizationCode)).one()
        assert (code.redirect_uri, code.nonce, code.code_challenge_method) == (PORTAL_CALLBACK, login.nonce, "S256")
        assert code.scope == "openid profile" and code.code_challenge


def test_a_redirect_uri_unregistered_while_the_person_was_at_esia_gets_no_code(world: World) -> None:
    """What the kept request cannot vouch for is read again at the callback: the portal's registration."""
    _, response = start_login(world)
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], redirect_uris=("https://portal.test/new-callback",))
    answer = world.go(at_esia, data={"login": "namesake-1", "password": "test1234"})
    end = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert not isinstance(end, str), "no code may go to a redirect URI the portal no longer has"
    assert end.status_code == 400 and end.json()["error"] == "invalid_request"
    with world.broker.app_context():
        assert db.session.scalars(select(AuthorizationCode)).all() == []


def verify_discovery() -> dict[str, object]:
    return requests.get(f"{BROKER}/.well-known/openid-configuration").json()
