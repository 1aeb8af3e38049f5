"""The pre-flight page and API: the same report as `broker preflight`, within the staff's regions."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

import matching
from broker.extensions import db
from broker.regions import preflight, preflightviews
from broker.staff import tokens as apitokens
from broker.support import glossary
from tests.broker.staffing import StaffBrowser, make_staff
from tests.builders import ADULT_SNILS


def signed_in(browser: StaffBrowser, login: str, role: str, regions: tuple[str, ...] = ()) -> StaffBrowser:
    make_staff(login, role=role, regions=regions)
    db.session.commit()
    assert browser.login(login).status_code == 302
    return browser


def test_an_operator_sees_the_report_of_a_disabled_region_of_theirs(preflight_registry: FlaskCliRunner, browser: StaffBrowser) -> None:
    page = signed_in(browser, "op77", "operator", ("77",)).get("/preflight/77")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Проверка реестра: 77" in text and "выключен" in text
    assert "СНИЛС в дневнике с ошибкой в контрольном числе" in text  # acc-4's bad checksum
    assert "sch-1" in text
    assert page.headers["Cache-Control"] == "no-store"


def test_the_csv_lists_the_accounts_to_fix_with_masked_snils_only(preflight_registry: FlaskCliRunner, browser: StaffBrowser) -> None:
    answer = signed_in(browser, "helpdesk", "support").get("/preflight/77.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    by_id = {row["account_id"]: row for row in rows}
    assert by_id["acc-4"]["findings"] == "snils_checksum"
    body = answer.get_data(as_text=True)
    assert ADULT_SNILS not in body and ADULT_SNILS.replace("-", "").replace(" ", "") not in body
    assert "Тестов" not in body  # no names


def test_an_operator_cannot_see_another_region(preflight_registry: FlaskCliRunner, browser: StaffBrowser) -> None:
    signed_in(browser, "op50", "operator", ("50",))
    assert browser.get("/preflight/77").status_code == 403
    assert browser.get("/preflight/77.csv").status_code == 403
    chooser = browser.get("/preflight/").get_data(as_text=True)
    assert 'value="50"' in chooser and 'value="77"' not in chooser


def test_without_a_staff_session_the_page_asks_to_sign_in(preflight_registry: FlaskCliRunner, app: Flask) -> None:
    answer = app.test_client().get("/preflight/77")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_an_unknown_region_is_not_found(preflight_registry: FlaskCliRunner, browser: StaffBrowser) -> None:
    assert signed_in(browser, "boss", "admin").get("/preflight/00").status_code == 404


def test_the_api_gives_the_summary_and_the_csv(preflight_registry: FlaskCliRunner, app: Flask) -> None:
    member = make_staff("sync", role="operator", regions=("77",))
    _, clear = apitokens.create_token(member, name="preflight", days=1, actor="cli:test")
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {clear}"}
    summary = client.get("/api/v1/regions/77/preflight?schools=2", headers=headers)
    assert summary.status_code == 200
    assert summary.json["region"] == {"code": "77", "name": "Москва", "enabled": False}
    assert summary.json["by_finding"]["snils_checksum"] == 1 and len(summary.json["schools"]) <= 2
    as_csv = client.get("/api/v1/regions/77/preflight?format=csv", headers=headers)
    assert as_csv.status_code == 200 and as_csv.get_data(as_text=True).startswith("account_id,login,role")
    assert client.get("/api/v1/regions/50/preflight", headers=headers).status_code == 403
    assert client.get("/api/v1/regions/77/preflight?schools=x", headers=headers).status_code == 422


def test_a_registry_value_that_looks_like_a_formula_is_defused_in_the_csv() -> None:
    assert [preflight.cell(text) for text in ("=HYPERLINK(1)", "+7", "-1", "@SUM", "school-1", "")] == [
        "'=HYPERLINK(1)",
        "'+7",
        "'-1",
        "'@SUM",
        "school-1",
        "",
    ]


def test_the_report_says_why_and_who_fixes_in_the_staff_words_not_the_persons(
    preflight_registry: FlaskCliRunner, browser: StaffBrowser
) -> None:
    text = signed_in(browser, "op77", "operator", ("77",)).get("/preflight/77").get_data(as_text=True)
    reasons = text.split('<table class="preflight-table" id="reasons">')[1].split("</table>")[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="number">\d+</td><td>([^<]+)</td></tr>', reasons)
    assert rows, reasons
    for label, fixer in rows:
        reason = next(r for r in matching.Reason if preflightviews.staff_words(r)[0] == label)
        assert unescape(fixer) == preflightviews.staff_words(reason)[1]
    assert "Ваш" not in reasons and "вы " not in reasons.lower() and "<code" not in text


@pytest.mark.parametrize("reason", list(matching.Reason))
def test_every_reason_has_staff_words_apart_from_the_persons(reason: matching.Reason) -> None:
    label, fixer = preflightviews.staff_words(reason)
    assert label[:1].isupper() and label.lower() == glossary.REASON_RU[reason].lower()
    assert label != matching.REFUSALS[reason].message_ru and fixer != matching.REFUSALS[reason].fixer_ru
    assert not label.startswith("Ваш") and not fixer.startswith("Вы ")
