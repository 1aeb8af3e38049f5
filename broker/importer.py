"""`broker registry import`: stream a CSV or JSON Lines registry export into the accounts table.

Streaming (constant memory, batches of ``IMPORT_BATCH_SIZE`` rows per transaction), idempotent
(upsert by ``id``), and strict: a row with a bad field is rejected whole, reported with its
line, field and reason, and writes nothing. A SNILS with a bad checksum is not a rejection: the
account is real, its SNILS is wrong; it is stored flagged (never matched) and reported, so that
pre-flight can count it and the school can fix it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import IO, Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

import matching
from broker.errors import InputError
from broker.models import Account, EsiaLink
from broker.registry import snils_digest

COLUMNS = (
    "id", "login", "role", "region", "school_id", "last_name", "first_name", "middle_name",
    "birth_date", "gender", "snils", "status", "esia_oid",
)  # fmt: skip
REQUIRED = ("id", "login", "role", "region", "last_name", "first_name", "birth_date", "gender", "status")
_ROLES = {str(role) for role in matching.Role}
_STATUSES = {str(status) for status in matching.AccountStatus}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OID = re.compile(r"\d{1,32}")
_EARLIEST_BIRTH = date(1900, 1, 1)


class RowError(Exception):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    field: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.why}"


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    written: int = 0
    links: int = 0
    rejected: int = 0
    warnings: int = 0


@dataclass(frozen=True, slots=True)
class RowParser:
    """Validates one raw row into the accounts table's values (and an optional link)."""

    regions: frozenset[str]
    snils_key: bytes
    today: date

    def parse(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
        """Return (account values, linked oid or None, warning or None); raise RowError."""
        unknown = [key for key in raw if key not in COLUMNS]
        if unknown:
            raise RowError(str(unknown[0]), "unknown column")
        value = {key: _text(raw.get(key), key) for key in COLUMNS}
        for key in REQUIRED:
            if not value[key]:
                raise RowError(key, "is required")
        _limit(value, "id", 64)
        _limit(value, "login", 128)
        _limit(value, "school_id", 64)
        role = value["role"].lower()
        if role not in _ROLES:
            raise RowError("role", f"must be one of {', '.join(sorted(_ROLES))}")
        if value["region"] not in self.regions:
            raise RowError("region", "must be a two-digit federal subject code, such as 77")
        status = value["status"].lower()
        if status not in _STATUSES:
            raise RowError("status", "must be active or blocked")
        for key in ("last_name", "first_name", "middle_name"):
            _limit(value, key, 128)
        for key in ("last_name", "first_name"):
            if matching.normalise_name(value[key]).is_empty:
                raise RowError(key, "is a placeholder, not a name")
        birth_date = _birth_date(value["birth_date"], self.today)
        try:
            gender = matching.parse_gender(value["gender"])
        except ValueError as exc:
            raise RowError("gender", str(exc)) from None
        digest = masked = warning = None
        valid = True
        if value["snils"]:
            digits = "".join(ch for ch in value["snils"] if ch.isdigit())
            try:
                matching.parse_snils(value["snils"])
            except matching.InvalidSnilsError as exc:
                if exc.code != "snils_checksum":
                    raise RowError("snils", "must have 11 digits (123-456-789 01)") from None
                valid = False
                warning = "snils: checksum does not match; stored flagged, never matched"
            digest = snils_digest(self.snils_key, digits)
            masked = matching.mask_snils(digits)
        oid = value["esia_oid"] or None
        if oid is not None and not _OID.fullmatch(oid):
            raise RowError("esia_oid", "must be the ESIA person's numeric oid")
        middle = value["middle_name"] or ""
        account = {
            "id": value["id"],
            "login": value["login"],
            "role": role,
            "region": value["region"],
            "school_id": value["school_id"] or None,
            "last_name": value["last_name"],
            "first_name": value["first_name"],
            "middle_name": middle,
            "name_key": matching.name_key(value["last_name"], value["first_name"], middle),
            "birth_date": birth_date,
            "gender": str(gender),
            "snils_digest": digest,
            "snils_masked": masked,
            "snils_valid": valid,
            "status": status,
        }
        return account, oid, warning


def _text(raw: Any, key: str) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise RowError(key, "must be a string")
    if isinstance(raw, int) and key not in ("id", "school_id", "esia_oid"):
        raise RowError(key, "must be a string")  # e.g. a SNILS as a JSON number loses its zeros
    return str(raw).strip()


def _limit(value: Mapping[str, str], key: str, length: int) -> None:
    if len(value[key]) > length:
        raise RowError(key, f"is longer than {length} characters")


def _birth_date(raw: str, today: date) -> date:
    if not _ISO_DATE.fullmatch(raw):
        raise RowError("birth_date", "must be a date as YYYY-MM-DD")
    try:
        born = date.fromisoformat(raw)
    except ValueError:
        raise RowError("birth_date", "is not a calendar date") from None
    if not _EARLIEST_BIRTH <= born <= today:
        raise RowError("birth_date", "is not a plausible birth date")
    return born


def read_rows(stream: IO[str], fmt: str) -> Iterator[tuple[int, Mapping[str, Any] | RowError]]:
    """Yield (line number, raw row) or (line number, RowError) for unreadable lines."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        header = reader.fieldnames or []
        missing = [key for key in REQUIRED if key not in header]
        unknown = [key for key in header if key not in COLUMNS]
        if unknown:
            raise InputError("header", f"unknown column {unknown[0]!r}; columns are {', '.join(COLUMNS)}")
        if missing:
            raise InputError("header", f"missing column {missing[0]!r}")
        for row in reader:
            if None in row:
                yield reader.line_num, RowError("(row)", "has more values than the header has columns")
            else:
                yield reader.line_num, row
    elif fmt == "jsonl":
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError("(json)", f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(row, dict):
                yield number, RowError("(json)", "each line must be one JSON object")
                continue
            yield number, row
    else:
        raise InputError("format", "must be csv or jsonl")


def detect_format(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InputError("--format", "cannot tell the format from the file name; pass --format csv or jsonl")


class Writer:
    """Upserts batches of accounts (and links) on SQLite or PostgreSQL."""

    def __init__(self, connection: Connection) -> None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        self.connection = connection
        accounts = dialect.insert(Account.__table__)
        self.upsert_accounts = accounts.on_conflict_do_update(
            index_elements=["id"],
            set_={key: accounts.excluded[key] for key in (*_ACCOUNT_FIELDS, "updated_at") if key != "id"},
        )
        links = dialect.insert(EsiaLink.__table__)
        self.upsert_links = links.on_conflict_do_update(
            index_elements=["account_id"],
            set_={"oid": links.excluded.oid, "source": links.excluded.source, "linked_at": links.excluded.linked_at},
            where=EsiaLink.__table__.c.oid != links.excluded.oid,
        )

    def write(self, accounts: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
        self.connection.execute(self.upsert_accounts, accounts)
        if links:
            self.connection.execute(self.upsert_links, links)


_ACCOUNT_FIELDS = (
    "id", "login", "role", "region", "school_id", "last_name", "first_name", "middle_name", "name_key",
    "birth_date", "gender", "snils_digest", "snils_masked", "snils_valid", "status",
)  # fmt: skip


def import_registry(
    connection: Connection,
    rows: Iterable[tuple[int, Mapping[str, Any] | RowError]],
    parser: RowParser,
    *,
    batch_size: int = 5000,
    on_problem: Callable[[Rejection, bool], None] = lambda rejection, rejected: None,
) -> ImportReport:
    """Validate and upsert ``rows``; call ``on_problem(rejection, rejected)`` for each problem."""
    report = ImportReport()
    writer = Writer(connection)
    now = datetime.now(timezone.utc)
    batch: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []

    def reject(line: int, error: RowError) -> None:
        report.rejected += 1
        on_problem(Rejection(line, error.field, error.why), True)

    def flush() -> None:
        if not batch:
            return
        accounts = [account for _, account, _ in batch]
        links = [link for _, _, link in batch if link]
        try:
            with connection.begin():
                writer.write(accounts, links)
            report.written += len(accounts)
            report.links += len(links)
        except IntegrityError:
            # A unique login clashed somewhere in the batch: write row by row to find it.
            for line, account, link in batch:
                try:
                    with connection.begin():
                        writer.write([account], [link] if link else [])
                    report.written += 1
                    report.links += bool(link)
                except IntegrityError:
                    reject(line, RowError("login", "already belongs to another account"))
        batch.clear()

    for line, raw in rows:
        report.rows += 1
        if isinstance(raw, RowError):
            reject(line, raw)
            continue
        try:
            account, oid, warning = parser.parse(raw)
        except RowError as error:
            reject(line, error)
            continue
        if warning:
            report.warnings += 1
            field_name, _, why = warning.partition(": ")
            on_problem(Rejection(line, field_name, why), False)
        account["updated_at"] = now
        link = {"account_id": account["id"], "oid": oid, "source": "import", "linked_at": now} if oid else None
        batch.append((line, account, link))
        if len(batch) >= batch_size:
            flush()
    flush()
    return report
