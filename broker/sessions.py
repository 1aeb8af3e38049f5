"""Diary sessions: what the broker remembers of a person it has signed in (its SSO session).

The browser holds a random token in an ``HttpOnly`` cookie; the table keeps only its digest.
A session is valid until it expires or is revoked (logout).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app

from broker.extensions import db
from broker.models import DiarySession

COOKIE = "broker_sso"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    account_id: str, *, tier: str, amr: str, attempt_id: int | None, claims: dict[str, Any] | None = None
) -> tuple[DiarySession, str]:
    """Create a session for ``account_id``; return it and the cookie token (shown once)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    row = DiarySession(
        id=digest(token),
        account_id=account_id,
        attempt_id=attempt_id,
        tier=tier,
        amr=amr,
        claims=claims or {},
        created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["SESSION_SECONDS"]),
    )
    db.session.add(row)
    db.session.flush()
    return row, token


def find_session(token: str | None) -> DiarySession | None:
    """The live session behind a cookie token, or None."""
    if not token:
        return None
    row = db.session.get(DiarySession, digest(token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= datetime.now(timezone.utc):
        return None
    return row


def revoke(row: DiarySession) -> None:
    row.revoked_at = datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
