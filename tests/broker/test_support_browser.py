"""A support person in headless Chromium finds a refused attempt from its reference code and sees why.

The refusal is a real one: a person logs in through the portal, the broker and the mock ESIA
(``tests/flows``) and is turned away. The same broker is then served on a loopback port for
Chromium (Playwright's request interception does not see the requests that follow a redirect),
so cookies, redirects and form posts are the browser's own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

import matching
from broker.extensions import db
from tests.broker.staffing import PASSWORD, make_staff
from tests.examples.test_browser import check_page, chromium, page  # noqa: F401  (fixtures)
from tests.flows.conftest import World, log_in, material, setup, world  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.flow]


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_a_support_person_finds_a_refused_attempt_from_its_reference_and_sees_why(world: World, page: Any) -> None:  # noqa: F811
    refused = log_in(world, "teen-simple")  # 14, with a simplified Gosuslugi account
    assert refused.page is not None
    reference = re.search(r'class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})<', refused.page.text)
    assert reference, "the refusal page shows a reference code"
    with world.broker.app_context():
        make_staff("helpdesk", role="support", name="Служба поддержки")
        db.session.remove()
    with serving(world.broker) as broker:
        find_and_read(page, broker, reference.group(1))


def find_and_read(page: Any, broker: str, reference: str) -> None:  # noqa: F811
    page.goto(f"{broker}/support/")
    page.wait_for_url(re.compile(r"/admin/login"))
    page.fill("#login", "helpdesk")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Войти", exact=True).click()
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
