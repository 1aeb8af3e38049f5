"""Test builders: people, accounts, regions and an in-memory registry."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from matching import (
    Account,
    AccountId,
    AccountStatus,
    EsiaOid,
    Gender,
    Person,
    RegionPolicy,
    Role,
    Snils,
    Tier,
    format_snils,
    mask_snils,
    name_key,
    short_name_key,
    snils_checksum,
)

TEST_KEY = b"test-snils-key"
MOSCOW = RegionPolicy(code="77", name="Москва", timezone="Europe/Moscow", enabled=True)
# The login instant most tests use: noon in Moscow on 2026-11-28.
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_snils(number: int) -> str:
    """A valid SNILS in the usual spelling from a nine-digit number above the unchecked range."""
    digits = f"{number:09d}"
    return format_snils(digits + snils_checksum(digits))


def digest(snils: str) -> str:
    digits = "".join(ch for ch in snils if ch.isdigit())
    return hmac.new(TEST_KEY, digits.encode(), hashlib.sha256).hexdigest()


ADULT_SNILS = make_snils(112233445)
CHILD_SNILS = make_snils(223344556)
OTHER_SNILS = make_snils(334455667)


def make_person(**overrides: Any) -> Person:
    """An adult verified ESIA person (Пётр Сергеевич Тестов, born 1990)."""
    values: dict[str, Any] = dict(
        oid=EsiaOid("1000100001"),
        tier=Tier.VERIFIED,
        last_name="Тестов",
        first_name="Пётр",
        middle_name="Сергеевич",
        birth_date=date(1990, 7, 14),
        gender=Gender.MALE,
        snils=ADULT_SNILS,
    )
    values.update(overrides)
    return Person(**values)


def make_child(**overrides: Any) -> Person:
    """A ten-year-old with a simplified ESIA account and no SNILS."""
    values: dict[str, Any] = dict(
        oid=EsiaOid("1000100002"),
        tier=Tier.SIMPLIFIED,
        last_name="Тестова",
        first_name="Алёна",
        middle_name="Петровна",
        birth_date=date(2016, 3, 1),
        gender=Gender.FEMALE,
        snils=None,
    )
    values.update(overrides)
    return make_person(**values)


def make_account(**overrides: Any) -> Account:
    """The diary account of :func:`make_person`, active and attached, in Moscow."""
    snils = overrides.pop("snils", ADULT_SNILS)
    values: dict[str, Any] = dict(
        id=AccountId("acc-1"),
        login="p.testov",
        role=Role.TEACHER,
        region="77",
        school_id="school-1",
        last_name="Тестов",
        first_name="Пётр",
        middle_name="Сергеевич",
        birth_date=date(1990, 7, 14),
        gender=Gender.MALE,
        snils_digest=digest(snils) if snils else None,
        snils_masked=mask_snils("".join(c for c in snils if c.isdigit())) if snils else None,
        status=AccountStatus.ACTIVE,
        esia_oid=None,
    )
    values.update(overrides)
    return Account(**values)


def make_child_account(**overrides: Any) -> Account:
    values: dict[str, Any] = dict(
        id=AccountId("acc-child"),
        login="a.testova",
        role=Role.STUDENT,
        last_name="Тестова",
        first_name="Алена",
        middle_name="Петровна",
        birth_date=date(2016, 3, 1),
        gender=Gender.FEMALE,
        snils=None,
    )
    values.update(overrides)
    return make_account(**values)


def make_region(**overrides: Any) -> RegionPolicy:
    return replace(MOSCOW, **overrides)


class FakeRegistry:
    """An in-memory :class:`matching.Registry`."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.accounts: dict[str, Account] = {}
        for account in accounts:
            self.add(account)

    def add(self, account: Account) -> None:
        self.accounts[account.id] = account

    def snils_digest(self, snils: Snils) -> str:
        return digest(snils.digits)

    def get(self, account_id: AccountId) -> Account | None:
        return self.accounts.get(account_id)

    def _sorted(self) -> list[Account]:
        return sorted(self.accounts.values(), key=lambda a: a.id)

    def find_by_oid(self, oid: EsiaOid) -> Sequence[Account]:
        return [a for a in self._sorted() if a.esia_oid == oid]

    def find_by_snils(self, digest: str) -> Sequence[Account]:
        return [a for a in self._sorted() if a.snils_digest == digest]

    def find_by_name(self, key: str, birth_date: date | None) -> Sequence[Account]:
        found = [
            a
            for a in self._sorted()
            if name_key(a.last_name, a.first_name, a.middle_name) == key and (birth_date is None or a.birth_date == birth_date)
        ]
        return found if birth_date is not None else found[:2]

    def find_by_short_name(self, key: str, birth_date: date) -> Sequence[Account]:
        return [a for a in self._sorted() if short_name_key(a.last_name, a.first_name) == key and a.birth_date == birth_date][:2]
