"""`broker preflight`: a region's registry, read from the database, before ESIA login is on."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from broker.regions import admin as regionadmin
from broker.regions import preflight
from tests.broker.registry_files import BAD_SNILS, SHARED_SNILS, row, write_csv
from tests.builders import ADULT_SNILS

AT = "2026-11-28T12:00"  # Moscow local time (no offset): the region's calendar
SURNAMES = ("Тестов", "Иванов", "Тестова", "Петрoв", "Сидоров", "Сидорова", "Кузнецова")

EXPECTED = {  # for PREFLIGHT_ROWS (tests/broker/registry_files.py)
    # account: (findings, predicted refusal)
    "acc-3": ("snils_missing_in_diary", "snils_missing_in_diary"),
    "acc-4": ("snils_checksum", "snils_mismatch"),
    "acc-5": ("ambiguous", "ambiguous"),
    "acc-6": ("ambiguous", "ambiguous"),
    "acc-7": ("account_blocked", "account_blocked"),
    "acc-8": ("not_attached", "not_attached"),
    "acc-9": ("placeholder", ""),
    "acc-10": ("latin_lookalike", ""),
    "acc-11": ("snils_shared", "snils_mismatch"),
    "acc-12": ("snils_shared", "snils_mismatch"),
    "acc-13": ("ambiguous", "ambiguous"),
    "acc-14": ("snils_missing_in_diary", "snils_missing_in_diary"),
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_prints_predicted_refusals_findings_and_schools_for_a_disabled_region(preflight_registry: FlaskCliRunner) -> None:
    result = preflight_registry.invoke(args=["preflight", "--region", "77", "--at", AT])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Pre-flight of region 77 Москва (ESIA login off)" in out
    assert "(2026-11-28 in Europe/Moscow)" in out
    assert "15 accounts scanned" in out and "10 predicted to be refused" in out and "12 to fix" in out
    assert re.search(r"snils_missing_in_diary +2 ", out) and re.search(r"ambiguous +3 ", out)
    assert re.search(r"snils_mismatch +3 ", out)  # bad checksum and the shared SNILS, as refusals
    assert re.search(r"snils_checksum +1 ", out) and re.search(r"snils_shared +2 ", out)
    assert "Schools with the most predicted refusals" in out
    assert re.search(r"sch-1 +7 refused, 9 to fix of 12 accounts", out)


def test_writes_every_account_to_fix_to_csv_with_masked_snils_only(preflight_registry: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "fix.csv"
    result = preflight_registry.invoke(args=["preflight", "--region", "77", "--at", AT, "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert f"12 accounts to fix written to {path}" in result.output
    rows = read_csv(path)
    assert list(rows[0]) == list(preflight.CSV_HEADER)
    assert {r["account_id"]: (r["findings"], r["predicted_refusal"]) for r in rows} == EXPECTED
    assert [r["account_id"] for r in rows][:2] == ["acc-8", "acc-10"]  # not attached first, then by school and id
    by_id = {r["account_id"]: r for r in rows}
    assert (by_id["acc-4"]["login"], by_id["acc-4"]["role"], by_id["acc-4"]["school_id"]) == ("u4", "teacher", "sch-1")
    assert by_id["acc-4"]["snils_masked"] == "***-***-*45 00"
    assert by_id["acc-12"]["snils_masked"] == "***-***-*" + SHARED_SNILS[-5:]
    assert by_id["acc-3"]["snils_masked"] == ""
    text = path.read_text(encoding="utf-8")
    for snils in (ADULT_SNILS, BAD_SNILS, SHARED_SNILS):
        assert snils[:11] not in text and re.sub(r"\D", "", snils) not in text
    assert not any(name in text for name in SURNAMES)


def test_prints_no_names_and_no_full_snils(preflight_registry: FlaskCliRunner) -> None:
    out = preflight_registry.invoke(args=["preflight", "--region", "77", "--at", AT]).output
    assert not any(name in out for name in SURNAMES)
    assert ADULT_SNILS[:11] not in out and "***" not in out


def test_the_login_instant_decides_who_is_14(preflight_registry: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "fix.csv"
    # 23:30 in Moscow on the 27th: acc-14 turns 14 only at midnight.
    result = preflight_registry.invoke(args=["preflight", "--region", "77", "--at", "2026-11-27T20:30:00+00:00", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "(2026-11-27 in Europe/Moscow)" in result.output
    assert "acc-14" not in {r["account_id"] for r in read_csv(path)}


def test_accounts_of_another_region_count_but_are_listed_in_their_own_preflight(preflight_registry: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "fix-50.csv"
    result = preflight_registry.invoke(args=["preflight", "--region", "50", "--at", AT, "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 accounts scanned" in result.output
    assert {r["account_id"]: r["findings"] for r in read_csv(path)} == {"acc-50": "ambiguous"}


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--region", "99"], "'--region'"),
        (["--region", "7"], "'--region'"),
        ([], "'--region'"),
        (["--region", "77", "--at", "yesterday"], "'--at'"),
    ],
)
def test_a_bad_region_or_instant_exits_with_status_2_naming_the_option(
    preflight_registry: FlaskCliRunner, args: list[str], option: str
) -> None:
    result = preflight_registry.invoke(args=["preflight", *args])
    assert result.exit_code == 2
    assert option in result.output


def test_an_unwritable_csv_file_is_reported_with_status_1(preflight_registry: FlaskCliRunner, tmp_path: Path) -> None:
    result = preflight_registry.invoke(args=["preflight", "--region", "77", "--csv", str(tmp_path / "missing" / "fix.csv")])
    assert result.exit_code == 1
    assert "--csv: cannot write" in result.output


def test_grouping_in_memory_or_by_the_database_gives_the_same_report(preflight_registry: FlaskCliRunner, app: Flask) -> None:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    by_database = preflight.run_preflight("77", at)
    assert preflight.run_preflight("77", at, grouping="memory") == by_database
    assert preflight.run_preflight("77", at, chunk_size=2) == by_database
    assert {a.id for a in by_database.flagged} == set(EXPECTED)


def test_csv_rows_start_with_the_header_and_follow_the_report(preflight_registry: FlaskCliRunner, app: Flask) -> None:
    report = preflight.run_preflight("77", datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    rows = list(preflight.csv_rows(report))
    assert rows[0] == preflight.CSV_HEADER
    assert [r[0] for r in rows[1:]] == [a.id for a in report.flagged]


def test_a_region_that_requires_the_link_flow_for_children_predicts_link_required(
    preflight_registry: FlaskCliRunner, tmp_path: Path
) -> None:
    children = [
        row(id="acc-16", login="u16", role="student", first_name="Фёдор", birth_date="2016-04-04", snils=""),
        row(id="acc-17", login="u17", role="student", first_name="Савва", birth_date="2016-04-04", snils="", esia_oid="1000100017"),
    ]
    assert (
        preflight_registry.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "more.csv", children))]).exit_code
        == 0
    )
    regionadmin.change_region("77", enabled=None, policy={"auto_link_under_14": False}, comment="test",
                              actor_staff=None, actor="cli:test")  # fmt: skip
    path = tmp_path / "fix.csv"
    result = preflight_registry.invoke(args=["preflight", "--region", "77", "--at", AT, "--csv", str(path)])
    assert result.exit_code == 0, result.output
    predicted = result.output.split("Predicted refusals")[1].split("Findings")[0]
    assert re.search(r"link_required +1 ", predicted)  # acc-16 only: acc-17 is linked already
    assert re.search(r"link_required +5 ", result.output.split("Findings")[1])  # with the other children's
    found = {r["account_id"]: (r["findings"], r["predicted_refusal"]) for r in read_csv(path)}
    assert found["acc-16"] == ("link_required", "link_required") and "acc-17" not in found
    # The engine checks the identity and ambiguity first: so does the prediction.
    assert found["acc-5"] == ("ambiguous link_required", "ambiguous")
    assert found["acc-12"] == ("snils_shared link_required", "snils_mismatch")
    assert found["acc-14"] == EXPECTED["acc-14"]  # 14 today: the SNILS rule, not the override
