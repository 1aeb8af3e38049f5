"""Logins end to end: portal (standard OIDC client) → broker → mock ESIA → broker → portal."""

from __future__ import annotations

import re

import pytest

from tests.world import BROKER, PORTAL_CALLBACK, World, csrf, log_in, query_of, start_login, verify_id_token

pytestmark = pytest.mark.flow


def test_a_first_login_confirms_contacts_links_and_returns_the_account_to_the_portal(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.url.endswith("/auth/confirm")
    page = login.page.text
    assert "Петров Иван Николаевич" in page and "14.07.1985" in page  # as the diary has them
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page), "phone": "+7 900 000-00-05", "email": "ivan@example.org"})
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str)
    login.callback = callback
    token = login.token()
    claims = verify_id_token(token["id_token"], login.nonce)
    assert (claims["sub"], claims["acr"], claims["region"], claims["role"]) == ("d-005", "verified", "77", "parent")
    info = login.portal.get(f"{BROKER}/oidc/userinfo").json()
    assert (info["sub"], info["phone_number"], info["email"]) == ("d-005", "+79000000005", "ivan@example.org")


def test_a_linked_person_signs_in_without_questions(world: World) -> None:
    login = log_in(world, "namesake-1")  # its account carries the link already
    assert login.callback is not None and "code" in query_of(login.callback)
    assert verify_id_token(login.token()["id_token"], login.nonce)["sub"] == "d-016"


def test_one_person_with_two_accounts_chooses_one(world: World) -> None:
    login = log_in(world, "teacher")
    assert login.page is not None and login.page.url.endswith("/auth/choose")
    assert "Учитель" in login.page.text and "Родитель" in login.page.text
    answer = world.go(f"{BROKER}/auth/choose", data={"csrf_token": csrf(login.page.text), "account_id": "d-009"})
    confirm = world.follow(answer, lambda url: False)
    assert not isinstance(confirm, str) and confirm.url.endswith("/auth/confirm")
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(confirm.text), "phone": "+79000000008", "email": "o@example.org"})
    login.callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))  # type: ignore[assignment]
    assert verify_id_token(login.token()["id_token"])["sub"] == "d-009"


@pytest.mark.parametrize(
    ("person", "reason_words"),
    [
        ("teen-simple", "упрощённая"),
        ("teen-verified", "не указан СНИЛС"),
        ("adult-simple", "упрощённая"),
        ("bad-snils", "не передали данные"),
        ("no-birthdate", "не передали данные"),
    ],
)
def test_a_refusal_shows_why_what_to_do_who_fixes_it_and_a_reference(world: World, person: str, reason_words: str) -> None:
    login = log_in(world, person)
    assert login.page is not None and login.page.status_code == 403  # a decision against the person
    page = login.page.text
    assert reason_words in page
    assert "Что делать" in page and "Кто может исправить" in page
    assert re.search(r'class="ref">[0-9A-Z]{4}-[0-9A-Z]{4}<', page)
    assert 'href="https://portal.test/login"' in page


def test_declining_consent_at_esia_is_esia_denied(world: World) -> None:
    login = log_in(world, "decline")
    assert login.page is not None and "согласие" in login.page.text


def test_a_second_portal_login_within_the_session_skips_esia(world: World) -> None:
    first = log_in(world, "namesake-1")
    assert first.callback is not None
    second, response = start_login(world)
    assert response.status_code == 302 and response.headers["Location"].startswith(PORTAL_CALLBACK)
    second.callback = response.headers["Location"]
    assert verify_id_token(second.token()["id_token"])["sub"] == "d-016"


def test_logout_ends_the_broker_and_esia_sessions_and_returns_to_the_portal(world: World) -> None:
    login = log_in(world, "namesake-1")
    token = login.token()
    answer = world.go(f"{BROKER}/oidc/logout?id_token_hint={token['id_token']}&post_logout_redirect_uri=https://portal.test/bye&state=s9")
    back = world.follow(answer, lambda url: url.startswith("https://portal.test/bye"))
    assert back == "https://portal.test/bye?state=s9"
    revoked = login.portal.get(f"{BROKER}/oidc/userinfo")
    assert revoked.status_code == 401 and token["access_token"]
    _, again = start_login(world)
    assert "esia.test" in again.headers["Location"]  # no session left: ESIA again


def test_logout_refuses_an_unregistered_return_address(world: World) -> None:
    answer = world.go(f"{BROKER}/oidc/logout?client_id=portal&post_logout_redirect_uri=https://evil.test/")
    assert answer.status_code == 400


def test_the_confirmation_insists_on_a_phone_and_an_email(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(login.page.text), "phone": "12", "email": "x@example.org"})
    assert answer.status_code == 400 and "мобильный телефон" in answer.text
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": "forged", "phone": "+79000000005", "email": "x@example.org"})
    assert answer.status_code == 400 and "Сеанс входа истёк" in answer.text


def test_the_chooser_offers_only_the_persons_own_accounts(world: World) -> None:
    login = log_in(world, "teacher")
    assert login.page is not None
    answer = world.go(f"{BROKER}/auth/choose", data={"csrf_token": csrf(login.page.text), "account_id": "d-005"})
    assert answer.status_code == 400
