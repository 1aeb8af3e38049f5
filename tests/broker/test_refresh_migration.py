"""The migration adding refresh token families upgrades and downgrades, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from broker.db import revision
from broker.extensions import db
from tests.databases import DATABASES, MigratedDatabases, running_app


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(revision.MIGRATIONS))
    return config


def _before_refresh_tokens() -> str:
    """The revision just before the one adding refresh tokens (whatever its id after a re-chain)."""
    for script in ScriptDirectory.from_config(_config()).walk_revisions():
        if script.path.endswith("_refresh_tokens.py"):
            assert isinstance(script.down_revision, str)
            return script.down_revision
    raise AssertionError("no migration adds refresh tokens")


def _downgrade(target: str) -> None:
    config = _config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


@pytest.mark.parametrize("kind", DATABASES)
def test_the_refresh_token_migration_downgrades_and_upgrades_again(kind: str, tmp_path: Path, migrated: MigratedDatabases) -> None:
    with running_app(migrated.copy(kind, tmp_path), migrated=True):
        _downgrade(_before_refresh_tokens())
        schema = inspect(db.engine)
        assert not {"oidc_refresh_families", "oidc_refresh_tokens"} & set(schema.get_table_names())
        assert "family_id" not in {column["name"] for column in schema.get_columns("oidc_tokens")}
        revision.upgrade()
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        assert revision.current_revision() == revision.head_revision()
