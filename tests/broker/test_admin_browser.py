"""The staff pages in headless Chromium: Russian, fit for a phone, no serious axe-core violation.

The pages are rendered by the test client and loaded into the browser as they are (their CSS is
inline), so no server is needed.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from broker.staff import accounts as staff
from broker.staff import tokens as apitokens
from tests.broker.staffing import StaffBrowser, make_staff
from tests.browser import check_page

pytestmark = [pytest.mark.browser]


def test_every_staff_page_is_accessible_on_a_phone(app: Flask, browser: StaffBrowser, page: Any) -> None:
    make_staff("boss", role="admin", name="Начальник отдела")
    member = make_staff("ivanov", role="operator", regions=("77", "50"))
    apitokens.create_token(member, name="синхронизация реестра", days=30, actor="cli:test")
    staff.authenticate("ivanov", "wrong password!!")

    def show(path: str, *, data: dict[str, str] | None = None, status: int = 200) -> None:
        answer = browser.post(path, data) if data is not None else browser.get(path)
        assert answer.status_code == status, path
        page.set_content(answer.get_data(as_text=True))
        check_page(page)

    show("/admin/login")
    show("/admin/login", data={"login": "boss", "password": "wrong password!!"})
    browser.login()
    for path in ("/admin/", "/admin/staff", "/admin/staff/new", "/admin/staff/ivanov", "/admin/tokens", "/admin/password", "/admin/audit"):
        show(path)
    show("/admin/staff/new", data={"login": "Bad Login", "role": "operator"}, status=400)
    show("/admin/staff/boss")  # one's own page: no new-password form, a link to the password page
    show("/admin/staff/ivanov/password", data={"password": "short", "password2": "other"}, status=400)
    new_password = {"password": "a fresh long passphrase", "password2": "a fresh long passphrase"}
    assert browser.post("/admin/staff/ivanov/password", new_password).status_code == 302
    show("/admin/staff/ivanov")  # the notice that the password is set
    show("/admin/tokens", data={"name": "скрипт отчётов", "days": "7"})
    show("/admin/staff", status=200)
