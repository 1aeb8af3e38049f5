"""The support pages in one language and one time format: the trace, the re-check, the account card
and the unlink confirmation say everything in Russian (codes shown on purpose aside), a refusal
never says the person entered an account, the card lists the attempts that compared the account,
and unlink asks first, saying what it will affect, and is remembered on the card."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

import matching
from broker.db.models import EsiaLink, Region
from broker.extensions import db
from broker.login import attempts as login_attempts
from broker.login import pending
from broker.login.attempts import Attempt
from broker.oidc import sessions
from tests.broker.attemptdata import KID, NOW, TESTOV, attempt_for, row_counts, switch_region
from tests.broker.staffing import StaffBrowser, audit_rows, make_staff
from tests.broker.supportwords import OLD_ENGLISH, english_on, times_on, words_of
from tests.builders import make_person, make_snils

# Пётр Тестов's namesake: same full name and birth date, another SNILS (the diary holds Тестов's).
NAMESAKE = make_person(oid=matching.EsiaOid("9000"), snils=make_snils(777888999))


@pytest.fixture
def linked(made: dict[str, Attempt]) -> dict[str, Attempt]:
    """The fixture attempts, acc-1 linked to Пётр Тестов (signed in), acc-4 to the child, and the
    namesake's refusal, which compared acc-1 and acc-2 and entered neither."""
    pending.link_accounts(str(TESTOV.oid), ["acc-1"], "verified", "login")
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")
    sessions.create_session("acc-1", tier="verified", amr="PWD", attempt_id=made["chooser"].id)
    db.session.commit()
    return {**made, "namesake": attempt_for(NAMESAKE, "77", at=NOW - timedelta(minutes=5))}


def signed_in(browser: StaffBrowser, login_name: str, role: str, regions: tuple[str, ...] = ()) -> StaffBrowser:
    make_staff(login_name, role=role, regions=regions, name="Ольга Операторова" if role == "operator" else "")
    assert browser.login(login_name).status_code == 302
    return browser


def page_of(answer: Any, status: int = 200) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    return str(answer.get_data(as_text=True))


def asked_to_unlink(browser: StaffBrowser, account_id: str, comment: str) -> tuple[str, str]:
    """The confirmation page, and the link it shows (the fingerprint its form carries)."""
    page = page_of(browser.post(f"/support/accounts/{account_id}/unlink", {"comment": comment}))
    shown = re.search(r'name="link" value="([^"]+)"', page)
    assert shown
    return page, html.unescape(shown.group(1))


# --- no English ----------------------------------------------------------------------------------


def test_the_word_scan_finds_english_and_leaves_codes_alone() -> None:
    """The scan the tests below rely on: it sees a trace line in English and lets a code element be."""
    page = '<main><p>Поиск: by SNILS: 1 account(s)</p><span class="code">tier_insufficient</span><style>a{}</style></main>'
    assert {"by SNILS", "account(s)", "by", "SNILS", "account"} <= set(english_on(page))
    assert english_on('<main><p>Отказ <span class="muted code">no_account</span></p><nav>helpdesk</nav></main>') == []


def test_every_attempt_page_and_its_recheck_are_in_russian(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    for name, attempt in linked.items():
        for path in (f"/support/attempts/{attempt.reference}", f"/support/attempts/{attempt.reference}?recheck=1"):
            page = page_of(browser.get(path))
            assert english_on(page) == [], (name, path, english_on(page))
    # The words are the trace's, said in Russian (not merely the English left out).
    page = words_of(page_of(browser.get(f"/support/attempts/{linked['namesake'].reference}?recheck=1")))
    assert "Поиск по СНИЛС: аккаунтов — 0" in page and "Поиск по ФИО и дате рождения: аккаунтов — 2" in page
    assert "— различаются" in page and "Госуслуги: ***-***-*" in page
    assert "подробности записаны в виде" not in page


def test_the_refusals_english_text_is_not_on_the_page(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    refusal = matching.REFUSALS[matching.Reason.TIER_INSUFFICIENT]
    page = page_of(browser.get(f"/support/attempts/{linked['simplified'].reference}"))
    assert refusal.text_en not in page and 'lang="en"' not in page
    assert refusal.message_ru in page


def test_the_search_account_and_unlink_pages_are_in_russian(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    pages = [page_of(browser.get("/support/")), page_of(browser.post("/support/", {"account": "acc-1"}))]
    pages += [page_of(browser.get(f"/support/accounts/acc-{n}")) for n in range(1, 7)]
    pages.append(asked_to_unlink(browser, "acc-1", "Родитель вошёл под учётной записью ребёнка")[0])
    pages.append(asked_to_unlink(browser, "acc-4", "ошибочная связь")[0])
    for page in pages:
        assert english_on(page) == [], english_on(page)


@pytest.mark.parametrize("phrase", OLD_ENGLISH)
def test_the_scan_would_catch_each_old_english_phrase(phrase: str) -> None:
    assert phrase in " ".join(english_on(f"<main><p>Проверка: {phrase} тут</p></main>"))


# --- «вошёл в него» --------------------------------------------------------------------------------


def test_a_refusal_never_says_the_person_entered_the_account_it_was_about(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    refused = page_of(browser.get(f"/support/attempts/{linked['no_snils'].reference}"))  # about acc-6 only
    assert 'href="/support/accounts/acc-6"' in refused and "вошёл в него" not in refused
    unfinished = page_of(browser.get(f"/support/attempts/{linked['kid'].reference}"))  # decided, never confirmed
    assert 'href="/support/accounts/acc-4"' in unfinished and "вошёл в него" not in unfinished
    login_attempts.complete_attempt(linked["kid"].id)  # the person confirmed and got in
    db.session.commit()
    granted = page_of(browser.get(f"/support/attempts/{linked['kid'].reference}"))
    assert re.search(r'acc-4</a> <span class="muted">\(вошёл в него\)</span>', granted)


# --- the account's attempts ------------------------------------------------------------------------


def test_the_account_card_lists_an_attempt_that_compared_it_among_several(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    attempt = page_of(browser.get(f"/support/attempts/{linked['namesake'].reference}"))
    assert 'href="/support/accounts/acc-1"' in attempt and 'href="/support/accounts/acc-2"' in attempt
    for account_id in ("acc-1", "acc-2"):
        card = page_of(browser.get(f"/support/accounts/{account_id}"))
        assert linked["namesake"].reference in card, account_id
    assert linked["namesake"].reference not in page_of(browser.get("/support/accounts/acc-6"))


# --- one time format -------------------------------------------------------------------------------


def test_every_time_on_a_support_page_is_moscow_time(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    pages = [page_of(browser.get("/support/"))]
    pages += [page_of(browser.get(f"/support/attempts/{a.reference}?recheck=1")) for a in linked.values()]
    pages += [page_of(browser.get(f"/support/accounts/acc-{n}")) for n in (1, 3, 4)]
    pages.append(asked_to_unlink(browser, "acc-1", "проверка времени")[0])
    for page in pages:
        shown = times_on(page)
        assert shown and all(time.endswith(" МСК") for time in shown), shown
        assert "UTC" not in words_of(page)


def test_the_attempt_page_gives_the_regions_offset_from_moscow(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    kaliningrad = words_of(page_of(browser.get(f"/support/attempts/{linked['other_region'].reference}")))
    moscow = words_of(page_of(browser.get(f"/support/attempts/{linked['blocked'].reference}")))
    assert "(время региона: МСК−1)" in kaliningrad and "(время региона: МСК)" in moscow


# --- unlink: asked first, remembered after ----------------------------------------------------------


def test_unlink_first_shows_what_it_will_affect_and_changes_nothing(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    card = page_of(browser.get("/support/accounts/acc-1"))
    assert re.search(r'<div class="card danger-zone">\s*<form method="post" action="/support/accounts/acc-1/unlink">', card)
    assert '<button type="submit" class="danger">Снять связь…</button>' in card
    before = row_counts()
    page, shown = asked_to_unlink(browser, "acc-1", "Родитель вошёл под учётной записью ребёнка")
    assert row_counts() == before and db.session.get(EsiaLink, "acc-1") is not None
    words = words_of(page)
    assert "Снять связь аккаунта с Госуслугами?" in words
    assert "Действующие сеансы входа в этот аккаунт (1) завершатся сразу" in words
    assert "******0001" in page and "при первом входе через Госуслуги" in words
    assert "Причина Родитель вошёл под учётной записью ребёнка" in words
    assert '<button type="submit" class="danger">Да, снять связь</button>' in page
    assert 'href="/support/accounts/acc-1">Отмена — вернуться к аккаунту</a>' in page
    assert shown.startswith("******0001@")


def test_the_confirmation_warns_when_a_childs_first_link_is_ruled_in_its_region(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    plain = words_of(asked_to_unlink(browser, "acc-4", "ошибочная связь")[0])
    assert "младше 14 лет" not in plain
    db.session.query(Region).filter(Region.code == "50").update({"policy": {"auto_link_under_14": False}})
    db.session.commit()
    switch_region("50", True)  # clears the cached policies
    ruled = words_of(asked_to_unlink(browser, "acc-4", "ошибочная связь")[0])
    assert "Это аккаунт ребёнка младше 14 лет, а в регионе 50" in ruled and "только из дневника" in ruled


def test_unlink_refuses_a_confirmation_of_a_link_that_changed_since(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    _, shown = asked_to_unlink(browser, "acc-1", "ошибочная связь")
    # Meanwhile another member unlinks, and the person links again from a new login.
    db.session.query(EsiaLink).filter(EsiaLink.account_id == "acc-1").delete()
    pending.link_accounts("1000300099", ["acc-1"], "verified", "login")
    db.session.commit()
    answer = browser.post("/support/accounts/acc-1/unlink", {"comment": "ошибочная связь", "confirm": "1", "link": shown})
    assert "Связь только что изменилась" in page_of(answer, 400)
    assert db.session.get(EsiaLink, "acc-1") is not None and audit_rows("account_unlinked") == []
    forged = browser.post("/support/accounts/acc-1/unlink", {"comment": "без подтверждения", "confirm": "1"})
    assert forged.status_code == 400 and audit_rows("account_unlinked") == []


def test_the_card_shows_the_last_unlink_who_when_and_why(linked: dict[str, Attempt], browser: StaffBrowser, app: Flask) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    assert "Последнее снятие связи" not in page_of(browser.get("/support/accounts/acc-1"))
    for reason in ("первая причина", "Родитель вошёл под учётной записью ребёнка"):
        _, shown = asked_to_unlink(browser, "acc-1", reason)
        answer = browser.post("/support/accounts/acc-1/unlink", {"comment": reason, "confirm": "1", "link": shown})
        assert answer.status_code == 302
        pending.link_accounts(str(TESTOV.oid), ["acc-1"], "verified", "login")
        db.session.commit()
    card = page_of(browser.get("/support/accounts/acc-1"))
    words = words_of(card)
    [_, last] = audit_rows("account_unlinked")
    assert "Последнее снятие связи" in words and "Ольга Операторова" in words and '<span class="code">moscow</span>' in card
    assert f"запись журнала действий №{last.id}" in words
    assert "Причина Родитель вошёл под учётной записью ребёнка" in words and "первая причина" not in words
    assert 'учётная запись Госуслуг <span class="code">******0001</span>; завершено сеансов входа: 0' in card
    assert re.search(r"Когда и кто \d\d\.\d\d\.\d{4} \d\d:\d\d МСК, Ольга Операторова", words)
