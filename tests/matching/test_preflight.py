"""preflight_region(): which accounts of a region will be refused at an ESIA login, and why."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from matching import (
    FINDINGS,
    Account,
    AccountId,
    AccountRow,
    AccountStatus,
    EsiaOid,
    Finding,
    Outcome,
    Person,
    Reason,
    RegionPolicy,
    Role,
    SharedKeys,
    decide,
    preflight_region,
)
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
from tests.matching.preflightrun import findings, row_of, run

KALININGRAD = RegionPolicy("39", "Калининградская область", "Europe/Kaliningrad")
BAD_SNILS = ADULT_SNILS[:-2] + f"{(int(ADULT_SNILS[-2:]) + 1) % 100:02d}"  # the check digits are wrong


def bad_checksum(**overrides: Any) -> Account:
    return make_account(snils=BAD_SNILS, snils_valid=False, **overrides)


# --- one account at a time -------------------------------------------------------------------

F, R = Finding, Reason


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (make_account(), None),
        (make_child_account(), None),  # under 14, no SNILS: found by name and birth date
        (make_account(snils=None), ((F.SNILS_MISSING_IN_DIARY,), R.SNILS_MISSING_IN_DIARY)),
        (make_account(snils=None, esia_oid=EsiaOid("1")), None),  # a login through a link needs no SNILS
        (bad_checksum(), ((F.SNILS_CHECKSUM,), R.SNILS_MISMATCH)),
        (bad_checksum(esia_oid=EsiaOid("1")), ((F.SNILS_CHECKSUM,), None)),
        (make_child_account(snils=BAD_SNILS, snils_valid=False), ((F.SNILS_CHECKSUM,), None)),  # refused from 14
        (make_account(status=AccountStatus.BLOCKED), ((F.ACCOUNT_BLOCKED,), R.ACCOUNT_BLOCKED)),
        (make_account(status=AccountStatus.BLOCKED, esia_oid=EsiaOid("1")), ((F.ACCOUNT_BLOCKED,), R.ACCOUNT_BLOCKED)),
        (make_account(school_id=None), ((F.NOT_ATTACHED,), R.NOT_ATTACHED)),
        (make_account(school_id=""), ((F.NOT_ATTACHED,), R.NOT_ATTACHED)),
        (make_account(middle_name="-"), ((F.PLACEHOLDER,), None)),
        (make_account(middle_name="нет"), ((F.PLACEHOLDER,), None)),
        (make_account(last_name="Тестoв"), ((F.LATIN_LOOKALIKE,), None)),  # Latin o: repaired when comparing
        (make_account(last_name="Тестоd"), ((F.NAME_MISMATCH,), R.NAME_MISMATCH)),  # Latin d: no look-alike
        (make_account(last_name="Тестоd", esia_oid=EsiaOid("1")), ((F.NAME_MISMATCH,), None)),
        (make_account(last_name="Тeстоd"), ((F.NAME_MISMATCH, F.LATIN_LOOKALIKE), R.NAME_MISMATCH)),
        (make_account(last_name="Smith", first_name="John", middle_name=""), None),  # Latin, not mixed
        (make_account(last_name="Тестов-Ёлкин", first_name=" Пётр "), None),  # spelling only
    ],
)
def test_predicts_each_accounts_own_findings_and_refusal(
    account: Account, expected: tuple[tuple[Finding, ...], Reason | None] | None
) -> None:
    assert findings(run(account)) == ({account.id: expected} if expected else {})


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (make_account(snils=None, status=AccountStatus.BLOCKED, school_id=None), R.SNILS_MISSING_IN_DIARY),
        (make_account(snils=None, last_name="Тестоd"), R.NAME_MISMATCH),
        (bad_checksum(school_id=None), R.SNILS_MISMATCH),
        (make_account(status=AccountStatus.BLOCKED, school_id=None), R.ACCOUNT_BLOCKED),
    ],
)
def test_gives_one_primary_refusal_in_the_engines_order_identity_before_status(account: Account, reason: Reason) -> None:
    (flagged,) = run(account).flagged
    assert flagged.reason is reason
    assert len(flagged.findings) >= 2


# --- age: on the login date, in the region's time zone ---------------------------------------


@pytest.mark.parametrize(
    ("born", "at", "region", "needs_snils"),
    [
        (date(2012, 11, 28), NOW, MOSCOW, True),  # 14 today
        (date(2012, 11, 29), NOW, MOSCOW, False),  # 14 tomorrow
        # 21:30 UTC on the 27th is already the 28th in Moscow, still the 27th in Kaliningrad.
        (date(2012, 11, 28), datetime(2026, 11, 27, 21, 30, tzinfo=UTC), MOSCOW, True),
        (date(2012, 11, 28), datetime(2026, 11, 27, 21, 30, tzinfo=UTC), KALININGRAD, False),
        # Born on 29 February: 14 on 1 March in a common year, not on 28 February.
        (date(2012, 2, 29), datetime(2026, 2, 28, 9, 0, tzinfo=UTC), MOSCOW, False),
        (date(2012, 2, 29), datetime(2026, 3, 1, 9, 0, tzinfo=UTC), MOSCOW, True),
        (date(2012, 2, 29), datetime(2026, 2, 28, 22, 0, tzinfo=UTC), MOSCOW, True),  # 1 March in Moscow
    ],
)
def test_requires_snils_from_the_14th_birthday_on_the_regions_calendar(
    born: date, at: datetime, region: RegionPolicy, needs_snils: bool
) -> None:
    report = run(make_child_account(birth_date=born), region=region, at=at)
    assert bool(report.flagged) is needs_snils
    assert report.today == at.astimezone(ZoneInfo(region.timezone)).date()


# --- across accounts ------------------------------------------------------------------------

PARENT = make_account(id=AccountId("parent"), login="parent", role=Role.PARENT)
CHILD_WITH_PARENTS_SNILS = make_child_account(id=AccountId("child"), snils=ADULT_SNILS)


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        # One person, two accounts (a teacher who is also a parent): the engine offers a chooser.
        ([make_account(id=AccountId("t")), make_account(id=AccountId("p"), login="p", role=Role.PARENT)], {}),
        ([make_account(id=AccountId("t"), first_name="Пётр"), make_account(id=AccountId("p"), login="p", first_name="ПЕТР")], {}),
        # One SNILS, two people: the parent's SNILS copied into the child's record.
        (
            [PARENT, CHILD_WITH_PARENTS_SNILS],
            {"parent": ((F.SNILS_SHARED,), R.SNILS_MISMATCH), "child": ((F.SNILS_SHARED,), R.SNILS_MISMATCH)},
        ),
        (
            [make_account(id=AccountId("a")), make_account(id=AccountId("b"), login="b", birth_date=date(1990, 7, 15))],
            {"a": ((F.SNILS_SHARED,), R.SNILS_MISMATCH), "b": ((F.SNILS_SHARED,), R.SNILS_MISMATCH)},
        ),
        (  # a linked holder keeps signing in through the link; the record is still wrong
            [make_account(id=AccountId("a"), esia_oid=EsiaOid("1")), make_account(id=AccountId("b"), login="b", middle_name="Иванович")],
            {"a": ((F.SNILS_SHARED,), None), "b": ((F.SNILS_SHARED,), R.SNILS_MISMATCH)},
        ),
        (  # a shared SNILS with a bad checksum is reported as such: it is never matched anyway
            [bad_checksum(id=AccountId("a")), bad_checksum(id=AccountId("b"), login="b", birth_date=date(1991, 1, 1))],
            {"a": ((F.SNILS_CHECKSUM,), R.SNILS_MISMATCH), "b": ((F.SNILS_CHECKSUM,), R.SNILS_MISMATCH)},
        ),
        # Namesakes under 14 born the same day.
        (
            [make_child_account(id=AccountId("n1")), make_child_account(id=AccountId("n2"), login="n2", school_id="s-2")],
            {"n1": ((F.AMBIGUOUS,), R.AMBIGUOUS), "n2": ((F.AMBIGUOUS,), R.AMBIGUOUS)},
        ),
        (  # ё and spacing do not make two people out of one name
            [
                make_child_account(id=AccountId("n1"), first_name="Алёна"),
                make_child_account(id=AccountId("n2"), login="n2", first_name=" алена "),
            ],
            {"n1": ((F.AMBIGUOUS,), R.AMBIGUOUS), "n2": ((F.AMBIGUOUS,), R.AMBIGUOUS)},
        ),
        (  # one of them has a SNILS: ESIA's SNILS tells them apart
            [make_child_account(id=AccountId("n1")), make_child_account(id=AccountId("n2"), login="n2", snils=CHILD_SNILS)],
            {},
        ),
        (  # both have SNILS: told apart
            [
                make_child_account(id=AccountId("n1"), snils=OTHER_SNILS),
                make_child_account(id=AccountId("n2"), login="n2", snils=CHILD_SNILS),
            ],
            {},
        ),
        (  # a SNILS with a bad checksum tells nobody apart
            [
                make_child_account(id=AccountId("n1")),
                make_child_account(id=AccountId("n2"), login="n2", snils=BAD_SNILS, snils_valid=False),
            ],
            {"n1": ((F.AMBIGUOUS,), R.AMBIGUOUS), "n2": ((F.SNILS_CHECKSUM, F.AMBIGUOUS), R.AMBIGUOUS)},
        ),
        (  # a linked namesake is provably someone else
            [make_child_account(id=AccountId("n1")), make_child_account(id=AccountId("n2"), login="n2", esia_oid=EsiaOid("7"))],
            {},
        ),
        (  # three namesakes, one with a SNILS: the two without are the problem
            [
                make_child_account(id=AccountId("n1")),
                make_child_account(id=AccountId("n2"), login="n2", snils=CHILD_SNILS),
                make_child_account(id=AccountId("n3"), login="n3", status=AccountStatus.BLOCKED),
            ],
            {"n1": ((F.AMBIGUOUS,), R.AMBIGUOUS), "n3": ((F.AMBIGUOUS, F.ACCOUNT_BLOCKED), R.AMBIGUOUS)},
        ),
        (  # born on different days: not namesakes
            [make_child_account(id=AccountId("n1")), make_child_account(id=AccountId("n2"), login="n2", birth_date=date(2016, 3, 2))],
            {},
        ),
        (  # from 14 the SNILS decides: a missing one is the finding, not the namesake
            [make_account(id=AccountId("a"), snils=None), make_account(id=AccountId("b"), login="b", snils=None)],
            {"a": ((F.SNILS_MISSING_IN_DIARY,), R.SNILS_MISSING_IN_DIARY), "b": ((F.SNILS_MISSING_IN_DIARY,), R.SNILS_MISSING_IN_DIARY)},
        ),
    ],
)
def test_predicts_findings_across_accounts(accounts: list[Account], expected: dict[str, tuple[tuple[Finding, ...], Reason | None]]) -> None:
    assert findings(run(*accounts)) == expected


def shared_keys_of(accounts: Iterable[Account]) -> SharedKeys:
    """What the database's GROUP BY queries give: keys that two or more accounts hold."""
    rows = [row_of(a) for a in accounts]
    digests = [r.snils_digest for r in rows if r.snils_digest]
    names = [(r.name_key, r.birth_date) for r in rows]
    return SharedKeys(
        snils_digests={d for d in digests if digests.count(d) > 1},
        names={n for n in names if names.count(n) > 1},
    )


MIXED = [
    PARENT,
    CHILD_WITH_PARENTS_SNILS,
    make_account(id=AccountId("teacher"), login="teacher", snils=OTHER_SNILS, first_name="Анна"),
    make_account(id=AccountId("teacher-as-parent"), login="tp", snils=OTHER_SNILS, first_name="Анна", role=Role.PARENT),
    make_child_account(id=AccountId("n1")),
    make_child_account(id=AccountId("n2"), login="n2"),
    make_child_account(id=AccountId("lonely"), login="lonely", first_name="Мария"),
    make_account(id=AccountId("no-snils"), login="ns", snils=None, last_name="Другов"),
]


def test_keeps_for_grouping_only_the_accounts_holding_shared_keys_with_the_same_answer() -> None:
    assert run(*MIXED, shared=shared_keys_of(MIXED)) == run(*MIXED)
    assert set(findings(run(*MIXED))) == {"parent", "child", "n1", "n2", "no-snils"}


def test_a_superset_of_shared_keys_gives_the_same_answer() -> None:
    rows = [row_of(a) for a in MIXED]
    every = SharedKeys({r.snils_digest for r in rows if r.snils_digest}, {(r.name_key, r.birth_date) for r in rows})
    assert run(*MIXED, shared=every) == run(*MIXED)


class Elsewhere:
    """Accounts of other regions, looked up by the keys the pre-flight asks for."""

    def __init__(self, *accounts: Account) -> None:
        self.rows = [row_of(a) for a in accounts]
        self.asked: list[tuple[set[str], set[tuple[str, date]]]] = []

    def __call__(self, digests: Collection[str], names: Collection[tuple[str, date]]) -> list[AccountRow]:
        self.asked.append((set(digests), set(names)))
        return [r for r in self.rows if r.snils_digest in digests] + [r for r in self.rows if (r.name_key, r.birth_date) in names]


def test_accounts_of_other_regions_count_in_groups_but_are_not_reported() -> None:
    elsewhere = Elsewhere(
        make_child_account(id=AccountId("far-namesake"), login="f1", region="50"),
        make_account(id=AccountId("far-parent"), login="f2", region="50", first_name="Иван", birth_date=date(1980, 1, 1)),
    )
    child = make_child_account(id=AccountId("child"))
    report = run(child, make_account(id=AccountId("holder")), elsewhere=elsewhere)
    assert findings(report) == {
        "child": ((F.AMBIGUOUS,), R.AMBIGUOUS),
        "holder": ((F.SNILS_SHARED,), R.SNILS_MISMATCH),
    }
    ((digests, names),) = elsewhere.asked
    assert digests == {make_account().snils_digest}
    assert names == {(row_of(child).name_key, child.birth_date)}


def test_the_same_person_in_another_region_is_not_a_shared_snils() -> None:
    elsewhere = Elsewhere(make_account(id=AccountId("as-parent-in-50"), login="x", region="50", role=Role.PARENT))
    assert run(make_account(), elsewhere=elsewhere).flagged == ()


def test_asks_other_regions_nothing_when_no_account_is_in_a_group() -> None:
    elsewhere = Elsewhere()
    run(
        make_account(snils=None),
        make_account(id=AccountId("x"), login="x", snils=OTHER_SNILS),
        elsewhere=elsewhere,
        shared=SharedKeys(set(), set()),
    )
    assert elsewhere.asked == []


# --- the prediction agrees with the engine --------------------------------------------------


def decide_for(person: Person, accounts: list[Account]) -> tuple[Outcome, Reason | None]:
    decision = decide(person, registry=FakeRegistry(accounts), region=MOSCOW, regions={"77": MOSCOW}, at=NOW)
    return decision.outcome, decision.reason


@pytest.mark.parametrize(
    ("person", "accounts", "account_id"),
    [
        (make_person(), [make_account(snils=None)], "acc-1"),
        (make_person(), [bad_checksum()], "acc-1"),
        (make_person(), [make_account(status=AccountStatus.BLOCKED)], "acc-1"),
        (make_person(), [make_account(school_id=None)], "acc-1"),
        (make_person(), [make_account(last_name="Тестоd")], "acc-1"),
        (make_person(middle_name=""), [make_account(middle_name="-")], None),
        (make_person(), [make_account(last_name="Тестoв")], None),
        (make_person(oid=EsiaOid("9")), [make_account(snils=None, esia_oid=EsiaOid("9"))], None),
        (make_child(snils=CHILD_SNILS), [make_child_account(), make_child_account(id=AccountId("n2"), login="n2")], "acc-child"),
        (make_child(snils=CHILD_SNILS), [PARENT, CHILD_WITH_PARENTS_SNILS], "child"),
        (make_person(), [make_account(id=AccountId("t")), make_account(id=AccountId("p"), login="p", role=Role.PARENT)], None),
    ],
)
def test_the_predicted_refusal_is_the_one_the_engine_gives_the_accounts_owner(
    person: Person, accounts: list[Account], account_id: str | None
) -> None:
    outcome, reason = decide_for(person, accounts)
    predicted = {a.id: a.reason for a in run(*accounts).flagged if a.reason is not None}
    if account_id is None:
        assert outcome is not Outcome.REFUSED and predicted == {}
    else:
        assert (outcome, reason) == (Outcome.REFUSED, predicted[account_id])


# --- the report ------------------------------------------------------------------------------


def test_counts_findings_refusals_and_schools_and_lists_accounts_by_school() -> None:
    report = run(
        make_account(id=AccountId("a"), school_id="s-2", snils=None),
        make_account(id=AccountId("b"), login="b", school_id="s-1", snils=OTHER_SNILS, status=AccountStatus.BLOCKED),
        make_account(id=AccountId("c"), login="c", school_id="s-1", snils=CHILD_SNILS, middle_name="-"),
        make_account(id=AccountId("d"), login="d", school_id="s-1", snils=ADULT_SNILS, last_name="Другов"),
        make_account(id=AccountId("e"), login="e", school_id=None, snils=None, last_name="Третьяков"),
    )
    assert report.accounts == 5
    assert [a.id for a in report.flagged] == ["e", "b", "c", "a"]  # not attached first, then by school and id
    assert report.by_finding == {
        F.SNILS_MISSING_IN_DIARY: 2, F.ACCOUNT_BLOCKED: 1, F.NOT_ATTACHED: 1, F.PLACEHOLDER: 1,
    }  # fmt: skip
    assert report.by_reason == {R.SNILS_MISSING_IN_DIARY: 2, R.ACCOUNT_BLOCKED: 1}
    assert report.refused == 3
    schools = report.schools()
    assert [(s.school_id, s.accounts, s.flagged, s.refused) for s in schools] == [
        ("s-1", 3, 2, 1), (None, 1, 1, 1), ("s-2", 1, 1, 1),
    ]  # fmt: skip
    assert schools[1].by_finding == {F.SNILS_MISSING_IN_DIARY: 1, F.NOT_ATTACHED: 1}


def test_lists_the_masked_snils_tail_and_never_the_digest() -> None:
    (flagged,) = run(bad_checksum()).flagged
    assert flagged.snils_masked == "***-***-*" + BAD_SNILS[-5:]
    assert make_account().snils_digest not in repr(flagged) and bad_checksum().snils_digest not in repr(flagged)


def test_the_summary_as_plain_data_names_codes_and_counts_only() -> None:
    report = run(make_account(snils=None), make_account(id=AccountId("b"), login="b", snils=OTHER_SNILS, school_id=None))
    assert report.as_dict(schools=1) == {
        "region": {"code": "77", "name": "Москва", "enabled": True},
        "at": "2026-11-28T09:00:00+00:00",
        "today": "2026-11-28",
        "accounts": 2,
        "flagged": 2,
        "refused": 2,
        "by_reason": {"snils_missing_in_diary": 1, "not_attached": 1},
        "by_finding": {"snils_missing_in_diary": 1, "not_attached": 1},
        "schools": [{"school_id": None, "accounts": 1, "flagged": 1, "refused": 1,
                     "by_finding": {"not_attached": 1}}],
    }  # fmt: skip


def test_reads_the_accounts_once_as_a_stream() -> None:
    rows = iter([row_of(make_account(snils=None))])
    assert preflight_region(rows, region=MOSCOW, at=NOW).accounts == 1
    assert next(rows, None) is None


def test_an_empty_region_has_nothing_to_fix() -> None:
    report = run()
    assert (report.accounts, report.flagged, report.by_finding, report.schools()) == (0, (), {}, [])


def test_a_naive_instant_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        run(make_account(), at=datetime(2026, 11, 28, 12, 0))


@pytest.mark.parametrize("finding", list(Finding))
def test_every_finding_has_english_and_russian_words(finding: Finding) -> None:
    info = FINDINGS[finding]
    assert info.text_en and info.text_ru and info.finding is finding


def test_a_finding_named_like_a_refusal_leads_to_that_refusal() -> None:
    reasons = {reason.value for reason in Reason}
    for finding in Finding:
        if finding.value in reasons:
            assert FINDINGS[finding].reason == Reason(finding)


# --- a region's policy: auto_link_under_14 ----------------------------------------------------

STRICT_MOSCOW = replace(MOSCOW, auto_link_under_14=False)


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (make_child_account(), ((F.LINK_REQUIRED,), R.LINK_REQUIRED)),
        (make_child_account(snils=CHILD_SNILS), ((F.LINK_REQUIRED,), R.LINK_REQUIRED)),
        (make_child_account(esia_oid=EsiaOid("1")), None),  # linked already: signs in through the link
        (make_account(), None),  # 14 and over: the SNILS rule
        (make_child_account(status=AccountStatus.BLOCKED), ((F.ACCOUNT_BLOCKED, F.LINK_REQUIRED), R.ACCOUNT_BLOCKED)),
        (make_child_account(school_id=None), ((F.NOT_ATTACHED, F.LINK_REQUIRED), R.NOT_ATTACHED)),
        (make_child_account(last_name="Тестоvа"), ((F.NAME_MISMATCH, F.LINK_REQUIRED), R.NAME_MISMATCH)),
        (make_child_account(snils=BAD_SNILS, snils_valid=False), ((F.SNILS_CHECKSUM, F.LINK_REQUIRED), R.LINK_REQUIRED)),
    ],
)
def test_predicts_link_required_for_unlinked_children_when_the_region_requires_the_link_flow(
    account: Account, expected: tuple[tuple[Finding, ...], Reason | None] | None
) -> None:
    assert findings(run(account, region=STRICT_MOSCOW)) == ({account.id: expected} if expected else {})
    assert all(F.LINK_REQUIRED not in found for found, _ in findings(run(account)).values())  # the default: on


def test_link_required_comes_after_ambiguity_as_in_the_engine() -> None:
    twins = [make_child_account(), make_child_account(id=AccountId("n2"), login="n2", school_id="school-2")]
    found = findings(run(*twins, region=STRICT_MOSCOW))
    assert found["acc-child"] == ((F.AMBIGUOUS, F.LINK_REQUIRED), R.AMBIGUOUS)


@pytest.mark.parametrize(
    ("person", "accounts", "account_id"),
    [
        (make_child(), [make_child_account()], "acc-child"),
        (make_child(), [make_child_account(status=AccountStatus.BLOCKED)], "acc-child"),
        (make_child(), [make_child_account(esia_oid=make_child().oid)], None),
        (make_child(), [make_child_account(), make_child_account(id=AccountId("n2"), login="n2")], "acc-child"),
        (make_child(snils=CHILD_SNILS),
         [make_child_account(snils=CHILD_SNILS), make_child_account(id=AccountId("n2"), login="n2", snils=CHILD_SNILS)], "acc-child"),
        (make_child(), [make_child_account(snils=BAD_SNILS, snils_valid=False)], "acc-child"),
        (make_person(), [make_account()], None),
    ],
)  # fmt: skip
def test_the_predicted_link_required_is_what_the_engine_gives(person: Person, accounts: list[Account], account_id: str | None) -> None:
    decision = decide(person, registry=FakeRegistry(accounts), region=STRICT_MOSCOW, regions={"77": STRICT_MOSCOW}, at=NOW)
    predicted = {a.id: a.reason for a in run(*accounts, region=STRICT_MOSCOW).flagged if a.reason is not None}
    if account_id is None:
        assert decision.outcome is not Outcome.REFUSED and predicted == {}
    else:
        assert (decision.outcome, decision.reason) == (Outcome.REFUSED, predicted[account_id])
