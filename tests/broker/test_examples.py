"""The demo registry and example persons (`make run`) show every outcome the engine can reach."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

import matching
from broker.regions import admin as regionadmin
from tests.broker.staffing import audit_rows

ROOT = Path(__file__).resolve().parents[2]
# A fixed instant keeps the ages of the example people (children born 2012-2016) stable.
AT = "2026-12-01T12:00:00+03:00"
EXPECTED = {
    "adult-simple": ("refused", "tier_insufficient"),
    "adult-standard": ("linked", None),
    "adult-verified": ("linked", None),
    "bad-snils": ("refused", "esia_data_incomplete"),
    "birthdate-mismatch": ("refused", "birthdate_mismatch"),
    "blocked": ("refused", "account_blocked"),
    "decline": ("linked", None),  # declines at ESIA's consent page; its data would match
    "double-surname": ("linked", None),
    "gender-mismatch": ("refused", "gender_mismatch"),
    "kid": ("linked", None),
    "latin-letters": ("linked", None),
    "linked-elsewhere": ("refused", "linked_elsewhere"),
    "name-mismatch": ("refused", "name_mismatch"),
    "namesake-1": ("signed_in", None),
    "namesake-2": ("linked", None),
    "namesakes": ("refused", "ambiguous"),
    "no-account": ("refused", "no_account"),
    "no-birthdate": ("refused", "esia_data_incomplete"),
    "no-patronymic": ("linked", None),
    "not-attached": ("refused", "not_attached"),
    "other-region": ("refused", "region_disabled"),
    "snils-mismatch": ("refused", "snils_mismatch"),
    "teacher": ("choose_account", None),
    "teen-simple": ("refused", "tier_insufficient"),
    "teen-standard": ("linked", None),
    "teen-verified": ("refused", "snils_missing_in_diary"),
    "yo": ("linked", None),
}


@pytest.fixture
def demo(runner: FlaskCliRunner) -> FlaskCliRunner:
    result = runner.invoke(args=["registry", "import", "--allow-links", str(ROOT / "examples" / "registry.csv")])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["regions", "enable", "77", "50", "--comment", "test"]).exit_code == 0
    return runner


def test_every_example_person_has_an_expected_outcome() -> None:
    assert {path.stem for path in (ROOT / "examples" / "persons").glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_the_example_person_gets_the_documented_outcome(demo: FlaskCliRunner, name: str, expected: tuple[str, str | None]) -> None:
    person = ROOT / "examples" / "persons" / f"{name}.json"
    region = "39" if name == "other-region" else "77"  # the region the person logs in through
    result = demo.invoke(args=["simulate", "--person", str(person), "--region", region, "--at", AT])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["outcome"], out["reason"]) == expected


def test_the_examples_reach_every_outcome_and_every_decision_reason() -> None:
    reached = {outcome for outcome, _ in EXPECTED.values()} | {r for _, r in EXPECTED.values() if r}
    assert reached >= {
        "signed_in", "linked", "choose_account", "refused", "region_disabled", "esia_data_incomplete",
        "tier_insufficient", "no_account", "account_blocked", "not_attached", "name_mismatch",
        "birthdate_mismatch", "gender_mismatch", "snils_mismatch", "snils_missing_in_diary",
        "ambiguous", "linked_elsewhere",
    }  # fmt: skip


def test_simulate_shows_link_required_for_the_example_child_when_the_region_requires_the_link_flow(demo: FlaskCliRunner) -> None:
    regionadmin.change_region("77", enabled=None, policy={"auto_link_under_14": False}, comment="test",
                              actor_staff=None, actor="cli:test")  # fmt: skip
    kid = str(ROOT / "examples" / "persons" / "kid.json")
    result = demo.invoke(args=["simulate", "--person", kid, "--region", "77", "--at", AT])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    words = matching.REFUSALS[matching.Reason.LINK_REQUIRED]
    assert (out["outcome"], out["reason"], out["account_ids"]) == ("refused", "link_required", [])
    assert (out["message_ru"], out["next_step_ru"], out["fixer"], out["text_en"]) == (
        words.message_ru, words.next_step_ru, "person", words.text_en,
    )  # fmt: skip
    [policy] = [check for check in out["checks"] if check["field"] == "policy"]
    assert (policy["result"], policy["account_id"]) == ("fail", "d-001") and "auto_link_under_14" in policy["detail"]
    adult = str(ROOT / "examples" / "persons" / "adult-verified.json")
    assert json.loads(demo.invoke(args=["simulate", "--person", adult, "--region", "77", "--at", AT]).stdout)["outcome"] == "linked"


def test_the_demo_enables_its_regions_with_a_russian_comment_for_the_operators(app: Flask) -> None:
    from examples import demo

    with app.app_context():
        assert demo.prepare() > 0
        comments = {row.comment or "" for row in audit_rows("region_changed")}
    assert comments and all(re.search("[А-Яа-я]{4}", text) and not re.search("[A-Za-z]", text) for text in comments), comments
