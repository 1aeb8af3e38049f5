"""The region pages: who sees which region, who may switch it, the form's errors, the figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from broker.db.models import LoginAttempt, Region
from broker.extensions import db
from broker.regions import admin as regionadmin
from broker.regions import views as regionpages
from tests.broker.futurepolicy import FUTURE
from tests.broker.staffing import ADDRESS, StaffBrowser, audit_rows, make_staff

ENABLE = {"enabled": "on", "comment": "по письму министерства №15"}


def signed_in(browser: StaffBrowser, login: str, role: str, regions: tuple[str, ...] = ()) -> StaffBrowser:
    make_staff(login, role=role, regions=regions)
    assert browser.login(login).status_code == 302
    return browser


def moscow() -> Region:
    db.session.expire_all()
    found = db.session.get(Region, "77")
    assert found is not None
    return found


def html(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


# --- the list ----------------------------------------------------------------------------------


def test_the_list_needs_a_signed_in_member(app: Flask, browser: StaffBrowser) -> None:
    answer = browser.get("/regions/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login?next=/regions/")
    assert browser.get("/regions/77").status_code == 302


def test_an_operator_lists_only_their_regions_with_links(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77", "41"))
    answer = browser.get("/regions/")
    page = html(answer)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert re.findall(r'href="/regions/(\d\d)"', page) == ["41", "77"]
    assert "77 — Москва" in page and "Вход через Госуслуги включён в 0 из 2" in page


@pytest.mark.parametrize("role", ["admin", "support"])
def test_admins_and_support_list_every_region(app: Flask, browser: StaffBrowser, role: str) -> None:
    signed_in(browser, "someone", role)
    page = html(browser.get("/regions/"))
    assert len(re.findall(r'href="/regions/\d\d"', page)) == 89


def test_the_list_shows_the_last_change(app: Flask, browser: StaffBrowser) -> None:
    regionadmin.change_region("77", enabled=True, policy=None, comment="пилот", actor_staff=None, actor="cli:ops")
    signed_in(browser, "boss", "admin")
    row = html(browser.get("/regions/")).split('href="/regions/77"')[1].split("</tr>")[0]
    assert "включён" in row and "cli:ops" in row and "МСК" in row


def test_the_start_page_links_the_regions(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    page = html(browser.get("/admin/"))
    assert 'href="/regions/"' in page and 'href="/regions/77"' in page


# --- a region's page ---------------------------------------------------------------------------


def test_an_operator_sees_the_form_for_their_region(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    page = html(browser.get("/regions/77"))
    assert "<h1>77 — Москва</h1>" in page and 'name="csrf_token"' in page
    assert 'name="enabled" value="off" checked' in page and '<textarea id="comment" name="comment"' in page
    assert "в течение 0 с" in page  # REGION_CACHE_SECONDS, 0 in the tests
    assert 'href="/preflight/77"' in page


def test_support_sees_a_region_read_only(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "helper", "support")
    answer = browser.get("/regions/77")
    page = html(answer)
    assert answer.status_code == 200 and "Только просмотр" in page
    assert '<form method="post" action="/regions/77"' not in page and 'name="comment"' not in page


def test_an_operator_cannot_open_another_region(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "petrov", "operator", ("50",))
    answer = browser.get("/regions/77")
    assert answer.status_code == 403 and "Недостаточно прав" in html(answer)


@pytest.mark.parametrize("path", ["/regions/99", "/regions/7", "/regions/x77"])
def test_an_unknown_region_is_not_found(app: Flask, browser: StaffBrowser, path: str) -> None:
    signed_in(browser, "boss", "admin")
    answer = browser.get(path)
    assert answer.status_code == 404 and "Нет такого региона" in html(answer)


# --- changing ----------------------------------------------------------------------------------


def test_an_operator_enables_their_region_with_a_comment(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", ENABLE)
    assert answer.status_code == 302 and answer.headers["Location"] == "/regions/77"
    assert moscow().enabled and moscow().changed_by == "ivanov"
    [event] = audit_rows("region_changed")
    assert (event.actor, event.source, event.comment) == ("ivanov", ADDRESS, ENABLE["comment"])
    assert (event.before["enabled"], event.after["enabled"]) == (False, True)
    page = html(browser.get("/regions/77"))
    assert "Сохранено. Вход через Госуслуги в регионе 77 включён." in page
    assert 'name="enabled" value="on" checked' in page
    history = page.split("Последние изменения")[1]
    assert "вход через Госуслуги включён" in history and ENABLE["comment"] in history and "ivanov" in history


def test_an_unchanged_switch_says_so_and_writes_nothing(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    answer = browser.post("/regions/77", {"enabled": "off", "comment": "проверка"})
    assert answer.status_code == 302 and audit_rows("region_changed") == []
    assert "Ничего не изменилось" in html(browser.get("/regions/77"))


@pytest.mark.parametrize(("role", "regions"), [("support", ()), ("operator", ("50",))])
def test_support_and_other_operators_cannot_post_a_change(app: Flask, browser: StaffBrowser, role: str, regions: tuple[str, ...]) -> None:
    signed_in(browser, "someone", role, regions)
    answer = browser.post("/regions/77", ENABLE)
    assert answer.status_code == 403
    assert not moscow().enabled and audit_rows("region_changed") == []


def test_the_comment_is_required_on_the_page(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", {"enabled": "on", "comment": "   "})
    page = html(answer)
    assert answer.status_code == 400 and "комментарий обязателен" in page
    assert 'aria-invalid="true"' in page and 'id="comment-error" role="alert"' in page
    assert 'name="enabled" value="on" checked' in page  # the choice is kept
    assert not moscow().enabled and audit_rows("region_changed") == []


def test_the_switch_must_be_chosen(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", {"comment": "без выбора"})
    assert answer.status_code == 400 and 'id="enabled-error"' in html(answer)
    assert not moscow().enabled


def test_an_unknown_policy_override_posted_is_named_and_nothing_is_written(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", {**ENABLE, "policy.max_candidates": "3"})
    page = html(answer)
    assert answer.status_code == 400 and "Настройки «max_candidates» нет" in page
    assert not moscow().enabled and moscow().policy == {} and audit_rows("region_changed") == []


def test_a_change_without_the_csrf_token_is_refused(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.client.post("/regions/77", data=ENABLE)
    assert answer.status_code == 400 and "csrf_failed" in html(answer)
    assert not moscow().enabled


def test_an_operator_turns_off_auto_linking_of_children_with_a_comment(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    form = html(browser.get("/regions/77")).split('action="/regions/77"')[1].split("</form>")[0]
    assert (
        '<select id="policy.auto_link_under_14" name="policy.auto_link_under_14" aria-describedby="policy.auto_link_under_14-hint">' in form
    )
    assert "Первая привязка детей младше 14 лет при входе через Госуслуги" in form and "по общим правилам (да)" in form
    assert 'id="policy.auto_link_under_14-hint"' in form and "link_required" in form
    comment = "по решению министерства: первая привязка детей только из дневника"
    answer = browser.post("/regions/77", {"enabled": "on", "policy_form": "1", "policy.auto_link_under_14": "false", "comment": comment})
    assert answer.status_code == 302
    assert moscow().policy == {"auto_link_under_14": False} and moscow().enabled
    [event] = audit_rows("region_changed")
    assert (event.actor, event.comment) == ("ivanov", comment)
    assert (event.before, event.after) == (
        {"enabled": False, "policy": {}},
        {"enabled": True, "policy": {"auto_link_under_14": False}},
    )
    page = html(browser.get("/regions/77"))
    assert "<code>auto_link_under_14</code> = false" in page  # the region's summary
    assert '<option value="false" selected>нет</option>' in page  # the form shows the stored value
    history = page.split("Последние изменения")[1]
    assert "auto_link_under_14: false" in history and comment in history
    # An empty choice goes back to the general rule, audited too.
    answer = browser.post("/regions/77", {"enabled": "on", "policy_form": "1", "policy.auto_link_under_14": "", "comment": "откат"})
    assert answer.status_code == 302 and moscow().policy == {}
    assert audit_rows("region_changed")[-1].after == {"enabled": True, "policy": {}}
    assert "auto_link_under_14: по общим правилам" in html(browser.get("/regions/77"))


def test_a_bad_override_value_posted_is_named_and_nothing_is_written(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", {**ENABLE, "policy.auto_link_under_14": "maybe"})
    page = html(answer)
    assert answer.status_code == 400 and 'id="policy.auto_link_under_14-error"' in page and "«да» или «нет»" in page
    assert moscow().policy == {} and not moscow().enabled and audit_rows("region_changed") == []


def test_every_override_the_engine_supports_has_operator_words() -> None:
    assert set(regionpages.POLICY_RU) == {item.name for item in regionadmin.policy_fields()}


# --- figures -----------------------------------------------------------------------------------


def test_the_figures_are_a_table_and_an_accessible_chart(app: Flask, browser: StaffBrowser) -> None:
    now = datetime.now(UTC)
    for number, (ago, outcome, reason) in enumerate(
        [(1, "signed_in", None), (2, "refused", "region_disabled"), (3, "refused", "region_disabled"), (50, "refused", "no_account")]
    ):
        db.session.add(LoginAttempt(reference=f"F{number:07d}", started_at=now - timedelta(hours=ago), client_id="portal",
                                    flow="login", region="77", outcome=outcome, reason=reason))  # fmt: skip
    db.session.commit()
    signed_in(browser, "helper", "support")
    page = html(browser.get("/regions/77"))
    table = page.split('<table id="figures">')[1].split("</table>")[0]
    cells = re.findall(r'<th scope="row">(.*?)</th>\s*<td class="number">(\d+)</td><td class="number">(\d+)</td>', table, re.S)
    rows = [(re.sub(r"<br>.*|<[^>]+>", "", head, flags=re.S).strip(), int(day), int(week)) for head, day, week in cells]
    assert rows == [
        ("Вход по связи", 1, 1),
        ("Первый вход: связь с Госуслугами", 0, 0),
        ("Выбор аккаунта", 0, 0),
        ("Отказ", 2, 3),
        ("region_disabled", 2, 2),
        ("no_account", 0, 1),
        ("Всего попыток", 3, 4),
    ]
    assert "вход в регионе не включён" in table  # the staff label, as on the support pages
    assert "Скользящие окна" in page and "не календарные сутки" in page
    day, week = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="([^"]+)"', page)
    assert day == "chart-day-title chart-day-desc" and week == "chart-week-title chart-week-desc"
    assert '<title id="chart-day-title">За последние 24 часа' in page
    assert "Отказ: region_disabled" in page.split('id="chart-day-title"')[1].split("</svg>")[0]
    assert "no_account" not in page.split('id="chart-day-title"')[1].split("</svg>")[0]  # none in the last day


def test_a_region_without_attempts_says_so(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    page = html(browser.get("/regions/41"))
    assert page.count("Попыток входа не было.") == 2 and "<svg" not in page


def test_chart_bars_are_scaled_to_the_largest(app: Flask) -> None:
    lines = (
        regionadmin.FigureLine("signed_in", None, 10, 40),
        regionadmin.FigureLine("refused", "no_account", 1, 20),
        regionadmin.FigureLine("refused", "region_disabled", 0, 2),
    )
    now = datetime(2026, 11, 28, tzinfo=UTC)
    figures = regionadmin.Figures("77", now, now - timedelta(days=1), now - timedelta(days=7), lines)
    assert [(b.label, b.value, b.percent, b.refused) for b in regionpages.chart_bars(figures, "week")] == [
        ("Вход по связи", 40, 78.0, False),
        ("Отказ: no_account", 20, 39.0, True),
        ("Отказ: region_disabled", 2, 3.9, True),
    ]
    assert [b.value for b in regionpages.chart_bars(figures, "day")] == [10, 1]


# --- policy overrides, as they will look when the engine has more --------------------------


def test_the_form_reads_overrides_in_their_types() -> None:
    form = MultiDict({"enabled": "on", "policy.auto_link_under_14": "false", "policy.max_candidates": " 5 ",
                      "policy.note": "", "policy.unknown": "1", "policy.max_candidates_x": "y"})  # fmt: skip
    assert regionpages.policy_from_form(form, FUTURE) == {
        "auto_link_under_14": False,
        "max_candidates": 5,
        "unknown": "1",
        "max_candidates_x": "y",
    }
    bad = regionpages.policy_from_form(MultiDict({"policy.max_candidates": "five", "policy.auto_link_under_14": "yes"}), FUTURE)
    assert bad == {"max_candidates": "five", "auto_link_under_14": "yes"}  # left for check_policy to name


def test_the_override_inputs_are_labelled_and_show_their_errors(app: Flask) -> None:
    macros = app.jinja_env.get_template("regions/macros.html").module
    errors = {"policy.max_candidates": "Значение должно быть целым числом."}
    values = MultiDict({"policy.auto_link_under_14": "false", "policy.max_candidates": "five"})
    rendered = str(macros.policy_inputs(FUTURE, values, errors, "policy."))  # type: ignore[attr-defined]
    assert '<input type="hidden" name="policy_form" value="1">' in rendered
    assert '<select id="policy.auto_link_under_14" name="policy.auto_link_under_14">' in rendered
    assert '<option value="false" selected>нет</option>' in rendered and "по общим правилам (да)" in rendered
    assert 'name="policy.max_candidates" value="five" inputmode="numeric"' in rendered
    assert 'aria-describedby="policy.max_candidates-error" aria-invalid="true"' in rendered
    assert str(macros.policy_inputs((), values, {}, "policy.")).count("пока не поддерживает") == 1  # type: ignore[attr-defined]
