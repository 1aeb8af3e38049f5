"""Registry files for the broker's tests: rows in the import's columns, as CSV or JSON Lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tests.builders import ADULT_SNILS

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


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path
