"""Security headers on every answer, a CSP the pages satisfy, and ``__Host-`` cookies when Secure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from requests.structures import CaseInsensitiveDict
from werkzeug.datastructures import Headers

from broker import create_app
from broker.config import FLASK_COOKIE, LOGIN_COOKIE, REFUSAL_COOKIE, SSO_COOKIE, cookie_name
from tests.broker.staffing import PASSWORD, csrf_from, make_staff
from tests.world import BROKER, World, log_in, start_login

TEMPLATES = Path(__file__).resolve().parents[2] / "broker" / "templates"
EVERYWHERE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def assert_protected(headers: Headers | CaseInsensitiveDict[str], *, secure: bool = True) -> None:
    for name, value in EVERYWHERE.items():
        assert headers[name] == value, name
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert ("Strict-Transport-Security" in headers) == secure


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/admin/login", "/no-such-page", "/api/v1/regions", "/auth/esia/callback?state=x&code=y", "/oidc/logged-out"],
)
def test_every_answer_forbids_framing_sniffing_and_caching_and_insists_on_https(app: Flask, path: str) -> None:
    answer = app.test_client().get(path)
    assert_protected(answer.headers)
    assert answer.headers["Strict-Transport-Security"] == f"max-age={365 * 24 * 3600}"


def test_pages_where_a_url_carries_a_code_or_state_send_no_referrer(app: Flask) -> None:
    answer = app.test_client().get("/auth/esia/callback?state=x&code=y")
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_without_secure_cookies_there_is_no_hsts_and_cookies_keep_their_plain_names(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "COOKIE_SECURE": False, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/b.sqlite3"})
    assert_protected(app.test_client().get("/no-such-page").headers, secure=False)
    assert app.config["SESSION_COOKIE_NAME"] == "broker_flask" and not app.config["SESSION_COOKIE_SECURE"]
    assert [cookie_name(app.config, n) for n in (SSO_COOKIE, LOGIN_COOKIE)] == ["broker_sso", "broker_login"]


def test_with_secure_cookies_every_cookie_name_has_the_host_prefix(app: Flask) -> None:
    names = [cookie_name(app.config, n) for n in (SSO_COOKIE, LOGIN_COOKIE, REFUSAL_COOKIE, FLASK_COOKIE)]
    assert names == ["__Host-broker_sso", "__Host-broker_login", "__Host-broker_refusal", "__Host-broker_flask"]
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-broker_flask"
    assert (app.config["SESSION_COOKIE_PATH"], app.config["SESSION_COOKIE_DOMAIN"]) == ("/", None)


def test_the_staff_cookie_is_a_secure_host_cookie(app: Flask) -> None:
    make_staff("boss")
    client = app.test_client()
    client.get("/admin/login")
    token = csrf_from(client.get("/admin/login"))
    answer = client.post("/admin/login", data={"login": "boss", "password": PASSWORD, "csrf_token": token})
    cookies = answer.headers.getlist("Set-Cookie")
    assert cookies and all(c.startswith("__Host-broker_flask=") for c in cookies), cookies
    assert all("Secure" in c and "Path=/" in c and "Domain" not in c for c in cookies)


def test_every_style_block_carries_this_requests_nonce_and_no_page_has_script_or_inline_style() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert "<script" not in text and " style=" not in text and not re.search(r"\son[a-z]+=", text), template
        for tag in re.findall(r"<style[^>]*>", text):
            assert tag == '<style nonce="{{ csp_nonce() }}">', template


def test_the_page_and_its_policy_share_one_nonce_new_for_each_request(app: Flask) -> None:
    nonces = []
    for _ in range(2):
        answer = app.test_client().get("/admin/login")
        nonce = re.search(r"'nonce-([^']+)'", answer.headers["Content-Security-Policy"])
        assert nonce and f'<style nonce="{nonce.group(1)}">' in answer.get_data(as_text=True)
        nonces.append(nonce.group(1))
    assert nonces[0] != nonces[1]


@pytest.mark.flow
def test_the_peoples_pages_are_protected_and_their_cookies_are_host_cookies(world: World) -> None:
    _, choice = start_login(world, region=None)  # the region choice
    assert "Выберите свой регион" in choice.text
    _, to_esia = start_login(world)
    binding = to_esia.headers["Set-Cookie"]
    assert binding.startswith("__Host-broker_login=") and "Secure" in binding and "Path=/" in binding
    assert "Domain" not in binding
    refusal = log_in(world, "teen-simple").page
    confirmation = log_in(world, "adult-verified").page  # shows the diary's name and birth date
    chooser = log_in(world, "teacher").page
    logged_out = world.go(f"{BROKER}/oidc/logged-out")
    pages = {"choice": choice, "to_esia": to_esia, "refusal": refusal, "confirm": confirmation, "choose": chooser, "logged_out": logged_out}
    for name, page in pages.items():
        assert page is not None, name
        assert_protected(page.headers)
        assert page.headers["Referrer-Policy"] == "no-referrer", name
    assert confirmation is not None and confirmation.url.endswith("/auth/confirm")
    assert chooser is not None and chooser.url.endswith("/auth/choose")
    signed_in = log_in(world, "namesake-1")
    assert signed_in.callback is not None
    assert "__Host-broker_sso" in world.browser.cookies.get_dict(domain="broker.test")
