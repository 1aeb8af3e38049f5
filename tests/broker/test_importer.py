"""`broker registry import`: streaming, idempotent, strict, and SNILS never stored in clear."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import event, func, inspect, select

from broker import services
from broker.db.models import Account, EsiaLink
from broker.errors import BrokerError
from broker.extensions import db
from broker.regions import policies as regions
from broker.registry import importer
from tests.broker.registry_files import HEADER, row, write_csv, write_jsonl
from tests.builders import ADULT_SNILS, make_snils


def count(model: type) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_imports_a_csv_registry_and_reports_the_counts(runner: FlaskCliRunner, tmp_path: Path) -> None:
    rows = [
        row(),
        row(
            id="acc-2",
            login="a.testova",
            role="student",
            last_name="Тестова",
            first_name="Алёна",
            birth_date="2016-03-01",
            gender="Ж",
            snils="",
            school_id="",
        ),
    ]
    result = runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "r.csv", rows))])
    assert result.exit_code == 0, result.output
    assert "2 rows read: 2 accounts written, 0 links, 0 rejected" in result.output
    assert count(Account) == 2
    child = db.session.get(Account, "acc-2")
    assert child is not None
    assert (child.gender, child.school_id, child.snils_digest, child.name_key) == ("F", None, None, "тестова|алена|сергеевич")
    assert (child.birth_date, child.snils_valid, type(child.updated_at)) == (date(2016, 3, 1), True, datetime)


def test_imports_json_lines_with_numeric_ids_and_an_existing_link(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [row(id=17, esia_oid=1000100001)])
    result = runner.invoke(args=["registry", "import", "--allow-links", str(path)])
    assert result.exit_code == 0, result.output
    link = db.session.get(EsiaLink, "17")
    assert link is not None and (link.oid, link.source) == ("1000100001", "import")


def test_importing_the_same_file_twice_changes_nothing(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [row(), row(id="acc-2", login="other", snils=make_snils(555666777))])
    assert runner.invoke(args=["registry", "import", str(path)]).exit_code == 0
    before = [tuple(r) for r in db.session.execute(select(Account.id, Account.login, Account.snils_digest).order_by(Account.id))]
    assert runner.invoke(args=["registry", "import", str(path)]).exit_code == 0
    after = [tuple(r) for r in db.session.execute(select(Account.id, Account.login, Account.snils_digest).order_by(Account.id))]
    assert before == after and count(Account) == 2


def test_a_later_import_updates_the_account_by_id(runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "a.csv", [row()]))])
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "b.csv", [row(status="blocked", school_id="")]))])
    db.session.remove()
    account = db.session.get(Account, "acc-1")
    assert account is not None and (account.status, account.school_id) == ("blocked", None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": ""}, "id"),
        ({"login": ""}, "login"),
        ({"role": "pupil"}, "role"),
        ({"region": "99"}, "region"),
        ({"region": "7"}, "region"),
        ({"last_name": ""}, "last_name"),
        ({"first_name": "-"}, "first_name"),
        ({"birth_date": "14.07.1990"}, "birth_date"),
        ({"birth_date": "1990-02-30"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"gender": "X"}, "gender"),
        ({"snils": "123-456"}, "snils"),
        ({"status": "deleted"}, "status"),
        ({"esia_oid": "abc"}, "esia_oid"),
        ({"school_id": "s" * 65}, "school_id"),
    ],
)
def test_rejects_a_row_naming_the_field_and_writes_nothing(
    runner: FlaskCliRunner, tmp_path: Path, overrides: dict[str, Any], field: str
) -> None:
    path = write_csv(tmp_path / "r.csv", [row(id="good", login="good"), row(**overrides)])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert f"rejected: line 3: {field}: " in result.output
    assert "1 accounts written" in result.output and "1 rejected" in result.output
    assert [a.id for a in db.session.scalars(select(Account))] == ["good"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("not json", "(json)"),
        ('["a list"]', "(json)"),
        (json.dumps(row(snils=11223344595)), "snils"),  # a number loses leading zeros
        (json.dumps({**row(), "nickname": "x"}), "nickname"),
    ],
)
def test_rejects_unusable_json_lines(runner: FlaskCliRunner, tmp_path: Path, line: str, field: str) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [line])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert f"rejected: line 1: {field}: " in result.output
    assert count(Account) == 0


def test_rejects_a_login_that_belongs_to_another_account(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [row(), row(id="acc-2", snils=""), row(id="acc-3", login="ok", snils="")])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert "rejected: line 3: login: already belongs to another account" in result.output
    assert sorted(a.id for a in db.session.scalars(select(Account))) == ["acc-1", "acc-3"]


def test_stores_a_snils_with_a_bad_checksum_flagged_and_warns(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "r.csv", [row(snils="112-233-445 96")]))])
    assert result.exit_code == 0
    assert "warning: line 2: snils: checksum does not match" in result.output
    account = db.session.get(Account, "acc-1")
    assert account is not None and account.snils_valid is False and account.snils_masked == "***-***-*45 96"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ([h for h in HEADER if h != "birth_date"], "header: missing column 'birth_date'"),
        ([*HEADER, "nickname"], "header: unknown column 'nickname'"),
    ],
)
def test_refuses_a_file_whose_header_is_wrong(runner: FlaskCliRunner, tmp_path: Path, header: list[str], message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(",".join(header) + "\n", encoding="utf-8")
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1 and message in result.output


def test_never_stores_a_snils_in_clear(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "r.csv", [row()]))])
    digits = ADULT_SNILS.replace("-", "").replace(" ", "")
    stored = " ".join(str(value) for r in db.session.execute(select(Account)).scalars() for value in vars(r).values())
    assert digits not in stored and ADULT_SNILS not in stored
    assert digits[:9] not in stored


def test_reads_csv_from_standard_input(runner: FlaskCliRunner) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER)
    writer.writeheader()
    writer.writerow(row())
    result = runner.invoke(args=["registry", "import", "-"], input=buffer.getvalue())
    assert result.exit_code == 0, result.output
    assert count(Account) == 1


def test_names_a_missing_file(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["registry", "import", "/nonexistent/registry.csv"])
    assert result.exit_code == 1 and "FILE: cannot open" in result.output


def test_an_initial_load_completes_while_another_transaction_reads_the_accounts(app: Flask, tmp_path: Path) -> None:
    """Dropping indexes would wait for the reader; the import keeps them and goes on instead."""
    parser = importer.RowParser(
        regions=frozenset(r.code for r in regions.all_regions()), snils_key=services.current().snils_key, today=date.today()
    )
    db.session.commit()
    with db.engine.connect() as reader, db.engine.connect() as writer:
        reader.begin()
        reader.execute(select(func.count()).select_from(Account))
        path = write_csv(tmp_path / "r.csv", [row()])
        with path.open(encoding="utf-8", newline="") as stream:
            report = importer.import_registry(writer, importer.read_rows(stream, "csv"), parser, actor="cli:test")
        reader.rollback()
    assert report.written == 1
    db.session.remove()
    assert count(Account) == 1
    with db.engine.connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("accounts")}
    assert {"ix_accounts_snils_digest", "ix_accounts_name_key_birth_date", "ix_accounts_short_key_birth_date"} <= names


@pytest.mark.parametrize("value", ["p.tes\x00tov", "p.testov\x07", "p.\u200btestov"])
def test_rejects_control_and_invisible_characters(runner: FlaskCliRunner, tmp_path: Path, value: str) -> None:
    result = runner.invoke(args=["registry", "import", str(write_jsonl(tmp_path / "r.jsonl", [row(login=value)]))])
    assert result.exit_code == 1
    assert "rejected: line 1: login: contains control or invisible characters" in result.output
    assert count(Account) == 0


def test_a_file_never_moves_a_link_its_owner_made_at_login(runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "a.csv", [row()]))])
    db.session.add(EsiaLink(account_id="acc-1", oid="111", tier="verified", source="login", linked_at=datetime.now(UTC)))
    db.session.commit()
    result = runner.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "b.csv", [row(esia_oid="222")]))])
    assert result.exit_code == 0
    assert "warning: line 2: esia_oid: the account was linked by its owner at login" in result.output
    db.session.remove()
    link = db.session.get(EsiaLink, "acc-1")
    assert link is not None and (link.oid, link.source, link.tier) == ("111", "login", "verified")


def test_a_file_may_move_a_link_it_made_and_forgets_the_old_tier(runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "a.csv", [row(esia_oid="111")]))])
    result = runner.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "b.csv", [row(esia_oid="222")]))])
    assert result.exit_code == 0
    db.session.remove()
    link = db.session.get(EsiaLink, "acc-1")
    assert link is not None and (link.oid, link.source, link.tier) == ("222", "import", None)


def test_reads_jsonl_with_a_bom_from_standard_input(runner: FlaskCliRunner) -> None:
    data = ("\ufeff" + json.dumps(row(), ensure_ascii=False) + "\n").encode()
    result = runner.invoke(args=["registry", "import", "--format", "jsonl", "-"], input=data)
    assert result.exit_code == 0, result.output
    assert count(Account) == 1


def test_names_a_file_that_is_not_utf8(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n" + "acc-1,Тестов".encode("cp1251") + b"\n")
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1 and "FILE: is not UTF-8 text" in result.output


def test_an_import_rebuilds_lookup_indexes_an_interrupted_load_left_missing(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "a.csv", [row()]))])
    with db.engine.begin() as connection:
        for index in importer._LOOKUP_INDEXES:
            index.drop(connection)
    runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "b.csv", [row(id="acc-2", login="x")]))])
    with db.engine.connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("accounts")}
    assert {index.name for index in importer._LOOKUP_INDEXES if index.table.name == "accounts"} <= names


def _dies() -> Iterator[list[importer.Parsed]]:
    os._exit(3)
    yield []  # pragma: no cover  (makes this a generator)


def test_the_import_stops_when_its_parser_process_dies() -> None:
    with pytest.raises(BrokerError, match="stopped unexpectedly"):
        list(importer.in_background(_dies()))


# --- hostile files: one bad line is one rejected row, and memory stays bounded -------------------


def _good(number: int) -> dict[str, Any]:
    return row(id=f"acc-{number}", login=f"login-{number}", snils="")


def test_a_huge_csv_value_rejects_its_line_and_the_rest_is_imported(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [_good(1), row(id="acc-2", login="x", last_name="Я" * 10_000_000), _good(3)])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert f"rejected: line 3: (line): is longer than {importer.MAX_LINE} characters" in result.output
    assert "2 accounts written" in result.output and "1 rejected" in result.output
    assert {a.id for a in db.session.scalars(select(Account))} == {"acc-1", "acc-3"}


def test_a_quoted_value_left_open_rejects_the_lines_it_swallowed_and_the_rest_is_imported(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [_good(1)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('acc-2,x,teacher,77,sch-1,"Тестов\n')  # line 3: the quote is never closed
        handle.write(("y" * 60_000 + "\n") * 3)  # lines 4-6: over the csv module's field size limit
        handle.write("acc-7,login-7,teacher,77,sch-1,Тестов,Пётр,,1990-07-14,M,,active,\n")
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert "rejected: line 3: (csv): field larger than field limit" in result.output
    assert "(lines 3-6 were not imported)" in result.output
    assert {a.id for a in db.session.scalars(select(Account))} == {"acc-1", "acc-7"}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("[" * 30_000 + "]" * 30_000, "(json): is nested too deeply"),
        ('{"id": ' + "1" * 5_000 + "}", "(json): holds a number with too many digits"),
        (json.dumps(row(id="acc-2", login="x", last_name="Я" * 10_000_000), ensure_ascii=False), "(line): is longer than"),
    ],
    ids=["nested", "long-number", "10MB"],
)
def test_a_hostile_json_line_is_rejected_and_the_rest_is_imported(runner: FlaskCliRunner, tmp_path: Path, line: str, why: str) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [_good(1), line, _good(3)])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert f"rejected: line 2: {why}" in result.output
    assert {a.id for a in db.session.scalars(select(Account))} == {"acc-1", "acc-3"}


class _Watched(io.StringIO):
    """A text stream that remembers the longest piece any reader took from it at once."""

    longest = 0

    # typeshed types io's text streams as overrides of _io._IOBase, whose readline and __iter__
    # give bytes, and silences the clash in its own StringIO; a subclass has to do the same.
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        line = super().readline(size)
        self.longest = max(self.longest, len(line))
        return line

    def read(self, size: int | None = -1, /) -> str:
        text = super().read(size)
        self.longest = max(self.longest, len(text))
        return text

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.readline, "")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_huge_line_is_never_read_into_memory_whole(fmt: str) -> None:
    huge = "x" * 5_000_000
    text = ",".join(HEADER) + "\n" + huge + "\n" if fmt == "csv" else huge + "\n"
    stream = _Watched(text)
    rows = list(importer.read_rows(stream, fmt))
    assert [(line, str(raw)) for line, raw in rows] == [
        (2 if fmt == "csv" else 1, f"(line): is longer than {importer.MAX_LINE} characters")
    ]
    assert stream.longest <= importer.MAX_LINE + 1


def test_a_later_row_with_the_same_id_wins_within_one_batch(runner: FlaskCliRunner, tmp_path: Path) -> None:
    """One rule on both databases: rows are upserted in file order (on PostgreSQL one statement
    upserts the batch, and only the last row of an id is staged)."""
    path = write_csv(tmp_path / "r.csv", [row(), row(school_id="sch-2", status="blocked"), row(id="acc-2", login="other")])
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 rows read: 3 accounts written, 0 links, 0 rejected" in result.output
    db.session.remove()
    account = db.session.get(Account, "acc-1")
    assert account is not None and (account.school_id, account.status) == ("sch-2", "blocked")
    assert count(Account) == 2


def test_on_postgresql_an_initial_load_copies_into_the_table_and_later_imports_upsert_from_a_copied_batch(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's import path (TEST_DATABASE_URL)")
    app.config["IMPORT_BATCH_SIZE"] = 5
    statements: list[tuple[str, bool]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        statements.append((statement, executemany))

    rows = [row(id=f"acc-{n}", login=f"login-{n}", snils=make_snils(100000000 + n)) for n in range(12)]
    path = write_csv(tmp_path / "r.csv", rows)
    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        first = runner.invoke(args=["registry", "import", str(path)])
        initial = list(statements)
        again = runner.invoke(args=["registry", "import", str(path)])
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert "12 new, 0 updated" in first.output and "0 new, 12 updated" in again.output
    assert not any("INSERT INTO accounts" in statement for statement, _ in initial)  # COPY, not seen here
    upserts = [statement for statement, _ in statements[len(initial) :] if "INSERT INTO accounts" in statement]
    assert len(upserts) == 3 and all(statement.startswith("WITH staged AS (DELETE FROM registry_staged_accounts") for statement in upserts)
    assert not any(many for statement, many in statements if "accounts" in statement)
    assert count(Account) == 12


def test_an_initial_load_takes_a_later_batchs_row_over_an_earlier_one_with_the_same_id(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """A row whose id came in an earlier batch of the same load (PostgreSQL: the straight copy is
    refused and the batch is upserted) updates the account, as on SQLite."""
    app.config["IMPORT_BATCH_SIZE"] = 2
    rows = [row(), row(id="acc-2", login="other"), row(school_id="sch-9"), row(id="acc-3", login="third")]
    result = runner.invoke(args=["registry", "import", str(write_csv(tmp_path / "r.csv", rows))])
    assert result.exit_code == 0, result.output
    assert "accounts: 3 new, 1 updated" in result.output
    db.session.remove()
    account = db.session.get(Account, "acc-1")
    assert account is not None and account.school_id == "sch-9"
    assert count(Account) == 3
