"""Staff sessions: the server-side record behind a signed-in staff member's cookie.

The Flask session (a signed cookie) holds a random value; ``staff_sessions`` keeps its SHA-256
with the login time. A session ends at logout, after ``STAFF_SESSION_SECONDS`` from login
(absolute), after ``STAFF_IDLE_SECONDS`` without a request (idle), or when the member is
disabled or gets a new password. Signing in clears the Flask session first, so the value (and
the CSRF token kept beside it) is new at every login: a planted session is worth nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request, session
from sqlalchemy import update

from broker import services
from broker.db.models import Staff, StaffSession
from broker.digests import digest
from broker.extensions import db
from broker.staff import audit
from broker.staff.audit import Action

SESSION_KEY = "staff_session"
# last_seen_at is written at most this often: a page view is not worth a write every time.
_TOUCH_SECONDS = 60


def start(member: Staff) -> StaffSession:
    """Sign ``member`` in on this browser: a fresh Flask session holding a new session value."""
    config = current_app.config
    value = secrets.token_urlsafe(32)
    now = services.current().clock()
    row = StaffSession(
        id=digest(value),
        staff_id=member.id,
        created_at=now,
        expires_at=now + timedelta(seconds=float(config["STAFF_SESSION_SECONDS"])),
        last_seen_at=now,
        source=request.remote_addr if has_request_context() else None,
    )
    db.session.add(row)
    db.session.commit()
    session.clear()
    session[SESSION_KEY] = value
    return row


def current() -> StaffSession | None:
    """This browser's live staff session, or None (an ended one is forgotten)."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str):
        return None
    row = db.session.get(StaffSession, digest(value))
    now = services.current().clock()
    if row is None or not is_live(row, now):
        session.pop(SESSION_KEY, None)
        return None
    if (now - row.last_seen_at).total_seconds() >= _TOUCH_SECONDS:
        row.last_seen_at = now
        db.session.commit()
    return row


def is_live(row: StaffSession, now: datetime) -> bool:
    idle = timedelta(seconds=float(current_app.config["STAFF_IDLE_SECONDS"]))
    return row.ended_at is None and row.expires_at > now and row.last_seen_at + idle > now


def end_current() -> None:
    """Sign this browser out: end its session (audited) and clear the Flask session."""
    value = session.get(SESSION_KEY)
    row = db.session.get(StaffSession, digest(value)) if isinstance(value, str) else None
    if row is not None and row.ended_at is None:
        row.ended_at = services.current().clock()
        member = db.session.get(Staff, row.staff_id)
        login = member.login if member is not None else str(row.staff_id)
        audit.record(Action.STAFF_LOGOUT, f"staff:{login}", actor=login)
        db.session.commit()
    session.clear()


def end_all(staff_id: int) -> None:
    """End every session of a staff member (the caller commits)."""
    db.session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .values(ended_at=services.current().clock())
    )
