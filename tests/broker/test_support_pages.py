"""The support pages: finding and explaining attempts, the account page, and unlink — with the
role and region rules, CSRF, the audit row, and no personal data or token in clear."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, update

import matching
from broker.db.models import AuditEvent, DiarySession, EsiaLink
from broker.extensions import db
from broker.login import pending
from broker.login.attempts import Attempt
from broker.oidc import sessions
from broker.staff import accounts as staff
from broker.staff import tokens as apitokens
from tests.broker.attemptdata import KID, SNILS_6, TESTOV, row_counts
from tests.broker.registry_files import row, write_csv
from tests.broker.staffing import ADDRESS, StaffBrowser, audit_rows, make_staff
from tests.builders import ADULT_SNILS, CHILD_SNILS, OTHER_SNILS

EVERY_SNILS = (ADULT_SNILS, CHILD_SNILS, OTHER_SNILS, SNILS_6)


@pytest.fixture
def linked(made: dict[str, Attempt]) -> dict[str, Attempt]:
    """The fixture attempts, with acc-1 linked to Пётр Тестов (and signed in) and acc-4 to the child."""
    pending.link_accounts(str(TESTOV.oid), ["acc-1"], "verified", "login")
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")
    sessions.create_session("acc-1", tier="verified", amr="PWD", attempt_id=made["chooser"].id)
    db.session.commit()
    return made


def signed_in(browser: StaffBrowser, login_name: str, role: str, regions: tuple[str, ...] = ()) -> StaffBrowser:
    make_staff(login_name, role=role, regions=regions)
    answer = browser.login(login_name)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return browser


def text(answer: Any) -> str:
    return answer.get_data(as_text=True)


def confirmed_unlink(browser: StaffBrowser, account_id: str, comment: str) -> Any:
    """Unlink as a person does: the reason, then the confirmation page's «Да, снять связь»."""
    asked = browser.post(f"/support/accounts/{account_id}/unlink", {"comment": comment})
    assert asked.status_code == 200 and "Да, снять связь" in text(asked), text(asked)
    shown = re.search(r'name="link" value="([^"]+)"', text(asked))
    assert shown
    confirmed = {"comment": comment, "confirm": "1", "link": html.unescape(shown.group(1))}
    return browser.post(f"/support/accounts/{account_id}/unlink", confirmed)


def is_linked(account_id: str) -> bool:
    db.session.expire_all()
    return db.session.get(EsiaLink, account_id) is not None


# --- who may come in -----------------------------------------------------------------------------


def test_the_pages_ask_a_stranger_to_sign_in(app: Flask, browser: StaffBrowser) -> None:
    answer = browser.get("/support/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login?next=/support/")


@pytest.mark.parametrize(("role", "regions"), [("admin", ()), ("operator", ("77",)), ("support", ())])
def test_every_role_finds_the_search_from_the_home_page(app: Flask, browser: StaffBrowser, role: str, regions: tuple[str, ...]) -> None:
    signed_in(browser, "member", role, regions)
    assert 'href="/support/">Попытки входа</a>' in text(browser.get("/admin/"))
    page = browser.get("/support/")
    assert page.status_code == 200 and "<h1>Попытки входа</h1>" in text(page)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"


# --- finding and explaining ----------------------------------------------------------------------


def test_a_reference_code_leads_straight_to_the_attempt_and_its_reason(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    reference = linked["no_snils"].reference
    answer = browser.post("/support/", {"reference": reference.lower().replace("-", " ")})
    assert answer.status_code == 302 and answer.headers["Location"] == f"/support/attempts/{reference}"
    page = text(browser.get(answer.headers["Location"]))
    assert f'<span class="ref">{reference}</span>' in page
    assert "в дневнике нет СНИЛС" in page and "snils_missing_in_diary" in page
    assert "В электронном дневнике у вашего аккаунта не указан СНИЛС" in page  # what the person saw
    assert "Привязать аккаунт портала" in page  # what to tell them
    assert "Администратор электронного дневника в школе человека" in page  # who fixes it
    assert "не пройдена" in page and 'href="/support/accounts/acc-6"' in page


def test_a_search_lists_attempts_in_moscow_time_whatever_their_region(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    page = text(browser.post("/support/", {"region": "50"}))
    assert linked["kid"].reference in page and linked["blocked"].reference not in page
    assert "первый вход: связь с Госуслугами" in page
    recent = text(browser.get("/support/"))
    assert all(a.reference in recent for a in linked.values())
    for name in ("esia_error", "other_region", "kid"):  # no region, Kaliningrad (UTC+2), Moscow region
        row = re.search(rf"{linked[name].reference}</a></th>\s*<td[^>]*>([^<]+)</td>", recent)
        assert row and re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d МСК", row.group(1)), row
    assert "UTC" not in recent


def test_field_errors_are_shown_and_a_typed_snils_is_never_repeated(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    bad = browser.post("/support/", {"reference": "7K3M", "snils": "112-233-445 00", "region": "99"})
    page = text(bad)
    assert bad.status_code == 400
    for name in ("reference", "snils", "region"):
        assert f'id="{name}-error" role="alert"' in page
    assert "112-233-445" not in page and "11223344500" not in page
    good = browser.post("/support/", {"snils": ADULT_SNILS})
    page = text(good)
    assert good.status_code == 200 and linked["chooser"].reference in page and linked["simplified"].reference in page
    assert ADULT_SNILS not in page and ADULT_SNILS.replace("-", "").replace(" ", "") not in page
    assert "введённый номер не сохраняется" in page


def test_the_next_page_of_a_snils_search_carries_its_digest_not_the_number(
    linked: dict[str, Attempt], browser: StaffBrowser, app: Flask
) -> None:
    from broker.support import views as support

    signed_in(browser, "helpdesk", "support")
    support_per_page, support.PER_PAGE = support.PER_PAGE, 1
    try:
        first = text(browser.post("/support/", {"snils": ADULT_SNILS}))
        digest = re.search(r'name="snils_digest" value="([0-9a-f]{64})"', first)
        before = re.search(r'name="before_id" value="(\d+)"', first)
        assert digest and before and linked["simplified"].reference in first
        second = text(browser.post("/support/", {"snils_digest": digest.group(1), "before_id": before.group(1)}))
        assert linked["chooser"].reference in second and linked["simplified"].reference not in second
    finally:
        support.PER_PAGE = support_per_page


def test_support_never_sees_a_full_snils_a_name_an_oid_or_a_token(linked: dict[str, Attempt], browser: StaffBrowser, app: Flask) -> None:
    signed_in(browser, "helpdesk", "support")
    member_token = apitokens.create_token(staff.get_staff("helpdesk"), name="отчёты", days=7, actor="cli:test")[1]
    _, session_token = sessions.create_session("acc-4", tier="simplified", amr="PWD", attempt_id=None)
    db.session.commit()
    pages = [browser.get("/support/"), browser.post("/support/", {"snils": ADULT_SNILS}),
             browser.post("/support/", {"oid": str(TESTOV.oid)}), browser.post("/support/", {"account": "acc-1"})]  # fmt: skip
    for attempt in linked.values():
        pages += [browser.get(f"/support/attempts/{attempt.reference}"), browser.get(f"/support/attempts/{attempt.reference}?recheck=1")]
    pages += [browser.get(f"/support/accounts/acc-{n}") for n in range(1, 7)]
    assert all(page.status_code == 200 for page in pages)
    body = "\n".join(text(page) for page in pages)
    for snils in EVERY_SNILS:
        digits = snils.replace("-", "").replace(" ", "")
        assert snils not in body and digits not in body and snils[:11] not in body
    for secret in (member_token, session_token, str(TESTOV.oid), "Тестов ", "Пётр", "Сидоров", "Орлова", "1990-07-14"):
        assert secret not in body, secret
    assert "Т***** П*** С********" in body and "***-***-*" in body and "******0001" in body


# --- scope ---------------------------------------------------------------------------------------


def test_an_operator_sees_only_their_regions(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    recent = text(browser.get("/support/"))
    assert linked["blocked"].reference in recent
    for name in ("other_region", "kid", "esia_error"):
        assert linked[name].reference not in recent
        assert browser.get(f"/support/attempts/{linked[name].reference}").status_code == 404
    assert browser.get("/support/accounts/acc-3").status_code == 403  # region 39
    assert browser.get("/support/accounts/acc-1").status_code == 200
    answer = browser.post("/support/", {"reference": linked["kid"].reference})
    assert answer.status_code == 400 and "в ваших регионах" in text(answer)
    assert "39 — Калининградская" not in recent  # region choices are the operator's


# --- decide again ----------------------------------------------------------------------------------


def test_the_recheck_button_shows_then_and_now_and_writes_nothing(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    path = f"/support/attempts/{linked['blocked'].reference}"
    assert "Проверить снова сейчас" in text(browser.get(path))
    before = row_counts()
    page = text(browser.get(path + "?recheck=1"))
    assert row_counts() == before
    assert "Тогда и сейчас" in page and "Если человек войдёт сейчас, вход снова не получится." in page
    assert "Аккаунт заблокирован." in page
    lower = text(browser.get(path.lower() + "?recheck=1", follow_redirects=True))
    assert "Тогда и сейчас" in lower


# --- the account page and unlink -----------------------------------------------------------------


def test_the_account_page_shows_masked_fields_the_link_and_recent_attempts(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    page = text(browser.get("/support/accounts/acc-1"))
    tail = matching.mask_snils(ADULT_SNILS.replace("-", "").replace(" ", ""))
    assert "Т***** П*** С********" in page and "1990" in page and tail in page
    assert "******0001" in page and "подтверждённая" in page and "при первом входе через Госуслуги" in page
    assert linked["chooser"].reference in page and linked["simplified"].reference in page
    assert "Снять связь может региональный оператор" in page and 'action="/support/accounts/acc-1/unlink"' not in page
    assert browser.get("/support/accounts/nobody").status_code == 404


def test_support_cannot_unlink(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    answer = browser.post("/support/accounts/acc-1/unlink", {"comment": "попросил человек"})
    assert answer.status_code == 403 and is_linked("acc-1") and audit_rows("account_unlinked") == []


def test_an_operator_of_another_region_cannot_unlink(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "kaliningrad", "operator", ("39",))
    assert browser.get("/support/accounts/acc-1").status_code == 403
    answer = browser.post("/support/accounts/acc-1/unlink", {"comment": "ошибка"})
    assert answer.status_code == 403 and is_linked("acc-1") and audit_rows("account_unlinked") == []


def test_unlink_needs_the_csrf_token(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    answer = browser.client.post("/support/accounts/acc-1/unlink", data={"comment": "без токена"})
    assert answer.status_code == 400 and "Форма устарела" in text(answer)
    forged = browser.client.post("/support/accounts/acc-1/unlink", data={"comment": "чужой токен", "csrf_token": "x" * 43})
    assert forged.status_code == 400 and is_linked("acc-1") and audit_rows("account_unlinked") == []


def test_unlink_needs_a_reason(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    answer = browser.post("/support/accounts/acc-1/unlink", {"comment": "   "})
    assert answer.status_code == 400 and 'id="comment-error" role="alert"' in text(answer)
    assert is_linked("acc-1") and audit_rows("account_unlinked") == []


def test_an_operator_unlinks_in_their_region_audited_with_before_after_and_reason(
    linked: dict[str, Attempt], browser: StaffBrowser
) -> None:
    signed_in(browser, "moscow", "operator", ("77",))
    page = text(browser.get("/support/accounts/acc-1"))
    assert 'action="/support/accounts/acc-1/unlink"' in page and "Действующие сеансы" in page
    answer = confirmed_unlink(browser, "acc-1", "Родитель вошёл под учётной записью ребёнка")
    assert answer.status_code == 302 and answer.headers["Location"] == "/support/accounts/acc-1"
    assert not is_linked("acc-1")
    [event] = audit_rows("account_unlinked")
    assert (event.actor, event.target, event.source) == ("moscow", "account:acc-1", ADDRESS)
    assert event.comment == "Родитель вошёл под учётной записью ребёнка"
    assert event.before is not None and event.before["linked"] is True and event.before["oid"] == "******0001"
    assert event.before["tier"] == "verified" and event.before["source"] == "login"
    assert event.after == {"linked": False, "sessions_ended": 1}
    assert str(TESTOV.oid) not in str(event.before)
    live = db.session.scalar(select(func.count()).select_from(DiarySession).where(DiarySession.revoked_at.is_(None)))
    assert live == 0
    assert "снята" in text(browser.get("/support/accounts/acc-1"))
    again = browser.post("/support/accounts/acc-1/unlink", {"comment": "ещё раз"})
    assert again.status_code == 400 and "не связан с Госуслугами" in text(again)


def test_the_account_page_counts_the_live_sessions_that_unlink_ends(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    """Expired and revoked sessions, and another account's, are not counted, and unlink ends the rest."""
    now = datetime.now(UTC)
    extra = [sessions.create_session(account_id, tier="verified", amr="PWD", attempt_id=None)[0]
             for account_id in ("acc-1", "acc-1", "acc-1", "acc-2")]  # fmt: skip
    db.session.execute(update(DiarySession).where(DiarySession.id == extra[1].id).values(expires_at=now - timedelta(minutes=1)))
    db.session.execute(update(DiarySession).where(DiarySession.id == extra[2].id).values(revoked_at=now))
    db.session.commit()
    assert (sessions.live_sessions("acc-1"), sessions.live_sessions("acc-2"), sessions.live_sessions("acc-3")) == (2, 1, 0)
    signed_in(browser, "moscow", "operator", ("77",))
    assert "Действующие сеансы входа через Госуслуги</dt><dd>2</dd>" in text(browser.get("/support/accounts/acc-1"))
    assert confirmed_unlink(browser, "acc-1", "проверка сеансов").status_code == 302
    [event] = audit_rows("account_unlinked")
    assert event.after == {"linked": False, "sessions_ended": 2}
    assert (sessions.live_sessions("acc-1"), sessions.live_sessions("acc-2")) == (0, 1)


def test_an_admin_unlinks_anywhere(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    pending.link_accounts("7777", ["acc-3"], None, "import")
    db.session.commit()
    answer = confirmed_unlink(browser, "acc-3", "связь из реестра ошибочна")
    assert answer.status_code == 302 and not is_linked("acc-3")
    assert [e.target for e in audit_rows("account_unlinked")] == ["account:acc-3"]


def test_unlink_is_post_only(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    assert browser.get("/support/accounts/acc-1/unlink").status_code == 405
    assert is_linked("acc-1")


def test_the_account_page_names_the_registry_run_that_linked_the_account(
    browser: StaffBrowser, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "r.csv", [row(esia_oid="1000100077")])
    assert runner.invoke(args=["registry", "import", "--allow-links", str(path)]).exit_code == 0
    started = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "registry_import_started")).one()
    signed_in(browser, "helpdesk", "support")
    page = text(browser.get("/support/accounts/acc-1"))
    assert "из реестра дневника" in page and "Какая загрузка реестра связала" in page
    assert f"файл реестра, запись журнала действий №{started.id}" in page and started.actor in page
    assert hashlib.sha256(path.read_bytes()).hexdigest() in page


def test_the_account_page_says_a_login_link_was_made_at_login_and_names_no_run(linked: dict[str, Attempt], browser: StaffBrowser) -> None:
    signed_in(browser, "helpdesk", "support")
    page = text(browser.get("/support/accounts/acc-1"))
    assert "при первом входе через Госуслуги" in page and "Какая загрузка реестра связала" not in page
