"""A person clicks through the mock's login and consent pages in headless Chromium."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask

from tests.browser import PHONE

from .esia_test_client import EsiaTestClient
from .registration import CLIENT_ID

pytestmark = pytest.mark.browser


@pytest.fixture
def start(live_server, make_app, rsa_signer, gost_signer, chromium):
    """Open the authorization URL in a phone-sized page.

    The client's callback is a real loopback server (the relying party's stand-in), so the
    browser follows ESIA's redirect for real.
    """

    def open_login(flow: str = "v1", **config):
        callback = Flask("callback")
        callback.add_url_rule("/esia/callback", "callback", lambda: "callback")
        callback_uri = live_server(callback) + "/esia/callback"
        app = make_app(CLOCK=None, **config)
        clients = app.extensions["mock_esia"].clients
        clients[CLIENT_ID] = replace(clients[CLIENT_ID], redirect_uris=(callback_uri,))
        base = live_server(app)
        esia = EsiaTestClient(requests.Session(), base, CLIENT_ID, callback_uri, rsa_signer, gost_signer)
        params = esia.v1_params("openid fullname birthdate") if flow == "v1" else esia.v2_params("openid fullname birthdate")
        path = "/aas/oauth2/ac" if flow == "v1" else "/aas/oauth2/v2/ac"
        context = chromium.new_context(viewport=PHONE, locale="ru-RU")
        page = context.new_page()
        page.goto(f"{base}{path}?{urlencode(params)}")
        return esia, params, page

    return open_login


def callback_query(page) -> dict[str, str]:
    page.wait_for_url(re.compile(r"/esia/callback\?"))
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


def test_a_person_picks_themselves_from_the_list_and_the_code_can_be_exchanged(start):
    esia, params, page = start("v1")

    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.get_by_role("heading", name=re.compile("Вход")).is_visible()
    page.get_by_role("button", name=re.compile("Сёмина Алёна Фёдоровна")).click()

    query = callback_query(page)
    assert query["state"] == params["state"]
    tokens = esia.token("v1", esia.v1_token_form(query["code"], "openid fullname birthdate"))
    assert tokens.status_code == 200, tokens.text
    page.context.close()


def test_a_person_types_a_login_and_password(start):
    _, params, page = start("v2")

    page.get_by_label("Телефон, почта, СНИЛС или тестовый логин").fill("teacher")
    page.get_by_label("Пароль").fill("wrong")
    page.get_by_role("button", name="Войти", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "Неверный логин или пароль."
    page.get_by_label("Пароль").fill("test1234")
    page.get_by_label("Пароль").press("Enter")

    assert callback_query(page)["state"] == params["state"]
    page.context.close()


def test_a_person_declines_on_the_consent_page(start):
    _, params, page = start("v1", CONSENT="page")

    page.get_by_role("button", name=re.compile("Петров Иван Николаевич")).click()
    page.get_by_role("heading", name="Предоставление прав доступа").wait_for()
    page.get_by_role("button", name="Отказать").click()

    query = callback_query(page)
    assert query["error"] == "access_denied" and query["error_description"].startswith("ESIA-007004")
    assert query["state"] == params["state"]
    page.context.close()


def test_the_login_page_fits_a_phone_screen(start):
    _, _, page = start("v1")

    width = page.evaluate("document.documentElement.scrollWidth")

    assert width <= 390
    page.context.close()
