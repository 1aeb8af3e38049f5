"""Diary accounts written straight into the broker's database, for tests that need one or two."""

from __future__ import annotations

from datetime import UTC, date, datetime

from broker.db.models import Account
from broker.extensions import db


def add_account(account_id: str, region: str = "77", school_id: str = "sch-1") -> None:
    db.session.add(
        Account(id=account_id, login=account_id, role="student", region=region, school_id=school_id, last_name="Тестова",
                first_name="Алёна", middle_name="", name_key="k", birth_date=date(2016, 3, 1), gender="F",
                status="active", updated_at=datetime.now(UTC))
    )  # fmt: skip
    db.session.commit()
