"""Finding and explaining login attempts (``broker.attempts``): search, scope, the readable trace,
and "decide again now", which writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import func, select, update

import matching
from broker import attempts, decisions, login, services
from broker.attempts import Criteria, CriteriaError, Verdict
from broker.extensions import db
from broker.models import Account, LoginAttempt, Region
from tests.broker.registry_files import row, write_csv
from tests.builders import ADULT_SNILS, CHILD_SNILS, OTHER_SNILS, make_person, make_snils

NOW = datetime.now(timezone.utc)
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
    result = runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "registry.csv", rows))])
    assert result.exit_code == 0, result.output


@pytest.fixture
def registry(app: Flask, tmp_path: Path) -> Flask:
    import_rows(app, tmp_path, registry_rows())
    switch_region("77", True)
    switch_region("50", True)
    return app


def switch_region(code: str, enabled: bool) -> None:
    """Switch a region as a test's setting (the audited way is the regions helper's business)."""
    db.session.execute(update(Region).where(Region.code == code).values(enabled=enabled))
    db.session.commit()
    services.current().region_cache.clear()


def attempt_for(person: matching.Person, region: str, *, at: datetime | None = None, flow: str = "login") -> login.Attempt:
    """An attempt recorded as ``broker.login.finish`` records one once ESIA has answered."""
    at = at or datetime.now(timezone.utc)
    decision = decisions.decide(person, region, at)
    digest = None
    if person.snils:
        try:
            digest = services.current().registry.snils_digest(matching.parse_snils(person.snils))
        except matching.InvalidSnilsError:
            pass
    attempt = login.record("portal", region, at, flow, decision=decision, oid=person.oid, snils_digest=digest,
                           tier=str(person.tier))  # fmt: skip
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


@pytest.fixture
def made(registry: Flask) -> dict[str, login.Attempt]:
    """One attempt of each kind, oldest first, a minute apart."""
    start = NOW - timedelta(hours=1)
    people = {
        "chooser": (TESTOV, "77"),
        "simplified": (replace(TESTOV, tier=matching.Tier.SIMPLIFIED), "77"),
        "other_region": (IVANOV, "39"),
        "kid": (KID, "50"),
        "blocked": (ORLOVA, "77"),
        "no_snils": (SIDOROV, "77"),
    }
    made = {name: attempt_for(person, region, at=start + timedelta(minutes=n)) for n, (name, (person, region)) in enumerate(people.items())}
    made["esia_error"] = login.refusal_attempt("portal", None, matching.Reason.ESIA_ERROR, "state_unknown_or_replayed")
    return made


def references(page: attempts.SearchPage) -> list[str]:
    return [attempt.reference for attempt in page.attempts]


def find(scope: frozenset[str] | None = ALL, **criteria: Any) -> list[str]:
    return references(attempts.search(Criteria(**criteria), regions=scope, limit=50))


def field_errors(scope: frozenset[str] | None = ALL, **criteria: Any) -> dict[str, str]:
    with pytest.raises(CriteriaError) as caught:
        attempts.search(Criteria(**criteria), regions=scope, limit=50)
    return caught.value.errors


def row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) or 0 for table in db.metadata.sorted_tables}


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


def test_an_unknown_account_is_a_field_error(made: dict[str, login.Attempt]) -> None:
    assert list(field_errors(account="nobody")) == ["account"]


@pytest.mark.parametrize("spelling", [ADULT_SNILS, ADULT_SNILS.replace("-", "").replace(" ", ""), f"  {ADULT_SNILS} "])
def test_finds_attempts_by_snils_through_its_keyed_digest(made: dict[str, login.Attempt], spelling: str) -> None:
    assert find(snils=spelling) == [made["simplified"].reference, made["chooser"].reference]


@pytest.mark.parametrize(
    ("typed", "words"), [("123-456-789", "11 цифр"), ("112-233-445 00", "Контрольное число")]
)
def test_a_bad_snils_is_a_field_error_that_does_not_repeat_it(made: dict[str, login.Attempt], typed: str, words: str) -> None:
    errors = field_errors(snils=typed)
    assert list(errors) == ["snils"] and words in errors["snils"]
    digits = "".join(ch for ch in typed if ch.isdigit())
    assert digits[:6] not in "".join(ch for ch in errors["snils"] if ch.isdigit())


def test_the_typed_snils_and_oid_never_show_in_the_criteria(app: Flask) -> None:
    text = repr(Criteria(snils=ADULT_SNILS, oid="1000100001", account="p.testov", region="77"))
    assert "112" not in text and "1000100001" not in text and "testov" not in text and "'77'" in text


def test_a_next_page_repeats_a_snils_search_by_its_digest(made: dict[str, login.Attempt]) -> None:
    first = attempts.search(Criteria(snils=ADULT_SNILS), regions=ALL, limit=1)
    assert first.next_before_id is not None and first.snils_digest
    second = attempts.search(Criteria(snils_digest=first.snils_digest), regions=ALL, limit=1, before_id=first.next_before_id)
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
    criteria = attempts.parse_criteria({"from": "2026-11-28T10:00", "to": "28.11.2026"})
    assert criteria.started_from == datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)
    assert criteria.started_to == datetime(2026, 11, 28, 21, 0, tzinfo=timezone.utc)  # the end of that day
    with pytest.raises(CriteriaError) as caught:
        attempts.parse_criteria({"from": "yesterday", "to": "9999-12-31"})
    assert set(caught.value.errors) == {"from", "to"}


def test_lists_newest_first_page_by_page(registry: Flask) -> None:
    start = NOW - timedelta(days=1)
    made = [attempt_for(TESTOV, "77", at=start + timedelta(seconds=n // 2)) for n in range(7)]  # ties in time too
    expected = [a.reference for a in reversed(made)]  # later first; in a tie, the later row first
    seen: list[str] = []
    before = None
    while True:
        page = attempts.search(Criteria(region="77"), regions=ALL, limit=3, before_id=before)
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
            attempts.decide_again(refs[name], regions=mine)
    assert find(frozenset()) == []


def test_an_attempt_without_a_region_is_seen_by_whole_country_scope_only(made: dict[str, login.Attempt]) -> None:
    reference = made["esia_error"].reference
    assert find(reason="esia_error") == [reference]
    assert find(frozenset({"77", "50", "39"}), reason="esia_error") == []


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


def test_the_trace_names_the_normalisation_rules_in_russian(registry: Flask) -> None:
    detail = attempts.get(attempt_for(replace(TESTOV, last_name="ТЕСТОВ", first_name="Петр"), "77").reference, regions=ALL)
    first = next(row for row in detail.trace if row.field == "first_name")
    assert "esia:yo" not in first.rules and "diary:yo" in first.rules
    assert "дневник: «ё» прочитана как «е»" in first.rules_ru


def test_every_reason_and_outcome_has_its_staff_words(app: Flask) -> None:
    assert set(attempts.REASON_RU) == set(matching.Reason)
    assert set(attempts.OUTCOME_RU) == set(matching.Outcome)
    assert set(attempts.FIXER_STAFF_RU) == set(matching.Fixer)


# --- decide again ----------------------------------------------------------------------------------


def recheck(made: dict[str, login.Attempt], name: str, **kwargs: Any) -> attempts.Recheck:
    return attempts.decide_again(made[name].reference, regions=ALL, **kwargs)


def test_deciding_again_writes_nothing(made: dict[str, login.Attempt]) -> None:
    before = row_counts()
    trace_before = [(a.id, a.trace) for a in db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id))]
    for name, made_attempt in made.items():
        attempts.decide_again(made_attempt.reference, regions=ALL)
        attempts.decide_again(made_attempt.id, regions=ALL)
        attempts.get(made_attempt.reference, regions=ALL)
    assert not db.session.new and not db.session.dirty and not db.session.deleted
    db.session.rollback()
    assert row_counts() == before
    assert [(a.id, a.trace) for a in db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id))] == trace_before


def test_a_region_switched_on_since_removes_the_cause(made: dict[str, login.Attempt]) -> None:
    first = recheck(made, "other_region")
    assert (first.verdict, first.reason_now) == (Verdict.STILL_REFUSED, "region_disabled")
    switch_region("39", True)
    again = recheck(made, "other_region")
    assert again.verdict is Verdict.CAUSE_REMOVED
    region_fact = next(f for f in again.facts if f.topic == "region")
    assert (region_fact.then, region_fact.now, region_fact.changed) == ("fail", "pass", True)


def test_an_account_unblocked_since_removes_the_cause(made: dict[str, login.Attempt]) -> None:
    assert recheck(made, "blocked").verdict is Verdict.STILL_REFUSED
    db.session.execute(update(Account).where(Account.id == "acc-5").values(status="active"))
    db.session.commit()
    again = recheck(made, "blocked")
    status = next(f for f in again.facts if f.topic == "status")
    assert (again.verdict, status.then, status.now, status.changed) == (Verdict.CAUSE_REMOVED, "fail", "pass", True)


def test_a_snils_entered_in_the_diary_since_removes_the_cause(made: dict[str, login.Attempt], tmp_path: Path) -> None:
    first = recheck(made, "no_snils")
    assert (first.verdict, first.reason_now) == (Verdict.STILL_REFUSED, "snils_missing_in_diary")
    rows = [r if r["id"] != "acc-6" else {**r, "snils": SNILS_6} for r in registry_rows()]
    import_rows(current_app._get_current_object(), tmp_path, rows)  # type: ignore[attr-defined]
    again = recheck(made, "no_snils")
    snils = next(f for f in again.facts if f.topic == "snils")
    assert (again.verdict, snils.now, snils.changed) == (Verdict.CAUSE_REMOVED, "pass", True)
    assert SNILS_6 not in snils.now_ru and "***-***-*" in snils.now_ru


def test_a_refusal_on_esia_data_cannot_be_foretold_but_shows_the_persons_accounts(made: dict[str, login.Attempt]) -> None:
    result = recheck(made, "simplified")
    assert result.verdict is Verdict.CANNOT_TELL
    assert result.accounts_found_by_snils == ("acc-1", "acc-2")
    assert {f.account_id for f in result.facts if f.account_id} == {"acc-1", "acc-2"}
    assert recheck(made, "esia_error").verdict is Verdict.CANNOT_TELL


def test_a_granted_attempt_stays_granted_until_its_accounts_fail(made: dict[str, login.Attempt]) -> None:
    assert recheck(made, "chooser").verdict is Verdict.STILL_ALLOWED
    db.session.execute(update(Account).where(Account.id == "acc-1").values(status="blocked"))
    db.session.commit()
    assert recheck(made, "chooser").verdict is Verdict.STILL_ALLOWED  # acc-2 still works
    db.session.execute(update(Account).where(Account.id == "acc-2").values(school_id=""))
    db.session.commit()
    result = recheck(made, "chooser")
    assert (result.verdict, result.reason_now) == (Verdict.NO_LONGER_ALLOWED, "account_blocked")


def test_a_child_who_turned_14_with_a_simplified_account_would_be_refused_now(made: dict[str, login.Attempt]) -> None:
    assert recheck(made, "kid").verdict is Verdict.STILL_ALLOWED
    later = datetime(2030, 3, 2, 9, 0, tzinfo=timezone.utc)  # born 2016-03-01: 14 on 2030-03-01
    result = recheck(made, "kid", at=later)
    age = next(f for f in result.facts if f.topic == "age")
    assert (result.verdict, result.reason_now, age.now) == (Verdict.NO_LONGER_ALLOWED, "tier_insufficient", "fail")


def test_an_account_linked_to_someone_else_since_is_seen(made: dict[str, login.Attempt]) -> None:
    login.link_accounts("9999", ["acc-6"], "verified", "login")
    db.session.commit()
    result = recheck(made, "no_snils")
    link = next(f for f in result.facts if f.topic == "link")
    assert (link.now, link.reason) == ("fail", "linked_elsewhere")
    login.link_accounts(str(KID.oid), ["acc-4"], "simplified", "login")  # the child's own link
    db.session.commit()
    kid = recheck(made, "kid")
    assert next(f for f in kid.facts if f.topic == "link").now_ru.endswith("этого человека.")
    assert kid.verdict is Verdict.STILL_ALLOWED


def test_a_name_mismatch_repeats_while_the_diary_record_is_unchanged(registry: Flask, tmp_path: Path) -> None:
    attempt = attempt_for(replace(TESTOV, middle_name="Степанович"), "77")
    result = attempts.decide_again(attempt.reference, regions=ALL)
    assert (result.verdict, result.reason_now) == (Verdict.STILL_REFUSED, "name_mismatch")
    import_rows(registry, tmp_path, registry_rows())  # the registry sync rewrites the rows
    result = attempts.decide_again(attempt.reference, regions=ALL)
    identity = [f for f in result.facts if f.topic == "identity"]
    assert identity and all(f.now == "unknown" for f in identity)
    assert result.verdict is Verdict.CANNOT_TELL


def test_no_account_is_rechecked_by_the_persons_snils(registry: Flask, tmp_path: Path) -> None:
    stranger = make_person(oid=matching.EsiaOid("6000"), last_name="Чужой", snils=make_snils(556677889))
    attempt = attempt_for(stranger, "77")
    assert db.session.get(LoginAttempt, attempt.id).reason == "no_account"
    assert attempts.decide_again(attempt.reference, regions=ALL).verdict is Verdict.STILL_REFUSED
    import_rows(registry, tmp_path, [*registry_rows(), row(id="acc-9", login="chuzhoy", last_name="Чужой",
                                                           snils=make_snils(556677889))])  # fmt: skip
    result = attempts.decide_again(attempt.reference, regions=ALL)
    assert (result.verdict, result.accounts_found_by_snils) == (Verdict.CAUSE_REMOVED, ("acc-9",))


def set_policy(code: str, policy: dict[str, Any]) -> None:
    """Set a region's overrides as a test's setting (the audited way is regionadmin's business)."""
    db.session.execute(update(Region).where(Region.code == code).values(policy=policy))
    db.session.commit()
    services.current().region_cache.clear()


def test_link_required_is_found_explained_and_rechecked(registry: Flask) -> None:
    set_policy("50", {"auto_link_under_14": False})
    attempt = attempt_for(KID, "50")
    assert db.session.get(LoginAttempt, attempt.id).reason == "link_required"
    assert find(reason="link_required") == [attempt.reference]
    detail = attempts.get(attempt.reference, regions=ALL)
    assert detail.message_ru == matching.REFUSALS[matching.Reason.LINK_REQUIRED].message_ru
    assert "Привязать аккаунт портала Госуслуги" in detail.next_step_ru and "в электронном дневнике" in detail.fixer_staff_ru
    policy_row = next(row for row in detail.trace if row.field == "policy")
    assert (policy_row.field_ru, policy_row.result, policy_row.account_id) == ("Настройка региона", "fail", "acc-4")

    result = attempts.decide_again(attempt.reference, regions=ALL)
    policy = next(f for f in result.facts if f.topic == "policy")
    assert (result.verdict, result.reason_now, policy.then, policy.now) == (Verdict.STILL_REFUSED, "link_required", "fail", "fail")
    set_policy("50", {})  # the operator switched the override back on
    result = attempts.decide_again(attempt.reference, regions=ALL)
    assert result.verdict is Verdict.CAUSE_REMOVED and next(f for f in result.facts if f.topic == "policy").now == "pass"
    set_policy("50", {"auto_link_under_14": False})
    login.link_accounts(str(KID.oid), ["acc-4"], "simplified", "link")  # the link flow was used since
    db.session.commit()
    result = attempts.decide_again(attempt.reference, regions=ALL)
    assert result.verdict is Verdict.CAUSE_REMOVED and not any(f.topic == "policy" for f in result.facts)
