"""Login attempts for the support tests: a small registry, one attempt of each kind, and lookups.

The fixtures ``attempts_registry`` and ``made`` (tests/broker/conftest.py) build them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

import matching
from broker import services
from broker.db.models import Region
from broker.extensions import db
from broker.login import attempts, decisions
from broker.support import search as attemptsearch
from broker.support.search import Criteria
from tests.broker.registry_files import row, write_csv
from tests.builders import CHILD_SNILS, OTHER_SNILS, make_person, make_snils

NOW = datetime.now(UTC)
SNILS_6 = make_snils(445566778)
ALL = None  # the scope of admins and support staff


def registry_rows() -> list[dict[str, Any]]:
    return [
        row(),  # acc-1: Пётр Тестов, teacher, 77
        row(id="acc-2", login="p.testov.parent", role="parent"),  # the same person's second account
        row(id="acc-3", login="i.ivanov", region="39", school_id="sch-39", last_name="Иванов", first_name="Иван",
            middle_name="Иванович", birth_date="1985-01-01", snils=OTHER_SNILS),
        row(id="acc-4", login="kid", role="student", region="50", school_id="sch-50", last_name="Тестова",
            first_name="Алёна", middle_name="Петровна", birth_date="2016-03-01", gender="F", snils=""),
        row(id="acc-5", login="blocked", last_name="Орлова", first_name="Вера", middle_name="Ильинична",
            birth_date="1981-02-11", gender="F", snils=CHILD_SNILS, status="blocked"),
        row(id="acc-6", login="no.snils", last_name="Сидоров", first_name="Олег", middle_name="Петрович",
            birth_date="1979-05-05", snils=""),
    ]  # fmt: skip


def import_rows(app: Flask, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "registry.csv", rows))])
    assert result.exit_code == 0, result.output


def switch_region(code: str, enabled: bool) -> None:
    """Switch a region as a test's setting (the audited way is the regions helper's business)."""
    db.session.execute(update(Region).where(Region.code == code).values(enabled=enabled))
    db.session.commit()
    services.current().region_cache.clear()


def attempt_for(person: matching.Person, region: str, *, at: datetime | None = None, flow: str = "login") -> attempts.Attempt:
    """An attempt recorded as ``broker.login.flow.finish`` records one once ESIA has answered."""
    at = at or datetime.now(UTC)
    decision = decisions.decide(person, region, at)
    attempt = attempts.record("portal", region, at, flow, decision=decision, oid=person.oid,
                           snils_digest=attempts.snils_digest_of(person), tier=str(person.tier))  # fmt: skip
    db.session.commit()
    return attempt


TESTOV = make_person()  # acc-1 and acc-2: one person, two accounts
IVANOV = make_person(oid=matching.EsiaOid("2000"), last_name="Иванов", first_name="Иван", middle_name="Иванович",
                     birth_date=date(1985, 1, 1), snils=OTHER_SNILS)  # fmt: skip
KID = make_person(oid=matching.EsiaOid("3000"), tier=matching.Tier.SIMPLIFIED, last_name="Тестова", first_name="Алёна",
                  middle_name="Петровна", birth_date=date(2016, 3, 1), gender=matching.Gender.FEMALE, snils=None)  # fmt: skip
ORLOVA = make_person(oid=matching.EsiaOid("4000"), last_name="Орлова", first_name="Вера", middle_name="Ильинична",
                     birth_date=date(1981, 2, 11), gender=matching.Gender.FEMALE, snils=CHILD_SNILS)  # fmt: skip
SIDOROV = make_person(oid=matching.EsiaOid("5000"), last_name="Сидоров", first_name="Олег", middle_name="Петрович",
                      birth_date=date(1979, 5, 5), snils=SNILS_6)  # fmt: skip


def row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) or 0 for table in db.metadata.sorted_tables}


def references(page: attemptsearch.SearchPage) -> list[str]:
    return [attempt.reference for attempt in page.attempts]


def find(scope: frozenset[str] | None = ALL, **criteria: Any) -> list[str]:
    return references(attemptsearch.search(Criteria(**criteria), regions=scope, limit=50))
