"""``UtcDateTime``: every datetime column takes and gives aware UTC, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from broker.db.models import AuditEvent, Region
from broker.extensions import db

MOSCOW = timezone(timedelta(hours=3))


def test_a_stored_instant_comes_back_aware_utc_and_the_same_instant(app: Flask) -> None:
    at = datetime(2026, 9, 1, 8, 30, 15, 123456, tzinfo=MOSCOW)
    db.session.add(AuditEvent(at=at, actor="cli:test", action="region_changed", target="region:77"))
    db.session.commit()
    db.session.expire_all()
    read = db.session.scalar(select(AuditEvent.at))
    assert read == at and read.tzinfo == UTC and read.hour == 5


def test_a_comparison_with_an_instant_in_another_zone_compares_instants(app: Flask) -> None:
    db.session.add(AuditEvent(at=datetime(2026, 9, 1, 5, 0, tzinfo=UTC), actor="cli:test",
                              action="region_changed", target="region:77"))  # fmt: skip
    db.session.commit()
    same_instant_in_moscow = datetime(2026, 9, 1, 8, 0, tzinfo=MOSCOW)
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.at >= same_instant_in_moscow)) is not None
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.at > same_instant_in_moscow)) is None


def test_a_naive_datetime_is_refused_with_a_message_saying_what_to_pass(app: Flask) -> None:
    region = db.session.get(Region, "77")
    region.changed_at = datetime(2026, 9, 1, 8, 0)
    with pytest.raises(StatementError, match="refuses the naive datetime 2026-09-01T08:00:00: pass an aware one"):
        db.session.commit()
    db.session.rollback()


def test_an_empty_instant_stays_empty(app: Flask) -> None:
    assert db.session.get(Region, "77").changed_at is None
