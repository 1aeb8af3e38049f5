"""The SQLite database file is created owner-only (0600), its instance folder 0700; memory and
PostgreSQL databases are left alone."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import StaticPool

from broker.db import dbfile
from broker.extensions import db
from tests.databases import running_app


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems have (0022): without the defence new files are world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_broker_db_upgrade_creates_the_sqlite_file_and_its_log_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    with running_app(f"sqlite:///{path}") as app:  # runs the migrations: SQLite creates the file
        assert app.test_cli_runner().invoke(args=["db", "current"]).exit_code == 0
        assert mode(path) == 0o600
        wal = tmp_path / "broker.sqlite3-wal"
        assert wal.exists() and mode(wal) == 0o600


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    path.touch(mode=0o640)
    with running_app(f"sqlite:///{path}"):
        assert mode(path) == 0o640


def _instance_app(tmp_path: Path, url: str) -> Flask:
    app = Flask("instance_test", instance_path=str(tmp_path / "instance"))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    return app


def test_the_instance_folder_is_created_owner_only_for_a_relative_sqlite_path(tmp_path: Path) -> None:
    app = _instance_app(tmp_path, "sqlite:///broker.sqlite3")
    dbfile.prepare(app)
    assert mode(tmp_path / "instance") == 0o700


def test_the_instance_folder_is_created_owner_only_for_the_default_database(tmp_path: Path) -> None:
    """The default URL names instance/broker.sqlite3 by its absolute path (broker.config)."""
    path = tmp_path / "instance" / "broker.sqlite3"
    app = _instance_app(tmp_path, f"sqlite:///{path}")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    dbfile.protect(app, engine)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert (mode(tmp_path / "instance"), mode(path)) == (0o700, 0o600)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:broker?mode=memory&cache=shared&uri=true"])
def test_an_in_memory_database_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.chdir(tmp_path)
    app = _instance_app(tmp_path, url)
    dbfile.prepare(app)
    engine = create_engine(url, poolclass=StaticPool)
    dbfile.protect(app, engine)
    with engine.connect() as connection:
        assert connection.execute(select(1)).scalar() == 1
    engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_uri_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    app = _instance_app(tmp_path, "unused")
    engine = create_engine(f"sqlite:///file:{path}?mode=rwc&uri=true")
    dbfile.protect(app, engine)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert mode(path) == 0o600


@pytest.mark.postgres
def test_a_postgresql_database_is_left_to_its_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("needs TEST_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    with running_app(url):
        assert db.session.execute(select(1)).scalar() == 1
    assert list(tmp_path.iterdir()) == []
