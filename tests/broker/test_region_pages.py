"""The region pages: who sees which region, who may switch it, the form's errors, the figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask, current_app
from werkzeug.datastructures import MultiDict

from broker.db.models import LoginAttempt, Region
from broker.extensions import db
from broker.regions import admin as regionadmin
from broker.regions import views as regionpages
from tests.broker.futurepolicy import FUTURE
from tests.broker.registry_files import row, write_csv
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
    assert "Новые попытки входа видят изменение сразу." in page  # REGION_CACHE_SECONDS is 0 in the tests
    assert "REGION_CACHE_SECONDS" not in page
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
    assert 'id="policy.auto_link_under_14-hint"' in form and "до 14 лет первая привязка только из дневника" in form
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
    assert "Первая привязка детей младше 14 лет при входе через Госуслуги: нет" in page  # the region's summary
    assert '<option value="false" selected>нет</option>' in page  # the form shows the stored value
    history = page.split("Последние изменения")[1]
    assert "Первая привязка детей младше 14 лет при входе через Госуслуги: нет" in history and comment in history
    # An empty choice goes back to the general rule, audited too.
    answer = browser.post("/regions/77", {"enabled": "on", "policy_form": "1", "policy.auto_link_under_14": "", "comment": "откат"})
    assert answer.status_code == 302 and moscow().policy == {}
    assert audit_rows("region_changed")[-1].after == {"enabled": True, "policy": {}}
    assert "Первая привязка детей младше 14 лет при входе через Госуслуги: по общим правилам" in html(browser.get("/regions/77"))


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
        ("вход в регионе не включён", 2, 2),
        ("аккаунт не найден", 0, 1),
        ("Всего попыток", 3, 4),
    ]
    assert "region_disabled" not in table and "region_<wbr>disabled" not in table  # the staff words, not the code
    assert "Скользящие окна" in page and "не календарные сутки" in page
    assert re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="([^"]+)" aria-describedby="([^"]+)"', page) == [
        ("chart-day-title", "chart-day-desc"),
        ("chart-week-title", "chart-week-desc"),
        ("trend-hourly-title", "trend-hourly-desc"),
        ("trend-daily-title", "trend-daily-desc"),
    ]
    assert '<title id="chart-day-title">За последние 24 часа' in page
    day_chart = page.split('id="chart-day-title"')[1].split("</svg>")[0]
    assert "Отказ: вход в регионе не включён" in day_chart and "region_disabled" not in day_chart  # words, not codes
    assert "аккаунт не найден" not in day_chart  # none in the last day


def test_a_region_without_attempts_says_so(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    page = html(browser.get("/regions/41"))
    assert page.count("Попыток входа не было.") == 4 and "<svg" not in page.split("</header>")[1].split('<ul class="legend">')[0]
    assert page.count("попыток не было") == 2  # no success rate either


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
        ("Отказ: аккаунт не найден", 20, 39.0, True),
        ("Отказ: вход в регионе не включён", 2, 3.9, True),
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


# --- switching off: asked first ----------------------------------------------------------------

DISABLE = {"enabled": "off", "comment": "сбой у поставщика дневника"}


def enabled_moscow_with_use(tmp_path: Path) -> None:
    """Moscow on, with three accounts (two linked to ESIA) and a week of logins."""
    rows = [row(esia_oid="1001"), row(id="acc-2", login="parent-2", role="parent", esia_oid="1001"), row(id="acc-3", login="u3")]
    result = current_app.test_cli_runner().invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "r.csv", rows))])
    assert result.exit_code == 0, result.output
    regionadmin.change_region("77", enabled=True, policy=None, comment="пилот", actor_staff=None, actor="cli:ops")
    now = datetime.now(UTC)
    outcomes = ["signed_in"] * 3 + ["linked"] * 2 + ["refused"]  # in the last 24 hours: 5 of 6 in
    outcomes_week = ["signed_in"] * 9  # earlier in the week
    for number, outcome in enumerate(outcomes + outcomes_week):
        ago = timedelta(hours=1 if number < len(outcomes) else 50)
        db.session.add(LoginAttempt(reference=f"S{number:07d}", started_at=now - ago, client_id="portal", flow="login",
                                    region="77", outcome=outcome, reason="no_account" if outcome == "refused" else None,
                                    completed_at=None if outcome == "refused" else now - ago))  # fmt: skip
    db.session.commit()


def hidden_fields(page: str) -> dict[str, str]:
    form = page.split('<form method="post" action="/regions/77">')[1].split("</form>")[0]
    return {name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)}


def test_switching_off_asks_first_with_what_it_affects_and_writes_nothing(app: Flask, browser: StaffBrowser, tmp_path: Path) -> None:
    enabled_moscow_with_use(tmp_path)
    signed_in(browser, "ivanov", "operator", ("77",))
    before = audit_rows("region_changed")
    answer = browser.post("/regions/77", {**DISABLE, "policy_form": "1", "policy.auto_link_under_14": "false"})
    page = html(answer)
    assert answer.status_code == 200 and "Выключить вход через Госуслуги в регионе 77 — Москва?" in page
    assert "в среднем 2 в сутки</strong> за последние 7 суток (14 за 7 суток, 5 за последние 24 часа)" in page
    assert "Аккаунты региона, связанные с Госуслугами: <strong>2</strong> из 3" in page
    assert (
        "вход через Госуслуги выключен; Первая привязка детей младше 14 лет при входе через Госуслуги: нет" in page
        and "«сбой у поставщика дневника»" in page
    )
    assert moscow().enabled and moscow().policy == {} and audit_rows("region_changed") == before  # nothing yet
    assert 'href="/regions/77">Нет, оставить включённым</a>' in page
    assert not re.search(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", page.split("<main>")[1])  # no setting's name

    fields = hidden_fields(page)  # the same change, and the confirmation
    assert fields.pop("csrf_token") and fields == {
        **DISABLE,
        "policy_form": "1",
        "policy.auto_link_under_14": "false",
        "confirm": "switch_off",
    }
    answer = browser.post("/regions/77", fields)
    assert answer.status_code == 302 and not moscow().enabled and moscow().policy == {"auto_link_under_14": False}
    event = audit_rows("region_changed")[-1]
    assert (event.actor, event.comment, event.after["enabled"]) == ("ivanov", DISABLE["comment"], False)
    assert "Сохранено. Вход через Госуслуги в регионе 77 выключен." in html(browser.get("/regions/77"))


@pytest.mark.parametrize("confirm", [None, "", "1", "on", "switch-off"])
def test_switching_off_without_the_confirmation_field_is_not_done(
    app: Flask, browser: StaffBrowser, tmp_path: Path, confirm: str | None
) -> None:
    enabled_moscow_with_use(tmp_path)
    signed_in(browser, "boss", "admin")
    before = audit_rows("region_changed")
    answer = browser.post("/regions/77", {**DISABLE, **({"confirm": confirm} if confirm is not None else {})})
    assert answer.status_code == 200 and "Да, выключить вход" in html(answer)
    assert moscow().enabled and audit_rows("region_changed") == before


def test_a_switch_off_with_a_bad_field_shows_the_errors_not_the_question(app: Flask, browser: StaffBrowser, tmp_path: Path) -> None:
    enabled_moscow_with_use(tmp_path)
    signed_in(browser, "boss", "admin")
    answer = browser.post("/regions/77", {"enabled": "off", "comment": " "})
    assert answer.status_code == 400 and "комментарий обязателен" in html(answer) and "Да, выключить вход" not in html(answer)
    assert moscow().enabled


def test_enabling_and_a_region_already_off_need_no_question(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "boss", "admin")
    answer = browser.post("/regions/77", DISABLE)  # off already: nothing to switch off
    assert answer.status_code == 302 and "Ничего не изменилось" in html(browser.get("/regions/77"))
    assert browser.post("/regions/77", ENABLE).status_code == 302 and moscow().enabled


def test_the_service_refuses_an_unconfirmed_switch_off_and_writes_nothing(app: Flask) -> None:
    regionadmin.change_region("77", enabled=True, policy=None, comment="пилот", actor_staff=None, actor="cli:ops")
    before = audit_rows("region_changed")
    with pytest.raises(regionadmin.SwitchOffUnconfirmedError) as refused:
        regionadmin.change_region(
            "77", enabled=False, policy={}, comment="стоп", actor_staff=None, actor="cli:ops", confirm_switch_off=False
        )
    assert (refused.value.before["enabled"], refused.value.after["enabled"]) == (True, False)
    assert moscow().enabled and audit_rows("region_changed") == before
    # A change that leaves it on is not asked about.
    change = regionadmin.change_region("77", enabled=None, policy={"auto_link_under_14": False}, comment="дети", actor_staff=None,
                                       actor="cli:ops", confirm_switch_off=False)  # fmt: skip
    assert change.changed and moscow().enabled


# --- the words: errors summarised, no configuration keys ------------------------------------


def test_the_form_errors_are_summarised_at_the_top_with_links_to_the_fields(app: Flask, browser: StaffBrowser) -> None:
    signed_in(browser, "ivanov", "operator", ("77",))
    answer = browser.post("/regions/77", {"comment": "", "policy.auto_link_under_14": "maybe", "policy.max_candidates": "3"})
    page = html(answer)
    assert answer.status_code == 400 and "<title>Ошибка: Регион 77" in page
    summary = page.split('<div class="card error-summary" role="alert"')[1].split("</div>")[0]
    assert page.index("error-summary") < page.index('id="figures-heading"')  # at the top, above the figures
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', summary)
    assert [(anchor, name) for anchor, name, _ in links] == [
        ("enabled-on", "Вход через Госуслуги"),
        ("policy.auto_link_under_14", regionpages.POLICY_RU["auto_link_under_14"][0]),
        ("comment", "Комментарий"),
    ]
    assert "Изменение: Настройки «max_candidates» нет" in summary  # an error of no field on the form
    for anchor, _, _ in links:
        assert f'id="{anchor}"' in page  # each link leads to its field


def test_no_configuration_key_is_shown_and_the_delay_is_said_in_seconds(app: Flask, browser: StaffBrowser) -> None:
    app.config["REGION_CACHE_SECONDS"] = 30
    signed_in(browser, "ivanov", "operator", ("77",))
    page = html(browser.get("/regions/77"))
    assert "Новые попытки входа видят изменение не позже чем через 30 с." in page
    browser.post("/regions/77", ENABLE)
    page = html(browser.get("/regions/77"))
    assert "Сохранено. Вход через Госуслуги в регионе 77 включён. Новые попытки входа видят изменение не позже чем через 30 с." in page
    assert not re.search(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", page.split("<main>")[1])  # no setting's name


# --- words, not keys: what an operator reads on a region's page ---------------------------------

#: A setting's key, a choice's raw value, a reason's code or a CLI command: never in the page's text.
KEYS = re.compile(r"auto_link_under_14|under_14_first_link|invite_code|\bauto\b|link_required|`|broker invites|"
                  r"\btrue\b|\bfalse\b")  # fmt: skip


def visible_text(page: str) -> str:
    """The page's main text, as a person reads it (no tags, no attributes, no style sheet)."""
    main = page.split("<main")[1].split("</main>")[0]
    main = re.sub(r"<style.*?</style>", "", main, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]))


def test_the_region_page_names_settings_values_and_changes_in_words(app: Flask, browser: StaffBrowser) -> None:
    regionadmin.change_region("77", enabled=True, policy={"auto_link_under_14": False, "under_14_first_link": "invite_code"},
                              comment="пилот", actor_staff=None, actor="cli:ops")  # fmt: skip
    db.session.add(LoginAttempt(reference="W0000001", started_at=datetime.now(UTC) - timedelta(hours=1), client_id="portal",
                                flow="login", region="77", outcome="refused", reason="link_required"))  # fmt: skip
    db.session.commit()
    signed_in(browser, "ivanov", "operator", ("77",))
    page = html(browser.get("/regions/77"))
    text = visible_text(page)
    assert KEYS.findall(text) == []
    assert "Первая привязка детей младше 14 лет при входе через Госуслуги: нет" in text
    assert "Как делать первую привязку детей младше 14 лет при входе через Госуслуги: ещё и по коду приглашения от школы" in text
    assert re.search(r'<option value="invite_code" selected>ещё и по коду приглашения от школы</option>', page)
    assert "по общим правилам (по совпадению ФИО и даты рождения)" in text
    history = text.split("Последние изменения")[1]
    assert "вход через Госуслуги включён; Первая привязка детей младше 14 лет при входе через Госуслуги: нет" in history


def test_a_change_reads_in_words_with_its_values() -> None:
    change = regionpages.describe_change({"enabled": False, "policy": {"under_14_first_link": "auto"}},
                                         {"enabled": False, "policy": {"under_14_first_link": "invite_code"}})  # fmt: skip
    assert change == "Как делать первую привязку детей младше 14 лет при входе через Госуслуги: ещё и по коду приглашения от школы"
    assert regionpages.describe_change({"policy": {"auto_link_under_14": True}}, {"policy": {}}).endswith(": по общим правилам")


def test_every_choice_of_an_override_has_operator_words() -> None:
    for item in regionadmin.policy_fields():
        if item.kind == "choice":
            assert set(regionpages.CHOICES_RU[item.name]) == set(item.choices), item.name


def test_a_bar_has_the_colour_of_its_outcome_in_the_trend(app: Flask, browser: StaffBrowser) -> None:
    now = datetime.now(UTC)
    for number, outcome in enumerate(["signed_in", "linked", "choose_account", "refused"]):
        db.session.add(LoginAttempt(reference=f"C{number:07d}", started_at=now - timedelta(hours=1), client_id="portal", flow="login",
                                    region="77", outcome=outcome, reason="no_account" if outcome == "refused" else None))  # fmt: skip
    db.session.commit()
    signed_in(browser, "helper", "support")
    page = html(browser.get("/regions/77"))
    bars = page.split('id="chart-day-title"')[1].split("</svg>")[0]
    trend = page.split('id="trend-hourly-title"')[1].split("</svg>")[0]
    bar_classes = re.findall(r'<rect x="0" y="[^"]+" width="[^"]+" height="14" rx="3" class="([^"]+)">', bars)
    assert sorted(bar_classes) == ["o-choose_account", "o-linked", "o-refused", "o-signed_in"]
    assert set(bar_classes) <= set(re.findall(r'class="(o-[a-z_]+)"', trend))
    legend = page.split('<ul class="legend">')[1].split("</ul>")[0]
    assert set(bar_classes) == set(re.findall(r'class="(o-[a-z_]+)"', legend))
    styles = page.split("<style")[-1].split("</style>")[0]  # the region page's own
    for name in bar_classes:
        assert f".{name} {{ fill:" in styles, name
