"""RP-initiated logout: who may end a person's session, and when the person is asked first."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from broker import services
from tests.world import BROKER, PORTAL, World, log_in, start_login

pytestmark = pytest.mark.flow

BYE = f"{PORTAL}/bye"


def signed_in(world: World) -> dict[str, Any]:
    login = log_in(world, "namesake-1")  # d-016, linked: no questions
    return login.token()


def is_signed_in(world: World) -> bool:
    """Whether the browser still has its broker session (a new portal login skips ESIA)."""
    _, answer = start_login(world)
    return answer.status_code == 302 and not answer.headers["Location"].startswith("https://esia.test")


def hint(world: World, *, key: RSAKey | None = None, **claims: Any) -> str:
    """An id_token as the broker signs them (or signed with ``key``), with ``claims`` changed."""
    with world.broker.app_context():
        keys = services.current().signing_keys
        now = int(time.time())
        body = {"iss": BROKER, "aud": "portal", "sub": "d-016", "iat": now, "exp": now + 300, "auth_time": now, **claims}
        return jwt.encode({"alg": "RS256", "kid": keys.active_kid}, body, key or keys.active)


def confirmation_form(page: str) -> dict[str, str]:
    assert "Выйти из электронного дневника?" in page
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


def test_logout_without_a_hint_asks_the_person_and_keeps_the_session_meanwhile(world: World) -> None:
    token = signed_in(world)
    page = world.go(f"{BROKER}/oidc/logout?client_id=portal&post_logout_redirect_uri={BYE}&state=s9")
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert requests.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).ok
    assert is_signed_in(world)


def test_confirming_ends_the_sessions_and_returns_to_the_portal(world: World) -> None:
    token = signed_in(world)
    page = world.go(f"{BROKER}/oidc/logout?client_id=portal&post_logout_redirect_uri={BYE}&state=s9")
    answer = world.go(f"{BROKER}/oidc/logout", data=confirmation_form(page.text))
    back = world.follow(answer, lambda url: url.startswith(BYE))
    assert back == f"{BYE}?state=s9"
    assert requests.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 401
    assert not is_signed_in(world)


@pytest.mark.parametrize("change", ["forged", "not ascii", "missing", "from another browser"])
def test_a_confirmation_without_this_browsers_token_ends_nothing(world: World, change: str) -> None:
    signed_in(world)
    if change == "from another browser":  # someone loads the page in their browser and gets the person to post it
        stranger = requests.Session()
        form = confirmation_form(stranger.get(f"{BROKER}/oidc/logout?client_id=portal").text)
    else:
        form = confirmation_form(world.go(f"{BROKER}/oidc/logout?client_id=portal").text)
    if change == "forged":
        form["csrf_token"] = "forged"
    elif change == "not ascii":  # a str comparison of non-ASCII text would raise: a 500
        form["csrf_token"] = "ёё"
    elif change == "missing":
        del form["csrf_token"]
    answer = world.go(f"{BROKER}/oidc/logout", data=form)
    assert answer.status_code == 400
    assert is_signed_in(world)


def test_a_hint_for_the_signed_in_person_ends_the_session_at_once_and_names_the_portal(world: World) -> None:
    token = signed_in(world)
    answer = world.go(f"{BROKER}/oidc/logout?id_token_hint={token['id_token']}&post_logout_redirect_uri={BYE}&state=s1")
    assert answer.status_code in (302, 303)  # no client_id: the portal is the hint's audience
    assert world.follow(answer, lambda url: url.startswith(BYE)) == f"{BYE}?state=s1"
    assert not is_signed_in(world)


def test_an_expired_hint_of_ours_is_accepted(world: World) -> None:
    signed_in(world)
    old = int(time.time()) - 86400
    answer = world.go(f"{BROKER}/oidc/logout?id_token_hint={hint(world, iat=old, exp=old + 300)}")
    assert answer.status_code in (302, 303) and "esia.test" in answer.headers["Location"]
    assert not is_signed_in(world)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda world: hint(world, key=RSAKey.generate_key(2048)), id="signed by another key"),
        pytest.param(lambda world: hint(world, iss="https://evil.test"), id="another issuer"),
        pytest.param(lambda world: hint(world)[:-8] + "AAAAAAAA", id="tampered signature"),
        pytest.param(lambda world: "not-a-jwt", id="garbage"),
    ],
)
def test_a_forged_hint_is_refused_and_ends_nothing(world: World, make: Any) -> None:
    signed_in(world)
    answer = world.go(f"{BROKER}/oidc/logout?id_token_hint={make(world)}&post_logout_redirect_uri={BYE}")
    assert answer.status_code == 400 and "Портал передал неверные данные для выхода" in answer.text
    assert is_signed_in(world)


def test_a_hint_for_someone_else_asks_the_person_first(world: World) -> None:
    signed_in(world)
    page = world.go(f"{BROKER}/oidc/logout?id_token_hint={hint(world, sub='d-005')}")
    assert page.status_code == 200 and confirmation_form(page.text)["client_id"] == "portal"
    assert is_signed_in(world)


def test_a_client_id_that_is_not_the_hints_audience_is_refused(world: World) -> None:
    signed_in(world)
    answer = world.go(f"{BROKER}/oidc/logout?client_id=other&id_token_hint={hint(world)}")
    assert answer.status_code == 400
    assert is_signed_in(world)
