"""Liveness and readiness, and what people see when the database is gone."""

from __future__ import annotations

from flask import Flask

from broker import create_app
from broker.config import LOGIN_COOKIE, cookie_name


def test_a_migrated_broker_is_live_and_ready(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}


def test_a_broker_without_its_schema_is_live_but_not_ready(tmp_path: object) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/empty.sqlite3"})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503 and "broker db upgrade" in answer.json["database"]


def test_an_unreachable_database_gives_503_not_500(tmp_path: object) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"})
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    answer = client.get("/oidc/userinfo", headers={"Authorization": "Bearer some-token"})  # a machine client: JSON
    assert answer.status_code == 503 and answer.json["error"] == "temporarily_unavailable" and "Retry-After" in answer.headers
    client.set_cookie(cookie_name(app.config, LOGIN_COOKIE), "some-state.some-binding")
    page = client.get("/auth/confirm")  # a person's browser: the page
    assert page.status_code == 503 and "Сервис входа временно недоступен" in page.text and "Retry-After" in page.headers
