"""Support reads what really happened in a login, from the attempt the real flow wrote: «Это не я»
said plainly (nothing entered, no raw code, no unreadable trace line), the link flow's refusal
in the words the person read when another person was signed in to Gosuslugi, and a re-check of
an attempt in which nobody entered an account that says no one did."""

from __future__ import annotations

import html
import re

import pytest
import requests

from broker.extensions import db
from broker.support import glossary
from tests.broker.staffing import StaffBrowser, make_staff
from tests.world import BROKER, World, csrf, link_through_esia, log_in

pytestmark = pytest.mark.flow


def support_page(world: World, reference: str) -> str:
    """The attempt's support page with its re-check, as a support agent reads it (tags removed, spaces collapsed)."""
    with world.broker.app_context():
        make_staff("helpdesk", role="support")
        db.session.remove()
    browser = StaffBrowser(world.broker.test_client())
    assert browser.login("helpdesk").status_code == 302
    answer = browser.get(f"/support/attempts/{reference}?recheck=1")
    assert answer.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.get_data(as_text=True))).split())


def reference_of(world: World) -> str:
    from sqlalchemy import select

    from broker.db.models import LoginAttempt

    with world.broker.app_context():
        reference = db.session.scalars(select(LoginAttempt.reference).order_by(LoginAttempt.id.desc())).first()
        db.session.remove()
    assert reference is not None
    return reference


def test_not_me_reads_plainly_on_the_attempts_page(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/confirm"
    assert world.go(f"{BROKER}/auth/not-me", data={"csrf_token": csrf(login.page.text)}).status_code == 303
    page = support_page(world, reference_of(world))
    assert "Чем закончилось " + glossary.NOT_ME_RU in page
    assert "вошёл в него" not in page and "Код ошибки" not in page and "not_me" not in page
    assert glossary.TRACE_UNREAD_RU not in page
    assert "«Это не я» сведения " + glossary.NOT_ME_RU in page  # the trace's line, in words
    # The re-check: nobody entered the account that was found.
    assert "Аккаунт, в который человек вошёл" not in page and "Аккаунт, найденный при попытке" in page


def test_an_unconfirmed_first_link_says_nobody_got_in(world: World) -> None:
    assert log_in(world, "adult-verified").page is not None  # stops at the confirmation
    page = support_page(world, reference_of(world))
    assert "Вход не завершён: человек не подтвердил телефон и почту" in page and "вошёл в него" not in page


def test_the_rechecked_chooser_says_the_accounts_chosen_from(world: World) -> None:
    assert log_in(world, "teacher").page is not None  # the chooser, never answered
    page = support_page(world, reference_of(world))
    assert "Аккаунты, из которых человек выбирал, по-прежнему доступны" in page
    assert "в который человек вошёл" not in page and "Вход не завершён: человек не выбрал аккаунт." in page


def test_support_sees_the_words_a_parent_read_when_linking_a_childs_account(world: World) -> None:
    refused = link_through_esia(world, "d-001", "adult-verified")  # the child's diary, the parent at ESIA
    assert isinstance(refused, requests.Response) and refused.status_code == 403
    person_read = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", refused.text)).split())
    page = support_page(world, reference_of(world))
    saw = page.split("Что увидел человек")[1].split("Что сказать человеку")[0]
    for words in (glossary.OTHER_PERSON_MESSAGE_RU, glossary.OTHER_PERSON_NEXT_STEP_RU, glossary.OTHER_PERSON_FIXER_RU):
        assert words in person_read and words in saw
    assert "ФИО" not in saw
    assert glossary.OTHER_PERSON_ENDED_RU in page


def test_a_sign_in_through_an_existing_link_reads_plainly_though_its_checks_are_not_kept(world: World) -> None:
    """A lean row (docs/adr/0023): support reads that the person got in at once, why no checks are
    listed, and that SNILS is not kept (not that ESIA gave none); no raw code, no "decision not made"."""
    login = log_in(world, "namesake-1")  # linked already: signed in at the callback
    assert login.callback is not None
    page = support_page(world, reference_of(world))
    assert "Чем закончилось " + glossary.BY_LINK_ENDED_RU in page
    assert glossary.BY_LINK_TRACE_RU in page and glossary.BY_LINK_SNILS_RU in page
    assert "СНИЛС от Госуслуг не получен" not in page and "Решение не принималось" not in page
    assert "Код ошибки" not in page and "signed_in_by_link" not in page
    assert "(вошёл в него)" in page  # the account entered
