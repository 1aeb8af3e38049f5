"""The audit log: what it records, and that nothing in the app can change or delete a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from broker.db.models import AuditEvent
from broker.extensions import db
from broker.staff import audit
from broker.staff.audit import Action, AuditAppendOnlyError
from tests.broker.staffing import audit_rows


def recorded(**overrides: object) -> AuditEvent:
    values: dict = {"actor": "cli:test", "target": "region:77", "before": {"enabled": False}, "after": {"enabled": True}}
    values.update(overrides)
    row = audit.record(Action.REGION_CHANGED, **values)
    db.session.commit()
    return row


def test_records_actor_action_target_before_after_source_and_comment(app: Flask) -> None:
    at = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    recorded(source="203.0.113.7", comment="по письму №15", after={"enabled": True, "changed_at": at, "codes": ("77",)})
    [row] = audit_rows()
    assert (row.actor, row.action, row.target, row.source, row.comment) == (
        "cli:test",
        "region_changed",
        "region:77",
        "203.0.113.7",
        "по письму №15",
    )
    assert row.before == {"enabled": False}
    assert row.after == {"enabled": True, "changed_at": "2026-09-01T08:00:00+00:00", "codes": ["77"]}
    assert row.at is not None


def test_takes_the_source_address_from_the_request(app: Flask) -> None:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        audit.set_request_actor("ivanov")
        audit.record(Action.ACCOUNT_UNLINKED, "account:a-1", comment="по заявлению")
        db.session.commit()
    [row] = audit_rows()
    assert (row.actor, row.source) == ("ivanov", "198.51.100.4")


def test_needs_an_actor_outside_a_staff_request(app: Flask) -> None:
    with pytest.raises(ValueError, match="needs an actor"):
        audit.record(Action.STAFF_CREATED, "staff:x")
    with pytest.raises(ValueError, match="snake_case"):
        audit.record("Staff Created", "staff:x", actor="cli:test")


def test_the_orm_refuses_to_change_an_audit_row(app: Flask) -> None:
    row = recorded()
    row.comment = "исправлено задним числом"
    with pytest.raises(AuditAppendOnlyError, match="cannot be changed"):
        db.session.commit()
    db.session.rollback()
    assert audit_rows()[0].comment is None


def test_the_orm_refuses_to_delete_an_audit_row(app: Flask) -> None:
    row = recorded()
    db.session.delete(row)
    with pytest.raises(AuditAppendOnlyError, match="cannot be deleted"):
        db.session.commit()
    db.session.rollback()
    assert len(audit_rows()) == 1


def test_bulk_updates_and_deletes_are_refused_except_the_retention_purge(app: Flask) -> None:
    recorded()
    with pytest.raises(AuditAppendOnlyError):
        db.session.execute(update(AuditEvent).values(actor="someone else"))
    with pytest.raises(AuditAppendOnlyError):
        db.session.execute(delete(AuditEvent))
    db.session.rollback()
    assert len(audit_rows()) == 1
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    db.session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff).execution_options(**{audit.PURGE_OPTION: True}))
    db.session.commit()
    assert audit_rows() == []


def test_the_database_refuses_to_update_an_audit_row_too(app: Flask) -> None:
    recorded()
    with pytest.raises(DatabaseError, match="append-only"):
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE audit_events SET actor = 'someone else'"))
    assert audit_rows()[0].actor == "cli:test"


def test_finds_events_newest_first_by_action_and_actor_prefix_in_pages(app: Flask) -> None:
    for n in range(5):
        recorded(actor=f"cli:user{n}")
    audit.record(Action.STAFF_LOGIN, "staff:ivanov", actor="ivanov")
    audit.record(Action.STAFF_LOGIN, "staff:ivanov_2", actor="ivanov_2")
    db.session.commit()
    first = audit.find_events(per_page=3)
    assert [e.actor for e in first.events] == ["ivanov_2", "ivanov", "cli:user4"] and first.has_next
    last = audit.find_events(per_page=3, page=3)
    assert [e.actor for e in last.events] == ["cli:user0"] and not last.has_next
    assert [e.actor for e in audit.find_events(action="region_changed", actor="cli:user1").events] == ["cli:user1"]
    assert [e.actor for e in audit.find_events(actor="ivanov_").events] == ["ivanov_2"]  # "_" is not a wildcard
    assert audit.find_events(actor="%").events == []
