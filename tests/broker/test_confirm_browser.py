"""In headless Chromium, at a phone's and a desktop's size: the first link's page, the account
chooser and the invite code page, with their «Это не я», under the broker's real headers.

The person's way to each page runs through the flow tests' world (portal → broker → mock ESIA);
its binding cookie then goes to Chromium, which goes on by itself. Chromium reaches the apps by
their public addresses (``https://broker.test``, ``https://esia.test``, ``https://portal.test``):
its host resolver maps them to one TLS server on loopback that hands each request to the app its
``Host`` names, so every redirect between them is followed as a person's browser would.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from broker.config import LOGIN_COOKIE, cookie_name
from broker.db.models import DiarySession, EsiaLink, LoginAttempt, PendingLogin
from broker.extensions import db
from broker.regions import admin as regionadmin
from tests.browser import CHROMIUM, CHROMIUM_ARGS, SIZES, check_page, require, sized_page
from tests.keymaterial import write_rsa_pair
from tests.world import BROKER, ESIA, PORTAL, PORTAL_CALLBACK, World, log_in

pytestmark = [pytest.mark.browser, pytest.mark.flow]

#: The smallest touch target (WCAG 2.5.5, Apple's and Google's guides), in CSS pixels.
TARGET = 44
HOSTS = tuple(urlsplit(url).hostname or "" for url in (BROKER, ESIA, PORTAL))

StartResponse = Callable[..., Any]


class ByHost:
    """A WSGI app that hands each request to the app of its ``Host`` (set per test)."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        app = self.apps.get(environ.get("HTTP_HOST", "").partition(":")[0])
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no app for this host"]
        return app(environ, start_response)


def portal(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The portal's callback page (its token request is not what these tests look at)."""
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return ['<!doctype html><html lang="ru"><title>Портал</title><h1>Портал дневника</h1></html>'.encode()]


@pytest.fixture(scope="module")
def by_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ByHost, int]]:
    """One TLS server on loopback (a self-signed certificate) for every public address; its port."""
    key, certificate = write_rsa_pair(tmp_path_factory.mktemp("tls"), "tls", "broker.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    apps = ByHost()
    server = make_server("127.0.0.1", 0, apps, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield apps, server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def named_chromium(by_host: tuple[ByHost, int]) -> Iterator[Any]:
    """Headless Chromium whose resolver sends the public addresses to the TLS server (its certificate trusted)."""
    require("/usr/bin/chromium", CHROMIUM.exists())
    from playwright.sync_api import sync_playwright

    rules = ", ".join(f"MAP {host} 127.0.0.1:{by_host[1]}" for host in HOSTS)
    with sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}", "--ignore-certificate-errors"]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield browser
        browser.close()


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, world: World, by_host: tuple[ByHost, int], named_chromium: Any) -> Iterator[Any]:
    """A page at each of SIZES (a phone, a desktop), with this test's world at the public addresses."""
    apps = by_host[0]
    apps.apps.update({HOSTS[0]: world.broker, HOSTS[1]: world.esia, HOSTS[2]: portal})
    with sized_page(named_chromium, SIZES[request.param]) as page:
        yield page
    apps.apps.clear()


def at(world: World, page: Any, person: str, where: str) -> None:
    """Chromium on the broker's page ``where``, where ``person``'s login stopped (its binding cookie handed over)."""
    login = log_in(world, person)
    assert login.page is not None and login.page.url == f"{BROKER}{where}"
    name = cookie_name(world.broker.config, LOGIN_COOKIE)
    value = world.browser.cookies.get(name, domain="broker.test")
    assert value, "the world's browser holds the login's binding cookie"
    page.context.add_cookies([{"name": name, "value": value, "url": BROKER, "secure": True, "httpOnly": True}])
    page.goto(f"{BROKER}{where}")


def small_targets(page: Any, selector: str) -> list[tuple[str, dict[str, float]]]:
    """The elements of ``selector`` whose box, as Chromium lays it out, is under TARGET px either way."""
    found = page.locator(selector)
    assert found.count() > 0, selector
    small = []
    for n in range(found.count()):
        box = found.nth(n).bounding_box()
        assert box is not None, f"{selector} #{n} is not displayed"
        if box["width"] < TARGET or box["height"] < TARGET:
            small.append((found.nth(n).evaluate("e => e.outerHTML.slice(0, 80)"), box))
    return small


def rows(world: World, model: type) -> int:
    with world.broker.app_context():
        counted = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
    return int(counted or 0)


def pending_requests(world: World) -> dict[str, dict[str, Any]]:
    """The pending logins, by state: what the portal asked."""
    with world.broker.app_context():
        found = {row.state: dict(row.portal_request) for row in db.session.execute(select(PendingLogin.state, PendingLogin.portal_request))}
        db.session.remove()
    return found


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- the first link's page ------------------------------------------------------------------


def test_the_first_link_page_says_why_shows_the_phone_spaced_and_has_44px_targets(world: World, sized: Any) -> None:
    page = sized
    at(world, page, "adult-verified", "/auth/confirm")
    check_page(page)
    main = page.inner_text("main")
    assert "нужны электронному дневнику" in main and "телефон и почту, подтверждённые в вашей учётной записи на Госуслугах" in main
    phone = page.get_by_label("Мобильный телефон")
    assert phone.input_value() == "+7 900 000-00-51"  # ESIA's +7(900)0000051
    assert small_targets(page, "main button, main input:not([type=hidden])") == []

    # What people type is accepted as typed; a Russian mobile comes back spaced.
    phone.fill("+7 (900) 123 45 67")
    page.get_by_label("Электронная почта").fill("ivan@localhost")  # an address Chromium lets through, the broker does not
    page.get_by_role("button", name="Подтвердить и войти").click()
    assert "электронной почты" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Мобильный телефон").input_value() == "+7 900 123-45-67"
    assert "Например, +7 900 123-45-67." in page.inner_text("main")  # no longer ESIA's number
    check_page(page)

    page.get_by_label("Электронная почта").fill("ivan@example.org")
    page.get_by_role("button", name="Подтвердить и войти").click()
    page.wait_for_url(f"{PORTAL_CALLBACK}?**")
    with world.broker.app_context():
        [claims] = db.session.scalars(select(DiarySession.claims)).all()
        db.session.remove()
    assert (claims["phone_number"], claims["phone_number_verified"]) == ("+79001234567", False)


def test_the_first_link_page_shows_every_error_by_its_field_and_in_a_summary(world: World, sized: Any) -> None:
    page = sized
    at(world, page, "adult-verified", "/auth/confirm")
    page.get_by_label("Мобильный телефон").fill("12")
    page.get_by_label("Электронная почта").fill("not an address")
    page.get_by_role("button", name="Подтвердить и войти").click()
    summary = page.get_by_role("alert")
    assert "Мобильный телефон" in summary.inner_text() and "Электронная почта" in summary.inner_text()
    for label in ("Мобильный телефон", "Электронная почта"):
        field = page.get_by_label(label)
        assert field.get_attribute("aria-invalid") == "true"
        described = " ".join(page.locator(f"#{name}").inner_text() for name in (field.get_attribute("aria-describedby") or "").split())
        assert "Укажите" in described  # its own error is read with the field
    page.get_by_role("link", name="Электронная почта").click()  # the summary leads to the field
    assert page.evaluate("location.hash") == "#email"
    check_page(page)


# --- the chooser ----------------------------------------------------------------------------


def test_the_chooser_tells_the_accounts_apart_in_44px_targets_that_pick_an_account(world: World, sized: Any) -> None:
    page = sized
    at(world, page, "teacher", "/auth/choose")
    check_page(page)
    choices = page.locator("label.choice")
    assert [" ".join(choices.nth(n).inner_text().split()) for n in range(choices.count())] == [
        "Учитель Логин: teacher.diary Школа (код в дневнике): sch-1001",
        "Родитель Логин: teacher.parent.diary Школа (код в дневнике): sch-1001",
    ]
    assert small_targets(page, "label.choice, main button") == []
    first, second = (choices.nth(n).bounding_box() for n in range(2))
    assert second["y"] - (first["y"] + first["height"]) >= 8  # apart: a tap meant for one never lands on the other

    # The whole label is the target: a tap on its text (not on the radio) picks the account.
    parent = page.get_by_role("radio", name="Родитель")
    assert not parent.is_checked()
    page.get_by_text("Логин: teacher.parent.diary").click()
    assert parent.is_checked()
    page.get_by_role("button", name="Войти", exact=True).click()
    page.wait_for_url(f"{BROKER}/auth/confirm")
    assert "Лебедева Ольга Владимировна" in page.inner_text("main")
    check_page(page)


# --- «Это не я» -----------------------------------------------------------------------------


@pytest.mark.parametrize(("person", "where"), [("adult-verified", "/auth/confirm"), ("teacher", "/auth/choose"), ("kid", "/auth/invite")])
def test_not_me_signs_out_of_esia_and_comes_back_to_a_fresh_start_of_the_same_portal_login(
    world: World, sized: Any, person: str, where: str
) -> None:
    page = sized
    if where == "/auth/invite":  # the child's first link, in a region that asks for the school's code
        with world.broker.app_context():
            regionadmin.change_region("77", enabled=None, policy={"under_14_first_link": "invite_code"}, comment="test",
                                      actor_staff=None, actor="cli:ops")  # fmt: skip
            db.session.remove()
    at(world, page, person, where)
    check_page(page)
    [(old_state, asked)] = pending_requests(world).items()
    assert small_targets(page, "form.not-me button") == []

    hops: list[str] = []
    page.on("request", lambda request: hops.append(request.url) if request.is_navigation_request() else None)
    page.get_by_role("button", name="Это не я").click()
    page.wait_for_url(f"{ESIA}/login?**")  # ESIA asks who logs in
    assert [url.partition("?")[0] for url in hops] == [
        f"{BROKER}/auth/not-me",
        f"{ESIA}/idp/ext/Logout",  # the ESIA session ends
        f"{BROKER}/oidc/logged-out",
        f"{BROKER}/oidc/authorize",  # the portal's request again
        f"{ESIA}/aas/oauth2/ac",
        f"{ESIA}/login",
    ]
    assert query(hops[1]) == {"client_id": "DIARY01", "redirect_url": f"{BROKER}/oidc/logged-out"}
    assert query(hops[3]) == {**asked, "region": "77"}

    # The old login ended and a new one of the same request began; no one is signed in or linked.
    [(new_state, asked_again)] = pending_requests(world).items()
    assert new_state != old_state and asked_again == asked
    name = cookie_name(world.broker.config, LOGIN_COOKIE)
    assert [c["value"].partition(".")[0] for c in page.context.cookies(BROKER) if c["name"] == name] == [new_state]
    assert rows(world, DiarySession) == 0 and rows(world, EsiaLink) == 2  # the registry's two links, as imported
    with world.broker.app_context():
        assert db.session.scalars(select(LoginAttempt.detail)).all() == ["not_me"]
        db.session.remove()

    # The right person logs in to ESIA, and the portal's request is answered.
    page.get_by_label("Телефон, почта, СНИЛС или тестовый логин").fill("namesake-1")
    page.get_by_label("Пароль").fill("test1234")
    page.get_by_role("button", name="Войти", exact=True).click()
    page.wait_for_url(f"{PORTAL_CALLBACK}?**")
    assert query(page.url)["state"] == asked["state"] and "code" in query(page.url)
