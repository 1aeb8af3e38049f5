"""The test databases: SQLite always, PostgreSQL when TEST_DATABASE_URL is set, and the broker on one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text

from broker import create_app
from broker.db import revision as schema
from broker.extensions import db

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
DATABASES = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if POSTGRES_URL else [])
TEST_SNILS_KEY = "test-snils-key"


def count(model: type) -> int:
    """The rows of ``model``'s table."""
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url_for(kind: str, tmp_path: os.PathLike[str]) -> str:
    """A fresh, empty database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/broker.sqlite3"
    assert POSTGRES_URL
    _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@contextmanager
def running_app(database_url: str) -> Iterator[Flask]:
    """The broker on a freshly migrated database, inside its app context."""
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
        schema.upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()
