"""The database schema: migrations create what the models describe, with every region."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, select

from broker import create_app
from broker.db import revision
from broker.db.models import Region
from broker.errors import SchemaMissingError
from broker.extensions import db


def test_the_first_migration_loads_all_89_federal_subjects_none_enabled(app: Flask) -> None:
    assert db.session.scalar(select(func.count()).select_from(Region)) == 89
    assert db.session.scalar(select(func.count()).where(Region.enabled)) == 0
    kamchatka = db.session.get(Region, "41")
    assert kamchatka is not None and (kamchatka.name, kamchatka.timezone) == ("Камчатский край", "Asia/Kamchatka")


def test_the_migrations_match_the_models(app: Flask) -> None:
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_the_database_is_at_the_latest_revision_after_upgrade(app: Flask) -> None:
    assert revision.current_revision() == revision.head_revision()
    revision.ensure_current()


def test_an_empty_database_asks_for_an_upgrade(tmp_path: object) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/empty.sqlite3"})
    with app.app_context():
        with pytest.raises(SchemaMissingError, match="broker db upgrade"):
            revision.ensure_current()
        db.engine.dispose()
