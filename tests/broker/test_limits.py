"""Size and shape limits on what the broker reads: bodies, JSON depth, text, row ids; and JSON when the database is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from broker.config import LOGIN_COOKIE, cookie_name
from broker.db.models import Account
from broker.extensions import db
from broker.support import search as attemptsearch
from broker.support.attempts import CriteriaError
from tests.broker.registry_files import api_row as account
from tests.broker.staffing import bearer
from tests.databases import count
from tests.world import BROKER, PORTAL_SECRET, World

ACCOUNTS = "/api/v1/registry/accounts"
SEARCH = "/api/v1/attempts/search"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_raw(client: FlaskClient, url: str, body: str, headers: dict[str, str]) -> Any:
    return client.post(url, data=body, headers={**headers, "Content-Type": "application/json"})


def bad_fields(answer: Any) -> list[str]:
    return [item["field"] for item in answer.json["errors"]]


def test_a_lone_surrogate_in_a_name_is_a_422_naming_the_field_and_nothing_is_written(client: FlaskClient) -> None:
    body = json.dumps({"accounts": [account(1), account(2, last_name="Сидор\ud800ова")]})  # ensure_ascii: "\ud800"
    answer = post_raw(client, ACCOUNTS, body, bearer("sync", "admin"))
    assert answer.status_code == 422 and answer.is_json
    assert bad_fields(answer) == ["accounts.1.last_name"]
    assert count(Account) == 0


@pytest.mark.parametrize(("depth", "field"), [(10_000, "(body)"), (40, "accounts" + ".0" * 32)])
def test_a_deeply_nested_body_is_a_422_naming_where(client: FlaskClient, depth: int, field: str) -> None:
    body = '{"accounts": ' + "[" * depth + "]" * depth + "}"
    answer = post_raw(client, ACCOUNTS, body, bearer("sync", "admin"))
    assert answer.status_code == 422 and answer.is_json
    assert bad_fields(answer) == [field]


@pytest.mark.parametrize("before_id", [2**70, 2**63, 0, -1])
def test_a_before_id_beyond_64_bits_is_a_422_naming_the_field(client: FlaskClient, before_id: int) -> None:
    answer = client.post(SEARCH, json={"before_id": before_id}, headers=bearer("support", "support"))
    assert answer.status_code == 422 and answer.is_json
    assert bad_fields(answer) == ["before_id"]


def test_the_search_itself_refuses_a_before_id_beyond_64_bits(app: Flask) -> None:
    """The staff search page reaches the search without the API's schema."""
    with pytest.raises(CriteriaError) as raised:
        attemptsearch.search(attemptsearch.parse_criteria({}), regions=None, before_id=2**70)
    assert raised.value.field == "before_id"


def test_a_body_over_the_limit_is_a_413_in_json_for_the_api(app: Flask, client: FlaskClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    answer = post_raw(client, ACCOUNTS, json.dumps({"accounts": [account(n) for n in range(20)]}), bearer("sync", "admin"))
    assert answer.status_code == 413 and answer.json["error"] == "body_too_large"
    assert count(Account) == 0


def test_a_body_over_the_limit_is_a_413_page_in_russian_for_a_browser(app: Flask, client: FlaskClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    answer = client.post("/admin/login", data={"login": "x" * 4096, "password": "y"})
    assert answer.status_code == 413 and answer.mimetype == "text/html"
    assert "Слишком большой запрос" in answer.get_data(as_text=True)


def test_the_request_body_limit_is_on_by_default(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024


@contextmanager
def database_down(app: Flask) -> Iterator[None]:
    """Every statement fails as it would with the database gone."""

    def refuse(*_args: Any) -> None:
        raise OperationalError("(statement)", {}, ConnectionRefusedError("database down"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def test_a_database_outage_answers_the_api_in_json_with_retry_after(app: Flask, client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    with database_down(app):
        answer = client.get("/api/v1/regions", headers=headers)
    assert answer.status_code == 503 and answer.is_json
    assert answer.json["error"] == "database_unavailable"
    assert answer.headers["Retry-After"] == str(app.config["RETRY_AFTER_SECONDS"])


def test_a_database_outage_answers_a_browser_with_the_503_page_and_retry_after(app: Flask, client: FlaskClient) -> None:
    client.set_cookie(cookie_name(app.config, LOGIN_COOKIE), "some-state.some-binding")
    with database_down(app):
        answer = client.get("/auth/confirm")  # reads the pending login
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    assert "временно недоступен" in answer.get_data(as_text=True) and "Retry-After" in answer.headers


@pytest.mark.flow
def test_a_database_outage_answers_token_userinfo_and_link_as_oauth_errors_with_retry_after(world: World) -> None:
    client = world.broker.test_client()
    with database_down(world.broker):
        token = client.post(f"{BROKER}/oidc/token", data={"grant_type": "authorization_code", "code": "c0de",
                            "redirect_uri": "https://portal.test/callback"}, auth=("portal", PORTAL_SECRET))  # fmt: skip
        userinfo = client.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": "Bearer some-token"})
        link = client.post(f"{BROKER}/oidc/link", data={"account_id": "d-004", "return_to": "https://portal.test/settings"},
                           auth=("portal", PORTAL_SECRET))  # fmt: skip
    for answer in (token, userinfo, link):
        assert answer.status_code == 503 and answer.is_json, answer.get_data(as_text=True)
        assert answer.json["error"] == "temporarily_unavailable"
        assert answer.headers["Retry-After"] == str(world.broker.config["RETRY_AFTER_SECONDS"])


@pytest.mark.flow
@pytest.mark.parametrize("path", ["/oidc/token", "/oidc/link"])
def test_a_back_channel_request_over_the_limit_is_an_oauth_413(world: World, path: str) -> None:
    world.broker.config["MAX_CONTENT_LENGTH"] = 1024
    answer = world.broker.test_client().post(
        f"{BROKER}{path}", data={"grant_type": "authorization_code", "code": "c" * 4096}, auth=("portal", PORTAL_SECRET)
    )
    assert answer.status_code == 413 and answer.json["error"] == "invalid_request"
