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

import matching
from broker.extensions import db
from tests.broker.staffing import make_staff, sign_in_with_chromium
from tests.browser import check_page
from tests.world import World, log_in

pytestmark = [pytest.mark.browser, pytest.mark.flow]


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
    check_page(page)

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
    check_page(page)

    page.get_by_role("button", name="Проверить снова сейчас").click()
    page.wait_for_url(re.compile(r"recheck=1"))
    result = page.inner_text("#recheck")
    assert "Тогда и сейчас" in result and "только новым входом" in result
    check_page(page)
