"""The migration that gives attempts their ``completed_at`` backfills what the database can tell."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from broker import create_app
from broker.db import revision
from broker.db.models import LoginAttempt
from broker.extensions import db

FINISHED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _before_completed_at() -> str:
    """The revision just before the one adding ``login_attempts.completed_at`` (whatever its id after a re-chain)."""
    config = Config()
    config.set_main_option("script_location", str(revision.MIGRATIONS))
    for script in ScriptDirectory.from_config(config).walk_revisions():
        if script.path.endswith("_attempt_completed.py"):
            assert isinstance(script.down_revision, str)
            return script.down_revision
    raise AssertionError("no migration adds login_attempts.completed_at")


def test_existing_attempts_are_completed_when_the_person_got_in(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/broker.sqlite3"})
    attempts = [  # id, flow, outcome
        (1, "login", "signed_in"),  # through a link, at the callback
        (2, "login", "linked"),  # confirmed: a session names it
        (3, "login", "linked"),  # never confirmed (or «Это не я»)
        (4, "login", "choose_account"),  # never answered
        (5, "link", "linked"),  # the link flow links at the callback
        (6, "login", "refused"),
    ]
    with app.app_context():
        revision.upgrade(_before_completed_at())
        with db.engine.begin() as connection:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for number, flow, outcome in attempts:
                connection.execute(
                    text(
                        "INSERT INTO login_attempts (id, reference, started_at, finished_at, client_id, flow, outcome, "
                        "candidate_ids, trace) VALUES (:id, :ref, :at, :at, 'portal', :flow, :outcome, '[]', '[]')"
                    ),
                    {"id": number, "ref": f"R{number}", "at": FINISHED, "flow": flow, "outcome": outcome},
                )
            connection.execute(
                text(
                    "INSERT INTO sessions (id, account_id, attempt_id, tier, amr, claims, created_at, expires_at, auth_time) "
                    "VALUES ('s1', 'acc-1', 2, 'verified', 'PWD', '{}', :at, :at, :at)"
                ),
                {"at": FINISHED},
            )
        revision.upgrade()
        with db.engine.connect() as connection:
            completed = dict(connection.execute(select(LoginAttempt.id, LoginAttempt.completed_at)).all())
        db.engine.dispose()
    assert completed == {1: FINISHED, 2: FINISHED, 3: None, 4: None, 5: FINISHED, 6: None}
