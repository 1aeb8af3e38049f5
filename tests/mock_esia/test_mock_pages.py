"""The login page, consent page and logout, as a script sees them."""

from __future__ import annotations

import html
import re

import pytest

from .esia_test_client import redirect_query
from .registration import REDIRECT_URI

SCOPE = "openid fullname birthdate"


@pytest.fixture
def login_page(esia):
    params = esia.v1_params(SCOPE)
    redirect = esia.authorize("v1", params)
    return params, redirect, esia.http.get(esia.url(redirect.headers["Location"]))


def test_the_login_page_is_russian_accessible_and_lists_every_person(login_page, app):
    _, _, page = login_page
    text = page.text

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="ru">' in text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in text
    assert '<label for="login">' in text and 'id="login" name="login"' in text
    assert '<label for="password">' in text and 'id="password" name="password" type="password"' in text
    assert '<label for="fault">' in text
    for person in app.extensions["mock_esia"].persons:
        assert f'name="person" value="{person.oid}"' in text
        assert html.escape(person.full_name) in text
    assert "Сёмина Алёна Фёдоровна" in text and "Римская-Корсакова" in text


def test_the_login_form_with_login_and_password_returns_a_code(esia, login_page):
    params, redirect, _ = login_page

    answer = esia.log_in(redirect, login="yo", password="test1234")

    query = redirect_query(answer)
    assert answer.headers["Location"].startswith(REDIRECT_URI + "?code=")
    assert query["state"] == params["state"]


def test_a_script_posts_login_and_password_to_the_url_it_was_redirected_to(esia):
    params = esia.v1_params(SCOPE)
    login_url = esia.url(esia.authorize("v1", params).headers["Location"])

    answer = esia.http.post(login_url, data={"login": "teacher", "password": "test1234"}, allow_redirects=False)

    assert redirect_query(answer)["state"] == params["state"]


@pytest.mark.parametrize("login", ["+7(900)0000051", "ivan.petrov@example.org", "15678901413", "ADULT-VERIFIED"])
def test_a_person_may_log_in_with_phone_email_or_snils(esia, login_page, login):
    _, redirect, _ = login_page

    assert "code" in redirect_query(esia.log_in(redirect, login=login))


def test_a_wrong_password_shows_the_form_again_with_an_error(esia, login_page):
    _, redirect, _ = login_page

    answer = esia.log_in(redirect, login="yo", password="wrong")

    assert answer.status_code == 401
    assert 'role="alert"' in answer.text and "Неверный логин или пароль" in answer.text
    assert "code" in redirect_query(esia.log_in(redirect, login="yo"))


def test_picking_a_person_returns_a_code(esia, login_page):
    _, redirect, _ = login_page

    assert "code" in redirect_query(esia.log_in(redirect, person=1000300004))


def test_a_login_request_is_used_once(esia, login_page):
    _, redirect, _ = login_page
    esia.log_in(redirect, login="yo")

    again = esia.log_in(redirect, login="yo")

    assert again.status_code == 400 and "Сеанс входа не найден или истёк" in again.text


def test_an_expired_login_request_shows_an_error_page(esia, login_page, clock):
    _, redirect, _ = login_page
    clock.advance(601)

    assert esia.http.get(esia.url(redirect.headers["Location"])).status_code == 400


def test_an_unknown_fault_choice_is_refused(esia, login_page):
    _, redirect, _ = login_page

    assert esia.log_in(redirect, login="yo", fault="meteor").status_code == 400


def consent_flow(make_app, client_for, login: str):
    esia = client_for(make_app(CONSENT="page"))
    params = esia.v1_params(SCOPE)
    redirect = esia.authorize("v1", params)
    return esia, params, esia.log_in(redirect, login=login), redirect


@pytest.mark.parametrize(("decision", "outcome"), [("allow", "code"), ("deny", "error")])
def test_the_consent_page_grants_or_declines(make_app, client_for, decision, outcome):
    esia, params, page, redirect = consent_flow(make_app, client_for, "adult-verified")
    rid = re.search(r'name="rid" value="([^"]+)"', page.text).group(1)

    assert page.status_code == 200
    assert "Предоставление прав доступа" in page.text and "Фамилия, имя и отчество" in page.text
    answer = esia.http.post(esia.url("/login/consent"), data={"rid": rid, "decision": decision}, allow_redirects=False)

    query = redirect_query(answer)
    assert outcome in query and query["state"] == params["state"]
    if outcome == "error":
        assert query["error_description"].startswith("ESIA-007004")


def test_a_person_who_declines_never_sees_the_consent_page(make_app, client_for):
    _, _, answer, _ = consent_flow(make_app, client_for, "decline")

    assert redirect_query(answer)["error"] == "access_denied"


def test_logout_returns_to_a_registered_url(esia):
    answer = esia.http.get(
        esia.url("/idp/ext/Logout"), params={"client_id": "DIARY01", "redirect_url": REDIRECT_URI}, allow_redirects=False
    )

    assert answer.status_code == 302 and answer.headers["Location"] == REDIRECT_URI


@pytest.mark.parametrize(
    ("params", "code"),
    [({"client_id": "DIARY01", "redirect_url": "http://evil.test/"}, "ESIA-007023"), ({"client_id": "NOSUCH"}, "ESIA-007002")],
)
def test_logout_refuses_unknown_systems_and_foreign_urls(esia, params, code):
    answer = esia.http.get(esia.url("/idp/ext/Logout"), params=params, allow_redirects=False)

    assert answer.status_code == 400 and code in answer.text


def test_logout_without_a_return_url_shows_a_page(esia):
    answer = esia.http.get(esia.url("/idp/ext/Logout"), params={"client_id": "DIARY01"})

    assert answer.status_code == 200 and "Вы вышли" in answer.text


def test_the_index_and_persons_endpoints_describe_the_mock(esia):
    index = esia.http.get(esia.url("/"))
    persons = esia.http.get(esia.url("/__mock__/persons")).json()["persons"]

    assert "DIARY01" in index.text
    assert {"oid", "login", "password", "tier", "level", "description"} <= set(persons[0])
    assert len(persons) == 17
