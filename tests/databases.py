"""The test databases: migrated once per session, then copied for each test, on SQLite and PostgreSQL.

Running the broker's Alembic migrations costs about half a second per database, and nearly every
broker and flow test wants a database of its own at the latest revision. So the migrations run
once per test session, into a template, and each test gets a copy of that template:

* SQLite (always): the first test that asks migrates ``template.sqlite3`` in a session temporary
  folder; every test then gets a byte copy of that file in its own ``tmp_path``, created
  owner-only (0600) as the broker creates its own file (broker.db.dbfile). The template is closed
  (its write-ahead log checkpointed into the file) before anything is copied.
* PostgreSQL (when TEST_DATABASE_URL is set; tests marked ``postgres``): the first test migrates a
  template database, ``<name>_template`` beside the database ``<name>`` that TEST_DATABASE_URL
  names; each test gets ``<name>_test``, dropped and created anew with
  ``CREATE DATABASE … TEMPLATE <name>_template``. The database TEST_DATABASE_URL names only
  serves to issue these statements; both copies are dropped when the session ends.

Either way a test starts on a database of its own, at the head revision, with what the migrations
load (the 89 regions) and nothing else, and nothing it writes reaches another test. The template
is a product of the real migrations, so tests/broker/test_schema.py still compares the migrated
schema with the models. Tests of the migrations themselves do not take a copy: they create an
app on a new database and call ``broker.db.revision.upgrade`` (test_session_auth_time_migration.py
stops at an older revision first), or call ``running_app(url)``, which migrates ``url`` for real
unless told it is ``migrated`` already.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from broker import create_app
from broker.db import revision
from broker.extensions import db

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
DATABASES = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if POSTGRES_URL else [])
TEST_SNILS_KEY = "test-snils-key"


def count(model: type) -> int:
    """The rows of ``model``'s table."""
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@contextmanager
def running_app(database_url: str, *, migrated: bool = False) -> Iterator[Flask]:
    """The broker on ``database_url``, inside its app context; the migrations run first unless the
    database is ``migrated`` already (a copy from :class:`MigratedDatabases`)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SNILS_HASH_KEY": TEST_SNILS_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REGION_CACHE_SECONDS": 0,
        }
    )
    with app.app_context():
        if not migrated:
            revision.upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


class MigratedDatabases:
    """The session's migrated templates (each made on first use) and the per-test copies of them."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: _PostgresTemplate | None = None

    def copy(self, kind: str, folder: Path, name: str = "broker.sqlite3") -> str:
        """The URL of a new database of ``kind`` ("sqlite" or "postgresql") at the head revision;
        on SQLite it is the file ``name`` in ``folder``."""
        if kind == "sqlite":
            return f"sqlite:///{self._copy_sqlite(folder / name)}"
        if self._postgres is None:
            assert POSTGRES_URL, "PostgreSQL tests need TEST_DATABASE_URL"
            self._postgres = _PostgresTemplate(POSTGRES_URL)
        return self._postgres.copy()

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.drop()

    def _copy_sqlite(self, path: Path) -> Path:
        if self._sqlite is None:
            template = self._folder / "template.sqlite3"
            with running_app(f"sqlite:///{template}"):
                pass  # leaving disposes the engine: the last connection checkpoints the WAL into the file
            assert not template.with_name(template.name + "-wal").exists()
            self._sqlite = template
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as copy:
            with self._sqlite.open("rb") as template_file:
                shutil.copyfileobj(template_file, copy)
        return path


class _PostgresTemplate:
    """``<name>_template``, migrated once, and ``<name>_test``, made from it for each test."""

    def __init__(self, url: str) -> None:
        base = make_url(url)
        self._template = f"{base.database}_template"
        self._test = f"{base.database}_test"
        self._test_url = base.set(database=self._test).render_as_string(hide_password=False)
        self._server: Engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self._execute(f'DROP DATABASE IF EXISTS "{self._test}" WITH (FORCE)')
        self._execute(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{self._template}"')
        with running_app(base.set(database=self._template).render_as_string(hide_password=False)):
            pass  # leaving disposes the engine: CREATE DATABASE … TEMPLATE wants no one connected to it

    def copy(self) -> str:
        self._execute(f'DROP DATABASE IF EXISTS "{self._test}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{self._test}" TEMPLATE "{self._template}"')
        return self._test_url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self._test}" WITH (FORCE)')
        self._execute(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
        self._server.dispose()

    def _execute(self, statement: str) -> None:
        with self._server.connect() as connection:
            connection.execute(text(statement))
