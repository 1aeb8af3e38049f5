"""`broker simulate`: the real decision against the current registry, writing nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from broker.db.models import Account, EsiaLink
from broker.extensions import db
from tests.broker.registry_files import row, write_csv
from tests.builders import ADULT_SNILS


def person_file(tmp_path: Path, **overrides: Any) -> str:
    data = {
        "oid": 1000100001, "lastName": "Тестов", "firstName": "Пётр", "middleName": "Сергеевич",
        "birthDate": "14.07.1990", "gender": "M", "snils": ADULT_SNILS, "trusted": True,
    }  # fmt: skip
    data.update(overrides)
    path = tmp_path / "person.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture
def registry(runner: FlaskCliRunner, tmp_path: Path) -> FlaskCliRunner:
    rows = [row(), row(id="acc-2", login="parent", role="parent"), row(id="acc-3", login="x", region="39", snils="", last_name="Иванов")]
    assert runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "r.csv", rows))]).exit_code == 0
    assert runner.invoke(args=["regions", "enable", "77", "--comment", "test"]).exit_code == 0
    return runner


def simulate(runner: FlaskCliRunner, *args: str) -> tuple[int, Any]:
    result = runner.invoke(args=["simulate", *args])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output


def test_prints_one_json_decision_with_its_checks(registry: FlaskCliRunner, tmp_path: Path) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path), "--region", "77")
    assert code == 0
    assert {"outcome", "reason", "account_ids", "checks", "message_ru"} <= set(out)
    assert (out["outcome"], out["reason"], sorted(out["account_ids"])) == ("choose_account", None, ["acc-1", "acc-2"])
    assert all({"field", "result", "detail"} <= set(check) for check in out["checks"])


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trusted": False}, "tier_insufficient"),
        ({"birthDate": "15.07.1990"}, "birthdate_mismatch"),
        ({"gender": "F"}, "gender_mismatch"),
        ({"snils": None}, "esia_data_incomplete"),
    ],
)
def test_exits_zero_whatever_the_outcome(registry: FlaskCliRunner, tmp_path: Path, overrides: dict[str, Any], reason: str) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path, **overrides), "--region", "77")
    assert code == 0
    assert (out["outcome"], out["reason"]) == ("refused", reason)
    assert out["message_ru"] and out["next_step_ru"]


def test_infers_the_region_from_the_persons_accounts(registry: FlaskCliRunner, tmp_path: Path) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path))
    assert (code, out["region"]) == (0, "77")


def test_a_naive_instant_is_the_regions_local_time(registry: FlaskCliRunner, tmp_path: Path) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path), "--region", "41", "--at", "2026-09-01T08:00")
    assert (code, out["at"], out["reason"]) == (0, "2026-09-01T08:00:00+12:00", "region_disabled")


def test_writes_nothing(registry: FlaskCliRunner, tmp_path: Path) -> None:
    simulate(registry, "--person", person_file(tmp_path, oid=1000100009), "--region", "77")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(EsiaLink)) == 0
    assert db.session.scalar(select(func.count()).select_from(Account)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "77", "--at", "yesterday"], "--at: must be an ISO 8601 instant"),
        (["--region", "00"], "region: '00' is not a federal subject code"),
    ],
)
def test_unusable_options_name_the_option(registry: FlaskCliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path), *args)
    assert code == 1 and message in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "--person: not valid JSON"),
        (json.dumps({"oid": "x"}), "oid (in --person): is missing or not numeric"),
        (json.dumps({"oid": 1, "birthDate": "1990-07-14"}), "birthDate (in --person): must be a date as dd.MM.yyyy"),
    ],
)
def test_unusable_person_data_names_the_field(registry: FlaskCliRunner, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    code, out = simulate(registry, "--person", str(path), "--region", "77")
    assert code == 1 and message in out


def test_a_person_with_no_accounts_needs_a_region(registry: FlaskCliRunner, tmp_path: Path) -> None:
    code, out = simulate(registry, "--person", person_file(tmp_path, snils="000-000-600 06", lastName="Нет"))
    assert code == 1 and "--region: cannot be inferred" in out
