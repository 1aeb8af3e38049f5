"""The migration that gives sessions their ``auth_time`` keeps what existing sessions reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from broker import create_app
from broker.db import revision
from broker.db.models import DiarySession
from broker.extensions import db


def _before_auth_time() -> str:
    """The revision just before the one adding ``sessions.auth_time`` (whatever its id after a re-chain)."""
    config = Config()
    config.set_main_option("script_location", str(revision.MIGRATIONS))
    for script in ScriptDirectory.from_config(config).walk_revisions():
        if script.path.endswith("_session_auth_time.py"):
            assert isinstance(script.down_revision, str)
            return script.down_revision
    raise AssertionError("no migration adds sessions.auth_time")


def test_existing_sessions_get_their_start_as_auth_time(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/broker.sqlite3"})
    started = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with app.app_context():
        revision.upgrade(_before_auth_time())
        with db.engine.begin() as connection:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            connection.execute(
                text(
                    "INSERT INTO sessions (id, account_id, tier, amr, claims, created_at, expires_at) "
                    "VALUES ('s1', 'acc-1', 'verified', 'PWD', '{}', :started, :expires)"
                ),
                {"started": started, "expires": datetime(2026, 12, 1, 17, 30, tzinfo=UTC)},
            )
        revision.upgrade()
        with db.engine.connect() as connection:
            auth_time = connection.execute(select(DiarySession.auth_time).where(DiarySession.id == "s1")).scalar_one()
        db.engine.dispose()
    assert auth_time == started
