"""Deciding again now (``broker.support.recheck``): what each change to the registry or the regions does
to the verdict, and that re-checking writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import select, update

import matching
from broker import services
from broker.db.models import Account, LoginAttempt, Region
from broker.extensions import db
from broker.login import decisions, pending
from broker.login.attempts import Attempt
from broker.support import attempts
from broker.support.recheck import Recheck, Verdict, decide_again
from tests.broker.attemptdata import (
    ALL,
    KID,
    SNILS_6,
    TESTOV,
    attempt_for,
    find,
    import_rows,
    registry_rows,
    row_counts,
    switch_region,
)  # fmt: skip
from tests.broker.registry_files import row
from tests.builders import make_person, make_snils


def recheck(made: dict[str, Attempt], name: str, **kwargs: Any) -> Recheck:
    return decide_again(made[name].reference, regions=ALL, **kwargs)


def test_deciding_again_writes_nothing(made: dict[str, Attempt]) -> None:
    before = row_counts()
    trace_before = [(a.id, a.trace) for a in db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id))]
    for made_attempt in made.values():
        decide_again(made_attempt.reference, regions=ALL)
        decide_again(made_attempt.id, regions=ALL)
        attempts.get(made_attempt.reference, regions=ALL)
    assert not db.session.new and not db.session.dirty and not db.session.deleted
    db.session.rollback()
    assert row_counts() == before
    assert [(a.id, a.trace) for a in db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id))] == trace_before


def test_a_region_switched_on_since_removes_the_cause(made: dict[str, Attempt]) -> None:
    first = recheck(made, "other_region")
    assert (first.verdict, first.reason_now) == (Verdict.STILL_REFUSED, "region_disabled")
    switch_region("39", True)
    again = recheck(made, "other_region")
    assert again.verdict is Verdict.CAUSE_REMOVED
    region_fact = next(f for f in again.facts if f.topic == "region")
    assert (region_fact.then, region_fact.now, region_fact.changed) == ("fail", "pass", True)


def test_an_account_unblocked_since_removes_the_cause(made: dict[str, Attempt]) -> None:
    assert recheck(made, "blocked").verdict is Verdict.STILL_REFUSED
    db.session.execute(update(Account).where(Account.id == "acc-5").values(status="active"))
    db.session.commit()
    again = recheck(made, "blocked")
    status = next(f for f in again.facts if f.topic == "status")
    assert (again.verdict, status.then, status.now, status.changed) == (Verdict.CAUSE_REMOVED, "fail", "pass", True)


def test_a_snils_entered_in_the_diary_since_removes_the_cause(made: dict[str, Attempt], tmp_path: Path) -> None:
    first = recheck(made, "no_snils")
    assert (first.verdict, first.reason_now) == (Verdict.STILL_REFUSED, "snils_missing_in_diary")
    rows = [r if r["id"] != "acc-6" else {**r, "snils": SNILS_6} for r in registry_rows()]
    import_rows(current_app._get_current_object(), tmp_path, rows)  # type: ignore[attr-defined]
    again = recheck(made, "no_snils")
    snils = next(f for f in again.facts if f.topic == "snils")
    assert (again.verdict, snils.now, snils.changed) == (Verdict.CAUSE_REMOVED, "pass", True)
    assert SNILS_6 not in snils.now_ru and "***-***-*" in snils.now_ru


def test_a_refusal_on_esia_data_cannot_be_foretold_but_shows_the_persons_accounts(made: dict[str, Attempt]) -> None:
    result = recheck(made, "simplified")
    assert result.verdict is Verdict.CANNOT_TELL
    assert result.accounts_found_by_snils == ("acc-1", "acc-2")
    assert {f.account_id for f in result.facts if f.account_id} == {"acc-1", "acc-2"}
    assert recheck(made, "esia_error").verdict is Verdict.CANNOT_TELL


def test_a_granted_attempt_stays_granted_until_its_accounts_fail(made: dict[str, Attempt]) -> None:
    assert recheck(made, "chooser").verdict is Verdict.STILL_ALLOWED
    db.session.execute(update(Account).where(Account.id == "acc-1").values(status="blocked"))
    db.session.commit()
    assert recheck(made, "chooser").verdict is Verdict.STILL_ALLOWED  # acc-2 still works
    db.session.execute(update(Account).where(Account.id == "acc-2").values(school_id=""))
    db.session.commit()
    result = recheck(made, "chooser")
    assert (result.verdict, result.reason_now) == (Verdict.NO_LONGER_ALLOWED, "account_blocked")


def test_a_child_who_turned_14_with_a_simplified_account_would_be_refused_now(made: dict[str, Attempt]) -> None:
    assert recheck(made, "kid").verdict is Verdict.STILL_ALLOWED
    later = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)  # born 2016-03-01: 14 on 2030-03-01
    result = recheck(made, "kid", at=later)
    age = next(f for f in result.facts if f.topic == "age")
    assert (result.verdict, result.reason_now, age.now) == (Verdict.NO_LONGER_ALLOWED, "tier_insufficient", "fail")


def test_an_account_linked_to_someone_else_since_is_seen(made: dict[str, Attempt]) -> None:
    pending.link_accounts("9999", ["acc-6"], "verified", "login")
    db.session.commit()
    result = recheck(made, "no_snils")
    link = next(f for f in result.facts if f.topic == "link")
    assert (link.now, link.reason) == ("fail", "linked_elsewhere")
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")  # the child's own link
    db.session.commit()
    kid = recheck(made, "kid")
    assert next(f for f in kid.facts if f.topic == "link").now_ru.endswith("этого человека.")
    assert kid.verdict is Verdict.STILL_ALLOWED


def test_a_name_mismatch_repeats_while_the_diary_record_is_unchanged(attempts_registry: Flask, tmp_path: Path) -> None:
    attempt = attempt_for(replace(TESTOV, middle_name="Степанович"), "77")
    result = decide_again(attempt.reference, regions=ALL)
    assert (result.verdict, result.reason_now) == (Verdict.STILL_REFUSED, "name_mismatch")
    import_rows(attempts_registry, tmp_path, registry_rows())  # the registry sync rewrites the rows
    result = decide_again(attempt.reference, regions=ALL)
    identity = [f for f in result.facts if f.topic == "identity"]
    assert identity and all(f.now == "unknown" for f in identity)
    assert result.verdict is Verdict.CANNOT_TELL


def test_no_account_is_rechecked_by_the_persons_snils(attempts_registry: Flask, tmp_path: Path) -> None:
    stranger = make_person(oid=matching.EsiaOid("6000"), last_name="Чужой", snils=make_snils(556677889))
    attempt = attempt_for(stranger, "77")
    assert db.session.get(LoginAttempt, attempt.id).reason == "no_account"
    assert decide_again(attempt.reference, regions=ALL).verdict is Verdict.STILL_REFUSED
    import_rows(attempts_registry, tmp_path, [*registry_rows(), row(id="acc-9", login="chuzhoy", last_name="Чужой",
                                                           snils=make_snils(556677889))])  # fmt: skip
    result = decide_again(attempt.reference, regions=ALL)
    assert (result.verdict, result.accounts_found_by_snils) == (Verdict.CAUSE_REMOVED, ("acc-9",))


def set_policy(code: str, policy: dict[str, Any]) -> None:
    """Set a region's overrides as a test's setting (the audited way is regionadmin's business)."""
    db.session.execute(update(Region).where(Region.code == code).values(policy=policy))
    db.session.commit()
    services.current().region_cache.clear()


def test_link_required_is_found_explained_and_rechecked(attempts_registry: Flask) -> None:
    set_policy("50", {"auto_link_under_14": False})
    attempt = attempt_for(KID, "50")
    assert db.session.get(LoginAttempt, attempt.id).reason == "link_required"
    assert find(reason="link_required") == [attempt.reference]
    detail = attempts.get(attempt.reference, regions=ALL)
    assert detail.message_ru == matching.REFUSALS[matching.Reason.LINK_REQUIRED].message_ru
    assert "Привязать аккаунт портала Госуслуги" in detail.next_step_ru and "в электронном дневнике" in detail.fixer_staff_ru
    policy_row = next(row for row in detail.trace if row.field == "policy")
    assert (policy_row.field_ru, policy_row.result, policy_row.account_id) == ("Настройка региона", "fail", "acc-4")

    result = decide_again(attempt.reference, regions=ALL)
    policy = next(f for f in result.facts if f.topic == "policy")
    assert (result.verdict, result.reason_now, policy.then, policy.now) == (Verdict.STILL_REFUSED, "link_required", "fail", "fail")
    set_policy("50", {})  # the operator switched the override back on
    result = decide_again(attempt.reference, regions=ALL)
    assert result.verdict is Verdict.CAUSE_REMOVED and next(f for f in result.facts if f.topic == "policy").now == "pass"
    set_policy("50", {"auto_link_under_14": False})
    pending.link_accounts(str(KID.oid), ["acc-4"], "simplified", "link")  # the link flow was used since
    db.session.commit()
    result = decide_again(attempt.reference, regions=ALL)
    assert result.verdict is Verdict.CAUSE_REMOVED and not any(f.topic == "policy" for f in result.facts)


# Changes to the child's account (acc-4, region 50) after a granted login, each failing one or more
# of the engine's account checks.
ACCOUNT_CHANGES: dict[str, Any] = {
    "blocked": lambda: db.session.execute(update(Account).where(Account.id == "acc-4").values(status="blocked")),
    "detached": lambda: db.session.execute(update(Account).where(Account.id == "acc-4").values(school_id="")),
    "linked_elsewhere": lambda: pending.link_accounts("9999", ["acc-4"], "verified", "login"),
    "link_flow_only": lambda: set_policy("50", {"auto_link_under_14": False}),
    "region_off": lambda: switch_region("50", False),
}


@pytest.mark.parametrize(
    "changes",
    [(name,) for name in ACCOUNT_CHANGES] + [("blocked", "detached"), ("detached", "link_flow_only"), ("linked_elsewhere", "blocked")],
)
def test_deciding_again_finds_the_refusal_the_engine_gives_now(made: dict[str, Attempt], changes: tuple[str, ...]) -> None:
    """The re-check applies the engine's account checks: after each change it names the reason
    a login of the same person now gets from the engine."""
    for name in changes:
        ACCOUNT_CHANGES[name]()
    db.session.commit()
    services.current().region_cache.clear()
    now = datetime.now(UTC)
    engine = decisions.decide(KID, "50", now)
    result = recheck(made, "kid", at=now)
    assert engine.reason is not None
    assert (result.verdict, result.reason_now) == (Verdict.NO_LONGER_ALLOWED, str(engine.reason))


def test_the_recheck_logic_holds_no_words_of_its_own() -> None:
    """The staff's words live in the glossary; the re-check asks it for them."""
    source = (Path(__file__).resolve().parents[2] / "broker" / "support" / "recheck.py").read_text(encoding="utf-8")
    assert not any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in source)
