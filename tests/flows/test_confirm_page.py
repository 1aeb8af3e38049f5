"""The first link's confirmation page says what it prefilled and only that, tells a child without
a phone at Gosuslugi that a parent's will do (the phone stays required), shows every form error
next to its field and in a summary at once, gives the portal the phone in E.164 and a missing
patronymic as nothing; the chooser and the confirmation are headed by the portal's name."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
import requests
from sqlalchemy import select

from broker import services
from broker.db.models import DiarySession
from broker.extensions import db
from broker.login import flow
from tests.world import BROKER, PORTAL_CALLBACK, World, csrf, log_in

pytestmark = pytest.mark.flow


def text_of(page: requests.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def confirm_page(world: World, person: str) -> requests.Response:
    page = log_in(world, person).page
    assert page is not None and page.url == f"{BROKER}/auth/confirm", person
    return page


def field(page: requests.Response, name: str) -> str:
    found = re.search(r'<input id="' + name + r'"[^>]*>', page.text)
    assert found, name
    return found.group(0)


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("8 (916) 123-45-67", "+79161234567"),
        ("+7 (916) 123 45 67", "+79161234567"),
        ("7 916 123-45-67", "+79161234567"),
        ("916 123-45-67", "+79161234567"),
        ("+7(900)0000051", "+79000000051"),  # as ESIA spells it
        ("+44 20 7946 0958", "+442079460958"),
        ("+1.415.555.2671", "+14155552671"),
    ],
)
def test_a_phone_is_read_as_e164(typed: str, number: str) -> None:
    assert flow.e164(typed) == number


@pytest.mark.parametrize("typed", ["", "12", "8 916 123-45", "+0 916 123 45 67", "6 916 123-45-67", "+7 916 123 45 67 89 01 2", "телефон"])
def test_what_cannot_be_a_phone_number_is_none(typed: str) -> None:
    assert flow.e164(typed) is None


def test_the_portal_gets_the_phone_in_e164_whatever_the_spelling(world: World) -> None:
    page = confirm_page(world, "adult-verified")
    data = {"csrf_token": csrf(page.text), "phone": "8 (916) 123-45-67", "email": "ivan@example.org"}
    callback = world.follow(world.go(f"{BROKER}/auth/confirm", data=data), lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str)
    with world.broker.app_context():  # the claims the portal's tokens and userinfo give
        claims = db.session.scalars(select(DiarySession.claims)).one()
        db.session.remove()
    assert (claims["phone_number"], claims["phone_number_verified"]) == ("+79161234567", False)


def test_every_error_shows_at_once_next_to_its_field_and_in_a_summary(world: World) -> None:
    page = confirm_page(world, "adult-verified")
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page.text), "phone": "12", "email": "not an address"})
    assert answer.status_code == 400
    summary = answer.text.split('role="alert"')[1].split("</div>")[0]
    assert 'href="#phone"' in summary and 'href="#email"' in summary and "Исправьте поля" in summary
    assert summary.index("#phone") < summary.index("#email")  # in the order of the form
    for name in ("phone", "email"):
        shown = field(answer, name)
        assert 'aria-invalid="true"' in shown and f"{name}-problem" in shown
        problem = re.search(rf'<p id="{name}-problem" class="bad">([^<]+)</p>', answer.text)
        assert problem is not None
        assert answer.text.index(f'id="{name}-problem"') > answer.text.index(f'<input id="{name}"')  # next to its field
    assert 'aria-describedby="phone-help phone-problem"' in field(answer, "phone")
    assert html.unescape(flow.PHONE_PROBLEM) in html.unescape(answer.text)


def test_one_error_marks_only_its_own_field(world: World) -> None:
    page = confirm_page(world, "adult-verified")
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page.text), "phone": "+7 900 000-00-51", "email": "nope"})
    assert answer.status_code == 400 and "Исправьте поле" in answer.text and 'href="#phone"' not in answer.text
    assert "aria-invalid" not in field(answer, "phone") and 'aria-invalid="true"' in field(answer, "email")


def test_the_page_says_it_prefilled_only_what_it_did(world: World) -> None:
    both = text_of(confirm_page(world, "adult-verified"))  # ESIA has a mobile and an e-mail
    assert "Мы подставили телефон и почту, подтверждённые в вашей учётной записи на Госуслугах." in both


def test_a_child_without_a_phone_at_gosuslugi_is_told_a_parents_will_do(world: World) -> None:
    page = confirm_page(world, "kid")  # a child's account at ESIA: an e-mail, no mobile
    text = text_of(page)
    assert "Мы подставили адрес почты, подтверждённый в вашей учётной записи на Госуслугах." in text
    assert "телефон и почту" not in text and "Мы подставили телефон" not in text
    assert "Укажите свой или мобильный телефон родителя" in text
    assert 'value=""' in field(page, "phone") and "required" in field(page, "phone")  # still asked for
    answer = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page.text), "phone": "", "email": "maksim.lebedev@example.org"})
    assert answer.status_code == 400 and 'aria-invalid="true"' in field(answer, "phone")


def test_a_missing_patronymic_shows_as_nothing(world: World) -> None:
    text = text_of(confirm_page(world, "no-patronymic"))  # the registry says «-»
    assert "Ким Виктория Дата рождения" in text and "Виктория -" not in text


def test_the_chooser_and_the_confirmation_are_headed_by_the_portals_name(world: World) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], name="Дневник.Тест")
    chooser = log_in(world, "teacher").page
    assert chooser is not None and chooser.url == f"{BROKER}/auth/choose"
    assert "Дневник.Тест · вход через Госуслуги" in chooser.text and "Электронный дневник · вход" not in chooser.text
    answer = world.go(f"{BROKER}/auth/choose", data={"csrf_token": csrf(chooser.text), "account_id": "d-009"})
    confirm = world.follow(answer, lambda url: False)
    assert isinstance(confirm, requests.Response) and confirm.url == f"{BROKER}/auth/confirm"
    assert "Дневник.Тест · вход через Госуслуги" in confirm.text
