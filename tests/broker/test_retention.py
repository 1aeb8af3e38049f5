"""`broker purge`: what retention removes, in batches, audited; a dry run writes nothing."""

from __future__ import annotations

import getpass
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, event, func, select

from broker.db.models import (
    AccessToken,
    Account,
    AuditEvent,
    AuthorizationCode,
    DiarySession,
    InviteCode,
    InviteFailure,
    LoginAttempt,
    PendingLogin,
    RefreshFamily,
    RefreshToken,
    StaffSession,
)
from broker.extensions import db
from broker.ops import retention
from broker.staff.audit import PURGE_OPTION, AuditAppendOnlyError
from tests.broker.staffing import audit_rows, make_staff


class Clock:
    """The instant the rows of a test are placed around (set afresh for every test)."""

    now = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    Clock.now = datetime.now(UTC)


DAY = timedelta(days=1)
_IDS = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_IDS):06d}"


def add_attempt(ago: timedelta) -> LoginAttempt:
    row = LoginAttempt(reference=_id("R"), started_at=Clock.now - ago, client_id="portal", flow="login", region="77", outcome="refused")
    db.session.add(row)
    db.session.flush()
    return row


def add_audit(ago: timedelta) -> None:
    # An old event, as it was written then (inserting is what the append-only log allows).
    db.session.add(AuditEvent(at=Clock.now - ago, actor="cli:test", action="region_changed", target="region:77"))


def add_session(expires_in: timedelta, *, revoked: bool = False, attempt: LoginAttempt | None = None) -> str:
    session_id = _id("S")
    db.session.add(
        DiarySession(
            id=session_id, account_id="acc-1", attempt_id=attempt.id if attempt else None, tier="verified", amr="PWD",
            created_at=Clock.now - timedelta(hours=8), auth_time=Clock.now - timedelta(hours=8), expires_at=Clock.now + expires_in,
            revoked_at=Clock.now if revoked else None,
        )
    )  # fmt: skip
    db.session.flush()  # no ORM relationships: insert in foreign-key order by hand
    return session_id


def add_code(session_id: str, expires_in: timedelta) -> None:
    db.session.add(
        AuthorizationCode(
            code_digest=_id("C"), client_id="portal", redirect_uri="https://portal.test/cb", scope="openid",
            session_id=session_id, auth_time=0, expires_at=Clock.now + expires_in,
        )
    )  # fmt: skip


def add_token(session_id: str, expires_in: timedelta) -> None:
    db.session.add(
        AccessToken(token_digest=_id("T"), client_id="portal", scope="openid", session_id=session_id,
                    issued_at=Clock.now - timedelta(minutes=5), expires_at=Clock.now + expires_in)
    )  # fmt: skip


def add_family(session_id: str, idle_expires_in: timedelta, *, revoked: bool = False) -> None:
    """A refresh token family begun in ``session_id`` a day ago, with one spent and one current token."""
    family = RefreshFamily(
        client_id="app", account_id="acc-1", session_id=session_id, scope="openid offline_access", created_at=Clock.now - DAY,
        expires_at=Clock.now + 29 * DAY, idle_expires_at=Clock.now + idle_expires_in, revoked_at=Clock.now if revoked else None,
    )  # fmt: skip
    db.session.add(family)
    db.session.flush()
    db.session.add(RefreshToken(digest=_id("F").ljust(64, "0"), family_id=family.id, issued_at=Clock.now - DAY, used_at=Clock.now))
    db.session.add(RefreshToken(digest=_id("F").ljust(64, "0"), family_id=family.id, issued_at=Clock.now))


def add_pending(expires_in: timedelta) -> None:
    db.session.add(
        PendingLogin(
            state=_id("P"), browser_digest="b", client_id="portal", portal_request={}, region="77", esia_nonce="n",
            created_at=Clock.now - timedelta(minutes=15), expires_at=Clock.now + expires_in,
        )
    )  # fmt: skip


def add_staff_session(staff_id: int, **times: Any) -> None:
    values = {
        "created_at": Clock.now - timedelta(hours=1),
        "expires_at": Clock.now + timedelta(hours=7),
        "last_seen_at": Clock.now,
        **times,
    }
    db.session.add(StaffSession(id=_id("W"), staff_id=staff_id, **values))


def add_invite(account_id: str, *, expires_in: timedelta, used: bool = False) -> None:
    db.session.add(
        InviteCode(account_id=account_id, digest=_id("I").ljust(64, "0"), issued_by="staff:boss",
                   issued_at=Clock.now - timedelta(days=1), expires_at=Clock.now + expires_in,
                   used_at=Clock.now - timedelta(hours=1) if used else None)
    )  # fmt: skip


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """Old and recent rows of every table the purge looks at; what should stay is returned."""
    db.session.add(
        Account(id="acc-1", login="kid", role="student", region="77", school_id="s-1", last_name="Тестов",
                first_name="Пётр", middle_name="", name_key="k", birth_date=date(2012, 1, 1), gender="M",
                status="active", updated_at=Clock.now)
    )  # fmt: skip
    db.session.flush()
    old = add_attempt(181 * DAY)
    add_attempt(200 * DAY)
    recent = add_attempt(179 * DAY)
    add_audit(3 * 366 * DAY)
    add_audit(30 * DAY)
    live = add_session(timedelta(hours=2), attempt=old)  # its attempt goes: the link becomes NULL
    revoked_live = add_session(timedelta(hours=2), revoked=True)
    in_grace = add_session(-timedelta(minutes=5))  # expired, but a token issued in it may live on
    gone = add_session(-timedelta(days=2), revoked=True)
    app_session = add_session(-timedelta(days=2))  # expired, but the mobile app's family begun in it lives
    add_family(app_session, timedelta(days=13))
    add_family(live, -timedelta(minutes=11))  # idle past its lifetime, and its last access token expired
    add_family(live, -timedelta(minutes=9))  # idle past its lifetime, but its last access token may live
    add_family(live, timedelta(days=13), revoked=True)
    add_code(live, -timedelta(seconds=1))
    add_code(live, timedelta(minutes=10))
    add_token(live, -timedelta(minutes=1))
    add_token(in_grace, timedelta(minutes=4))
    add_pending(-timedelta(minutes=1))
    add_pending(timedelta(minutes=10))
    member = make_staff("boss", role="admin")
    add_staff_session(member.id, ended_at=Clock.now - timedelta(hours=1))
    add_staff_session(member.id, expires_at=Clock.now - timedelta(seconds=1))
    add_staff_session(member.id, last_seen_at=Clock.now - timedelta(hours=1))  # idle past STAFF_IDLE_SECONDS
    add_staff_session(member.id)
    add_invite("acc-1", expires_in=-timedelta(minutes=1), used=True)
    add_invite("acc-1", expires_in=timedelta(days=3))
    db.session.add(InviteFailure(account_id="acc-1", at=Clock.now - timedelta(days=1, minutes=1)))
    db.session.add(InviteFailure(account_id="acc-1", at=Clock.now - timedelta(hours=23)))
    db.session.commit()
    return {"recent_attempt": recent.id, "sessions": {live, revoked_live, in_grace, app_session}, "gone": gone}


EXPECTED = {
    "oidc_codes": 1,
    "oidc_tokens": 1,
    "oidc_refresh_families": 2,
    "sessions": 1,
    "pending_logins": 1,
    "staff_sessions": 3,
    "invite_codes": 1,
    "invite_failures": 1,
    "login_attempts": 2,
    "audit_events": 1,
}


def counts() -> dict[str, int]:
    db.session.expire_all()
    models = {
        "oidc_codes": AuthorizationCode, "oidc_tokens": AccessToken, "sessions": DiarySession,
        "pending_logins": PendingLogin, "staff_sessions": StaffSession, "invite_codes": InviteCode,
        "invite_failures": InviteFailure, "login_attempts": LoginAttempt, "audit_events": AuditEvent,
        "oidc_refresh_families": RefreshFamily,
    }  # fmt: skip
    return {name: db.session.scalar(select(func.count()).select_from(model)) or 0 for name, model in models.items()}


def test_a_dry_run_counts_and_writes_nothing(world: dict[str, Any], runner: FlaskCliRunner) -> None:
    before = counts()
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    for table, number in EXPECTED.items():
        assert f"{table} " in result.output and f"{number} would remove" in result.output.split(table, 1)[1].splitlines()[0]
    assert "dry run: 14 rows would be removed; nothing was deleted" in result.output
    assert counts() == before
    assert audit_rows("retention_purge") == []


def test_purges_old_and_expired_rows_keeps_the_rest_and_prints_the_counts(world: dict[str, Any], runner: FlaskCliRunner) -> None:
    before = counts()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    for table, number in EXPECTED.items():
        assert lines[table].split()[1:3] == [str(number), "removed"], lines[table]
    assert "(started before" in lines["login_attempts"] and "ATTEMPT_RETENTION_DAYS=180" in lines["login_attempts"]
    assert "14 rows removed; the purge is recorded in the audit log" in result.output
    after = counts()
    # The purge's own audit event is new: one old event gone, one added.
    assert after == {table: before[table] - EXPECTED[table] + (table == "audit_events") for table in before}
    assert db.session.scalars(select(LoginAttempt.id)).all() == [world["recent_attempt"]]
    assert set(db.session.scalars(select(DiarySession.id))) == world["sessions"]
    assert all(row.attempt_id is None for row in db.session.scalars(select(DiarySession)))
    assert db.session.scalar(select(func.count()).select_from(AccessToken).where(AccessToken.expires_at > Clock.now)) == 1
    # The purged families' spent and current tokens went with them; the two families left keep theirs.
    assert db.session.scalar(select(func.count()).select_from(RefreshToken)) == 4


def test_the_purge_is_audited_with_its_counts(world: dict[str, Any], runner: FlaskCliRunner) -> None:
    runner.invoke(args=["purge"])
    [event] = audit_rows("retention_purge")
    assert event.actor == f"cli:{getpass.getuser()}"
    assert event.after["removed"] == EXPECTED
    assert event.after["attempts_before"].startswith(str((Clock.now - 180 * DAY).date())[:7])
    assert runner.invoke(args=["purge"]).exit_code == 0  # a second run finds nothing old ...
    assert audit_rows("retention_purge")[-1].after["removed"] == dict.fromkeys(EXPECTED, 0)


def test_deletes_in_batches_of_the_given_size(app: Flask) -> None:
    for days in range(181, 188):
        add_attempt(days * DAY)
    add_attempt(DAY)
    db.session.commit()
    deletes: list[str] = []

    def count_deletes(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM login_attempts"):
            deletes.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_deletes)
    try:
        report = retention.purge(Clock.now, attempt_days=180, audit_days=1095, batch_size=3, actor="cli:test")
    finally:
        event.remove(db.engine, "before_cursor_execute", count_deletes)
    assert report.removed["login_attempts"] == 7 and len(deletes) == 3
    assert counts()["login_attempts"] == 1


def test_the_periods_follow_the_configuration(world: dict[str, Any], app: Flask, runner: FlaskCliRunner) -> None:
    app.config.update(ATTEMPT_RETENTION_DAYS=190, AUDIT_RETENTION_DAYS=20)
    result = runner.invoke(args=["purge", "--dry-run"])
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if "would remove" in line}
    assert (lines["login_attempts"], lines["audit_events"]) == ("1", "2")


@pytest.mark.parametrize(("key", "value"), [("ATTEMPT_RETENTION_DAYS", 0), ("AUDIT_RETENTION_DAYS", "three years")])
def test_a_bad_period_is_named_and_nothing_is_deleted(
    world: dict[str, Any], app: Flask, runner: FlaskCliRunner, key: str, value: Any
) -> None:
    before = counts()
    app.config[key] = value
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 1 and f"{key}: must be a whole number of at least 1" in result.output
    assert counts() == before


def test_audit_events_go_only_with_the_purge_option(world: dict[str, Any]) -> None:
    old = AuditEvent.at < Clock.now - 1000 * DAY
    before = counts()["audit_events"]
    with pytest.raises(AuditAppendOnlyError):
        db.session.execute(delete(AuditEvent).where(old))
    db.session.rollback()
    assert counts()["audit_events"] == before
    db.session.execute(delete(AuditEvent).where(old).execution_options(**{PURGE_OPTION: True}))
    db.session.commit()
    assert counts()["audit_events"] == before - 1
