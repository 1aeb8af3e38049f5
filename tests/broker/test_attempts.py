"""Reading and explaining login attempts (``broker.support.attempts``): the reference code however it is
typed, the readable trace and the words the person saw."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from flask import Flask

import matching
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.login import attempts as login
from broker.support import attempts, glossary
from tests.broker.attemptdata import ALL, TESTOV, attempt_for

TESTOV_AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

# --- the attempts are what the login recorded ----------------------------------------------------


def test_the_fixture_attempts_end_as_the_rules_say(made: dict[str, login.Attempt]) -> None:
    outcomes = {name: (row.outcome, row.reason) for name, a in made.items() for row in [db.session.get(LoginAttempt, a.id)]}
    assert outcomes == {
        "chooser": ("choose_account", None),
        "simplified": ("refused", "tier_insufficient"),
        "other_region": ("refused", "region_disabled"),
        "kid": ("linked", None),
        "blocked": ("refused", "account_blocked"),
        "no_snils": ("refused", "snils_missing_in_diary"),
        "esia_error": ("refused", "esia_error"),
    }


# --- by reference code ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("7K3M-Q9XZ", "7K3M-Q9XZ"),
        ("7k3mq9xz", "7K3M-Q9XZ"),
        (" 7k3m – q9xz ", "7K3M-Q9XZ"),
        ("O1IL-0000", "0111-0000"),  # Crockford: O reads 0, I and L read 1
        ("7К3М-Q9ХZ", "7K3M-Q9XZ"),  # Cyrillic К, М, Х typed with the Russian layout
    ],
)
def test_a_reference_code_is_read_however_it_is_typed(app: Flask, typed: str, code: str) -> None:
    assert attempts.normalise_reference(typed) == code


def test_every_drawn_reference_code_reads_as_itself(app: Flask) -> None:
    for _ in range(200):
        code = login.new_reference()
        assert attempts.normalise_reference(code) == code


# --- one attempt, explained ----------------------------------------------------------------------


def test_explains_a_refusal_with_its_trace_and_the_words_the_person_saw(made: dict[str, login.Attempt]) -> None:
    detail = attempts.get(made["no_snils"].reference.lower(), regions=ALL)
    refusal = matching.REFUSALS[matching.Reason.SNILS_MISSING_IN_DIARY]
    assert (detail.message_ru, detail.next_step_ru, detail.fixer_ru) == (refusal.message_ru, refusal.next_step_ru, refusal.fixer_ru)
    assert detail.fixer == "school_admin" and "школе" in (detail.fixer_staff_ru or "")
    assert (detail.region_name, detail.timezone) == ("Москва", "Europe/Moscow")
    fields = [(row.field, row.result) for row in detail.trace]
    assert ("region", "pass") in fields and ("snils", "fail") in fields
    snils_row = next(row for row in detail.trace if row.field == "snils")
    assert (snils_row.field_ru, snils_row.result_ru, snils_row.account_id) == ("СНИЛС", "не пройдена", "acc-6")
    assert detail.account_ids == ("acc-6",) and detail.has_snils and detail.has_oid


def test_explains_a_granted_attempt_and_one_that_ended_at_esia(made: dict[str, login.Attempt]) -> None:
    chooser = attempts.get(made["chooser"].reference, regions=ALL)
    assert chooser.message_ru == matching.message_ru(matching.Decision(matching.Outcome.CHOOSE_ACCOUNT))
    assert chooser.next_step_ru is None and chooser.account_ids[:2] == ("acc-1", "acc-2")
    failed = attempts.get(made["esia_error"].reference, regions=ALL)
    assert failed.trace == () and failed.attempt.detail == "state_unknown_or_replayed" and not failed.has_oid


def test_the_trace_names_the_normalisation_rules_in_russian(attempts_registry: Flask) -> None:
    detail = attempts.get(attempt_for(replace(TESTOV, last_name="ТЕСТОВ", first_name="Петр"), "77").reference, regions=ALL)
    first = next(row for row in detail.trace if row.field == "first_name")
    assert "esia:yo" not in first.rules and "diary:yo" in first.rules
    assert "дневник: «ё» прочитана как «е»" in first.rules_ru


# --- a sign-in through an existing link: a lean row (docs/adr/0023) ------------------------------


def test_only_a_decision_that_signs_in_may_be_recorded_as_a_sign_in_through_a_link(made: dict[str, login.Attempt]) -> None:
    refused = matching.Decision(matching.Outcome.REFUSED, matching.Reason.NO_ACCOUNT)
    chooser = matching.Decision(matching.Outcome.CHOOSE_ACCOUNT, None, (matching.AccountId("acc-1"), matching.AccountId("acc-2")))
    for decision in (refused, chooser, None):
        with pytest.raises(ValueError, match="signs the person in"):
            login.record("portal", "77", TESTOV_AT, "login", decision=decision, signed_in_by_link=True)


def test_a_lean_row_is_completed_and_explained_without_checks_or_snils(made: dict[str, login.Attempt]) -> None:
    lookup = matching.Check("lookup", matching.CheckResult.INFO, "through links: 1 account(s); names are not compared again")
    decision = matching.Decision(matching.Outcome.SIGNED_IN, None, (matching.AccountId("acc-1"),), (lookup,), age=36)
    recorded = login.record("portal", "77", TESTOV_AT, "login", decision=decision, oid=TESTOV.oid, snils_digest="d" * 64,
                            tier="verified", signed_in_by_link=True)  # fmt: skip
    db.session.commit()
    row = db.session.get(LoginAttempt, recorded.id)
    assert row is not None and row.completed_at is not None and row.detail == login.BY_LINK
    assert (row.trace, row.candidate_ids, row.snils_digest, row.account_id, row.age) == ([], [], None, "acc-1", 36)
    detail = attempts.get(recorded.reference, regions=ALL)
    assert detail.by_link and detail.entered_account == "acc-1" and detail.has_oid and detail.trace == ()
    assert detail.ended_ru == glossary.BY_LINK_ENDED_RU
