"""Finding login attempts (``broker.support.search``): by reference code, account, SNILS, oid,
outcome, reason, region and time, page by page, within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

import matching
from broker.login import attempts as login
from broker.support import attempts, recheck
from broker.support import search as attemptsearch
from broker.support.attempts import CriteriaError
from broker.support.search import Criteria
from tests.broker.attemptdata import ALL, NOW, TESTOV, attempt_for, find, references
from tests.builders import ADULT_SNILS, make_person, make_snils


def field_errors(scope: frozenset[str] | None = ALL, **criteria: Any) -> dict[str, str]:
    with pytest.raises(CriteriaError) as caught:
        attemptsearch.search(Criteria(**criteria), regions=scope, limit=50)
    return caught.value.why_ru_by_field()


# --- by reference code ---------------------------------------------------------------------------


def test_finds_an_attempt_by_its_reference_code_typed_loosely(made: dict[str, login.Attempt]) -> None:
    reference = made["blocked"].reference
    assert find(reference=reference.lower().replace("-", "")) == [reference]


@pytest.mark.parametrize("typed", ["7K3M", "7K3M-Q9XU", "ЖЖЖЖ-ЖЖЖЖ", "7K3M-Q9XZ-1"])
def test_a_malformed_reference_code_is_a_field_error(made: dict[str, login.Attempt], typed: str) -> None:
    assert "8 знаков" in field_errors(reference=typed)["reference"]


def test_an_unknown_reference_code_is_a_field_error_naming_it(made: dict[str, login.Attempt]) -> None:
    unknown = next(code for code in iter(login.new_reference, None) if code not in {a.reference for a in made.values()})
    errors = field_errors(reference=unknown)
    assert list(errors) == ["reference"] and unknown in errors["reference"]
    with pytest.raises(attempts.AttemptNotFoundError):
        attempts.get(unknown, regions=ALL)


# --- by account, SNILS, oid ----------------------------------------------------------------------


def test_finds_an_accounts_attempts_by_id_or_login_through_its_snils_and_link(made: dict[str, login.Attempt]) -> None:
    # The chooser and the simplified attempt name no account; they carried acc-1's SNILS.
    expected = [made["simplified"].reference, made["chooser"].reference]
    assert find(account="acc-1") == expected
    assert find(account="p.testov") == expected
    assert find(account="kid") == [made["kid"].reference]  # entered, then linked at login


def test_finds_the_recent_attempts_that_compared_an_account_among_several(made: dict[str, login.Attempt]) -> None:
    """A namesake (same name and birth date, another SNILS) is refused after comparing acc-1 and acc-2:
    the attempt names neither alone, and carried neither's SNILS nor link."""
    namesake = make_person(oid=matching.EsiaOid("9000"), snils=make_snils(777888999))
    recent = attempt_for(namesake, "77", at=NOW - timedelta(days=attemptsearch.NAMED_AMONG_DAYS - 1))
    old = attempt_for(namesake, "77", at=NOW - timedelta(days=attemptsearch.NAMED_AMONG_DAYS + 1))
    detail = attempts.get(recent.reference, regions=ALL)
    assert detail.attempt.account_id is None and detail.attempt.candidate_ids == ("acc-1", "acc-2")
    for account in ("acc-1", "acc-2"):
        found = [a.reference for a in attemptsearch.compared_among(account, "77", regions=ALL)]
        assert found == [made["chooser"].reference, recent.reference], account  # the chooser left unanswered, newer
        assert old.reference not in found  # too old to be read
        assert recent.reference not in find(account=account)  # the search by account: indexed lookups only
    assert attemptsearch.compared_among("acc-6", "77", regions=ALL) == []
    assert attemptsearch.compared_among("acc-1", "77", regions=frozenset({"39"})) == []  # outside the scope
    assert attemptsearch.compared_among("acc-", "77", regions=ALL) == []  # a whole id, not a part of one


def test_an_unknown_account_is_a_field_error(made: dict[str, login.Attempt]) -> None:
    assert list(field_errors(account="nobody")) == ["account"]


@pytest.mark.parametrize("spelling", [ADULT_SNILS, ADULT_SNILS.replace("-", "").replace(" ", ""), f"  {ADULT_SNILS} "])
def test_finds_attempts_by_snils_through_its_keyed_digest(made: dict[str, login.Attempt], spelling: str) -> None:
    assert find(snils=spelling) == [made["simplified"].reference, made["chooser"].reference]


@pytest.mark.parametrize(("typed", "words"), [("123-456-789", "11 цифр"), ("112-233-445 00", "Контрольное число")])
def test_a_bad_snils_is_a_field_error_that_does_not_repeat_it(made: dict[str, login.Attempt], typed: str, words: str) -> None:
    errors = field_errors(snils=typed)
    assert list(errors) == ["snils"] and words in errors["snils"]
    digits = "".join(ch for ch in typed if ch.isdigit())
    assert digits[:6] not in "".join(ch for ch in errors["snils"] if ch.isdigit())


def test_the_typed_snils_and_oid_never_show_in_the_criteria(app: Flask) -> None:
    text = repr(Criteria(snils=ADULT_SNILS, oid="1000100001", account="p.testov", region="77"))
    assert "112" not in text and "1000100001" not in text and "testov" not in text and "'77'" in text


def test_a_next_page_repeats_a_snils_search_by_its_digest(made: dict[str, login.Attempt]) -> None:
    first = attemptsearch.search(Criteria(snils=ADULT_SNILS), regions=ALL, limit=1)
    assert first.next_before_id is not None and first.snils_digest
    second = attemptsearch.search(Criteria(snils_digest=first.snils_digest), regions=ALL, limit=1, before_id=first.next_before_id)
    assert references(first) + references(second) == [made["simplified"].reference, made["chooser"].reference]
    assert list(field_errors(snils_digest="not a digest")) == ["snils"]


def test_finds_attempts_by_esia_oid(made: dict[str, login.Attempt]) -> None:
    assert find(oid="1000100001") == [made["simplified"].reference, made["chooser"].reference]
    assert find(oid="3000") == [made["kid"].reference]
    assert list(field_errors(oid="not an oid!")) == ["oid"]


# --- by outcome, reason, region, time ------------------------------------------------------------


def test_filters_by_outcome_reason_region_and_time(made: dict[str, login.Attempt]) -> None:
    refs = {name: a.reference for name, a in made.items()}
    assert find(outcome="linked") == [refs["kid"]]
    assert find(reason="account_blocked") == [refs["blocked"]]
    assert find(region="77", outcome="refused") == [refs["no_snils"], refs["blocked"], refs["simplified"]]
    assert find(region="77", reason="account_blocked") == [refs["blocked"]]
    assert find(frozenset({"77", "50"}), reason="tier_insufficient") == [refs["simplified"]]
    assert find(frozenset({"50"}), reason="tier_insufficient") == []
    start = NOW - timedelta(hours=1)
    assert find(started_from=start + timedelta(minutes=2), started_to=start + timedelta(minutes=4)) == [
        refs["kid"], refs["other_region"]
    ]  # fmt: skip


def test_unknown_outcome_reason_region_and_a_backwards_range_are_field_errors(made: dict[str, login.Attempt]) -> None:
    errors = field_errors(outcome="won", reason="bad_luck", region="99", started_from=NOW, started_to=NOW - timedelta(days=1))
    assert set(errors) == {"outcome", "reason", "region", "to"}


def test_reads_the_time_range_from_form_text_in_moscow_time(app: Flask) -> None:
    criteria = attemptsearch.parse_criteria({"from": "2026-11-28T10:00", "to": "28.11.2026"})
    assert criteria.started_from == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    assert criteria.started_to == datetime(2026, 11, 28, 21, 0, tzinfo=UTC)  # the end of that day
    with pytest.raises(CriteriaError) as caught:
        attemptsearch.parse_criteria({"from": "yesterday", "to": "9999-12-31"})
    assert set(caught.value.why_by_field()) == {"from", "to"}


def test_lists_newest_first_page_by_page(attempts_registry: Flask) -> None:
    start = NOW - timedelta(days=1)
    made = [attempt_for(TESTOV, "77", at=start + timedelta(seconds=n // 2)) for n in range(7)]  # ties in time too
    expected = [a.reference for a in reversed(made)]  # later first; in a tie, the later row first
    seen: list[str] = []
    before = None
    while True:
        page = attemptsearch.search(Criteria(region="77"), regions=ALL, limit=3, before_id=before)
        seen += references(page)
        if page.next_before_id is None:
            break
        before = page.next_before_id
    assert seen == expected


# --- scope ---------------------------------------------------------------------------------------


def test_an_operator_never_sees_another_regions_attempts(made: dict[str, login.Attempt]) -> None:
    mine = frozenset({"77"})
    refs = {name: a.reference for name, a in made.items()}
    in_77 = [refs["no_snils"], refs["blocked"], refs["simplified"], refs["chooser"]]
    assert find(mine) == in_77
    assert find(frozenset({"77", "50"})) == [refs["no_snils"], refs["blocked"], refs["kid"], refs["simplified"], refs["chooser"]]
    assert "ваших регионах" in field_errors(mine, reference=refs["other_region"])["reference"]
    assert "не ваш регион" in field_errors(mine, region="39")["region"].lower()
    # Another region's account is unknown to an operator, in the same words as a missing one.
    assert field_errors(mine, account="i.ivanov") == field_errors(mine, account="no.such.login")
    assert find(mine, outcome="refused", reason="region_disabled") == []
    for name in ("other_region", "kid", "esia_error"):
        with pytest.raises(attempts.AttemptNotFoundError):
            attempts.get(refs[name], regions=mine)
        with pytest.raises(attempts.AttemptNotFoundError):
            recheck.decide_again(refs[name], regions=mine)
    assert find(frozenset()) == []


def test_an_attempt_without_a_region_is_seen_by_whole_country_scope_only(made: dict[str, login.Attempt]) -> None:
    reference = made["esia_error"].reference
    assert find(reason="esia_error") == [reference]
    assert find(frozenset({"77", "50", "39"}), reason="esia_error") == []
