"""SqlRegistry keeps the registry port's contract, so decisions match the in-memory fake's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import matching
from broker import services
from broker.db.models import Account, EsiaLink
from broker.extensions import db
from tests.builders import (
    ADULT_SNILS,
    CHILD_SNILS,
    MOSCOW,
    NOW,
    OTHER_SNILS,
    FakeRegistry,
    make_account,
    make_child,
    make_child_account,
    make_person,
)
from tests.databases import DATABASES, MigratedDatabases, running_app

Build = Callable[[Iterable[matching.Account]], matching.Registry]


def store(accounts: Iterable[matching.Account]) -> matching.Registry:
    now = datetime.now(UTC)
    for a in accounts:
        db.session.add(
            Account(
                id=a.id,
                login=a.login,
                role=str(a.role),
                region=a.region,
                school_id=a.school_id,
                last_name=a.last_name,
                first_name=a.first_name,
                middle_name=a.middle_name,
                name_key=matching.name_key(a.last_name, a.first_name, a.middle_name),
                short_key=matching.short_name_key(a.last_name, a.first_name),
                birth_date=a.birth_date,
                gender=str(a.gender),
                snils_digest=a.snils_digest,
                snils_masked=a.snils_masked,
                snils_valid=a.snils_valid,
                status=str(a.status),
                updated_at=now,
            )  # fmt: skip
        )
        if a.esia_oid:
            db.session.add(EsiaLink(account_id=a.id, oid=a.esia_oid, source="import", linked_at=now))
    db.session.commit()
    return services.current().registry


@pytest.fixture(params=["fake", *DATABASES])
def build(request: pytest.FixtureRequest, tmp_path: Path, migrated: MigratedDatabases) -> Iterator[Build]:
    if request.param == "fake":
        yield FakeRegistry
        return
    with running_app(migrated.copy(request.param, tmp_path), migrated=True):
        yield store


def test_finds_accounts_by_snils_digest_name_and_birth_date_and_oid(build: Build) -> None:
    person = make_person()
    registry = build([
        make_account(),
        make_account(id=matching.AccountId("linked"), login="l", snils=OTHER_SNILS, esia_oid=matching.EsiaOid("77")),
        make_child_account(),
    ])  # fmt: skip
    digest = registry.snils_digest(matching.parse_snils(ADULT_SNILS))
    assert [a.id for a in registry.find_by_snils(digest)] == ["acc-1"]
    key = matching.name_key("ТЕСТОВА", "Алёна", "Петровна")
    assert [a.id for a in registry.find_by_name(key, make_child().birth_date)] == ["acc-child"]
    assert [a.id for a in registry.find_by_name(key, None)] == ["acc-child"]
    assert registry.find_by_name(key, person.birth_date) == []
    found = registry.find_by_oid(matching.EsiaOid("77"))
    assert [(a.id, a.esia_oid) for a in found] == [("linked", "77")]
    assert registry.get(matching.AccountId("acc-1")) == make_account()
    assert registry.get(matching.AccountId("nobody")) is None


@pytest.mark.parametrize(
    ("person", "accounts", "outcome", "reason"),
    [
        (make_person(), [make_account()], matching.Outcome.LINKED, None),
        (make_child(), [make_child_account()], matching.Outcome.LINKED, None),
        (make_person(), [make_account(snils=None)], matching.Outcome.REFUSED, matching.Reason.SNILS_MISSING_IN_DIARY),
        (make_child(snils=CHILD_SNILS), [make_child_account(snils=OTHER_SNILS)], matching.Outcome.REFUSED, matching.Reason.SNILS_MISMATCH),
        (make_person(), [make_account(esia_oid=matching.EsiaOid("1000100001"))], matching.Outcome.SIGNED_IN, None),
    ],
)
def test_decisions_agree_on_both_registries(
    build: Build, person: matching.Person, accounts: list[matching.Account], outcome: matching.Outcome, reason: matching.Reason | None
) -> None:
    decision = matching.decide(person, registry=build(accounts), region=MOSCOW, regions={"77": MOSCOW}, at=NOW)
    assert (decision.outcome, decision.reason) == (outcome, reason)
