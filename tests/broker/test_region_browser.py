"""In headless Chromium: an operator enables a region and the next login there works.

The broker of the flow tests (portal → broker → mock ESIA, over ``responses``) also listens on a
loopback port for the operator's Chromium, so the person's logins and the operator's clicks
reach one broker and one database. Every region page is checked on a phone-sized viewport
with axe-core.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from broker.db.models import LoginAttempt, Region
from broker.extensions import db
from tests.broker.staffing import make_staff, sign_in_with_chromium
from tests.browser import check_page
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
    assert re.search(r"region_disabled\s.*\s1\s+1", table, re.S), table  # the refusal just now
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
