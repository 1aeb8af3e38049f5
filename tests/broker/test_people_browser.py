"""In headless Chromium: the people's pages this issue added, on a phone, under the broker's real
headers (its page policy refuses every script and any style without the request's nonce).

The person's way to each page runs through the flow tests' world (portal → broker → mock ESIA over
``responses``); its cookie then goes to Chromium, which opens the same broker on a loopback port.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from broker.config import LOGIN_COOKIE, SSO_COOKIE
from broker.db.models import DiarySession
from broker.extensions import db
from broker.login import invites
from broker.regions import admin as regionadmin
from tests.browser import check_page
from tests.world import BROKER, World, log_in

pytestmark = [pytest.mark.browser, pytest.mark.flow]


def hand_over(world: World, page: Any, live_broker: str, name: str) -> None:
    """Give Chromium the world's browser cookie ``name`` for the live broker."""
    value = world.browser.cookies.get(name, domain="broker.test")
    assert value, f"the world's browser holds {name}"
    page.context.add_cookies([{"name": name, "value": value, "url": live_broker}])


def test_the_invite_code_page_asks_says_what_was_wrong_and_leads_on(world: World, live_broker: str, page: Any) -> None:
    with world.broker.app_context():
        regionadmin.change_region("77", enabled=None, policy={"under_14_first_link": "invite_code"},
                                  comment="browser test", actor_staff=None, actor="cli:ops")  # fmt: skip
        code = invites.issue("d-001", days=7, actor_staff=None, actor="cli:school").code
        db.session.remove()
    login = log_in(world, "kid")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/invite"
    hand_over(world, page, live_broker, LOGIN_COOKIE)

    page.goto(f"{live_broker}/auth/invite")
    check_page(page)
    page.get_by_label("Код приглашения").fill("AAAAA-AAAAA")
    page.get_by_role("button", name="Продолжить").click()
    assert "Код не подошёл" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Код приглашения").get_attribute("aria-invalid") == "true"
    check_page(page)

    page.get_by_label("Код приглашения").fill(code.lower())
    page.get_by_role("button", name="Продолжить").click()
    page.wait_for_url(f"{live_broker}/auth/confirm")
    check_page(page)


def test_the_logout_confirmation_asks_and_ends_the_session_when_confirmed(world: World, live_broker: str, page: Any) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None
    hand_over(world, page, live_broker, SSO_COOKIE)

    page.goto(f"{live_broker}/oidc/logout?client_id=portal")
    assert page.get_by_role("heading", level=1).inner_text() == "Выйти из электронного дневника?"
    check_page(page)
    # Confirmed: on to ESIA's logout (unreachable from here; the broker's answer is what counts).
    with page.expect_response(lambda r: r.url.startswith(f"{live_broker}/oidc/logout") and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Выйти").click()
    assert posted.value.status == 303 and posted.value.headers["location"].startswith("https://esia.test/")
    with world.broker.app_context():
        assert db.session.scalars(select(DiarySession.revoked_at)).all() != [None]
        db.session.remove()


def test_too_many_requests_is_a_russian_page_that_says_when_to_try_again(world: World, live_broker: str, page: Any) -> None:
    world.broker.config["RATE_LIMIT_LOGIN_PER_ADDRESS"] = "1 per minute"
    page.goto(f"{live_broker}/auth/esia/callback?state=forged&code=forged")  # 400: the login has expired
    answer = page.goto(f"{live_broker}/auth/esia/callback?state=forged&code=forged")
    assert answer is not None and answer.status == 429
    assert "Слишком много запросов" in page.inner_text("main")
    check_page(page)
