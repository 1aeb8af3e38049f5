"""The demo clicked through in headless Chromium: a login that lands in the portal, a refusal with
its reason and reference, the account chooser; pages in Russian, fit for a phone, and free of
serious accessibility violations (axe-core, injected into each page)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import check_page
from tests.examples.demo import Demo

pytestmark = [pytest.mark.browser, pytest.mark.flow]


def start(page: Any, demo: Demo, person: str) -> None:
    page.goto(demo.portal + "/")
    check_page(page)
    page.select_option("#region", "77")
    page.get_by_role("button", name="Войти через Госуслуги").click()
    page.wait_for_url(re.compile(re.escape(demo.esia) + r"/login"))
    page.fill("#login", person)
    page.fill("#password", "test1234")
    page.get_by_role("button", name="Войти", exact=True).click()


def test_a_linked_person_lands_in_the_portal_as_their_account(page: Any, demo: Demo) -> None:
    start(page, demo, "namesake-1")
    page.wait_for_url(demo.portal + "/**")
    assert "d-016" in page.content()
    check_page(page)


def test_a_refusal_shows_its_reason_and_reference_code(page: Any, demo: Demo) -> None:
    start(page, demo, "teen-simple")
    page.wait_for_url(re.compile(re.escape(demo.broker) + r"/auth/esia/callback"))
    text = page.inner_text("main")
    assert "упрощённая" in text and "Код обращения" in text
    assert re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    check_page(page)
    page.get_by_role("link", name="Войти по логину и паролю").click()
    page.wait_for_url(demo.portal + "/**")


def test_the_account_chooser_and_the_confirmation_lead_into_the_chosen_account(page: Any, demo: Demo) -> None:
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
