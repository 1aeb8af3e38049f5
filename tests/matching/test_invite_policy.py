"""A region's ``under_14_first_link`` policy: a child's first link waits for the school's
one-time invite code; the engine says which accounts wait, the pre-flight counts them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from matching import (
    REFUSALS,
    Account,
    AccountId,
    AccountStatus,
    CheckResult,
    Decision,
    Finding,
    FirstLink,
    Fixer,
    Outcome,
    Reason,
    RegionPolicy,
    Role,
    Tier,
    decide,
)
from tests.builders import (
    CHILD_SNILS,
    MOSCOW,
    NOW,
    FakeRegistry,
    make_account,
    make_child,
    make_child_account,
    make_person,
)
from tests.matching.preflightrun import findings
from tests.matching.preflightrun import run as preflight

INVITE_MOSCOW = replace(MOSCOW, under_14_first_link=FirstLink.INVITE_CODE)
CHILD_OID = make_child().oid


def run(person: Any, *accounts: Account, region: RegionPolicy = INVITE_MOSCOW, **kwargs: Any) -> Decision:
    return decide(person, registry=FakeRegistry(accounts), region=region, regions={region.code: region}, at=NOW, **kwargs)


def test_the_default_first_link_of_a_child_is_automatic() -> None:
    assert MOSCOW.under_14_first_link is FirstLink.AUTO
    assert run(make_child(), make_child_account(), region=MOSCOW).outcome is Outcome.LINKED


def test_a_childs_first_login_waits_for_the_invite_code_and_names_the_account() -> None:
    decision = run(make_child(), make_child_account())
    assert (decision.outcome, decision.reason, decision.account_ids) == (
        Outcome.REFUSED, Reason.INVITE_CODE_REQUIRED, ("acc-child",),
    )  # fmt: skip
    [check] = [c for c in decision.checks if c.field == "policy"]
    assert (check.result, check.account_id) == (CheckResult.FAIL, "acc-child")
    assert "invite code" in check.detail and "under_14_first_link" in check.detail


def test_the_code_of_that_account_lets_the_first_link_through() -> None:
    decision = run(make_child(), make_child_account(), invited_account=AccountId("acc-child"))
    assert (decision.outcome, decision.reason, decision.account_ids) == (Outcome.LINKED, None, ("acc-child",))
    [check] = [c for c in decision.checks if c.field == "policy"]
    assert check.result is CheckResult.PASS and "invite code" in check.detail


def test_the_code_of_another_account_does_not() -> None:
    decision = run(make_child(), make_child_account(), invited_account=AccountId("acc-other"))
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, Reason.INVITE_CODE_REQUIRED)


@pytest.mark.parametrize(
    ("person", "accounts", "kwargs", "expected"),
    [
        # through an existing link: nothing is linked, no code is asked
        (make_child(), [make_child_account(esia_oid=CHILD_OID)], {}, (Outcome.SIGNED_IN, None)),
        # the link flow: the diary password proved the account, no code is asked
        (make_child(), [make_child_account()], {"link_account": AccountId("acc-child")}, (Outcome.LINKED, None)),
        # 14 and over: SNILS decides, not this policy
        (make_person(), [make_account()], {}, (Outcome.LINKED, None)),
        (make_person(tier=Tier.STANDARD, birth_date=date(2012, 1, 5), snils=CHILD_SNILS),
         [make_account(birth_date=date(2012, 1, 5), snils=CHILD_SNILS, role=Role.STUDENT)], {}, (Outcome.LINKED, None)),
        # every other refusal keeps its own reason: the code is asked last
        (make_child(), [make_child_account(status=AccountStatus.BLOCKED)], {}, (Outcome.REFUSED, Reason.ACCOUNT_BLOCKED)),
        (make_child(), [make_child_account(school_id=None)], {}, (Outcome.REFUSED, Reason.NOT_ATTACHED)),
        (make_child(), [make_child_account(esia_oid=make_person().oid)], {}, (Outcome.REFUSED, Reason.LINKED_ELSEWHERE)),
        (make_child(middle_name="Ивановна"), [make_child_account()], {}, (Outcome.REFUSED, Reason.NAME_MISMATCH)),
        (make_child(), [make_child_account(), make_child_account(id=AccountId("n2"), login="n2")], {},
         (Outcome.REFUSED, Reason.AMBIGUOUS)),
    ],
)  # fmt: skip
def test_the_invite_code_applies_only_to_an_unlinked_childs_first_login(
    person: Any, accounts: list[Account], kwargs: dict[str, Any], expected: tuple[Outcome, Reason | None]
) -> None:
    decision = run(person, *accounts, **kwargs)
    assert (decision.outcome, decision.reason) == expected
    if decision.reason is not Reason.INVITE_CODE_REQUIRED:
        assert decision.outcome is not Outcome.REFUSED or decision.account_ids == ()


def test_the_link_flow_rule_is_stricter_and_wins_over_the_invite_code() -> None:
    both = replace(INVITE_MOSCOW, auto_link_under_14=False)
    decision = run(make_child(), make_child_account(), region=both, invited_account=AccountId("acc-child"))
    assert (decision.outcome, decision.reason, decision.account_ids) == (Outcome.REFUSED, Reason.LINK_REQUIRED, ())


def test_the_accounts_region_decides_not_the_login_door() -> None:
    auto_door = replace(MOSCOW, code="50", name="Московская область")
    decision = decide(make_child(), registry=FakeRegistry([make_child_account()]), region=auto_door,
                      regions={"50": auto_door, "77": INVITE_MOSCOW}, at=NOW)  # fmt: skip
    assert (decision.reason, decision.account_ids) == (Reason.INVITE_CODE_REQUIRED, ("acc-child",))


def test_a_child_whose_other_account_is_blocked_is_still_asked_for_the_code() -> None:
    """The reason the person can remove with the school's code outranks another account's."""
    accounts = [
        make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS, status=AccountStatus.BLOCKED),
        make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS),
    ]
    decision = run(make_child(snils=CHILD_SNILS), *accounts)
    assert (decision.reason, decision.account_ids) == (Reason.INVITE_CODE_REQUIRED, ("c-2",))


def test_a_chooser_of_unlinked_child_accounts_waits_for_a_code_naming_them_all() -> None:
    accounts = [
        make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS),
        make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS),
    ]
    decision = run(make_child(snils=CHILD_SNILS), *accounts)
    assert (decision.reason, decision.account_ids) == (Reason.INVITE_CODE_REQUIRED, ("c-1", "c-2"))
    decision = run(make_child(snils=CHILD_SNILS), *accounts, invited_account=AccountId("c-2"))
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("c-2",))


# --- the words -------------------------------------------------------------------------------


def test_invite_code_required_tells_the_family_to_ask_the_school_for_the_code() -> None:
    refusal = REFUSALS[Reason.INVITE_CODE_REQUIRED]
    assert "младше 14 лет" in refusal.message_ru and "коду приглашения" in refusal.message_ru
    assert "администратора электронного дневника в школе" in refusal.next_step_ru
    assert refusal.fixer is Fixer.SCHOOL_ADMIN and "выдаёт код приглашения" in refusal.fixer_ru
    assert refusal.text_en.startswith("Under 14") and "invite code" in refusal.text_en


def test_invite_code_invalid_says_the_code_did_not_fit_and_to_ask_for_a_new_one() -> None:
    refusal = REFUSALS[Reason.INVITE_CODE_INVALID]
    assert "Код приглашения не подошёл" in refusal.message_ru
    assert "новый код приглашения" in refusal.next_step_ru
    assert refusal.fixer is Fixer.SCHOOL_ADMIN
    assert "invite code" in refusal.text_en


# --- the pre-flight ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (make_child_account(), ((Finding.INVITE_CODE_REQUIRED,), Reason.INVITE_CODE_REQUIRED)),
        (make_child_account(esia_oid=CHILD_OID), None),  # linked already
        (make_account(), None),  # 14 and over
        (make_child_account(status=AccountStatus.BLOCKED),
         ((Finding.ACCOUNT_BLOCKED, Finding.INVITE_CODE_REQUIRED), Reason.ACCOUNT_BLOCKED)),
    ],
)  # fmt: skip
def test_the_preflight_counts_the_children_who_will_need_a_code(account: Account, expected: Any) -> None:
    report = preflight(account, region=INVITE_MOSCOW)
    assert findings(report) == ({account.id: expected} if expected else {})
    assert all(Finding.INVITE_CODE_REQUIRED not in found for found, _ in findings(preflight(account)).values())  # default: auto


def test_the_preflight_predicts_link_required_not_the_code_when_both_are_set() -> None:
    both = replace(INVITE_MOSCOW, auto_link_under_14=False)
    assert findings(preflight(make_child_account(), region=both)) == {"acc-child": ((Finding.LINK_REQUIRED,), Reason.LINK_REQUIRED)}


def test_the_predicted_invite_code_required_is_what_the_engine_gives() -> None:
    account = make_child_account()
    predicted = {a.id: a.reason for a in preflight(account, region=INVITE_MOSCOW).flagged}
    assert run(make_child(), account).reason == predicted["acc-child"]
    assert preflight(account, region=INVITE_MOSCOW).by_reason == {Reason.INVITE_CODE_REQUIRED: 1}
