"""Every HTML error page the broker can show a person says what happened and what to do in Russian
words: no error code (``forbidden``, ``not_found``, ``csrf_failed``, …) reaches the visible text;
only an attempt's reference code for support and the portal's name may be Latin."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from broker import errors, services
from broker.login import flow
from broker.oidc.clients import PortalClient, Support
from broker.web import pages
from tests.browser import SIZES, check_page, sized_page

PORTAL = PortalClient(
    client_id="diary-test",
    name="Diary Online",  # a Latin name: the one Latin a page may show besides a reference code
    redirect_uris=("https://diary.example/cb",),
    regions=frozenset({"77"}),
    login_url="https://diary.example/login",
    support=Support(phone="+7 800 000-00-00", url="https://diary.example/help"),
)
#: An attempt's reference code (broker.login.attempts: 8 of Crockford's base32).
REFERENCE = re.compile(r"^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{8}$")
WORD = re.compile(r"[\w\-.@]*[A-Za-z][\w\-.@]*")
ALLOWED = set(PORTAL.name.split())
PROBE_PATHS = {
    "forbidden": "/admin/probe-forbidden",
    "broker_error": "/probe-broker-error",
    "invalid_input": "/probe-invalid-input",
    "database_unavailable": "/probe-database",
    "rate_limited": "/probe-too-many",
    "rate_limited_per_portal": "/probe-too-many-per-portal",
}


class VisibleText(HTMLParser):
    """The text a person sees: every text node but scripts' and styles'; the title too (the tab shows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def latin_words(html: str) -> list[str]:
    """The visible text's Latin words, but reference codes and the portal's name."""
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(parser.parts)
    found = (word.strip(".-") for word in WORD.findall(text))
    return [word for word in found if not REFERENCE.match(word) and word not in ALLOWED]


def add_probes(app: Flask) -> None:
    """Views that fail as the broker's own code can fail, for the pages their failures make."""

    @app.get(PROBE_PATHS["forbidden"])
    def forbidden() -> Any:
        abort(403)

    @app.get(PROBE_PATHS["broker_error"])
    def broker_error() -> Any:
        raise errors.ConfigError

    @app.get(PROBE_PATHS["invalid_input"])
    def invalid_input() -> Any:
        raise errors.InputError("comment", "is too long")

    @app.get(PROBE_PATHS["database_unavailable"])
    def database() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get(PROBE_PATHS["rate_limited"])
    def too_many() -> Any:
        return pages.render_too_many(per_portal=False, wait="через минуту", from_portal=True, code="rate_limited", headers={})

    @app.get(PROBE_PATHS["rate_limited_per_portal"])
    def too_many_per_portal() -> Any:
        return pages.render_too_many(per_portal=True, wait="через минуту", from_portal=True, code="rate_limited", headers={})

    @app.get("/probe-bad-request/<code>")
    def bad_request(code: str) -> Any:
        page = flow.bad_request(code)
        return pages.render_error(page.title, page.message, page.code, page.status)


@pytest.fixture
def broker(app: Flask) -> FlaskClient:
    add_probes(app)
    with app.app_context():
        services.current().clients[PORTAL.client_id] = PORTAL
    return app.test_client()


def authorize(**query: str) -> dict[str, str]:
    return {"client_id": PORTAL.client_id, "response_type": "code", "redirect_uri": "https://diary.example/cb", "scope": "openid"} | query


#: Every HTML error page, as the request that makes it: (its code, what the browser sends).
PAGES: dict[str, Callable[[FlaskClient], TestResponse]] = {
    "forbidden": lambda c: c.get(PROBE_PATHS["forbidden"]),
    "not_found": lambda c: c.get("/no-such-page", query_string={"client_id": PORTAL.client_id}),
    "method_not_allowed": lambda c: c.post("/oidc/jwks"),
    "broker_error": lambda c: c.get(PROBE_PATHS["broker_error"]),
    "invalid_input": lambda c: c.get(PROBE_PATHS["invalid_input"]),
    "database_unavailable": lambda c: c.get(PROBE_PATHS["database_unavailable"], query_string={"client_id": PORTAL.client_id}),
    "body_too_large": lambda c: c.post("/admin/login", data="x" * (16 * 1024 * 1024 + 1), content_type="text/plain"),
    "csrf_failed": lambda c: c.post("/admin/login", data={"login": "boss", "password": "a guess"}),
    "rate_limited": lambda c: c.get(PROBE_PATHS["rate_limited"], query_string={"client_id": PORTAL.client_id}),
    "rate_limited_per_portal": lambda c: c.get(PROBE_PATHS["rate_limited_per_portal"]),
    "invalid_client": lambda c: c.get("/oidc/authorize", query_string=authorize(client_id="nobody")),
    "invalid_request": lambda c: c.get("/oidc/authorize", query_string=authorize(redirect_uri="https://elsewhere.example/cb")),
    "unsupported_response_type": lambda c: c.get("/probe-bad-request/unsupported_response_type"),
    "expired": lambda c: c.get("/auth/esia/callback", query_string={"code": "x", "state": "y"}),
    "logout_bad_hint": lambda c: c.get("/oidc/logout", query_string={"id_token_hint": "not.a.token"}),
    "logout_unknown_return": lambda c: c.get(
        "/oidc/logout", query_string={"client_id": PORTAL.client_id, "post_logout_redirect_uri": "https://elsewhere.example/"}
    ),
    "logout_expired": lambda c: c.post("/oidc/logout", data={"client_id": PORTAL.client_id}),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_an_html_error_page_shows_no_latin_word_but_a_reference_code_or_the_portals_name(broker: FlaskClient, name: str) -> None:
    answer = PAGES[name](broker)
    assert answer.status_code >= 400 and answer.mimetype == "text/html", (name, answer.status_code)
    html = answer.get_data(as_text=True)
    assert 'role="alert"' in html
    assert latin_words(html) == [], name


def test_the_error_code_stays_in_the_page_for_machines_only(broker: FlaskClient) -> None:
    html = PAGES["csrf_failed"](broker).get_data(as_text=True)
    assert 'data-error="csrf_failed"' in html
    assert "Форма устарела" in html and latin_words(html) == []


def test_the_scan_finds_a_code_in_the_visible_text_and_lets_a_reference_and_the_portals_name_pass() -> None:
    assert latin_words("<p>Код ошибки: <span>forbidden</span></p>") == ["forbidden"]
    assert latin_words("<title>Ошибка</title><p>Портал «Diary Online», код 7K3M9QXT</p><script>var x;</script>") == []


def test_the_json_answers_keep_their_codes(broker: FlaskClient) -> None:
    assert broker.get("/api/v1/no-such-thing").json["error"] == "not_found"
    assert broker.get("/oidc/token").json["error"] == "invalid_request"


@pytest.fixture
def live_broker(app: Flask, live_server: Callable[[Any], str]) -> str:
    add_probes(app)
    with app.app_context():
        services.current().clients[PORTAL.client_id] = PORTAL
    return live_server(app)


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Any]:
    with sized_page(chromium, SIZES[request.param]) as page:
        yield page


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        PROBE_PATHS["forbidden"],
        f"/no-such-page?client_id={PORTAL.client_id}",
        f"{PROBE_PATHS['database_unavailable']}?client_id={PORTAL.client_id}",
        f"{PROBE_PATHS['rate_limited']}?client_id={PORTAL.client_id}",
        "/oidc/authorize?client_id=nobody&response_type=code&scope=openid",
    ],
)
def test_the_error_pages_read_well_in_chromium_on_a_phone_and_a_desktop(live_broker: str, sized: Any, path: str) -> None:
    sized.goto(live_broker + path)
    check_page(sized)
    assert latin_words(sized.content()) == []
