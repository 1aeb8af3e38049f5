"""The demo portal on its own (Flask's test client): its password login and its link button."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from examples.diary_portal import create_app
from tests.examples.demo import ROOT, free_port


@pytest.fixture
def portal() -> FlaskClient:
    settings: dict[str, Any] = {
        "BROKER_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "CLIENT_ID": "diary-demo",
        "CLIENT_SECRET": "secret",
        "PUBLIC_URL": "http://portal.test",
        "SECRET_KEY": "test",
        "ACCOUNTS_FILE": str(ROOT / "examples" / "registry.csv"),
        "PASSWORD": "test1234",
    }
    return create_app(settings).test_client()


def test_every_setting_is_required() -> None:
    with pytest.raises(RuntimeError, match="DIARY_PORTAL_ACCOUNTS_FILE"):
        create_app({"BROKER_URL": "x", "CLIENT_ID": "x", "CLIENT_SECRET": "x", "PUBLIC_URL": "x", "SECRET_KEY": "x", "PASSWORD": "x"})


def test_the_password_login_takes_a_registry_login_in_any_case(portal: FlaskClient) -> None:
    page = portal.post("/login", data={"login": " Kid.Diary ", "password": "test1234"}, follow_redirects=True)
    assert page.request.path == "/me" and "<code>d-001</code>" in page.text


def test_when_the_broker_cannot_be_asked_the_link_button_says_so_and_keeps_the_session(portal: FlaskClient) -> None:
    portal.post("/login", data={"login": "teen-verified.diary", "password": "test1234"})
    page = portal.post("/link", follow_redirects=True)
    assert page.request.path == "/me" and "Привязать аккаунт сейчас не получилось" in page.text and "d-004" in page.text
    assert "не получилось" not in portal.get("/me").text, "said once"


def test_the_link_button_needs_a_password_session(portal: FlaskClient) -> None:
    page = portal.post("/link")
    assert page.status_code == 302 and page.headers["Location"] == "/"
