"""The engine's rules as public API (``matching.rules``): the engine follows the order it exports,
and the pre-flight ranks its predictions by that same order."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from itertools import combinations
from typing import Any

import pytest

from matching import (
    ACCOUNT_REASONS,
    IDENTITY_REASONS,
    REASON_ORDER,
    AccountStatus,
    EsiaOid,
    FirstLink,
    Gender,
    Reason,
    decide,
)
from tests.builders import MOSCOW, NOW, FakeRegistry, make_account, make_child, make_child_account, make_person, make_region
from tests.matching.preflightrun import findings, run

# One way to make each account check fail: (account overrides, overrides of the account's region).
ACCOUNT_FAULTS: dict[Reason, tuple[dict[str, Any], dict[str, Any]]] = {
    Reason.REGION_DISABLED: ({}, {"enabled": False}),
    Reason.ACCOUNT_BLOCKED: ({"status": AccountStatus.BLOCKED}, {}),
    Reason.NOT_ATTACHED: ({"school_id": None}, {}),
    Reason.LINKED_ELSEWHERE: ({"esia_oid": EsiaOid("someone-else")}, {}),
    Reason.LINK_REQUIRED: ({}, {"auto_link_under_14": False}),
    Reason.INVITE_CODE_REQUIRED: ({}, {"under_14_first_link": FirstLink.INVITE_CODE}),
}


def test_every_account_check_has_a_fault_here() -> None:
    assert set(ACCOUNT_FAULTS) == set(ACCOUNT_REASONS)


def test_the_reason_order_is_identity_then_ambiguity_then_the_account_checks() -> None:
    assert REASON_ORDER == (*IDENTITY_REASONS, Reason.AMBIGUOUS, *ACCOUNT_REASONS)
    assert len(set(REASON_ORDER)) == len(REASON_ORDER)


@pytest.mark.parametrize("first", ACCOUNT_REASONS)
def test_the_engine_refuses_an_account_for_its_first_fault_in_the_exported_order(first: Reason) -> None:
    """A child's account with every fault from ``first`` on: fixing them in ACCOUNT_REASONS order
    uncovers them in that order, so the engine runs its account checks in the order it exports."""
    faults = ACCOUNT_REASONS[ACCOUNT_REASONS.index(first) :]
    account_overrides: dict[str, Any] = {"region": "50"}
    region_overrides: dict[str, Any] = {"code": "50", "name": "Московская область"}
    for fault in faults:
        account_overrides.update(ACCOUNT_FAULTS[fault][0])
        region_overrides.update(ACCOUNT_FAULTS[fault][1])
    account = make_child_account(**account_overrides)
    regions = {"77": MOSCOW, "50": make_region(**region_overrides)}
    decision = decide(make_child(), registry=FakeRegistry([account]), region=MOSCOW, regions=regions, at=NOW)
    assert decision.reason is first


# One way to make each of the first three identity checks fail for make_person() (the SNILS
# checks are not made to fail here: a lookup by SNILS finds no account without it).
IDENTITY_FAULTS: dict[Reason, dict[str, Any]] = {
    Reason.NAME_MISMATCH: {"last_name": "Другов"},
    Reason.BIRTHDATE_MISMATCH: {"birth_date": date(1990, 7, 15)},
    Reason.GENDER_MISMATCH: {"gender": Gender.FEMALE},
}


@pytest.mark.parametrize(("one", "other"), list(combinations(IDENTITY_FAULTS, 2)))
def test_between_candidates_failing_once_each_the_engine_names_the_earlier_identity_reason(one: Reason, other: Reason) -> None:
    accounts = [make_account(id="acc-1", **IDENTITY_FAULTS[other]), make_account(id="acc-2", **IDENTITY_FAULTS[one])]
    decision = decide(make_person(), registry=FakeRegistry(accounts), region=MOSCOW, regions={"77": MOSCOW}, at=NOW)
    assert IDENTITY_REASONS.index(one) < IDENTITY_REASONS.index(other)
    assert decision.reason is one


# What the pre-flight predicts for one account, and one way to cause it (account overrides).
ADULT_FINDINGS: dict[Reason, dict[str, Any]] = {
    Reason.NAME_MISMATCH: {"last_name": "Тестоd"},  # a Latin d has no Cyrillic look-alike
    Reason.SNILS_MISSING_IN_DIARY: {"snils": None},
    Reason.ACCOUNT_BLOCKED: {"status": AccountStatus.BLOCKED},
    Reason.NOT_ATTACHED: {"school_id": None},
}
CHILD_FINDINGS: dict[Reason, dict[str, Any]] = {
    Reason.NAME_MISMATCH: {"last_name": "Тестоvа"},
    Reason.ACCOUNT_BLOCKED: {"status": AccountStatus.BLOCKED},
    Reason.NOT_ATTACHED: {"school_id": None},
    Reason.LINK_REQUIRED: {},  # the region's auto_link_under_14 is off below
}


def subsets(reasons: dict[Reason, dict[str, Any]]) -> list[tuple[Reason, ...]]:
    return [combo for size in range(2, len(reasons) + 1) for combo in combinations(reasons, size)]


@pytest.mark.parametrize("found", subsets(ADULT_FINDINGS))
def test_the_preflight_predicts_the_refusal_the_engine_order_puts_first_for_an_adult(found: tuple[Reason, ...]) -> None:
    overrides: dict[str, Any] = {}
    for reason in found:
        overrides.update(ADULT_FINDINGS[reason])
    ((_, predicted),) = findings(run(make_account(**overrides))).values()
    assert predicted is min(found, key=REASON_ORDER.index)


@pytest.mark.parametrize("found", subsets(CHILD_FINDINGS))
def test_the_preflight_predicts_the_refusal_the_engine_order_puts_first_for_a_child(found: tuple[Reason, ...]) -> None:
    overrides: dict[str, Any] = {}
    for reason in found:
        overrides.update(CHILD_FINDINGS[reason])
    region = replace(MOSCOW, auto_link_under_14=Reason.LINK_REQUIRED not in found)
    ((_, predicted),) = findings(run(make_child_account(**overrides), region=region)).values()
    assert predicted is min(found, key=REASON_ORDER.index)


def test_the_preflight_breaks_ties_between_refusal_counts_by_the_engine_order() -> None:
    blocked = make_account(id="acc-1", status=AccountStatus.BLOCKED)
    no_snils = make_account(id="acc-2", snils=None)
    report = run(blocked, no_snils)
    assert list(report.by_reason) == sorted([Reason.ACCOUNT_BLOCKED, Reason.SNILS_MISSING_IN_DIARY], key=REASON_ORDER.index)
