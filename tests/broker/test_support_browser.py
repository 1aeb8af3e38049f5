"""A support person in headless Chromium finds a refused attempt from its reference code and sees why.

The refusal is a real one: a person logs in through the portal, the broker and the mock ESIA
(the flow tests' world, ``tests/world.py``) and is turned away. The same broker also listens on a
loopback port for Chromium (Playwright's request interception does not see the requests that follow a redirect),
so cookies, redirects and form posts are the browser's own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

import matching
from broker.db.models import LoginAttempt
from broker.extensions import db
from tests.broker.staffing import make_staff, sign_in_with_chromium
from tests.broker.supportwords import english_on, times_on
from tests.browser import SIZES, check_page, sized_page
from tests.world import World, log_in

pytestmark = [pytest.mark.browser, pytest.mark.flow]
#: The space between a blockquote's padding and its first and last element (0 when no margin adds to it).
QUOTE_GAPS = """() => {
  const quote = document.querySelector("blockquote"), style = getComputedStyle(quote), box = quote.getBoundingClientRect();
  return [quote.firstElementChild.getBoundingClientRect().top - box.top - parseFloat(style.paddingTop),
          box.bottom - quote.lastElementChild.getBoundingClientRect().bottom - parseFloat(style.paddingBottom)];
}"""


def test_a_support_person_finds_a_refused_attempt_from_its_reference_and_sees_why(world: World, live_broker: str, page: Any) -> None:
    refused = log_in(world, "teen-simple")  # 14, with a simplified Gosuslugi account
    assert refused.page is not None
    reference = re.search(r'class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})<', refused.page.text)
    assert reference, "the refusal page shows a reference code"
    with world.broker.app_context():
        make_staff("helpdesk", role="support", name="Служба поддержки")
        db.session.remove()
    find_and_read(page, live_broker, reference.group(1))


def find_and_read(page: Any, broker: str, reference: str) -> None:
    page.goto(f"{broker}/support/")
    page.wait_for_url(re.compile(r"/admin/login"))
    sign_in_with_chromium(page, "helpdesk")
    page.wait_for_url(f"{broker}/support/")
    russian_page(page)

    # Read over the phone: lower case, without the dash.
    page.get_by_label("Код обращения").fill(reference.lower().replace("-", ""))
    page.get_by_role("button", name="Найти").click()
    page.wait_for_url(f"{broker}/support/attempts/{reference}")
    text = page.inner_text("main")
    refusal = matching.REFUSALS[matching.Reason.TIER_INSUFFICIENT]
    assert "с 14 лет упрощённой учётной записи мало" in text and "tier_insufficient" in text
    assert refusal.message_ru in text  # what the person saw
    assert refusal.next_step_ru in text  # what to tell them
    assert "Сам человек — в своём профиле на Госуслугах" in text  # who can fix it
    assert "Уровень учётной записи Госуслуг" in text and "не пройдена" in text  # the trace
    assert "Учётная запись упрощённая; с 14 лет нужна стандартная или подтверждённая" in text  # its line, in Russian
    russian_page(page)

    page.get_by_role("button", name="Проверить снова сейчас").click()
    page.wait_for_url(re.compile(r"recheck=1"))
    result = page.inner_text("#recheck")
    assert "Тогда и сейчас" in result and "только новым входом" in result
    russian_page(page)


@pytest.mark.parametrize("size", SIZES)
def test_the_attempt_the_account_card_and_the_unlink_confirmation_at_phone_and_desktop_size(
    world: World, live_broker: str, chromium: Any, size: str
) -> None:
    """Staff read a refusal's trace and re-check, open the account a login entered, and unlink it
    after the confirmation: every page in Russian, without sideways scrolling, axe-clean."""
    refused = log_in(world, "teen-simple")
    assert refused.page is not None
    reference = re.search(r'class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})<', refused.page.text)
    assert reference
    entered = log_in(world, "namesake-1")
    assert entered.callback is not None
    with world.broker.app_context():
        make_staff("boss", role="admin", name="Анна Админова")
        granted = db.session.execute(select(LoginAttempt.account_id, LoginAttempt.reference).where(LoginAttempt.reason.is_(None))).one()
        db.session.remove()
    account_id, entered_reference = granted

    with sized_page(chromium, SIZES[size]) as page:
        page.goto(f"{live_broker}/support/")
        page.wait_for_url(re.compile(r"/admin/login"))
        sign_in_with_chromium(page, "boss")
        page.wait_for_url(f"{live_broker}/support/")

        page.goto(f"{live_broker}/support/attempts/{reference.group(1)}")
        assert "Проверки решения по порядку" in page.inner_text("main")
        assert "вошёл в него" not in page.inner_text("main")
        # The quoted page's text starts at the quote's padding, not a paragraph's margin below it.
        gaps = page.evaluate(QUOTE_GAPS)
        assert all(abs(gap) < 1 for gap in gaps), gaps
        russian_page(page)
        page.get_by_role("button", name="Проверить снова сейчас").click()
        page.wait_for_url(re.compile(r"recheck=1"))
        assert "Тогда и сейчас" in page.inner_text("#recheck")
        russian_page(page)

        page.goto(f"{live_broker}/support/accounts/{account_id}")
        assert entered_reference in page.inner_text("main")  # the card lists the attempt that entered it
        russian_page(page)
        page.get_by_label("Причина (обязательно)").fill("Родитель вошёл под учётной записью ребёнка")
        page.get_by_role("button", name="Снять связь…").click()
        page.wait_for_url(f"{live_broker}/support/accounts/{account_id}/unlink")
        assert page.get_by_role("heading", level=1).inner_text() == f"Снять связь аккаунта {account_id} с Госуслугами?"
        assert "Что изменится" in page.inner_text("main")
        confirm = page.get_by_role("button", name="Да, снять связь")
        assert confirm.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(179, 38, 30)"  # var(--bad)
        russian_page(page)
        confirm.click()
        page.wait_for_url(f"{live_broker}/support/accounts/{account_id}")
        card = page.inner_text("main")
        assert "снята" in card and "Последнее снятие связи" in card and "Анна Админова" in card
        assert "Родитель вошёл под учётной записью ребёнка" in card
        russian_page(page)


def russian_page(page: Any) -> None:
    """The page checks every page passes, and no English word on it (codes shown on purpose aside)."""
    check_page(page)
    html = page.content()
    assert english_on(html) == [], english_on(html)
    assert all(time.endswith(" МСК") for time in times_on(html)), times_on(html)
