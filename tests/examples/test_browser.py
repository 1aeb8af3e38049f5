"""The demo clicked through in headless Chromium: a login that lands in the portal, a refusal with
its reason and reference, the account chooser; pages in Russian, fit for a phone, and free of
serious accessibility violations (axe-core, injected into each page)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.examples.test_run_demo import Demo, demo  # noqa: F401  (the demo fixture, started once)

pytestmark = [pytest.mark.browser, pytest.mark.flow]

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _required(what: str, present: bool) -> None:
    if not present:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{what} is missing but REQUIRE_BROWSER=1")
        pytest.skip(f"{what} is not installed (apt-get install chromium; npm ci)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    _required("/usr/bin/chromium", CHROMIUM.exists())
    _required("axe-core (node_modules)", AXE.exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=PHONE, locale="ru-RU")
    page = context.new_page()
    yield page
    context.close()


def check_page(page: Any) -> None:
    """In Russian, no sideways scrolling on a phone, no serious axe violation."""
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def start(page: Any, demo: Demo, person: str) -> None:  # noqa: F811
    page.goto(demo.portal + "/")
    check_page(page)
    page.select_option("#region", "77")
    page.get_by_role("button", name="Войти через Госуслуги").click()
    page.wait_for_url(re.compile(re.escape(demo.esia) + r"/login"))
    page.fill("#login", person)
    page.fill("#password", "test1234")
    page.get_by_role("button", name="Войти", exact=True).click()


def test_a_linked_person_lands_in_the_portal_as_their_account(page: Any, demo: Demo) -> None:  # noqa: F811
    start(page, demo, "namesake-1")
    page.wait_for_url(demo.portal + "/**")
    assert "d-016" in page.content()
    check_page(page)


def test_a_refusal_shows_its_reason_and_reference_code(page: Any, demo: Demo) -> None:  # noqa: F811
    start(page, demo, "teen-simple")
    page.wait_for_url(re.compile(re.escape(demo.broker) + r"/auth/esia/callback"))
    text = page.inner_text("main")
    assert "упрощённая" in text and "Код обращения" in text
    assert re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    check_page(page)
    page.get_by_role("link", name="Войти по логину и паролю").click()
    page.wait_for_url(demo.portal + "/**")


def test_the_account_chooser_and_the_confirmation_lead_into_the_chosen_account(page: Any, demo: Demo) -> None:  # noqa: F811
    start(page, demo, "teacher")
    page.wait_for_url(demo.broker + "/auth/choose")
    check_page(page)
    page.get_by_label(re.compile("Родитель")).check()
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(demo.broker + "/auth/confirm")
    check_page(page)
    page.fill("#phone", "+7 900 000-00-08")
    page.fill("#email", "olga@example.org")
    page.get_by_role("button", name="Подтвердить и войти").click()
    page.wait_for_url(demo.portal + "/**")
    assert "d-009" in page.content()
