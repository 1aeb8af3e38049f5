"""Diary sessions: what the broker remembers of a person it has signed in (its SSO session).

The browser holds a random token in an ``HttpOnly`` cookie; the table keeps only its digest.
A session is valid until it expires or is revoked (logout). Ending a session ends the mobile
app's refresh token families begun in it (``broker.oidc.refresh``). Rows are written and read
with Core statements (this is on every login's path); the view commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import bindparam, func, insert, select, update

from broker import services
from broker.config import SSO_COOKIE
from broker.db.dml import Executor, execute_dml
from broker.db.models import DiarySession
from broker.digests import digest
from broker.extensions import db
from broker.oidc import refresh

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

COOKIE = SSO_COOKIE  # its plain name: broker.web.cookies names it on the wire
_SESSIONS = DiarySession.__table__
_INSERT = insert(_SESSIONS)
_SELECT = select(*_SESSIONS.c).where(_SESSIONS.c.id == bindparam("key"))


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A diary session as the OIDC endpoints use it (``id`` is the cookie token's digest)."""

    id: str
    account_id: str
    tier: str
    amr: str
    created_at: datetime
    auth_time: datetime  # when ESIA last asked the person to authenticate (see create_session)
    expires_at: datetime
    claims: dict[str, Any] = field(default_factory=dict, repr=False)
    attempt_id: int | None = None
    revoked_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > services.current().clock()

    @classmethod
    def from_row(cls, row: Any) -> LiveSession:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})


def create_session(
    account_id: str,
    *,
    tier: str,
    amr: str,
    attempt_id: int | None,
    claims: dict[str, Any] | None = None,
    auth_time: float | None = None,
) -> tuple[LiveSession, str]:
    """Create a session for ``account_id``; return it and the cookie token (shown once).

    ``auth_time``: when ESIA says it last asked the person to authenticate (Unix time; its
    single sign-on may have answered this login without asking). Without it, the session's
    start. Never later than now.
    """
    token = secrets.token_urlsafe(32)
    now = services.current().clock()
    authenticated = now if auth_time is None else min(datetime.fromtimestamp(auth_time, UTC), now)
    live = LiveSession(
        id=digest(token),
        account_id=account_id,
        tier=tier,
        amr=amr,
        created_at=now,
        auth_time=authenticated,
        expires_at=now + timedelta(seconds=current_app.config["SESSION_SECONDS"]),
        claims=claims or {},
        attempt_id=attempt_id,
    )
    db.session.execute(_INSERT, {name: getattr(live, name) for name in LiveSession.__slots__})
    return live, token


def get_session(session_id: str) -> LiveSession | None:
    """A session by its id, live or not."""
    row = db.session.execute(_SELECT, {"key": session_id}).first()
    return LiveSession.from_row(row) if row is not None else None


def find_session(token: str | None) -> LiveSession | None:
    """The live session behind a cookie token, or None."""
    if not token:
        return None
    live = get_session(digest(token))
    return live if live is not None and live.is_live else None


def revoke(live: LiveSession) -> None:
    """End a session and the refresh token families begun in it (the view commits)."""
    now = services.current().clock()
    db.session.execute(update(_SESSIONS).where(_SESSIONS.c.id == live.id).values(revoked_at=now))
    refresh.end_for_session(db.session, live.id, now)


def end_live_sessions(executor: Executor, account_id: str, now: datetime) -> int:
    """End the account's live diary sessions, and every refresh token family of the account (the
    mobile app's sessions, which outlive the diary session they began in), in the caller's
    transaction; return how many diary sessions ended.

    Whenever the ESIA person behind an account changes (an unlink by support, a link a registry moves in
    :mod:`broker.registry.links`), whoever signed in through the old link is signed out at once.
    """
    refresh.end_for_account(executor, account_id, now)
    return execute_dml(executor, update(_SESSIONS).where(*_live(account_id, now)).values(revoked_at=now)).rowcount


def live_sessions(account_id: str) -> int:
    """How many broker diary sessions of the account are live now (those an unlink would end)."""
    count = select(func.count()).select_from(_SESSIONS).where(*_live(account_id, services.current().clock()))
    return db.session.scalar(count) or 0


def _live(account_id: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the account's live sessions: neither revoked nor expired at ``now``."""
    return (_SESSIONS.c.account_id == account_id, _SESSIONS.c.revoked_at.is_(None), _SESSIONS.c.expires_at > now)
