"""The pages a person can meet are Russian and lead onward; JSON clients keep their JSON errors."""

from __future__ import annotations

import dataclasses
import re

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broker import services
from broker.oidc.clients import PortalClient, Support
from broker.web import pages

PORTAL = PortalClient(
    client_id="diary-test",
    name="Дневник.Тест",
    redirect_uris=("https://diary.example/cb",),
    regions=frozenset({"77"}),
    login_url="https://diary.example/login",
)
ENGLISH = ("Not Found", "Method Not Allowed", "Forbidden", "The requested URL", "does not exist")
#: An HTML path and an API path that answer each status to a plain browser GET.
CASES = {
    404: ("/no-such-page", "/api/v1/no-such-thing"),
    405: ("/oidc/jwks", "/api/v1/registry/accounts"),
}


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    """A browser, with one diary portal registered (the way on when no portal is named)."""
    with app.app_context():
        services.current().clients[PORTAL.client_id] = PORTAL
    return app.test_client()


def links_of(page: str) -> list[str]:
    return re.findall(r'<a class="button[^"]*" href="([^"]+)"', page)


def assert_russian_page_leading_on(answer: TestResponse, status: int, *, to: str = PORTAL.login_url) -> str:
    assert answer.status_code == status
    assert answer.content_type.startswith("text/html")
    page = answer.get_data(as_text=True)
    assert '<html lang="ru">' in page and re.search("[а-яА-Я]{4}", page.split("<main>")[1])
    assert not any(text in page for text in ENGLISH)
    assert to in links_of(page)
    return page


@pytest.mark.parametrize("status", sorted(CASES))
def test_a_browser_meets_a_russian_page_with_a_way_on_for_404_and_405(browser: FlaskClient, status: int) -> None:
    html_path, _ = CASES[status]
    method = browser.post if status == 405 else browser.get
    assert_russian_page_leading_on(method(html_path, headers={"Accept": "text/html"}), status)


def test_the_405_page_keeps_the_allow_header(browser: FlaskClient) -> None:
    assert set(browser.post("/oidc/jwks").headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize("status", sorted(CASES))
def test_the_api_answers_404_and_405_in_its_json_error_shape(browser: FlaskClient, status: int) -> None:
    _, api_path = CASES[status]
    answer = browser.get(api_path, headers={"Accept": "text/html"})
    assert answer.status_code == status and answer.is_json
    assert set(answer.json or {}) == {"error", "error_description"}
    assert answer.json["error"] == {404: "not_found", 405: "method_not_allowed"}[status]


def test_the_token_endpoint_answers_a_wrong_method_in_oauth_json(browser: FlaskClient) -> None:
    answer = browser.get("/oidc/token")
    assert answer.status_code == 405 and answer.json["error"] == "invalid_request"
    assert set(answer.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_a_browser_refused_by_role_meets_a_russian_403_page_and_the_api_its_json(app: Flask, browser: FlaskClient) -> None:
    @app.get("/admin/forbidden-probe")
    @app.get("/api/v1/forbidden-probe")
    def probe() -> str:
        abort(403)

    page = assert_russian_page_leading_on(browser.get("/admin/forbidden-probe"), 403, to="/admin/")
    assert "Недостаточно прав" in page
    answer = browser.get("/api/v1/forbidden-probe", headers={"Accept": "application/json"})
    assert answer.status_code == 403 and answer.json == {
        "error": "forbidden",
        "error_description": "Your role or regions do not allow this.",
    }


def test_an_unknown_portal_at_authorize_gets_a_russian_page_keeping_the_code_out_of_sight(browser: FlaskClient) -> None:
    query = {"client_id": "nobody", "response_type": "code", "redirect_uri": "https://x.example/cb", "scope": "openid"}
    page = assert_russian_page_leading_on(browser.get("/oidc/authorize", query_string=query), 400)
    assert "не подключён к входу через Госуслуги" in page
    message = page.split('role="alert"')[1].split(">", 1)[1].split("</p>")[0]
    assert "invalid_client" not in message and "client" not in message
    assert 'data-error="invalid_client"' in page and "Код ошибки" not in page


def test_the_expired_login_page_leads_back_to_the_portal(browser: FlaskClient) -> None:
    page = assert_russian_page_leading_on(browser.get("/auth/esia/callback", query_string={"code": "x", "state": "y"}), 400)
    assert "Сеанс входа истёк" in page


def test_the_logged_out_page_leads_back_to_the_portal_that_asked(browser: FlaskClient) -> None:
    with browser.session_transaction() as session:
        session[pages.LOGOUT_PORTAL] = PORTAL.client_id
    page = assert_russian_page_leading_on(browser.get("/oidc/logged-out"), 200)
    assert "Вы вышли" in page and f"Вернуться на портал «{PORTAL.name}»" in page


def test_the_logout_remembers_the_portal_for_the_logged_out_page(app: Flask, browser: FlaskClient) -> None:
    app.config["OIDC_ISSUER"] = "https://broker.example"
    answer = browser.get("/oidc/logout", query_string={"client_id": PORTAL.client_id})
    token = re.search(r'name="csrf_token" value="([^"]+)"', answer.get_data(as_text=True))
    assert token is not None
    browser.post("/oidc/logout", data={"client_id": PORTAL.client_id, "csrf_token": token.group(1)})
    with browser.session_transaction() as session:
        assert session[pages.LOGOUT_PORTAL] == PORTAL.client_id


SUPPORTED = dataclasses.replace(
    PORTAL,
    client_id="diary-help",
    support=Support(phone="+7 495 123-45-67", email="help@diary.example"),
    logo_url="https://static.diary.example/logo.png",
)


def test_an_error_page_names_the_portal_with_its_logo_and_support_contact(app: Flask, browser: FlaskClient) -> None:
    with app.app_context():
        services.current().clients[SUPPORTED.client_id] = SUPPORTED
    answer = browser.get("/no-such-page", query_string={"client_id": SUPPORTED.client_id}, headers={"Accept": "text/html"})
    page = assert_russian_page_leading_on(answer, 404)
    assert '<img class="logo" src="https://static.diary.example/logo.png" alt=""' in page and "Дневник.Тест · вход" in page
    assert "обратитесь в поддержку портала «Дневник.Тест»" in page
    assert 'href="tel:+74951234567"' in page and 'href="mailto:help@diary.example"' in page
    policy = answer.headers["Content-Security-Policy"]
    assert "img-src 'self' https://static.diary.example;" in policy and "default-src 'none'" in policy


def test_a_page_of_a_portal_without_a_logo_keeps_the_strict_image_policy(browser: FlaskClient) -> None:
    answer = browser.get("/no-such-page", query_string={"client_id": PORTAL.client_id}, headers={"Accept": "text/html"})
    page = assert_russian_page_leading_on(answer, 404)
    assert "<img" not in page and "Дневник.Тест · вход" in page and "поддержку портала" not in page
    assert "img-src 'self';" in answer.headers["Content-Security-Policy"]


def test_the_logged_out_page_shows_the_portal_that_asked(app: Flask, browser: FlaskClient) -> None:
    with app.app_context():
        services.current().clients[SUPPORTED.client_id] = SUPPORTED
    with browser.session_transaction() as session:
        session[pages.LOGOUT_PORTAL] = SUPPORTED.client_id
    answer = browser.get("/oidc/logged-out")
    assert answer.status_code == 200 and "Дневник.Тест · вход" in answer.get_data(as_text=True)
    assert "https://static.diary.example" in answer.headers["Content-Security-Policy"]
