"""The database schema's version: upgrade with Alembic, and refuse to run on an old one."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from broker.errors import SchemaMissingError
from broker.extensions import db

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(revision: str = "head") -> None:
    """Bring the database of the current app to ``revision``."""
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_current() -> None:
    """Raise :class:`SchemaMissingError` unless the database is at the latest revision."""
    current = current_revision()
    if current != head_revision():
        if current is None:
            raise SchemaMissingError()
        raise SchemaMissingError(f"The database is at revision {current}; run `broker db upgrade`.")
