"""The demo clicked through in headless Chromium, as a newcomer would after `make run`: every
outcome and every refusal its output lists, each landing where the output says, at a phone's
and a desktop's size. Landing pages are in Russian, fit the screen and are free of serious
accessibility violations (axe-core, injected into each page).

The lists come from the demo's own output, parsed: a line added there without a walk here fails
``test_every_group_the_demo_lists_has_a_walk_here``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import cycle
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import matching
from tests.browser import SIZES, check_page, sized_page
from tests.examples.demo import Demo

pytestmark = [pytest.mark.browser, pytest.mark.flow]

PASSWORD = "test1234"
#: The demo's groups, by the start of their heading in its output.
HEADINGS = {
    "входит сразу": "signed_in",
    "подтверждает телефон и почту": "linked",
    "выбирает один из своих аккаунтов": "choose_account",
    "отказ с кодом обращения": "refused",
    "не даёт согласия на Госуслугах": "esia_denied",
    "регион без входа через Госуслуги": "region_disabled",
    "сбой Госуслуг": "esia_failing",
    "затем «Привязать аккаунт портала Госуслуги»": "link_flow",
}


def listed(output: str) -> dict[str, str]:
    """The demo's groups as printed: group → the items' text, joined."""
    groups: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        heading = next((key for start, key in HEADINGS.items() if line.strip().startswith(start)), None)
        if heading is not None:
            current = heading
            groups[current] = ""
        elif current is not None and line.startswith("      "):
            groups[current] += " " + line.strip()
        else:
            current = None
    return groups


@dataclass(frozen=True, slots=True)
class Item:
    login: str  # an ESIA test login, a diary login, or a region's or a fault's label
    detail: str  # the account ids, the refusal's reason, a region code


def items(demo: Demo, group: str) -> list[Item]:
    text = listed(demo.output).get(group, "")
    if group == "region_disabled":
        found = [Item(code, reason) for _name, code, reason in re.findall(r"([^,]+?) \((\d+)\): (\w+)", text)]
    elif group == "esia_failing":
        found = [Item(label, reason) for label, reason in re.findall(r"«([^»]+)» \((\w+)\)", text)]
    else:
        found = [Item(login, detail) for login, detail in re.findall(r"([\w.-]+)(?: \(([^)]*)\))?,?", text)]
    assert found, f"the demo lists no {group}:\n{demo.output}"
    return found


@pytest.fixture
def pages(chromium: Any) -> Iterator[Callable[[int], Any]]:
    """``pages(n)``: the n-th walk's page, in a fresh context, phone and desktop in turn."""
    opened: list[Any] = []
    sizes = cycle(SIZES.values())

    def page(_: int) -> Any:
        context = sized_page(chromium, next(sizes))
        opened.append(context)
        return context.__enter__()

    yield page
    for context in opened:
        context.__exit__(None, None, None)


def checked(page: Any, number: int) -> None:
    """The page checks of ``check_page`` on the first walk at each size (enough to see each page)."""
    if number < len(SIZES):
        check_page(page)


def esia_login(page: Any, demo: Demo, login: str, *, region: str = "77", fault: str = "") -> None:
    """Portal → «Войти через Госуслуги» in a region → the mock's login page → log in (with a fault)."""
    page.goto(demo.portal + "/")
    page.select_option("#region", region)
    page.get_by_role("button", name="Войти через Госуслуги").click()
    page.wait_for_url(re.compile(re.escape(demo.esia) + r"/login"))
    log_in_at_esia(page, login, fault)


def log_in_at_esia(page: Any, login: str, fault: str = "") -> None:
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    if fault:
        page.select_option("#fault", label=fault)
    page.get_by_role("button", name="Войти", exact=True).click()


def in_portal_as(page: Any, demo: Demo, account_id: str) -> None:
    page.wait_for_url(demo.portal + "/me**")
    assert account_id in page.inner_text("main")


def refused_with(page: Any, demo: Demo, reason: str) -> None:
    """The broker's refusal page: the reason's words, a reference code, the portal's password login."""
    page.wait_for_url(re.compile(re.escape(demo.broker) + "/"))
    text = page.inner_text("main")
    assert matching.REFUSALS[matching.Reason(reason)].message_ru in text, text
    assert re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text), text


def confirm_contacts(page: Any, demo: Demo, number: int) -> None:
    """The first link's page: phone and e-mail, then in."""
    page.wait_for_url(demo.broker + "/auth/confirm")
    checked(page, number)
    page.fill("#phone", f"+7 900 000-{number:02d}-00")
    page.fill("#email", f"person{number}@example.org")
    page.locator("form:has(#email) button[type=submit]").click()


def test_every_group_the_demo_lists_has_a_walk_here(demo: Demo) -> None:
    assert set(listed(demo.output)) == set(HEADINGS.values()), demo.output


def test_a_linked_person_signs_in_at_once(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number, item in enumerate(items(demo, "signed_in") * len(SIZES)):
        page = pages(number)
        esia_login(page, demo, item.login)
        in_portal_as(page, demo, item.detail)
        checked(page, number)


def test_a_first_login_confirms_phone_and_email_then_lands_in_the_account(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number, item in enumerate(items(demo, "linked")):
        page = pages(number)
        esia_login(page, demo, item.login)
        confirm_contacts(page, demo, number)
        in_portal_as(page, demo, item.detail)


def test_a_person_with_several_accounts_chooses_one_and_lands_in_it(demo: Demo, pages: Callable[[int], Any]) -> None:
    walks = [(item, account) for item in items(demo, "choose_account") for account in item.detail.split(", ")]
    for number, (item, account) in enumerate(walks * len(SIZES)):
        page = pages(number)
        esia_login(page, demo, item.login)
        page.wait_for_url(demo.broker + "/auth/choose")
        checked(page, number)
        assert {radio.get_attribute("value") for radio in page.locator("input[name=account_id]").all()} == set(item.detail.split(", "))
        page.check(f"input[name=account_id][value='{account}']")
        page.locator("form:has(input[name=account_id]) button[type=submit]").click()
        page.wait_for_url(re.compile(re.escape(demo.broker) + "/auth/confirm|" + re.escape(demo.portal) + "/me"))
        if page.url.startswith(demo.broker):  # the first time in this account
            confirm_contacts(page, demo, number)
        in_portal_as(page, demo, account)


def test_every_refusal_the_demo_lists_shows_its_reason_and_a_reference_code(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number, item in enumerate(items(demo, "refused")):
        page = pages(number)
        esia_login(page, demo, item.login)
        refused_with(page, demo, item.detail)
        checked(page, number)
    page.get_by_role("link", name="Войти по логину и паролю").click()
    page.wait_for_url(demo.portal + "/login")


def test_declining_consent_at_esia_is_refused_as_esia_denied(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number, item in enumerate(items(demo, "esia_denied") * len(SIZES)):
        page = pages(number)
        esia_login(page, demo, item.login)
        refused_with(page, demo, "esia_denied")
        checked(page, number)


def test_a_region_with_esia_login_off_is_refused_before_esia(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number, item in enumerate(items(demo, "region_disabled") * len(SIZES)):
        page = pages(number)
        page.goto(demo.portal + "/")
        page.select_option("#region", item.login)
        page.get_by_role("button", name="Войти через Госуслуги").click()
        refused_with(page, demo, item.detail)
        checked(page, number)


def test_each_esia_failure_on_the_mocks_login_page_ends_in_its_refusal(demo: Demo, pages: Callable[[int], Any]) -> None:
    person = items(demo, "signed_in")[0].login
    for number, item in enumerate(items(demo, "esia_failing") * len(SIZES)):
        page = pages(number)
        esia_login(page, demo, person, fault=item.login)
        refused_with(page, demo, item.detail)
        checked(page, number)


def test_the_portals_password_login_links_gosuslugi_and_then_esia_login_lands_in_the_account(
    demo: Demo, pages: Callable[[int], Any]
) -> None:
    for number, item in enumerate(items(demo, "link_flow")):
        page = pages(number)
        page.goto(demo.portal + "/")
        page.get_by_role("link", name="Войти по логину и паролю").click()
        checked(page, number)
        page.fill("#login", item.login)
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Войти", exact=True).click()
        page.wait_for_url(demo.portal + "/me")
        account = re.search(r"d-\d+", page.inner_text("main"))
        assert account, page.inner_text("main")
        checked(page, number)
        page.get_by_role("button", name="Привязать аккаунт портала Госуслуги").click()
        page.wait_for_url(re.compile(re.escape(demo.esia) + r"/login"))
        log_in_at_esia(page, item.login.removesuffix(".diary"))
        page.wait_for_url(demo.portal + f"/me?linked={account.group(0)}")
        assert "Аккаунт портала Госуслуги привязан" in page.inner_text("main")
        assert "Привяжите" not in page.inner_text("main")
        assert page.get_by_role("button", name="Привязать аккаунт портала Госуслуги").count() == 0
        checked(page, number)
        page.get_by_role("button", name="Выйти").click()
        page.wait_for_url(demo.portal + "/")
        esia_login(page, demo, item.login.removesuffix(".diary"))  # the refusal the link removed
        page.wait_for_url(re.compile(re.escape(demo.broker) + "/auth/confirm|" + re.escape(demo.portal) + "/me"))
        if page.url.startswith(demo.broker):
            confirm_contacts(page, demo, number)
        in_portal_as(page, demo, account.group(0))


def test_a_wrong_password_at_the_portal_is_said_in_russian(page: Any, demo: Demo) -> None:
    page.goto(demo.portal + "/login")
    page.fill("#login", "kid.diary")
    page.fill("#password", "not-the-password")
    page.get_by_role("button", name="Войти", exact=True).click()
    assert "Неверный логин или пароль" in page.inner_text("main")
    check_page(page)


def test_the_brokers_error_response_reads_in_russian_with_the_reason_and_the_password_login(
    demo: Demo, pages: Callable[[int], Any]
) -> None:
    """OIDC Core 3.1.2.6, as the broker's «Вернуться на сайт» sends it: error, error_description, state."""
    for number in range(len(SIZES)):
        page = pages(number)
        page.goto(demo.portal + "/")
        checked(page, number)
        start = page.context.request.get(demo.portal + "/login/esia?region=77", max_redirects=0)  # the browser's cookies
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        page.goto(
            demo.portal + "/callback?" + urlencode({"error": "access_denied", "error_description": "tier_insufficient", "state": state})
        )
        alert = page.get_by_role("alert").inner_text()
        assert "Войти через Госуслуги не получилось" in alert and "стандартная или подтверждённая" in alert
        assert "tier_insufficient" not in alert
        checked(page, number)
        page.get_by_role("link", name="по логину и паролю дневника").click()
        page.wait_for_url(demo.portal + "/login")


def test_a_failed_link_and_a_foreign_initiate_login_read_in_russian_at_both_sizes(demo: Demo, pages: Callable[[int], Any]) -> None:
    for number in range(len(SIZES)):
        page = pages(number)
        page.goto(demo.portal + "/login")
        page.fill("#login", "kid.diary")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Войти", exact=True).click()
        page.wait_for_url(demo.portal + "/me")
        page.goto(
            demo.portal + "/me?" + urlencode({"error": "access_denied", "error_description": "linked_elsewhere", "reference": "7K3M9QXT"})
        )
        alert = page.get_by_role("alert").inner_text()
        assert "Привязать аккаунт портала Госуслуги не получилось" in alert and "7K3M-9QXT" in alert and "linked_elsewhere" not in alert
        checked(page, number)
        page.goto(demo.portal + "/login/initiate?iss=https%3A%2F%2Felsewhere.example")
        assert "не от сервиса входа" in page.get_by_role("alert").inner_text()
        checked(page, number)
