"""decide(): every outcome and every reason the matching engine can give."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from matching import (
    AccountId,
    AccountStatus,
    CheckResult,
    Decision,
    EsiaOid,
    Gender,
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
    OTHER_SNILS,
    FakeRegistry,
    make_account,
    make_child,
    make_child_account,
    make_person,
    make_region,
)

KALININGRAD = RegionPolicy("39", "Калининградская область", "Europe/Kaliningrad", enabled=True)
KAMCHATKA = RegionPolicy("41", "Камчатский край", "Asia/Kamchatka", enabled=True)


REGIONS = {r.code: r for r in (MOSCOW, KALININGRAD, KAMCHATKA, make_region(code="50", name="Московская область"))}


def run(
    person: Any,
    *accounts: Any,
    region: RegionPolicy = MOSCOW,
    at: datetime = NOW,
    regions: dict[str, RegionPolicy] | None = None,
    **kwargs: Any,
) -> Decision:
    policies = {**REGIONS, **(regions or {}), region.code: region}
    return decide(person, registry=FakeRegistry(accounts), region=region, regions=policies, at=at, **kwargs)


def failed(decision: Decision) -> list[str]:
    return [c.field for c in decision.checks if c.result is CheckResult.FAIL]


# --- granted ---------------------------------------------------------------------------------


def test_links_an_adult_on_first_login_by_snils_name_birth_date_and_gender() -> None:
    decision = run(make_person(), make_account())
    assert (decision.outcome, decision.reason, decision.account_ids) == (Outcome.LINKED, None, ("acc-1",))
    assert failed(decision) == []
    assert {"last_name", "first_name", "middle_name", "birth_date", "gender", "snils"} <= {
        c.field for c in decision.checks if c.result is CheckResult.PASS
    }


def test_links_a_child_under_14_with_a_simplified_account_by_name_and_birth_date() -> None:
    decision = run(make_child(), make_child_account())
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("acc-child",))
    assert decision.age == 10


def test_signs_in_through_an_existing_link_without_comparing_names_again() -> None:
    married = make_person(last_name="Новикова", gender=Gender.MALE)  # a changed surname
    decision = run(married, make_account(esia_oid=married.oid))
    assert (decision.outcome, decision.account_ids) == (Outcome.SIGNED_IN, ("acc-1",))
    assert "last_name" not in {c.field for c in decision.checks}


def test_offers_a_chooser_when_one_person_has_a_teacher_and_a_parent_account() -> None:
    teacher = make_account(id=AccountId("t-1"), role=Role.TEACHER)
    parent = make_account(id=AccountId("p-1"), login="p.testov.parent", role=Role.PARENT)
    decision = run(make_person(), teacher, parent)
    assert decision.outcome is Outcome.CHOOSE_ACCOUNT
    assert set(decision.account_ids) == {"t-1", "p-1"}


def test_offers_a_chooser_through_links_when_one_person_linked_two_accounts() -> None:
    person = make_person()
    teacher = make_account(id=AccountId("t-1"), esia_oid=person.oid)
    parent = make_account(id=AccountId("p-1"), role=Role.PARENT, esia_oid=person.oid)
    decision = run(person, teacher, parent)
    assert decision.outcome is Outcome.CHOOSE_ACCOUNT
    assert set(decision.account_ids) == {"t-1", "p-1"}


def test_leaves_out_an_unusable_account_from_the_chooser() -> None:
    teacher = make_account(id=AccountId("t-1"))
    parent = make_account(id=AccountId("p-1"), role=Role.PARENT, status=AccountStatus.BLOCKED)
    decision = run(make_person(), teacher, parent)
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("t-1",))


@pytest.mark.parametrize(
    "person_overrides, account_overrides",
    [
        (
            {"last_name": "Сёмина", "first_name": "Алёна", "gender": Gender.FEMALE},
            {"last_name": "Семина", "first_name": "Алена", "gender": Gender.FEMALE},
        ),
        ({"last_name": "Иванова-Петрова"}, {"last_name": "Иванова – Петрова"}),
        ({"last_name": "ТЕСТОВ"}, {"last_name": " тестов "}),
        ({"last_name": "Тестoв"}, {}),  # Latin o in ESIA's data
        ({"middle_name": ""}, {"middle_name": "-"}),  # placeholder patronymic
        ({"middle_name": "нет"}, {"middle_name": ""}),
    ],
)
def test_matches_names_that_differ_only_in_spelling(person_overrides: dict[str, Any], account_overrides: dict[str, Any]) -> None:
    decision = run(make_person(**person_overrides), make_account(**account_overrides))
    assert decision.outcome is Outcome.LINKED


def test_records_every_normalisation_rule_that_fired_in_the_trace() -> None:
    decision = run(make_person(last_name="Тестoв", first_name="Пётр"), make_account(first_name="Петр"))
    rules = {c.field: c.rules for c in decision.checks if c.rules}
    assert "esia:latin_lookalike" in rules["last_name"]
    assert rules["first_name"] == ("esia:yo",)


# --- refused: one table per rule -------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "accounts", "region", "reason"),
    [
        (make_person(), [make_account()], make_region(enabled=False), Reason.REGION_DISABLED),
        (make_person(), [make_account(region="50")], MOSCOW, Reason.REGION_DISABLED),  # the account's region
        (make_person(birth_date=None), [make_account()], MOSCOW, Reason.ESIA_DATA_INCOMPLETE),
        (make_person(birth_date=date(2030, 1, 1)), [make_account()], MOSCOW, Reason.ESIA_DATA_INCOMPLETE),
        (make_person(snils=None), [make_account()], MOSCOW, Reason.ESIA_DATA_INCOMPLETE),
        (make_person(snils="112-233-445 96"), [make_account()], MOSCOW, Reason.ESIA_DATA_INCOMPLETE),
        (make_person(tier=Tier.SIMPLIFIED), [make_account()], MOSCOW, Reason.TIER_INSUFFICIENT),
        (make_person(), [], MOSCOW, Reason.NO_ACCOUNT),
        (make_person(), [make_account(status=AccountStatus.BLOCKED)], MOSCOW, Reason.ACCOUNT_BLOCKED),
        (make_person(), [make_account(school_id=None)], MOSCOW, Reason.NOT_ATTACHED),
        (make_person(), [make_account(school_id="")], MOSCOW, Reason.NOT_ATTACHED),
        (make_person(), [make_account(last_name="Другов")], MOSCOW, Reason.NAME_MISMATCH),
        (make_person(), [make_account(first_name="Павел")], MOSCOW, Reason.NAME_MISMATCH),
        (make_person(), [make_account(middle_name="")], MOSCOW, Reason.NAME_MISMATCH),  # patronymic on one side
        (make_person(middle_name=""), [make_account()], MOSCOW, Reason.NAME_MISMATCH),
        (make_person(), [make_account(birth_date=date(1990, 7, 15))], MOSCOW, Reason.BIRTHDATE_MISMATCH),
        (make_person(), [make_account(gender=Gender.FEMALE)], MOSCOW, Reason.GENDER_MISMATCH),
        (make_person(), [make_account(snils=OTHER_SNILS)], MOSCOW, Reason.SNILS_MISMATCH),
        (make_person(), [make_account(snils=None)], MOSCOW, Reason.SNILS_MISSING_IN_DIARY),
        (make_person(), [make_account(esia_oid=EsiaOid("999"))], MOSCOW, Reason.LINKED_ELSEWHERE),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refuses_an_adult_with_the_right_reason(person: Any, accounts: list[Any], region: RegionPolicy, reason: Reason) -> None:
    decision = run(
        person, *accounts, region=region, regions={"77": MOSCOW, "50": make_region(code="50", enabled=False)} if region.enabled else None
    )
    assert (decision.outcome, decision.reason, decision.account_ids) == (Outcome.REFUSED, reason, ())


@pytest.mark.parametrize(
    ("person", "accounts", "reason"),
    [
        (make_child(), [], Reason.NO_ACCOUNT),
        (make_child(), [make_child_account(birth_date=date(2016, 3, 2))], Reason.BIRTHDATE_MISMATCH),
        (make_child(snils=CHILD_SNILS), [make_child_account(first_name="Алина", snils=CHILD_SNILS)], Reason.NAME_MISMATCH),
        (make_child(), [make_child_account(middle_name="")], Reason.NAME_MISMATCH),  # patronymic absent in the diary
        (make_child(), [make_child_account(middle_name="Павловна")], Reason.NAME_MISMATCH),
        (make_child(snils=CHILD_SNILS), [make_child_account(snils=OTHER_SNILS)], Reason.SNILS_MISMATCH),
        (make_child(), [make_child_account(status=AccountStatus.BLOCKED)], Reason.ACCOUNT_BLOCKED),
        (make_child(), [make_child_account(school_id=None)], Reason.NOT_ATTACHED),
        (make_child(), [make_child_account(esia_oid=EsiaOid("42"))], Reason.LINKED_ELSEWHERE),
        (make_child(birth_date=None), [make_child_account()], Reason.ESIA_DATA_INCOMPLETE),
    ],
)
def test_refuses_a_child_with_the_right_reason(person: Any, accounts: list[Any], reason: Reason) -> None:
    decision = run(person, *accounts)
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, reason)


def test_refuses_namesakes_born_the_same_day_as_ambiguous() -> None:
    first = make_child_account(id=AccountId("c-1"))
    namesake = make_child_account(id=AccountId("c-2"), login="a.testova2", school_id="school-2")
    decision = run(make_child(), first, namesake)
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, Reason.AMBIGUOUS)


def test_tells_namesakes_apart_by_snils_when_esia_gives_one() -> None:
    mine = make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS)
    namesake = make_child_account(id=AccountId("c-2"), login="a.testova2", snils=None)
    decision = run(make_child(snils=CHILD_SNILS), mine, namesake)
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("c-1",))


def test_refuses_through_a_link_when_the_linked_account_is_blocked() -> None:
    person = make_person()
    decision = run(person, make_account(esia_oid=person.oid, status=AccountStatus.BLOCKED))
    assert decision.reason is Reason.ACCOUNT_BLOCKED


def test_still_applies_the_tier_gate_to_a_linked_person() -> None:
    person = make_person(tier=Tier.SIMPLIFIED)
    decision = run(person, make_account(esia_oid=person.oid))
    assert decision.reason is Reason.TIER_INSUFFICIENT


def test_still_applies_the_region_to_a_linked_person() -> None:
    person = make_person()
    decision = run(person, make_account(esia_oid=person.oid), region=make_region(enabled=False))
    assert decision.reason is Reason.REGION_DISABLED


def test_names_the_closest_candidates_failure_when_several_fail() -> None:
    far = make_account(id=AccountId("a-1"), last_name="Другов", birth_date=date(1991, 1, 1))
    near = make_account(id=AccountId("a-2"), login="x", birth_date=date(1991, 1, 1))
    decision = run(make_person(), far, near)
    assert decision.reason is Reason.BIRTHDATE_MISMATCH


def test_ignores_a_registry_record_with_the_persons_snils_but_another_name() -> None:
    wrong_record = make_account(id=AccountId("a-1"), last_name="Чужой")
    right = make_account(id=AccountId("a-2"), login="x")
    decision = run(make_person(), wrong_record, right)
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("a-2",))


# --- the 14th birthday, in the region's time zone ---------------------------------------------


@pytest.mark.parametrize(
    ("region", "instant", "age", "reason"),
    [
        (KALININGRAD, datetime(2026, 11, 27, 21, 59, 59, tzinfo=UTC), 13, None),
        (KALININGRAD, datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC), 14, Reason.TIER_INSUFFICIENT),
        (KAMCHATKA, datetime(2026, 11, 27, 11, 59, 59, tzinfo=UTC), 13, None),
        (KAMCHATKA, datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC), 14, Reason.TIER_INSUFFICIENT),
        # The same instant: already 14 in Kamchatka, still 13 in Kaliningrad.
        (KALININGRAD, datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC), 13, None),
    ],
)
def test_the_14th_birthday_starts_at_local_midnight(region: RegionPolicy, instant: datetime, age: int, reason: Reason | None) -> None:
    born = date(2012, 11, 28)
    child = make_child(birth_date=born)
    account = make_child_account(birth_date=born, region=region.code)
    decision = run(child, account, region=region, at=instant)
    assert decision.age == age
    assert decision.reason is reason


def test_a_29_february_child_comes_of_age_on_1_march() -> None:
    born = date(2012, 2, 29)
    child = make_child(birth_date=born)
    account = make_child_account(birth_date=born)
    on_28th = run(child, account, at=datetime(2026, 2, 28, 12, tzinfo=UTC))
    on_1st = run(child, account, at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert (on_28th.age, on_28th.outcome) == (13, Outcome.LINKED)
    assert (on_1st.age, on_1st.reason) == (14, Reason.TIER_INSUFFICIENT)


def test_a_standard_account_is_enough_from_14() -> None:
    teen = make_person(tier=Tier.STANDARD, birth_date=date(2011, 5, 5), snils=CHILD_SNILS)
    account = make_account(birth_date=date(2011, 5, 5), snils=CHILD_SNILS, role=Role.STUDENT)
    assert run(teen, account).outcome is Outcome.LINKED


# --- the link flow ---------------------------------------------------------------------------


def test_link_flow_links_an_account_without_snils() -> None:
    decision = run(make_person(), make_account(snils=None), link_account=AccountId("acc-1"))
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("acc-1",))


def test_link_flow_considers_only_the_signed_in_account() -> None:
    other = make_account(id=AccountId("other"), login="o")
    decision = run(make_person(), make_account(snils=None), other, link_account=AccountId("acc-1"))
    assert decision.account_ids == ("acc-1",)


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (make_account(snils=OTHER_SNILS), Reason.SNILS_MISMATCH),
        (make_account(last_name="Другов", snils=None), Reason.NAME_MISMATCH),
        (make_account(birth_date=date(1991, 1, 1), snils=None), Reason.BIRTHDATE_MISMATCH),
        (make_account(esia_oid=EsiaOid("other"), snils=None), Reason.LINKED_ELSEWHERE),
        (make_account(status=AccountStatus.BLOCKED, snils=None), Reason.ACCOUNT_BLOCKED),
    ],
)
def test_link_flow_applies_the_same_rules_to_that_account(account: Any, reason: Reason) -> None:
    decision = run(make_person(), account, link_account=AccountId("acc-1"))
    assert decision.reason is reason


def test_link_flow_refuses_when_the_account_is_gone() -> None:
    assert run(make_person(), link_account=AccountId("gone")).reason is Reason.NO_ACCOUNT


def test_link_flow_signs_in_when_already_linked_to_this_person() -> None:
    person = make_person()
    decision = run(person, make_account(esia_oid=person.oid), link_account=AccountId("acc-1"))
    assert decision.outcome is Outcome.SIGNED_IN


def test_every_decision_lists_the_region_check_first() -> None:
    decision = run(make_person(), make_account())
    assert decision.checks[0].field == "region"


# --- the harder cases -------------------------------------------------------------------------


def test_a_childs_own_account_by_snils_outranks_a_namesake_found_by_name() -> None:
    mine = make_child_account(id=AccountId("mine"), first_name="Алина", snils=CHILD_SNILS)  # a typo in the diary
    namesake = make_child_account(id=AccountId("namesake"), login="other", snils=None)
    decision = run(make_child(snils=CHILD_SNILS), mine, namesake)
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, Reason.NAME_MISMATCH)


def test_a_bad_checksum_snils_in_the_diary_does_not_matter_under_14() -> None:
    account = make_child_account(snils="112-233-445 96", snils_valid=False)
    decision = run(make_child(), account)
    assert decision.outcome is Outcome.LINKED
    assert [c.result for c in decision.checks if c.field == "snils"] == [CheckResult.INFO]


def test_a_bad_checksum_snils_in_the_diary_is_a_mismatch_from_14() -> None:
    account = make_account(snils="112-233-445 96", snils_valid=False)
    assert run(make_person(snils="112-233-445 96".replace("96", "95")), account).reason is Reason.SNILS_MISMATCH


def test_the_link_flow_links_an_account_whose_diary_snils_is_unusable() -> None:
    account = make_account(snils="112-233-445 96", snils_valid=False)
    assert run(make_person(), account, link_account=AccountId("acc-1")).outcome is Outcome.LINKED


def test_an_account_in_a_region_without_a_policy_is_refused() -> None:
    decision = decide(make_person(), registry=FakeRegistry([make_account(region="99")]), region=MOSCOW, regions={"77": MOSCOW}, at=NOW)
    assert decision.reason is Reason.REGION_DISABLED


def test_an_account_in_another_enabled_region_is_entered() -> None:
    assert run(make_person(), make_account(region="39")).outcome is Outcome.LINKED


def test_a_linked_person_is_offered_a_new_account_that_carries_their_snils() -> None:
    person = make_person()
    teacher = make_account(id=AccountId("t-1"), esia_oid=person.oid)
    parent = make_account(id=AccountId("p-1"), login="parent", role=Role.PARENT)
    decision = run(person, teacher, parent)
    assert (decision.outcome, decision.account_ids) == (Outcome.CHOOSE_ACCOUNT, ("t-1", "p-1"))


def test_a_linked_person_whose_linked_account_is_blocked_gets_their_other_account() -> None:
    person = make_person()
    old = make_account(id=AccountId("old"), esia_oid=person.oid, status=AccountStatus.BLOCKED)
    new = make_account(id=AccountId("new"), login="new")
    decision = run(person, old, new)
    assert (decision.outcome, decision.account_ids) == (Outcome.LINKED, ("new",))


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_the_reason_does_not_depend_on_the_order_of_candidates(order: tuple[str, str]) -> None:
    accounts = {
        "a": make_account(id=AccountId("a"), login="a", snils=None),
        "b": make_account(id=AccountId("b"), login="b", snils=OTHER_SNILS),
    }
    registry = FakeRegistry([accounts[key] for key in order])
    decision = decide(make_person(), registry=registry, region=MOSCOW, regions=REGIONS, at=NOW)
    assert decision.reason is Reason.SNILS_MISSING_IN_DIARY


def test_a_namesake_on_another_birth_date_is_not_blamed_when_there_are_several() -> None:
    one = make_child_account(id=AccountId("c-1"), birth_date=date(2015, 1, 1))
    two = make_child_account(id=AccountId("c-2"), login="x", birth_date=date(2014, 1, 1))
    assert run(make_child(), one, two).reason is Reason.NO_ACCOUNT
    assert run(make_child(), one).reason is Reason.BIRTHDATE_MISMATCH


def test_gender_is_noted_but_not_required_under_14() -> None:
    decision = run(make_child(), make_child_account(gender=Gender.MALE))
    assert decision.outcome is Outcome.LINKED
    assert [c.result for c in decision.checks if c.field == "gender"] == [CheckResult.INFO]


def test_a_namesake_already_linked_to_someone_else_does_not_make_a_match_ambiguous() -> None:
    mine = make_child_account(id=AccountId("c-1"))
    theirs = make_child_account(id=AccountId("c-2"), login="x", esia_oid=EsiaOid("777"))
    assert (run(make_child(), mine, theirs).account_ids) == ("c-1",)


def test_a_bad_esia_snils_is_only_noted_under_14() -> None:
    decision = run(make_child(snils="112-233-445 96"), make_child_account())
    assert decision.outcome is Outcome.LINKED


def test_every_check_names_its_result_for_each_account() -> None:
    decision = run(make_person(), make_account())
    fields = [c.field for c in decision.checks if c.account_id == "acc-1"]
    assert fields == [
        "last_name",
        "first_name",
        "middle_name",
        "birth_date",
        "gender",
        "snils",
        "account_region",
        "status",
        "school",
        "link",
    ]


@pytest.mark.parametrize(
    "account",
    [
        make_account(last_name="Другов", first_name="Павел", middle_name="Иванович", birth_date=date(1991, 2, 3)),
        make_account(snils=OTHER_SNILS),
        make_account(snils="112-233-445 96", snils_valid=False),
    ],
)
def test_the_trace_and_reprs_carry_no_personal_data(account: Any) -> None:
    person = make_person()
    decision = run(person, account)
    shown = " ".join(c.detail for c in decision.checks) + repr(person) + repr(account) + repr(decision)
    for secret in ("Тестов", "тестов", "Пётр", "петр", "Сергеевич", "сергеевич", "Другов", "другов", "Павел",
                   "Иванович", "1990-07-14", "1991-02-03", "14.07", "112-233-445", "11223344595", "334-455-667"):  # fmt: skip
        assert secret not in shown


# --- a region's policy: auto_link_under_14 ----------------------------------------------------

STRICT_MOSCOW = make_region(auto_link_under_14=False)  # region 77, first links of children by password only
STRICT_KALININGRAD = RegionPolicy("39", "Калининградская область", "Europe/Kaliningrad", enabled=True, auto_link_under_14=False)
CHILD_OID = make_child().oid


def strict(person: Any, *accounts: Any, **kwargs: Any) -> Decision:
    return run(person, *accounts, region=STRICT_MOSCOW, **kwargs)


def test_the_default_policy_links_children_automatically() -> None:
    assert MOSCOW.auto_link_under_14 is True
    decision = run(make_child(), make_child_account())
    assert decision.outcome is Outcome.LINKED
    assert [(c.result, c.account_id) for c in decision.checks if c.field == "policy"] == [(CheckResult.PASS, "acc-child")]


def test_refuses_a_childs_first_login_when_the_region_requires_the_link_flow() -> None:
    decision = strict(make_child(), make_child_account())
    assert (decision.outcome, decision.reason, decision.account_ids) == (Outcome.REFUSED, Reason.LINK_REQUIRED, ())
    [check] = [c for c in decision.checks if c.field == "policy"]
    assert (check.result, check.account_id) == (CheckResult.FAIL, "acc-child")
    assert "auto_link_under_14" in check.detail and "link flow" in check.detail
    assert failed(decision) == ["policy"]


@pytest.mark.parametrize(
    ("person", "accounts", "kwargs", "expected"),
    [
        # through an existing link: nothing is linked, the override does not apply
        (make_child(), [make_child_account(esia_oid=CHILD_OID)], {}, (Outcome.SIGNED_IN, None)),
        (make_child(last_name="Новикова"), [make_child_account(esia_oid=CHILD_OID)], {}, (Outcome.SIGNED_IN, None)),
        # the link flow itself: the password proved the account
        (make_child(), [make_child_account()], {"link_account": AccountId("acc-child")}, (Outcome.LINKED, None)),
        (make_child(), [make_child_account(esia_oid=CHILD_OID)], {"link_account": AccountId("acc-child")}, (Outcome.SIGNED_IN, None)),
        # 14 and over: the SNILS rule, not this override
        (make_person(), [make_account()], {}, (Outcome.LINKED, None)),
        (make_person(tier=Tier.STANDARD, birth_date=date(2012, 1, 5), snils=CHILD_SNILS),
         [make_account(birth_date=date(2012, 1, 5), snils=CHILD_SNILS, role=Role.STUDENT)], {}, (Outcome.LINKED, None)),
        # a chooser of accounts none of which is linked yet would link one: refused
        (make_child(snils=CHILD_SNILS),
         [make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS),
          make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS)],
         {}, (Outcome.REFUSED, Reason.LINK_REQUIRED)),
        # through a link, an unlinked account carrying the child's SNILS does not join
        (make_child(snils=CHILD_SNILS),
         [make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS, esia_oid=CHILD_OID),
          make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS)],
         {}, (Outcome.SIGNED_IN, None)),
        # ... and when the linked account is unusable, its own reason is given (the new one needs the link flow)
        (make_child(snils=CHILD_SNILS),
         [make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS, esia_oid=CHILD_OID, status=AccountStatus.BLOCKED),
          make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS)],
         {}, (Outcome.REFUSED, Reason.ACCOUNT_BLOCKED)),
    ],
)  # fmt: skip
def test_the_override_leaves_links_the_link_flow_and_adults_alone(
    person: Any, accounts: list[Any], kwargs: dict[str, Any], expected: tuple[Outcome, Reason | None]
) -> None:
    decision = strict(person, *accounts, **kwargs)
    assert (decision.outcome, decision.reason) == expected
    # Only an account that would be linked now is held back by the override.
    held_back = {c.account_id for c in decision.checks if c.field == "policy" and c.result is CheckResult.FAIL}
    assert held_back <= {a.id for a in accounts if a.esia_oid is None} and not held_back & set(decision.account_ids)
    if "link_account" in kwargs or person.birth_date.year < 2013:
        assert not any(c.field == "policy" for c in decision.checks)


def test_the_same_cases_with_the_override_on_link_or_offer_a_chooser() -> None:
    pair = [
        make_child_account(id=AccountId("c-1"), snils=CHILD_SNILS),
        make_child_account(id=AccountId("c-2"), login="c2", snils=CHILD_SNILS),
    ]
    assert run(make_child(snils=CHILD_SNILS), *pair).outcome is Outcome.CHOOSE_ACCOUNT
    linked = [replace(pair[0], esia_oid=CHILD_OID), pair[1]]
    assert run(make_child(snils=CHILD_SNILS), *linked).outcome is Outcome.CHOOSE_ACCOUNT


@pytest.mark.parametrize(
    ("person", "accounts", "reason"),
    [
        (make_child(), [], Reason.NO_ACCOUNT),
        (make_child(), [make_child_account(middle_name="Павловна")], Reason.NAME_MISMATCH),
        (make_child(), [make_child_account(birth_date=date(2016, 3, 2))], Reason.BIRTHDATE_MISMATCH),
        (make_child(), [make_child_account(status=AccountStatus.BLOCKED)], Reason.ACCOUNT_BLOCKED),
        (make_child(), [make_child_account(school_id=None)], Reason.NOT_ATTACHED),
        (make_child(), [make_child_account(esia_oid=EsiaOid("42"))], Reason.LINKED_ELSEWHERE),
        (make_child(), [make_child_account(region="50")], Reason.REGION_DISABLED),
        (make_child(), [make_child_account(id=AccountId("c-1")), make_child_account(id=AccountId("c-2"), login="c2")], Reason.AMBIGUOUS),
        (make_child(birth_date=None), [make_child_account()], Reason.ESIA_DATA_INCOMPLETE),
    ],
)
def test_every_other_refusal_keeps_its_own_reason_when_the_override_is_off(person: Any, accounts: list[Any], reason: Reason) -> None:
    decision = strict(person, *accounts, regions={"50": make_region(code="50", enabled=False)})
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, reason)


@pytest.mark.parametrize(
    ("login_region", "account_region", "expected"),
    [
        ("77", "77", (Outcome.REFUSED, Reason.LINK_REQUIRED)),
        ("50", "77", (Outcome.REFUSED, Reason.LINK_REQUIRED)),  # another region's door does not get round it
        ("77", "50", (Outcome.LINKED, None)),  # the account's region links children automatically
        ("50", "50", (Outcome.LINKED, None)),
    ],
)
def test_the_accounts_region_policy_decides_not_the_logins(
    login_region: str, account_region: str, expected: tuple[Outcome, Reason | None]
) -> None:
    regions = {"77": STRICT_MOSCOW, "50": make_region(code="50", name="Московская область")}
    decision = run(make_child(), make_child_account(region=account_region), region=regions[login_region], regions=regions)
    assert (decision.outcome, decision.reason) == expected


@pytest.mark.parametrize(
    ("instant", "age", "expected"),
    [
        (datetime(2026, 11, 27, 21, 59, 59, tzinfo=UTC), 13, (Outcome.REFUSED, Reason.LINK_REQUIRED)),
        (datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC), 14, (Outcome.LINKED, None)),  # 14 at local midnight
    ],
)
def test_the_override_ends_on_the_14th_birthday_in_the_regions_time_zone(
    instant: datetime, age: int, expected: tuple[Outcome, Reason | None]
) -> None:
    born = date(2012, 11, 28)
    teen = make_person(tier=Tier.STANDARD, birth_date=born, snils=CHILD_SNILS)
    account = make_account(birth_date=born, snils=CHILD_SNILS, role=Role.STUDENT, region="39")
    decision = run(teen, account, region=STRICT_KALININGRAD, at=instant)
    assert decision.age == age
    assert (decision.outcome, decision.reason) == expected
