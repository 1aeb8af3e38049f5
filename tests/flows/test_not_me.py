"""«Это не я»: the Gosuslugi account that logged in is someone else's. The login ends with nothing
linked and no one signed in, the browser signs out of ESIA and comes back to a fresh start of the
same portal's login; and the first link's page shows the phone spaced, as people write it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from broker.config import LOGIN_COOKIE, SSO_COOKIE, cookie_name
from broker.db.models import DiarySession, EsiaLink, LoginAttempt, PendingLogin
from broker.extensions import db
from broker.regions import admin as regionadmin
from tests.world import BROKER, ESIA, PORTAL_CALLBACK, Login, World, csrf, log_in, query_of, start_login, verify_id_token

pytestmark = pytest.mark.flow


def count(world: World, model: type) -> int:
    with world.broker.app_context():
        counted = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
    return int(counted or 0)


def pending_states(world: World) -> list[str]:
    with world.broker.app_context():
        states = list(db.session.scalars(select(PendingLogin.state)))
        db.session.remove()
    return states


def the_attempt(world: World) -> LoginAttempt:
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        assert attempt is not None
        db.session.expunge(attempt)
        db.session.remove()
    return attempt


def not_me(world: World, page: requests.Response) -> requests.Response:
    """Press «Это не я» on the broker's page ``page``."""
    assert "Это не я" in page.text
    return world.go(f"{BROKER}/auth/not-me", data={"csrf_token": csrf(page.text)})


def has_cookie(world: World, plain: str) -> bool:
    return world.browser.cookies.get(cookie_name(world.broker.config, plain), domain="broker.test") is not None


def test_not_me_on_the_first_link_page_signs_out_of_esia_and_starts_the_same_portal_login_afresh(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/confirm"
    [old_state] = pending_states(world)

    answer = not_me(world, login.page)
    assert answer.status_code == 303
    logout = answer.headers["Location"]
    assert logout.startswith(f"{ESIA}/idp/ext/Logout?")
    assert query_of(logout) == {"client_id": "DIARY01", "redirect_url": f"{BROKER}/oidc/logged-out"}
    assert pending_states(world) == [] and not has_cookie(world, LOGIN_COOKIE)  # the old login is over

    # ESIA's logout → the broker's way back → the portal's own request again → ESIA's login page.
    hops: list[str] = []

    def at_login_page(url: str) -> bool:
        hops.append(url)
        return urlsplit(url).path == "/login"

    at_esia = world.follow(world.go(logout), at_login_page)
    assert isinstance(at_esia, str) and at_esia.startswith(f"{ESIA}/login")
    assert hops[0] == f"{BROKER}/oidc/logged-out"
    restart = query_of(hops[1])
    assert hops[1].startswith(f"{BROKER}/oidc/authorize?")
    assert (restart["client_id"], restart["state"], restart["nonce"], restart["region"]) == ("portal", login.state, login.nonce, "77")
    [new_state] = pending_states(world)
    assert new_state != old_state and has_cookie(world, LOGIN_COOKIE)

    # Nothing was linked or signed in; the attempt says how the login ended.
    assert count(world, EsiaLink) == 2 and count(world, DiarySession) == 0  # the registry's two links, as imported
    attempt = the_attempt(world)
    assert attempt.detail == "not_me" and attempt.account_id == "d-005"
    assert attempt.trace[-1]["field"] == "not_me" and "not theirs" in attempt.trace[-1]["detail"]
    assert attempt.completed_at is None  # nobody got in

    # The right person logs in to ESIA, and the portal gets its answer to the same request.
    answer = world.go(at_esia, data={"login": "namesake-1", "password": "test1234"})
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str) and query_of(callback)["state"] == login.state
    login.callback = callback
    assert verify_id_token(login.token()["id_token"], login.nonce)["sub"] == "d-016"


def test_not_me_on_the_chooser_ends_the_login_too(world: World) -> None:
    login = log_in(world, "teacher")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/choose"
    answer = not_me(world, login.page)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(f"{ESIA}/idp/ext/Logout?")
    assert pending_states(world) == [] and the_attempt(world).detail == "not_me"


def test_not_me_needs_the_pages_csrf_token_and_ends_a_login_once(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None
    forged = world.go(f"{BROKER}/auth/not-me", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "Сеанс входа истёк" in forged.text
    assert len(pending_states(world)) == 1  # still waiting on its page
    assert not_me(world, login.page).status_code == 303
    again = not_me(world, login.page)
    assert again.status_code == 400 and "Сеанс входа истёк" in again.text


def test_not_me_from_another_browser_ends_nothing(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None
    stranger = requests.Session()
    answer = stranger.post(f"{BROKER}/auth/not-me", data={"csrf_token": csrf(login.page.text)}, allow_redirects=False)
    assert answer.status_code == 400 and len(pending_states(world)) == 1


def test_not_me_ends_a_diary_session_the_browser_still_holds(world: World) -> None:
    assert log_in(world, "namesake-1").callback is not None  # a session of its own in this browser
    assert has_cookie(world, SSO_COOKIE)
    _, response = start_login(world, prompt="login")  # the portal asks for a new Gosuslugi login
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    page = world.follow(world.go(at_esia, data={"login": "adult-verified", "password": "test1234"}), lambda url: False)
    assert isinstance(page, requests.Response) and page.url == f"{BROKER}/auth/confirm"

    assert not_me(world, page).status_code == 303
    with world.broker.app_context():
        assert db.session.scalars(select(DiarySession.revoked_at)).all() != [None]
        db.session.remove()
    assert not has_cookie(world, SSO_COOKIE)


def test_not_me_is_rate_limited_as_the_other_posts_of_a_login(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None
    world.broker.config["RATE_LIMIT_LOGIN_PER_ADDRESS"] = "1 per minute"
    world.go(f"{BROKER}/auth/not-me", data={"csrf_token": "forged"})
    assert world.go(f"{BROKER}/auth/not-me", data={"csrf_token": csrf(login.page.text)}).status_code == 429


# --- the phone, as the page shows it ---------------------------------------------------------


def confirm_page(world: World) -> Login:
    login = log_in(world, "adult-verified")  # ESIA has a confirmed mobile for this person: +7(900)0000051
    assert login.page is not None and login.page.url == f"{BROKER}/auth/confirm"
    return login


def test_the_first_link_page_shows_esias_phone_spaced_and_says_it_comes_from_gosuslugi(world: World) -> None:
    page = confirm_page(world).page
    assert page is not None
    assert 'value="+7 900 000-00-51"' in page.text
    assert "Номер с Госуслуг, подтверждён там." in page.text
    assert "нужны электронному дневнику" in page.text  # why they are asked


def test_the_first_link_page_no_longer_says_gosuslugi_for_contacts_the_person_changed(world: World) -> None:
    page = confirm_page(world).page
    assert page is not None
    data = {"csrf_token": csrf(page.text), "phone": "+7 900 123-45-67", "email": "ivan@example"}
    answer = world.go(f"{BROKER}/auth/confirm", data=data)
    assert answer.status_code == 400 and "Госуслуг" not in answer.text.split("<h2>")[1]
    assert "Например, +7 900 123-45-67." in answer.text


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("+7 (900) 123 45 67", "+7 900 123-45-67"),
        ("+79001234567", "+7 900 123-45-67"),
        ("8 900 123-45-67", "+7 900 123-45-67"),  # a Russian number as people write it: +7, as the portal gets it
        ("9001234567", "+7 900 123-45-67"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("12", "12"),
    ],
)
def test_a_typed_phone_comes_back_spaced_only_when_it_is_a_russian_number(world: World, typed: str, shown: str) -> None:
    page = confirm_page(world).page
    assert page is not None
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page.text), "phone": typed, "email": "not an address"})
    assert answer.status_code == 400
    assert f'value="{shown}"' in answer.text


def test_the_spaced_phone_is_the_number_esia_confirmed_for_the_portal(world: World) -> None:
    login = confirm_page(world)
    assert login.page is not None
    data = {"csrf_token": csrf(login.page.text), "phone": "+7 900 000-00-51", "email": "ivan@example.org"}
    callback = world.follow(world.go(f"{BROKER}/auth/confirm", data=data), lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str)
    login.callback = callback
    login.token()
    info = login.portal.get(f"{BROKER}/oidc/userinfo").json()
    assert (info["phone_number"], info["phone_number_verified"]) == ("+79000000051", True)


def test_the_chooser_tells_the_accounts_apart_by_role_login_and_school(world: World) -> None:
    page = log_in(world, "teacher").page
    assert page is not None and page.url == f"{BROKER}/auth/choose"
    text = " ".join(page.text.split())
    for role, account_login in (("Учитель", "teacher.diary"), ("Родитель", "teacher.parent.diary")):
        assert f"<strong>{role}</strong> <span>Логин: {account_login}</span> <span>Школа (код в дневнике): sch-1001</span>" in text


def test_not_me_on_the_invite_code_page_ends_the_login_and_its_code_form(world: World) -> None:
    with world.broker.app_context():
        regionadmin.change_region("77", enabled=None, policy={"under_14_first_link": "invite_code"}, comment="test",
                                  actor_staff=None, actor="cli:ops")  # fmt: skip
        db.session.remove()
    login = log_in(world, "kid")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/invite"
    answer = not_me(world, login.page)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(f"{ESIA}/idp/ext/Logout?")
    assert pending_states(world) == [] and not has_cookie(world, LOGIN_COOKIE)
    attempt = the_attempt(world)
    assert (attempt.reason, attempt.detail) == ("invite_code_required", "not_me")
    assert count(world, EsiaLink) == 2 and count(world, DiarySession) == 0
    # The page's code form is over too: the login it belonged to has ended.
    typed = world.go(f"{BROKER}/auth/invite", data={"csrf_token": csrf(login.page.text), "code": "ABCDE-FGHIJ"})
    assert typed.status_code == 400 and "Сеанс входа истёк" in typed.text
