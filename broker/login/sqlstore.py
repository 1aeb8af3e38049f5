"""Pending logins in the database's ``pending_logins`` table: the default :class:`~broker.login.pending.PendingLogins`.

This is the hot path of every login, so it speaks SQL through Core statements built once
(``RETURNING`` where a row is both changed and read). Every write goes into the transaction of
the login step that calls it (the step commits); expired rows are swept now and then by
``pending.start`` and by ``broker purge``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from broker.db.dml import execute_dml
from broker.db.models import PendingLogin
from broker.extensions import db
from broker.login.pending import Pending

if TYPE_CHECKING:
    from datetime import datetime

_PENDING = PendingLogin.__table__

# The statements every login runs, built once: SQLAlchemy then skips building them and finds
# their compiled form by a cache key memoised on the statement object.
_INSERT = insert(_PENDING)
_SWEEP = delete(_PENDING).where(_PENDING.c.expires_at < bindparam("now"))
_CLAIM = (
    update(_PENDING)
    .where(
        _PENDING.c.state == bindparam("key"),
        _PENDING.c.browser_digest.in_(bindparam("digests", expanding=True)),
        _PENDING.c.consumed_at.is_(None),
        _PENDING.c.expires_at > bindparam("now"),
    )
    .values(consumed_at=bindparam("now"))
    .returning(*_PENDING.c)
)
_FIND = select(*_PENDING.c).where(_PENDING.c.state == bindparam("key"))
_STAGE = update(_PENDING).where(_PENDING.c.state == bindparam("key")).values(stage=bindparam("new_stage"))
_DROP = delete(_PENDING).where(_PENDING.c.state == bindparam("key"))


class SqlPendingLogins:
    """Pending logins as rows of ``pending_logins``, written in the step's transaction."""

    def insert(self, row: dict[str, Any]) -> None:
        db.session.execute(_INSERT, row)

    def sweep(self, now: datetime) -> None:
        db.session.execute(_SWEEP, {"now": now})

    def claim(self, state: str, digests: list[str], now: datetime) -> Pending | None:
        row = db.session.execute(_CLAIM, {"key": state, "digests": digests, "now": now}).first()
        return Pending.from_row(row) if row is not None else None

    def redeem(self, state: str, ticket_digests: list[str], browser_digest: str, now: datetime, expires_at: datetime) -> Pending | None:
        row = db.session.execute(
            update(_PENDING)
            .where(
                _PENDING.c.state == state,
                _PENDING.c.browser_digest.in_(ticket_digests),
                _PENDING.c.link_account.is_not(None),
                _PENDING.c.consumed_at.is_(None),
                _PENDING.c.expires_at > now,
            )
            .values(browser_digest=browser_digest, expires_at=expires_at)
            .returning(*_PENDING.c)
        ).first()
        return Pending.from_row(row) if row is not None else None

    def find(self, state: str) -> Pending | None:
        row = db.session.execute(_FIND, {"key": state}).first()
        return Pending.from_row(row) if row is not None else None

    def set_stage(self, state: str, stage: dict[str, Any]) -> None:
        db.session.execute(_STAGE, {"key": state, "new_stage": stage})

    def end(self, state: str, ended: dict[str, Any], now: datetime, expires_at: datetime) -> None:
        db.session.execute(update(_PENDING).where(_PENDING.c.state == state).values(stage=ended, consumed_at=now, expires_at=expires_at))

    def advance(self, state: str, stage: dict[str, Any], step: str, tries: int, now: datetime) -> bool:
        # On PostgreSQL the loser of a race waits for the winner's row lock, then finds the stage changed.
        changed = execute_dml(
            db.session,
            update(_PENDING)
            .where(
                _PENDING.c.state == state,
                _PENDING.c.stage["outcome"].as_string() == step,
                _PENDING.c.stage["tries"].as_integer() == tries,
            )
            .values(stage=stage),
        ).rowcount
        return changed == 1

    def drop(self, state: str) -> None:
        db.session.execute(_DROP, {"key": state})

    def count_waiting(self, now: datetime) -> int:
        waiting = select(func.count()).select_from(PendingLogin).where(PendingLogin.consumed_at.is_(None), PendingLogin.expires_at > now)
        count = db.session.execute(waiting).scalar_one()
        db.session.rollback()  # a read only: end its transaction now
        return int(count)

    def unreachable(self) -> str | None:
        return None  # the database's own check (``/readyz``) covers it
