"""In headless Chromium: an operator enables a region and the next login there works; the
region page's figures and trends, the question before switching a region off, the form's error
summary, and the pre-flight tables.

The broker of the flow tests (portal → broker → mock ESIA, over ``responses``) also listens on a
loopback port for the operator's Chromium, so the person's logins and the operator's clicks
reach one broker and one database. Every page is checked with axe-core on a phone, and the
operators' own pages on a desktop too (``SIZES``).
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from broker import services
from broker.db.models import LoginAttempt, Region
from broker.extensions import db
from tests.broker.staffing import make_staff, sign_in_with_chromium
from tests.browser import SIZES, check_page, sized_page
from tests.world import World, log_in, start_login, verify_id_token

pytestmark = [pytest.mark.browser, pytest.mark.flow]


def last_attempt(world: World) -> LoginAttempt:
    with world.broker.app_context():
        row = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc()).limit(1)).one()
        db.session.expunge(row)
        return row


def test_an_operator_enables_a_region_and_the_next_login_there_works(world: World, live_broker: str, page: Any) -> None:
    runner = world.broker.test_cli_runner()
    with world.broker.app_context():
        assert runner.invoke(args=["regions", "disable", "77", "--comment", "до проверки реестра"]).exit_code == 0
        make_staff("ivanov", role="operator", regions=("77",), name="Иванов И. И.")
        db.session.remove()

    # Refused at once, before ESIA: the portal's request names a region where login is off.
    _, answer = start_login(world, "77")
    refused = world.follow(answer, lambda url: False)
    assert not isinstance(refused, str) and "пока не подключён" in refused.text
    assert last_attempt(world).reason == "region_disabled"

    page.goto(f"{live_broker}/regions/77")
    page.wait_for_url(re.compile(r"/admin/login\?next=/regions/77$"))
    sign_in_with_chromium(page, "ivanov")
    page.wait_for_url(f"{live_broker}/regions/77")
    check_page(page)
    table = page.inner_text("#figures")
    assert re.search(r"вход в регионе не включён\s+1\s+1", table), table  # the refusal just now
    assert page.get_by_role("img", name=re.compile("^За последние 24 часа: попытки входа")).count() == 1

    page.get_by_label("включён").check()
    page.get_by_label("Комментарий").fill("Реестр проверен, включаем по письму министерства № 15")
    page.get_by_role("button", name="Сохранить").click()
    page.wait_for_url(f"{live_broker}/regions/77")
    assert "Вход через Госуслуги в регионе 77 включён" in page.inner_text("[role=status]")
    check_page(page)
    with world.broker.app_context():
        region = db.session.get(Region, "77")
        assert region is not None and region.enabled and region.changed_by == "ivanov"
        db.session.remove()

    signed_in = log_in(world, "namesake-1", region="77")
    assert signed_in.callback is not None, signed_in.page.text if signed_in.page is not None else ""
    assert verify_id_token(signed_in.token()["id_token"], signed_in.nonce)["sub"] == "d-016"
    assert last_attempt(world).outcome == "signed_in"

    page.reload()
    assert re.search(r"Вход по связи\s+1\s+1", page.inner_text("#figures"))
    page.get_by_role("link", name="← Все регионы").click()
    page.wait_for_url(f"{live_broker}/regions/")
    assert "77 — Москва" in page.inner_text("main") and "ivanov" in page.inner_text("main")
    check_page(page)


def test_the_read_only_view_and_a_refused_form_are_accessible_on_a_phone(world: World, live_broker: str, page: Any) -> None:
    with world.broker.app_context():
        make_staff("helper", role="support")
        make_staff("ivanov", role="operator", regions=("50",))
        db.session.remove()

    def sign_in(login: str) -> None:
        page.goto(f"{live_broker}/admin/login")
        sign_in_with_chromium(page, login)
        page.wait_for_url(f"{live_broker}/admin/")

    sign_in("helper")
    page.goto(f"{live_broker}/regions/41")  # no attempts: no chart, words instead
    assert "Только просмотр" in page.inner_text("main") and page.locator("form textarea").count() == 0
    check_page(page)
    page.get_by_role("button", name="Выйти").click()

    sign_in("ivanov")
    page.goto(f"{live_broker}/regions/50")
    page.get_by_label("включён").check()
    page.get_by_label("Комментарий").evaluate("field => field.removeAttribute('required')")
    page.get_by_role("button", name="Сохранить").click()
    assert "комментарий обязателен" in page.inner_text("#comment-error")
    assert page.get_by_label("Комментарий").get_attribute("aria-invalid") == "true"
    check_page(page)
    assert page.goto(f"{live_broker}/regions/77").status == 403  # another operator's region


# --- the operators' figures, at a phone's and a desktop's size -----------------------------------

_REFERENCES = itertools.count(1)
ATTEMPTS = [  # hours ago, outcome, reason: a busy day and a month of history, long reasons included
    *[(hours, "signed_in", None) for hours in (1, 1, 2, 3, 5, 8, 13, 30, 50, 75, 120, 200, 400, 600)],
    *[(hours, "linked", None) for hours in (1, 4, 26, 100)],
    (2, "choose_account", None),
    (1, "refused", "tier_insufficient"),
    (3, "refused", "invite_code_required"),
    (6, "refused", "reauthentication_required"),
    (40, "refused", "no_account"),
    (700, "refused", "linked_elsewhere"),
]


def busy_region(world: World, code: str = "77") -> None:
    with world.broker.app_context():
        now = services.current().clock()
        for hours, outcome, reason in ATTEMPTS:
            db.session.add(LoginAttempt(reference=f"B{next(_REFERENCES):07d}", started_at=now - timedelta(hours=hours, minutes=7),
                                        client_id="portal", flow="login", region=code, outcome=outcome, reason=reason))  # fmt: skip
        db.session.commit()
        make_staff("ivanov", role="operator", regions=(code,), name="Иванов И. И.")
        db.session.remove()


def sign_in_at(page: Any, live_broker: str, path: str) -> None:
    page.goto(f"{live_broker}{path}")
    sign_in_with_chromium(page, "ivanov")
    page.wait_for_url(f"{live_broker}{path}")


def fits(page: Any, selector: str) -> bool:
    """Every element of ``selector`` lies within the viewport's width."""
    return bool(
        page.evaluate(f"[...document.querySelectorAll({selector!r})].every(e => e.getBoundingClientRect().right <= window.innerWidth)")
    )


@pytest.mark.parametrize("size", SIZES)
def test_the_region_page_shows_its_figures_and_trends(world: World, live_broker: str, chromium: Any, size: str) -> None:
    busy_region(world)
    with sized_page(chromium, SIZES[size]) as page:
        sign_in_at(page, live_broker, "/regions/77")
        check_page(page)
        # The rate and what it counts, before the form.
        main = page.inner_text("main")
        assert re.search(r"Успешные входы за последние 24 часа\s+\d+ % — \d+ из \d+ попыток", main), main
        assert main.index("Успешные входы") < main.index("Динамика входов") < main.index("Изменить")
        # The charts are pictures with names; the refusals are said in words, not codes.
        for name in ("За последние 24 часа", "За последние 7 суток", "По часам за 24 часа", "По дням за 30 суток"):
            assert page.get_by_role("img", name=re.compile(f"^{name}:")).count() == 1, name
        day_chart = page.locator("svg[aria-labelledby^=chart-day]").inner_html()
        assert "с 14 лет упрощённой учётной записи мало" in day_chart and "tier_insufficient" not in day_chart
        assert fits(page, "svg text") and fits(page, "svg rect")  # no label runs off the chart
        # The trend's numbers, for whoever does not see the picture.
        assert not page.locator("#trend-daily").is_visible()
        page.get_by_text("Те же числа таблицей").nth(1).click()
        assert page.locator("#trend-daily tbody tr").count() == 30
        check_page(page)


@pytest.mark.parametrize("size", SIZES)
def test_switching_a_region_off_is_asked_first_and_done_when_confirmed(world: World, live_broker: str, chromium: Any, size: str) -> None:
    busy_region(world)
    with sized_page(chromium, SIZES[size]) as page:
        sign_in_at(page, live_broker, "/regions/77")
        page.get_by_label("выключен").check()
        page.get_by_label("Комментарий").fill("Сбой у поставщика дневника")
        page.get_by_role("button", name="Сохранить").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Выключить вход через Госуслуги в регионе 77 — Москва?"
        text = page.inner_text("main")
        assert re.search(r"в среднем \d+ в сутки", text) and "Аккаунты региона, связанные с Госуслугами:" in text
        check_page(page)
        with world.broker.app_context():
            assert db.session.get(Region, "77").enabled
            db.session.remove()

        page.get_by_role("link", name="Нет, оставить включённым").click()  # changed their mind: nothing happened
        page.wait_for_url(f"{live_broker}/regions/77")
        assert page.get_by_label("включён").is_checked()

        page.get_by_label("выключен").check()
        page.get_by_label("Комментарий").fill("Сбой у поставщика дневника")
        page.get_by_role("button", name="Сохранить").click()
        page.get_by_role("button", name="Да, выключить вход").click()
        page.wait_for_url(f"{live_broker}/regions/77")
        assert "Вход через Госуслуги в регионе 77 выключен" in page.inner_text("[role=status]")
        check_page(page)
    with world.broker.app_context():
        region = db.session.get(Region, "77")
        assert region is not None and not region.enabled and region.changed_by == "ivanov"
        db.session.remove()


@pytest.mark.parametrize("size", SIZES)
def test_the_form_errors_are_summarised_at_the_top(world: World, live_broker: str, chromium: Any, size: str) -> None:
    busy_region(world, "50")
    with sized_page(chromium, SIZES[size]) as page:
        sign_in_at(page, live_broker, "/regions/50")
        page.get_by_label("Комментарий").evaluate("field => field.removeAttribute('required')")
        page.get_by_role("button", name="Сохранить").click()
        assert page.title().startswith("Ошибка:")
        summary = page.locator(".error-summary")
        assert summary.get_attribute("role") == "alert" and "Изменение не сохранено" in summary.inner_text()
        assert summary.bounding_box()["y"] < page.locator("#figures-heading").bounding_box()["y"]
        check_page(page)
        summary.get_by_role("link", name="Комментарий").click()
        assert page.url.endswith("#comment")
        assert page.locator("#comment").evaluate("field => field.getBoundingClientRect().top < window.innerHeight")


def test_the_preflight_tables_scroll_on_a_phone_within_the_page(world: World, live_broker: str, page: Any) -> None:
    with world.broker.app_context():
        make_staff("ivanov", role="operator", regions=("77",))
        db.session.remove()
    sign_in_at(page, live_broker, "/preflight/77")
    check_page(page)  # the page itself does not scroll sideways; axe finds the tables reachable by keyboard
    frame = page.get_by_role("region", name="Почему не смогут войти")
    assert frame.get_attribute("tabindex") == "0"
    assert frame.evaluate("frame => frame.scrollWidth > frame.clientWidth")  # it scrolls in its own frame
    frame.focus()
    page.keyboard.press("ArrowRight")
    for _ in range(40):  # the keyboard scrolls it (smoothly: give it a moment)
        if frame.evaluate("frame => frame.scrollLeft") > 0:
            break
        page.wait_for_timeout(50)
    assert frame.evaluate("frame => frame.scrollLeft") > 0
