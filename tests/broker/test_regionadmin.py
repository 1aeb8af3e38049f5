"""Region administration: scope, comments, policy overrides, the audit, the cache and the figures."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

import matching
from broker.db.models import LoginAttempt, Region
from broker.extensions import db
from broker.login import decisions
from broker.regions import admin as regionadmin
from broker.regions import policies as regions
from broker.regions.admin import RegionAccessError, RegionInputError, RegionNotFoundError
from tests.broker.futurepolicy import FUTURE
from tests.broker.staffing import audit_rows, make_staff
from tests.builders import make_person

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_REFERENCES = itertools.count(1)


def region(code: str) -> Region:
    db.session.expire_all()
    found = db.session.get(Region, code)
    assert found is not None
    return found


def change(code: str = "77", member: object = None, **overrides: object) -> regionadmin.RegionChange:
    values: dict = {"enabled": True, "policy": None, "comment": "по письму министерства №15"}
    values.update(overrides)
    return regionadmin.change_region(code, actor_staff=member, **values)  # type: ignore[arg-type]


# --- scope -------------------------------------------------------------------------------------


def test_an_operator_changes_their_own_region(app: Flask) -> None:
    ivanov = make_staff("ivanov", role="operator", regions=("77",))
    done = change("77", ivanov)
    assert done.changed and done.region.enabled and done.region.can_manage
    assert (region("77").enabled, region("77").changed_by) == (True, "ivanov")


@pytest.mark.parametrize(("role", "regions_"), [("operator", ("50",)), ("support", ())])
def test_an_operator_of_another_region_and_support_change_nothing(app: Flask, role: str, regions_: tuple[str, ...]) -> None:
    member = make_staff("someone", role=role, regions=regions_)
    with pytest.raises(RegionAccessError):
        change("77", member, policy={})
    assert not region("77").enabled and region("77").changed_by is None
    assert audit_rows("region_changed") == []


def test_a_disabled_member_changes_nothing(app: Flask) -> None:
    make_staff("boss", role="admin")
    ivanov = make_staff("ivanov", role="operator", regions=("77",))
    ivanov.disabled_at = NOW
    db.session.commit()
    with pytest.raises(RegionAccessError):
        change("77", ivanov)
    assert not region("77").enabled


def test_scope_is_checked_before_the_fields_so_nothing_leaks(app: Flask) -> None:
    member = make_staff("someone", role="operator", regions=("50",))
    with pytest.raises(RegionAccessError):
        change("77", member, enabled="yes", comment="")


def test_lists_what_each_role_may_see_and_manage(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    ivanov = make_staff("ivanov", role="operator", regions=("77", "41"))
    helper = make_staff("helper", role="support")
    assert [(r.code, r.can_manage) for r in regionadmin.list_regions(ivanov)] == [("41", True), ("77", True)]
    every = regionadmin.list_regions(helper)
    assert len(every) == 89 and not any(r.can_manage for r in every)
    assert all(r.can_manage for r in regionadmin.list_regions(boss))
    with pytest.raises(RegionAccessError):
        regionadmin.region_view("50", ivanov)
    assert regionadmin.region_view("50", helper).name == "Московская область"


def test_an_unknown_region_is_named(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    with pytest.raises(RegionNotFoundError, match="region: '99' is not a federal subject code"):
        change("99", boss)
    with pytest.raises(RegionNotFoundError):
        regionadmin.region_view("99", boss)


# --- the fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize("comment", ["", "   \n ", "x" * 1001, "текст\x00"])
def test_the_comment_is_required_and_bounded(app: Flask, comment: str) -> None:
    boss = make_staff("boss", role="admin")
    with pytest.raises(RegionInputError) as caught:
        change("77", boss, comment=comment)
    assert [bad.field for bad in caught.value.bad_fields] == ["comment"] and caught.value.field == "comment"
    assert caught.value.why_ru_by_field()["comment"].startswith("Напишите") or "не более 1000" in caught.value.why_ru
    assert caught.value.status == 422 and caught.value.code == "invalid_request"  # the API's answer
    assert not region("77").enabled and audit_rows("region_changed") == []


def test_an_unknown_policy_key_is_a_field_error_and_nothing_is_written(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    with pytest.raises(RegionInputError) as caught:
        change("77", boss, policy={"max_candidates": 3})
    assert set(caught.value.why_by_field()) == {"policy.max_candidates"}
    assert "unknown override (the matching engine supports: auto_link_under_14, under_14_first_link)" in str(caught.value)
    assert "не поддерживает" in caught.value.why_ru_by_field()["policy.max_candidates"]
    assert not region("77").enabled and region("77").policy == {}
    assert audit_rows("region_changed") == []


def test_every_bad_field_is_named_at_once(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    with pytest.raises(RegionInputError) as caught:
        change("77", boss, enabled="yes", policy={"enabled": True, "x": 1}, comment=" ")
    assert [bad.field for bad in caught.value.bad_fields] == ["enabled", "policy.enabled", "policy.x", "comment"]
    assert all(bad.why and bad.why_ru for bad in caught.value.bad_fields)
    assert str(caught.value).count(";") == 3
    with pytest.raises(RegionInputError) as not_a_dict:
        change("77", boss, policy=["auto_link_under_14"])
    assert set(not_a_dict.value.why_by_field()) == {"policy"}


def test_the_overrides_are_the_engine_policy_fields_but_identity_and_switch() -> None:
    assert [(f.name, f.kind, f.default) for f in FUTURE] == [
        ("auto_link_under_14", "bool", True),
        ("max_candidates", "int", 3),
        ("note", "str", ""),
    ]
    assert regionadmin.policy_fields() == tuple(
        f for f in regionadmin.policy_fields(matching.RegionPolicy) if f.name not in {"code", "name", "timezone", "enabled"}
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"auto_link_under_14": "yes"},
        {"auto_link_under_14": 1},
        {"max_candidates": True},
        {"max_candidates": "3"},
        {"max_candidates": 2.5},
        {"note": ""},
        {"note": "x" * 201},
        {"note": "a\nb"},
    ],
)
def test_a_bad_override_value_is_a_field_error(overrides: dict) -> None:
    with pytest.raises(RegionInputError) as caught:
        regionadmin.check_policy(overrides, FUTURE)
    [name] = overrides
    assert set(caught.value.why_by_field()) == {f"policy.{name}"}


def test_good_override_values_pass_as_given() -> None:
    good = {"auto_link_under_14": False, "max_candidates": 5, "note": "пилот"}
    assert regionadmin.check_policy(good, FUTURE) == good
    assert regionadmin.check_policy({}, FUTURE) == {}


def test_every_supported_override_reaches_the_engine(app: Flask) -> None:
    """A field the engine gains is accepted here at once; this fails until to_policy applies it."""
    moscow = region("77")
    for item in regionadmin.policy_fields():
        value: object
        if item.kind == "choice":  # a StrEnum: another of its values
            value = next(choice for choice in item.choices if choice != item.default)
        else:
            value = {bool: not item.default, int: (item.default or 0) + 1, str: "x"}[item.type]
        moscow.policy = {item.name: value}
        assert getattr(regions.to_policy(moscow), item.name) == value, item.name


def test_the_engine_supports_the_under_14_auto_link_override() -> None:
    assert [(f.name, f.kind, f.default) for f in regionadmin.policy_fields()] == [
        ("auto_link_under_14", "bool", True),
        ("under_14_first_link", "choice", "auto"),
    ]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, True),
        (None, True),
        ({"auto_link_under_14": False}, False),
        ({"auto_link_under_14": False, "retired_override": 5, "code": "50", "enabled": True}, False),  # only known fields
        ({"auto_link_under_14": "no"}, True),  # a hand-edited value of the wrong type is not applied
        (["auto_link_under_14"], True),
    ],
)
def test_to_policy_applies_only_the_known_overrides_of_the_right_type(app: Flask, stored: Any, expected: bool) -> None:
    """``stored`` is any JSON a hand edit may leave in the column, whatever the model declares."""
    moscow = region("77")
    moscow.policy = stored
    policy = regions.to_policy(moscow)
    assert (policy.code, policy.enabled, policy.auto_link_under_14) == ("77", False, expected)


def test_an_operator_turns_off_auto_linking_of_children_audited_and_the_next_login_sees_it(app: Flask) -> None:
    app.config["REGION_CACHE_SECONDS"] = 3600  # the change must clear this process's cache
    ivanov = make_staff("ivanov", role="operator", regions=("77",))
    change("77", ivanov, enabled=True, comment="пилот")
    assert regions.policies()["77"].auto_link_under_14 is True
    done = change(
        "77", ivanov, enabled=None, policy={"auto_link_under_14": False}, comment="решение министерства: дети — только через привязку"
    )
    assert done.changed and done.region.policy == {"auto_link_under_14": False}
    assert (done.before, done.after) == (
        {"enabled": True, "policy": {}},
        {"enabled": True, "policy": {"auto_link_under_14": False}},
    )
    event = audit_rows("region_changed")[-1]
    assert (event.actor, event.comment) == ("ivanov", "решение министерства: дети — только через привязку")
    assert (event.before, event.after) == (done.before, done.after)
    assert region("77").policy == {"auto_link_under_14": False}
    assert regions.policies()["77"].auto_link_under_14 is False
    assert regions.policies()["50"].auto_link_under_14 is True
    # Back to the general rule: an empty policy.
    change("77", ivanov, enabled=None, policy={}, comment="откат")
    assert regions.policies()["77"].auto_link_under_14 is True


# --- the change ----------------------------------------------------------------------------------


def test_a_change_is_audited_with_before_after_and_comment(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    done = change("77", boss, comment="  по письму министерства №15 ")
    assert (done.before, done.after) == ({"enabled": False, "policy": {}}, {"enabled": True, "policy": {}})
    [event] = audit_rows("region_changed")
    assert (event.actor, event.target, event.comment) == ("boss", "region:77", "по письму министерства №15")
    assert (event.before, event.after) == (done.before, done.after)
    moscow = region("77")
    assert moscow.changed_by == "boss" and moscow.changed_at is not None
    assert regionadmin.history("77")[0].id == event.id and regionadmin.history("50") == []


def test_the_cli_passes_its_actor(app: Flask) -> None:
    change("77", None, actor="cli:ops")
    [event] = audit_rows("region_changed")
    assert event.actor == "cli:ops" and region("77").changed_by == "cli:ops"
    with pytest.raises(ValueError, match="actor"):
        change("50", None)


def test_a_change_that_changes_nothing_writes_nothing(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    done = change("77", boss, enabled=False, policy={})
    assert not done.changed and done.before == done.after
    assert region("77").changed_by is None and audit_rows("region_changed") == []


def test_the_change_takes_effect_for_the_next_decision_in_this_process(app: Flask) -> None:
    app.config["REGION_CACHE_SECONDS"] = 3600  # without clearing, the cached "off" would stay
    boss = make_staff("boss", role="admin")
    person = make_person()
    assert decisions.decide(person, "77", NOW).reason is matching.Reason.REGION_DISABLED
    change("77", boss, enabled=True)
    assert regions.policies()["77"].enabled
    assert decisions.decide(person, "77", NOW).reason is matching.Reason.NO_ACCOUNT
    change("77", boss, enabled=False, comment="откат")
    assert decisions.decide(person, "77", NOW).reason is matching.Reason.REGION_DISABLED


# --- figures -----------------------------------------------------------------------------------


def attempt(region_code: str | None, ago: timedelta, outcome: str, reason: str | None = None) -> None:
    db.session.add(
        LoginAttempt(
            reference=f"T{next(_REFERENCES):07d}",
            started_at=NOW - ago,
            client_id="portal",
            flow="login",
            region=region_code,
            outcome=outcome,
            reason=reason,
        )
    )


def test_figures_count_the_last_day_and_week_by_outcome_and_reason(app: Flask) -> None:
    hours = lambda n: timedelta(hours=n)  # noqa: E731
    attempt("77", hours(1), "signed_in")
    attempt("77", hours(23), "linked")
    attempt("77", hours(25), "linked")
    attempt("77", hours(2), "refused", "region_disabled")
    attempt("77", hours(30), "refused", "no_account")
    attempt("77", hours(40), "refused", "no_account")
    attempt("77", hours(24 * 6), "refused", "tier_insufficient")
    attempt("77", hours(24 * 7 + 1), "refused", "no_account")  # older than a week
    attempt("77", -hours(1), "signed_in")  # after `now`
    attempt("50", hours(1), "refused", "no_account")  # another region
    attempt(None, hours(1), "refused", "esia_error")  # no region known
    db.session.commit()
    found = regionadmin.figures("77", now=NOW.astimezone(timezone(timedelta(hours=3))))
    assert found.until == NOW and found.day_since == NOW - hours(24) and found.week_since == NOW - timedelta(days=7)
    assert [(x.outcome, x.day, x.week) for x in found.by_outcome()] == [
        ("signed_in", 1, 1),
        ("linked", 1, 2),
        ("choose_account", 0, 0),
        ("refused", 1, 4),
    ]
    assert [(x.reason, x.day, x.week) for x in found.refusals()] == [
        ("no_account", 0, 2),
        ("region_disabled", 1, 1),
        ("tier_insufficient", 0, 1),
    ]
    assert (found.day_total, found.week_total) == (3, 7)
    assert regionadmin.figures("39", now=NOW).lines == ()


def test_figures_read_the_region_time_index(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL picks by table statistics")
    seen: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if "login_attempts" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        regionadmin.figures("77", now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    plan = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()  # type: ignore[arg-type]
    assert "ix_login_attempts_region_started_at" in " ".join(str(row[-1]) for row in plan)
