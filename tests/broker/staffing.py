"""Builders and a browser for the staff tests (Flask's ``AuthActions`` idea), and the login in Chromium."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from broker.db.models import AuditEvent, Staff
from broker.extensions import db
from broker.staff import accounts as staff
from broker.staff import tokens as apitokens

PASSWORD = "correct horse battery"
ADDRESS = "203.0.113.7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_staff(login: str = "boss", role: str = "admin", regions: tuple[str, ...] = (), **overrides: Any) -> Staff:
    """A staff member created the way the CLI does (audited as ``cli:test``)."""
    return staff.create_staff(
        login, role=role, regions=regions, password=overrides.pop("password", PASSWORD), actor="cli:test", **overrides
    )


def bearer(login: str, role: str, regions: tuple[str, ...] = ()) -> dict[str, str]:
    """The ``Authorization`` header of a new API token of a new staff member (committed)."""
    member = make_staff(login, role=role, regions=regions)
    _, clear = apitokens.create_token(member, name="sync", days=30, actor="cli:test")
    db.session.commit()
    return {"Authorization": f"Bearer {clear}"}


def audit_rows(action: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def csrf_from(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the page has no CSRF field"
    return match.group(1)


class StaffBrowser:
    """A staff member's browser: signs in through the login page and posts forms with their token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, login: str = "boss", password: str = PASSWORD, **extra: str) -> TestResponse:
        token = csrf_from(self.client.get("/admin/login"))
        return self.client.post("/admin/login", data={"login": login, "password": password, "csrf_token": token, **extra})

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            return session.get("csrf") or ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """Post a form as the page would, with this browser's CSRF token."""
        for page in ("/admin/login", "/admin/"):  # a page gives the browser its token
            if self.csrf():
                break
            self.client.get(page)
        return self.client.post(path, data={"csrf_token": self.csrf(), **(data or {})}, **kwargs)

    def logout(self) -> TestResponse:
        return self.post("/admin/logout")


def sign_in_with_chromium(page: Any, login: str, password: str = PASSWORD) -> None:
    """In Chromium, on the staff login page: fill in ``login`` and ``password`` and press «Войти»."""
    page.fill("#login", login)
    page.fill("#password", password)
    page.get_by_role("button", name="Войти", exact=True).click()
