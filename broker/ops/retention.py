"""Retention: ``broker purge`` deletes what the broker may no longer keep, or no longer needs.

* login attempts older than ``ATTEMPT_RETENTION_DAYS`` and audit events older than
  ``AUDIT_RETENTION_DAYS`` (personal data is kept no longer than its purpose needs, 152-FZ);
* what has expired anyway: pending logins, OIDC codes (spent or not: a spent code is kept until
  its expiry only to recognise a replay) and access tokens past their expiry, the mobile app's
  refresh token families once revoked or past their lifetime (their spent tokens go with them),
  diary sessions past theirs (revoked or not; kept while a refresh token family begun in them
  lives) and staff sessions that ended, expired or idled out;
* invite codes past their expiry (used, revoked or not: the audit log keeps their history) and
  wrong invite codes older than ``INVITE_FAILURE_WINDOW_SECONDS`` (they count for nothing then).

Rows go in batches of ``batch_size``, one transaction each, walking an index from where the
last batch stopped, so a million old rows never hold one huge transaction or lock and each batch
is cheap. Foreign keys take care of the rest: a session's ``attempt_id`` is set to NULL when its
attempt goes, and a session's codes and tokens go with it (they have expired by then: a session
is kept past its expiry for as long as an access token issued in it may live). The purge itself
is audited (``retention_purge``) with what it removed; a dry run counts and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from broker.db.dml import execute_dml
from broker.db.models import (
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    DiarySession,
    InviteCode,
    InviteFailure,
    LoginAttempt,
    Model,
    PendingLogin,
    RefreshFamily,
    StaffSession,
)
from broker.errors import InputError
from broker.extensions import db
from broker.oidc import provider as oidc
from broker.staff import audit
from broker.staff.audit import Action

DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class Target:
    """One table's purge: which rows, and the indexed column the batches walk along."""

    table: str
    model: type[Model]
    condition: ColumnElement[bool]
    walk: InstrumentedAttribute[Any]  # ascending; the primary key or an indexed time column
    why: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge removed (or, in a dry run, would remove), per table, in the order purged."""

    now: datetime
    attempts_before: datetime
    audit_before: datetime
    removed: dict[str, int]
    why: dict[str, str]
    dry_run: bool

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def targets(now: datetime, *, attempt_days: int, audit_days: int) -> list[Target]:
    """The purge, table by table, in an order that lets the foreign keys do the least work."""
    config = current_app.config
    attempts_before = now - timedelta(days=attempt_days)
    audit_before = now - timedelta(days=audit_days)
    # An access token may be issued up to a code's lifetime after its session's last moment and
    # then lives ACCESS_TOKEN_SECONDS: keep the session (which the token needs) until then.
    session_grace = timedelta(seconds=float(config["ACCESS_TOKEN_SECONDS"]) + oidc.CODE_SECONDS)
    # A family's last access token may be issued at its idle expiry (never later than its absolute
    # one) and lives ACCESS_TOKEN_SECONDS; a revoked family's access tokens went with it.
    family_grace = timedelta(seconds=float(config["ACCESS_TOKEN_SECONDS"]))
    family_of_session = exists().where(RefreshFamily.session_id == DiarySession.id)
    idle = timedelta(seconds=float(config["STAFF_IDLE_SECONDS"]))
    invite_window = timedelta(seconds=float(config["INVITE_FAILURE_WINDOW_SECONDS"]))
    return [
        Target("oidc_codes", AuthorizationCode, AuthorizationCode.expires_at < now,
               AuthorizationCode.code_digest, "expired (spent ones too: past expiry a replay is refused anyway)"),
        Target("oidc_tokens", AccessToken, AccessToken.expires_at < now, AccessToken.token_digest, "expired"),
        Target("oidc_refresh_families", RefreshFamily,
               or_(RefreshFamily.revoked_at.is_not(None), RefreshFamily.idle_expires_at < now - family_grace), RefreshFamily.id,
               "revoked, or past their lifetime and no access token of theirs is live (their spent tokens with them)"),
        Target("sessions", DiarySession, (DiarySession.expires_at < now - session_grace) & ~family_of_session, DiarySession.id,
               "expired (revoked or not), no access token of theirs is live, no refresh token family begun in them is left"),
        Target("pending_logins", PendingLogin, PendingLogin.expires_at < now, PendingLogin.expires_at, "expired"),
        Target(
            "staff_sessions",
            StaffSession,
            or_(StaffSession.ended_at.is_not(None), StaffSession.expires_at < now, StaffSession.last_seen_at < now - idle),
            StaffSession.id,
            "ended, expired or idle past STAFF_IDLE_SECONDS",
        ),
        Target("invite_codes", InviteCode, InviteCode.expires_at < now, InviteCode.id,
               "expired (used, revoked or not; the audit log keeps their history)"),
        Target("invite_failures", InviteFailure, InviteFailure.at < now - invite_window, InviteFailure.id,
               "older than INVITE_FAILURE_WINDOW_SECONDS"),
        Target("login_attempts", LoginAttempt, LoginAttempt.started_at < attempts_before, LoginAttempt.started_at,
               f"started before {_utc(attempts_before)} (ATTEMPT_RETENTION_DAYS={attempt_days})"),
        Target("audit_events", AuditEvent, AuditEvent.at < audit_before, AuditEvent.at,
               f"recorded before {_utc(audit_before)} (AUDIT_RETENTION_DAYS={audit_days})",
               # The audit log refuses every other delete (broker.staff.audit's guards).
               options={audit.PURGE_OPTION: True}),
    ]  # fmt: skip


def purge(
    now: datetime,
    *,
    attempt_days: int,
    audit_days: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    actor: str,
) -> PurgeReport:
    """Delete (or with ``dry_run`` count) what retention allows, and audit the purge as ``actor``."""
    for name, value in (("ATTEMPT_RETENTION_DAYS", attempt_days), ("AUDIT_RETENTION_DAYS", audit_days), ("--batch-size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(name, f"must be a whole number of at least 1, not {value!r}")
    now = now.astimezone(UTC)
    plan = targets(now, attempt_days=attempt_days, audit_days=audit_days)
    db.session.commit()  # start from a clean transaction: every batch is its own
    removed: dict[str, int] = {}
    for target in plan:
        removed[target.table] = _count(target) if dry_run else _delete(target, batch_size)
    report = PurgeReport(
        now=now,
        attempts_before=now - timedelta(days=attempt_days),
        audit_before=now - timedelta(days=audit_days),
        removed=removed,
        why={target.table: target.why for target in plan},
        dry_run=dry_run,
    )
    if not dry_run:
        audit.record(
            Action.RETENTION_PURGE,
            None,
            after={
                "removed": removed,
                "attempts_before": report.attempts_before,
                "audit_before": report.audit_before,
            },
            actor=actor,
        )
        db.session.commit()
    return report


def _count(target: Target) -> int:
    return db.session.scalar(select(func.count()).select_from(target.model).where(target.condition)) or 0


def _delete(target: Target, batch_size: int) -> int:
    """Delete ``target``'s rows batch by batch, each batch its own transaction."""
    key = target.model.__mapper__.primary_key[0]
    walks_key = target.walk.property.columns[0] is key
    columns = (key,) if walks_key else (key, target.walk)
    removed = 0
    last: Any = None
    while True:
        query = select(*columns).where(target.condition)
        if last is not None:
            # Resume where the last batch stopped: rows before it are gone, so the index is
            # not walked again over them (nor over their dead entries, on PostgreSQL).
            query = query.where(target.walk > last if walks_key else target.walk >= last)
        rows = db.session.execute(query.order_by(target.walk).limit(batch_size)).all()
        if not rows:
            break
        statement = (
            delete(target.model).where(key.in_([row[0] for row in rows])).execution_options(synchronize_session=False, **target.options)
        )
        done = execute_dml(db.session, statement).rowcount
        db.session.commit()
        removed += done
        if len(rows) < batch_size or done == 0:
            break
        last = rows[-1][-1]
    return removed


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")
