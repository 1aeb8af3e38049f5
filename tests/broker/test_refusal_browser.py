"""In headless Chromium, at a phone's and a desktop's size: a refusal survives reload and Back, leads
back to the portal with an OIDC error response, and the link flow says when Gosuslugi has another
person signed in (issue #12, items 1-3).

The person's way to the refusal runs through the flow tests' world (portal → broker → mock ESIA over
``responses``); its binding cookie then goes to Chromium, which opens the same callback on the same
broker served on a loopback port: for the broker, a reload of that browser's callback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from broker import services
from broker.config import LOGIN_COOKIE
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.oidc.clients import Support
from tests.browser import SIZES, check_page, sized_page
from tests.flows.authlib_portal import portal_app, start_at_portal
from tests.world import PORTAL, PORTAL_CALLBACK, World, link_through_esia

pytestmark = [pytest.mark.browser, pytest.mark.flow]

LOGO = "https://cdn.portal.test/logo.svg"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28" fill="#0d4cd3"/></svg>'


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Any]:
    """A page at each of the sizes every person's page is checked at (tests/browser.py SIZES)."""
    with sized_page(chromium, SIZES[request.param]) as page:
        yield page


def hand_over(world: World, page: Any, live_broker: str) -> None:
    """Give Chromium the world's browser's binding cookie, for the live broker."""
    value = world.browser.cookies.get(LOGIN_COOKIE, domain="broker.test")
    assert value, "the world's browser holds the binding cookie"
    page.context.add_cookies([{"name": LOGIN_COOKIE, "value": value, "url": live_broker}])


def on_live(url: str, live_broker: str) -> str:
    """The world's broker URL ``url`` on the live broker."""
    parts = urlsplit(url)
    return f"{live_broker}{parts.path}?{parts.query}"


def attempts(world: World) -> int:
    with world.broker.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def with_support(world: World) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        support = Support(phone="8 800 100-00-00", url="https://portal.test/help", email="help@portal.test")
        clients["portal"] = dataclasses.replace(clients["portal"], name="Дневник.Тест", support=support, logo_url=LOGO)


def reference(page: Any) -> str:
    return str(page.locator(".ref").inner_text())


def test_a_refusal_survives_reload_and_back_and_leads_back_to_the_portal_with_an_error_response(
    world: World, live_broker: str, live_server: Callable[[Any], str], sized: Any
) -> None:
    with_support(world)
    live_esia = live_server(world.esia)
    with portal_app().test_client() as portal:
        at_esia = start_at_portal(world, portal)
        refused = world.follow(world.go(at_esia, data={"login": "teen-simple", "password": "test1234"}), lambda u: False)
        assert not isinstance(refused, str) and refused.status_code == 403
        callback = on_live(refused.url, live_broker)
        hand_over(world, sized, live_broker)
        sized.route(LOGO, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=SVG))

        # The browser's history as the person made it: ESIA's login page, then the broker's callback.
        sized.goto(f"{live_esia}/login?rid=spent")
        answer = sized.goto(callback)
        assert answer is not None and answer.status == 403
        assert sized.get_by_role("heading", level=1).inner_text() == "Войти через Госуслуги не получилось"
        first = reference(sized)
        assert first in refused.text
        alert = sized.get_by_role("alert").inner_text()
        assert "назовите его в поддержке портала «Дневник.Тест»" in alert and "8 800 100-00-00" in alert
        assert sized.locator("header img.logo").evaluate("img => img.complete && img.naturalWidth > 0")
        buttons = ["Попробовать ещё раз", "Войти по логину и паролю", "Вернуться на сайт"]
        for name in buttons:
            assert sized.get_by_role("link", name=name).is_visible()
        check_page(sized)

        reloaded = sized.reload()
        assert reloaded is not None and reloaded.status == 403 and reference(sized) == first
        sized.go_back()
        assert sized.url.startswith(live_esia)  # ESIA's page: the browser's own history
        sized.go_forward()
        assert reference(sized) == first
        for name in buttons:
            assert sized.get_by_role("link", name=name).is_visible()
        check_page(sized)
        assert attempts(world) == 1  # reloads record nothing

        # «Вернуться на сайт»: the portal's request answered with an OIDC error response.
        arrived: list[str] = []

        def at_portal(route: Any) -> None:
            arrived.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body='<html lang="ru"><title>Портал</title></html>')

        sized.route(f"{PORTAL}/**", at_portal)
        sized.get_by_role("link", name="Вернуться на сайт").click()
        sized.wait_for_url(f"{PORTAL_CALLBACK}?**")
        assert len(arrived) == 1
        read = portal.get(arrived[0])  # Authlib's client, in the portal's session that made the request
        assert read.status_code == 401 and read.json == {"error": "access_denied", "description": "tier_insufficient"}


def test_a_parent_linking_a_childs_account_is_told_to_sign_out_of_gosuslugi(world: World, live_broker: str, sized: Any) -> None:
    refused = link_through_esia(world, "d-001", "adult-verified")
    assert not isinstance(refused, str) and refused.status_code == 403
    hand_over(world, sized, live_broker)
    answer = sized.goto(on_live(refused.url, live_broker))
    assert answer is not None and answer.status == 403
    assert sized.get_by_role("heading", level=1).inner_text() == "Привязать аккаунт Госуслуг не получилось"
    assert "другого человека" in sized.get_by_role("alert").inner_text()
    assert sized.get_by_role("link", name="Вернуться в дневник").get_attribute("href").startswith(f"{PORTAL}/settings?")
    check_page(sized)
    sized.reload()
    assert "другого человека" in sized.get_by_role("alert").inner_text()
    with sized.expect_response(lambda r: r.url.endswith("/auth/esia/logout") and r.request.method == "POST") as posted:
        sized.get_by_role("button", name="Выйти из Госуслуг").click()
    assert posted.value.status == 303 and posted.value.headers["location"].startswith("https://esia.test/idp/ext/Logout?")


def test_an_error_page_shows_the_portal_its_support_and_the_way_back(world: World, live_broker: str, sized: Any) -> None:
    with_support(world)
    sized.route(LOGO, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=SVG))
    answer = sized.goto(f"{live_broker}/oidc/authorize?client_id=portal&response_type=code&redirect_uri=https://evil.test/cb")
    assert answer is not None and answer.status == 400
    assert sized.get_by_role("heading", level=1).inner_text() == "Портал отправил неверный запрос на вход"
    assert "Дневник.Тест" in sized.locator("header").inner_text()
    assert "8 800 100-00-00" in sized.get_by_role("alert").inner_text()
    assert sized.get_by_role("link", name="Вернуться на портал «Дневник.Тест»").get_attribute("href") == f"{PORTAL}/login"
    check_page(sized)
