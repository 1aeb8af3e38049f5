"""Registry files for the broker's tests: rows in the import's columns, as CSV or JSON Lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tests.builders import ADULT_SNILS, make_snils

HEADER = ["id", "login", "role", "region", "school_id", "last_name", "first_name", "middle_name",
          "birth_date", "gender", "snils", "status", "esia_oid"]  # fmt: skip


def row(**overrides: Any) -> dict[str, Any]:
    values = {
        "id": "acc-1", "login": "p.testov", "role": "teacher", "region": "77", "school_id": "sch-1",
        "last_name": "Тестов", "first_name": "Пётр", "middle_name": "Сергеевич", "birth_date": "1990-07-14",
        "gender": "M", "snils": ADULT_SNILS, "status": "active", "esia_oid": "",
    }  # fmt: skip
    values.update(overrides)
    return values


def api_row(number: int = 1, **overrides: Any) -> dict[str, Any]:
    """One account as the JSON API's registry upsert takes it."""
    values = {
        "id": f"api-{number:03d}", "login": f"api.user{number}", "role": "parent", "region": "77",
        "school_id": "sch-1", "last_name": "Сидорова", "first_name": "Анна", "middle_name": "Петровна",
        "birth_date": "1984-03-02", "gender": "F", "snils": None, "status": "active", "esia_oid": None,
    }  # fmt: skip
    values.update(overrides)
    return values


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path


BAD_SNILS = "112-233-445 00"  # the check digits are wrong
SHARED_SNILS = make_snils(445566778)
# One region's registry for the pre-flight report: an account for every finding (as of 2026-11-28).
PREFLIGHT_ROWS = [
    row(),  # a teacher...
    row(id="acc-2", login="parent-2", role="parent"),  # ...who is also a parent: one person, fine
    row(id="acc-3", login="u3", last_name="Иванов", first_name="Иван", middle_name="Иванович", birth_date="1985-01-01", snils=""),
    row(id="acc-4", login="u4", last_name="Иванов", first_name="Олег", snils=BAD_SNILS),
    row(
        id="acc-5",
        login="u5",
        role="student",
        school_id="sch-2",
        last_name="Тестова",
        first_name="Алёна",
        middle_name="Петровна",
        birth_date="2016-03-01",
        gender="F",
        snils="",
    ),
    row(
        id="acc-6",
        login="u6",
        role="student",
        school_id="sch-1",
        last_name="Тестова",
        first_name="Алена",
        middle_name="Петровна",
        birth_date="2016-03-01",
        gender="F",
        snils="",
    ),
    row(id="acc-7", login="u7", first_name="Илья", snils=make_snils(111222333), status="blocked"),
    row(id="acc-8", login="u8", first_name="Глеб", snils=make_snils(111222334), school_id=""),
    row(id="acc-9", login="u9", first_name="Яков", snils=make_snils(111222335), middle_name="-"),
    row(id="acc-10", login="u10", last_name="Петрoв", snils=make_snils(111222336)),  # Latin o
    row(id="acc-11", login="u11", role="parent", last_name="Сидоров", snils=SHARED_SNILS),
    row(
        id="acc-12",
        login="u12",
        role="student",
        last_name="Сидорова",
        first_name="Мария",
        gender="F",
        birth_date="2015-05-05",
        snils=SHARED_SNILS,
    ),  # the parent's SNILS in the child's record
    row(
        id="acc-13",
        login="u13",
        role="student",
        last_name="Кузнецова",
        first_name="Ева",
        gender="F",
        birth_date="2017-01-01",
        snils="",
        school_id="sch-3",
    ),
    row(
        id="acc-50",
        login="u50",
        region="50",
        role="student",
        last_name="Кузнецова",
        first_name="Ева",
        gender="F",
        birth_date="2017-01-01",
        snils="",
    ),  # acc-13's namesake in another region
    row(id="acc-14", login="u14", role="student", first_name="Лев", birth_date="2012-11-28", snils=""),  # 14 today
    row(id="acc-15", login="u15", first_name="Марк", snils="", esia_oid="1000100015"),  # linked: no SNILS needed
]
