"""`broker registry import`: stream a CSV or JSON Lines registry export into the accounts table.

Streaming (constant memory, batches of ``IMPORT_BATCH_SIZE`` rows per transaction), idempotent
(upsert by ``id``), and strict: a row with a bad field is rejected whole, reported with its
line, field and reason, and writes nothing. A SNILS with a bad checksum is not a rejection: the
account is real, its SNILS is wrong; it is stored flagged (never matched) and reported, so that
pre-flight can count it and the school can fix it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from queue import Empty
from typing import IO, Any

from sqlalchemy import Connection, bindparam, column, func, insert, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

import matching
from broker import services
from broker.clock import Clock
from broker.db.models import Account, AuditEvent, EsiaLink
from broker.errors import BrokerError, InputError
from broker.oidc import refresh
from broker.registry import links as registrylinks
from broker.registry.sql import snils_digest
from broker.staff import audit
from broker.staff.audit import Action

COLUMNS = (
    "id", "login", "role", "region", "school_id", "last_name", "first_name", "middle_name",
    "birth_date", "gender", "snils", "status", "esia_oid",
)  # fmt: skip
REQUIRED = ("id", "login", "role", "region", "last_name", "first_name", "birth_date", "gender", "status")
_ROLES = {str(role) for role in matching.Role}
_STATUSES = {str(status) for status in matching.AccountStatus}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_OID = re.compile(r"[1-9][0-9]{0,31}")
# Control and invisible format characters have no place in a registry field (and PostgreSQL
# refuses NUL outright).
_CONTROL = re.compile("[\x00-\x1f\x7f\u200b-\u200f\u2028\u2029\u2060\ufeff]")
_EARLIEST_BIRTH = date(1900, 1, 1)
_LENGTHS = (("id", 64), ("login", 128), ("school_id", 64), ("last_name", 128), ("first_name", 128), ("middle_name", 128))
SQLITE_CACHE_KIB = 32768


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
    inserted: int = 0  # of written: new accounts
    updated: int = 0  # of written: rows written over an existing account (or an earlier row)
    links: int = 0  # links created or moved
    rejected: int = 0
    warnings: int = 0
    initial_load: bool = False
    run: int | None = None  # the run's audit event (registry_import_started)
    file_sha256: str | None = None  # of what was read, once the whole file was
    link_counts: registrylinks.LinkCounts = field(default_factory=registrylinks.LinkCounts)


# Why a run without --allow-links writes an account but not its esia_oid (broker.registry.links).
NOT_ALLOWED = "not linked: a registry file writes links only with --allow-links (the account itself was written)"


class DigestingReader(io.RawIOBase):
    """A binary stream that keeps the SHA-256 of everything read through it (the run's file digest)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self.sha256.update(memoryview(buffer)[:count])
        return count or 0

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


@dataclass(frozen=True, slots=True)
class RowParser:
    """Validates one raw row into the accounts table's values (and an optional link)."""

    regions: frozenset[str]
    snils_key: bytes
    today: date

    def parse(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
        """Return (account values, linked oid or None, warning or None); raise RowError."""
        value = {}
        for key in COLUMNS:
            item = raw.get(key)
            value[key] = item.strip() if type(item) is str else _text(item, key)
        for key in REQUIRED:
            if not value[key]:
                raise RowError(key, "is required")
        if _CONTROL.search("".join(value.values())):
            key = next(key for key in COLUMNS if _CONTROL.search(value[key]))
            raise RowError(key, "contains control or invisible characters")
        for key, length in _LENGTHS:
            if len(value[key]) > length:
                raise RowError(key, f"is longer than {length} characters")
        role = value["role"].lower()
        if role not in _ROLES:
            raise RowError("role", f"must be one of {', '.join(sorted(_ROLES))}")
        if value["region"] not in self.regions:
            raise RowError("region", "must be a two-digit federal subject code, such as 77")
        status = value["status"].lower()
        if status not in _STATUSES:
            raise RowError("status", "must be active or blocked")
        last, first = matching.normalise_name(value["last_name"]), matching.normalise_name(value["first_name"])
        if last.is_empty:
            raise RowError("last_name", "is a placeholder, not a name")
        if first.is_empty:
            raise RowError("first_name", "is a placeholder, not a name")
        birth_date = _birth_date(value["birth_date"], self.today)
        try:
            gender = matching.parse_gender(value["gender"])
        except ValueError as exc:
            raise RowError("gender", str(exc)) from None
        digest = masked = warning = None
        valid = True
        if value["snils"]:
            try:
                digits = matching.parse_snils(value["snils"]).digits
            except matching.InvalidSnilsError as exc:
                if exc.code != "snils_checksum":
                    raise RowError("snils", "must have 11 digits (123-456-789 01)") from None
                digits = "".join(ch for ch in value["snils"] if ch.isdigit())
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
            "name_key": f"{last.value}|{first.value}|{matching.normalise_name(middle).value}",
            "short_key": f"{last.value}|{first.value}",
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
    """Yield (line number, raw row) or (line number, RowError) for unreadable lines.

    A CSV header is checked at once: a missing or unknown column stops the import before
    anything is read or written. After that nothing in the file stops it: a line longer than
    :data:`MAX_LINE`, a value the csv module refuses, JSON nested too deeply or a number too long
    to convert is one rejected row, and the import goes on.
    """
    lines = BoundedLines(stream)
    if fmt == "csv":
        reader = csv.reader(lines)
        try:
            header = next(reader, [])
        except csv.Error as exc:
            raise InputError("header", f"unreadable: {exc}") from None
        if lines.overlong:
            raise InputError("header", f"is longer than {MAX_LINE} characters")
        missing = [key for key in REQUIRED if key not in header]
        unknown = [key for key in header if key not in COLUMNS]
        if unknown:
            raise InputError("header", f"unknown column {unknown[0][:64]!r}; columns are {', '.join(COLUMNS)}")
        if missing:
            raise InputError("header", f"missing column {missing[0]!r}")
        return _csv_rows(reader, lines, header)
    if fmt == "jsonl":
        return _jsonl_rows(lines)
    raise InputError("format", "must be csv or jsonl")


# A registry row is at most a couple of thousand characters (thirteen short columns, even as JSON
# escapes); a longer line is refused without ever being held whole in memory.
MAX_LINE = 65536


class BoundedLines:
    """The stream's lines, none longer than ``limit`` characters, in constant memory.

    A longer line is read past in ``limit``-sized pieces and stands as one empty line (an empty
    CSV record, a blank JSON line); ``overlong`` is then the number of the line, until the reader
    clears it. ``number`` counts the lines read so far.
    """

    def __init__(self, stream: IO[str], limit: int = MAX_LINE) -> None:
        self.stream = stream
        self.limit = limit
        self.number = 0
        self.overlong: int | None = None

    def __iter__(self) -> Iterator[str]:
        readline, limit = self.stream.readline, self.limit
        while line := readline(limit + 1):
            self.number += 1
            if len(line) > limit and not line.endswith(("\n", "\r")):
                while (rest := readline(limit)) and not rest.endswith(("\n", "\r")):
                    pass
                self.overlong = self.number
                line = "\n"
            yield line


def _csv_rows(reader: Iterator[list[str]], lines: BoundedLines, header: list[str]) -> Iterator[tuple[int, Mapping[str, Any] | RowError]]:
    width = len(header)
    while True:
        start = lines.number + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a quoted value over the csv module's field size limit
            lines.overlong = None
            yield start, RowError("(csv)", f"{exc}{_span(start, lines.number)}")
            continue
        if lines.overlong is not None:
            yield lines.overlong, RowError("(line)", f"is longer than {lines.limit} characters")
            lines.overlong = None
            continue
        if lines.number > start:
            # No registry value holds a line break: a quote left open swallowed the lines after it.
            yield start, RowError("(csv)", f"a quoted value runs over several lines, an unclosed quote?{_span(start, lines.number)}")
            continue
        if not values:
            continue
        if len(values) > width:
            yield start, RowError("(row)", "has more values than the header has columns")
        else:
            yield start, dict(zip(header, values, strict=False))  # a short row leaves the missing columns out


def _span(start: int, end: int) -> str:
    return f" (lines {start}-{end} were not imported)" if end > start else ""


def _jsonl_rows(lines: BoundedLines) -> Iterator[tuple[int, Mapping[str, Any] | RowError]]:
    for line in lines:
        number = lines.number
        if lines.overlong is not None:
            lines.overlong = None
            yield number, RowError("(line)", f"is longer than {lines.limit} characters")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError("(json)", f"not valid JSON: {exc.msg}")
            continue
        except RecursionError:
            yield number, RowError("(json)", "is nested too deeply (a row is one flat object)")
            continue
        except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
            yield number, RowError("(json)", "holds a number with too many digits")
            continue
        if not isinstance(row, dict):
            yield number, RowError("(json)", "each line must be one JSON object")
            continue
        unknown = [key for key in row if key not in COLUMNS]
        if unknown:
            yield number, RowError(str(unknown[0])[:64], "unknown column")
            continue
        yield number, row


def detect_format(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InputError("--format", "cannot tell the format from the file name; pass --format csv or jsonl")


class Writer:
    """Upserts batches of accounts (and links) on SQLite or PostgreSQL.

    One rule on both: each row is upserted by ``id``, a later row of the batch over an earlier one
    with the same ``id``. SQLite takes the rows as ``executemany`` of the compiled upsert.
    PostgreSQL takes them by ``COPY`` into a temporary staging table, then one
    ``INSERT … SELECT … ON CONFLICT (id) DO UPDATE`` moves them over (several times faster than
    one upsert statement a row, docs/benchmarks.md). A refused row (a login that belongs to
    another account) fails the batch on both, and the importer then writes it row by row.
    """

    def __init__(self, connection: Connection, *, bulk: bool = True) -> None:
        """``bulk``: tune SQLite for a long import (commits the connection's transaction).
        Without it the writer leaves the connection's transaction alone (the JSON API writes
        in its own)."""
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        if bulk and connection.dialect.name == "sqlite":
            # A bigger page cache keeps the indexes' hot pages in memory during a bulk upsert,
            # and checkpointing the write-ahead log every 64 MiB rather than every 4 MiB saves
            # most of the checkpoints' fsyncs.
            connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            connection.exec_driver_sql("PRAGMA wal_autocheckpoint=16384")
            connection.commit()
        if bulk and connection.dialect.name == "postgresql":
            # psycopg prepares a statement run five times, and PostgreSQL may then keep a plan made
            # while the table was small: a sequential scan, which on a table loaded further made
            # each batch's look-up of its ids take seconds (1 M rows: hours). Planned for each
            # batch, the look-ups use the indexes.
            connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
            connection.commit()
        self.connection = connection
        self.copies = connection.dialect.name == "postgresql"
        self.initial_load = False  # into an empty registry: PostgreSQL copies straight into the table
        self.is_sqlite = connection.dialect.name == "sqlite"
        accounts = dialect.insert(Account.__table__)
        if self.copies:
            # Staged rows leave the staging table as they are upserted (DELETE … RETURNING), so a
            # second write in the same transaction starts from an empty table; the commit then
            # truncates it (ON COMMIT DELETE ROWS) and the dead rows go with it.
            staged = select(*(column(key) for key in _ACCOUNT_COLUMNS)).select_from(table("staged"))  # type: ignore[var-annotated]
            accounts = accounts.from_select(_ACCOUNT_COLUMNS, staged)
        self.upsert_accounts = accounts.on_conflict_do_update(
            index_elements=["id"],
            set_={key: accounts.excluded[key] for key in _ACCOUNT_COLUMNS if key != "id"},
        )
        # Rows go to the driver as they are (executemany on the compiled SQL, or COPY's rows):
        # per-row parameter processing by SQLAlchemy would cost as much as the database's own work.
        compiled = self.upsert_accounts.compile(dialect=connection.dialect)
        if self.copies:
            columns = ", ".join(_ACCOUNT_COLUMNS)
            self.accounts_sql = f"WITH staged AS (DELETE FROM {_STAGING} RETURNING {columns}) {compiled.string}"
            self.account_keys: tuple[str, ...] = _ACCOUNT_COLUMNS
        else:
            self.accounts_sql = compiled.string
            self.account_keys = tuple(compiled.positiontup or ())
        self.positional = bool(self.account_keys)
        self.pick = itemgetter(*self.account_keys) if self.positional else None
        self.id_position = self.account_keys.index("id") if self.positional else -1

    def shape(self, account: dict[str, Any], now: datetime) -> Any:
        """The account as the driver takes it (a tuple for positional SQL and for COPY).

        SQLite keeps dates as ISO text, booleans as integers and times in SQLAlchemy's text
        format, so rows are converted here, once, where they are parsed.
        """
        if self.is_sqlite:
            account["birth_date"] = account["birth_date"].isoformat()
            account["snils_valid"] = 1 if account["snils_valid"] else 0
            account["updated_at"] = self.sqlite_time(now)
        else:
            account["updated_at"] = now
        return self.pick(account) if self.pick else account

    @staticmethod
    @lru_cache(maxsize=1)
    def sqlite_time(now: datetime) -> str:
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def write(self, accounts: list[Any]) -> None:
        """Upsert driver-shaped ``accounts`` (see :meth:`shape`); links go through :mod:`broker.registry.links`."""
        if self.copies:
            self._copy(accounts)
        else:
            self.connection.exec_driver_sql(self.accounts_sql, accounts)

    def _copy(self, accounts: list[Any]) -> None:
        """PostgreSQL: COPY the rows into the staging table, then upsert them from there.

        One statement upserts the whole batch, and PostgreSQL refuses to update a row twice in
        one statement: of rows with the same ``id`` only the last is staged, as the last one
        wins when each row is upserted by itself. In an initial load (:attr:`initial_load`)
        the rows are first copied straight into ``accounts`` (twice as fast again); if one of
        them is refused there (its ``id`` came in an earlier batch, its login is taken) that is
        undone and the batch takes the upsert like any other.
        """
        rows = list({row[self.id_position]: row for row in accounts}.values())
        if self.initial_load:
            try:
                with self.connection.begin_nested():
                    self._copy_into(Account.__tablename__, rows)
                return
            except DBAPIError:
                pass
        self.connection.exec_driver_sql(_CREATE_STAGING)
        self._copy_into(_STAGING, rows)
        self.connection.exec_driver_sql(self.accounts_sql)

    def _copy_into(self, table_name: str, rows: list[Any]) -> None:
        cursor = self.connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        statement = f"COPY {table_name} ({', '.join(_ACCOUNT_COLUMNS)}) FROM STDIN"
        try:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except self.connection.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy's own statements raise it
            raise DBAPIError.instance(statement, None, exc, self.connection.dialect.loaded_dbapi.Error) from exc
        finally:
            cursor.close()


_ACCOUNT_FIELDS = (
    "id", "login", "role", "region", "school_id", "last_name", "first_name", "middle_name", "name_key",
    "short_key", "birth_date", "gender", "snils_digest", "snils_masked", "snils_valid", "status",
)  # fmt: skip
_ACCOUNT_COLUMNS = (*_ACCOUNT_FIELDS, "updated_at")
# PostgreSQL's staging table for COPY: the session's own (no other connection sees it), made
# once per connection, emptied at each commit.
_STAGING = "registry_staged_accounts"
_CREATE_STAGING = f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (LIKE accounts) ON COMMIT DELETE ROWS"


def import_registry(
    connection: Connection,
    rows: Iterable[tuple[int, Mapping[str, Any] | RowError]],
    parser: RowParser,
    *,
    actor: str,
    allow_links: bool = False,
    digest: Callable[[], str] | None = None,
    batch_size: int = 5000,
    on_problem: Callable[[Rejection, bool], None] = lambda rejection, rejected: None,
    background: bool = False,
) -> ImportReport:
    """Validate and upsert ``rows``; call ``on_problem(rejection, rejected)`` for each problem.

    The run is audited as ``actor``: ``registry_import_started`` before the first row (each link
    the run writes names it), ``link_imported`` for each link created or moved (only with
    ``allow_links``; see :mod:`broker.registry.links`), and ``registry_imported`` at the end with
    the counts and ``digest()``, the SHA-256 of the file read (called once the rows are read), or,
    if the run stops, with what it had done and ``completed: false``.

    With ``background`` the rows are read and validated in a second process while this one
    writes (two cores for one import).

    Into an empty registry (the initial load) the lookup indexes are dropped first and built
    once at the end: building an index by sorting is several times faster than growing it one
    random key at a time. The indexes are rebuilt whatever happens, and any index missing at
    the start (an interrupted load) is rebuilt too.
    """
    report = ImportReport()
    writer = Writer(connection)
    with connection.begin():
        started = audit.event_values(Action.REGISTRY_IMPORT_STARTED, "registry", after={"allow_links": allow_links}, actor=actor)
        report.run = connection.execute(insert(AuditEvent.__table__).returning(AuditEvent.id), started).scalar_one()
    clock = services.current().clock
    run = _Run(report.run, actor, allow_links, clock)
    try:
        report.initial_load = _is_empty(connection) and _drop_lookup_indexes(connection)
        writer.initial_load = report.initial_load
        if not report.initial_load:
            _create_lookup_indexes(connection)  # any an interrupted initial load left missing
        batches = parse_batches(rows, parser, writer.shape, batch_size, clock())

        def finished(value: str | None) -> None:
            report.file_sha256 = value

        if background:
            batches = in_background(batches, digest, finished)
        else:
            batches = _then(batches, digest, finished)
        try:
            _import(connection, batches, writer, report, on_problem, run)
        finally:
            _create_lookup_indexes(connection)
        if report.initial_load and connection.dialect.name == "postgresql":
            # Fresh statistics, or the planner may scan a freshly loaded table instead of its indexes.
            with connection.begin():
                connection.exec_driver_sql("ANALYZE accounts")
                connection.exec_driver_sql("ANALYZE esia_links")
    except BaseException as exc:
        if connection.in_transaction():
            connection.rollback()
        _finish(connection, run, report, error=type(exc).__name__)
        raise
    _finish(connection, run, report)
    return report


@dataclass(frozen=True, slots=True)
class _Run:
    event: int
    actor: str
    allow_links: bool
    clock: Clock


def _finish(connection: Connection, run: _Run, report: ImportReport, error: str | None = None) -> None:
    """The run's closing audit event: what it read, wrote and refused (no row's data)."""
    counts = report.link_counts
    after = {
        "completed": error is None,
        "file_sha256": report.file_sha256,
        "rows": report.rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "rejected": report.rejected,
        "warnings": report.warnings,
        "allow_links": run.allow_links,
        "links_created": counts.created,
        "links_moved": counts.moved,
        "links_not_allowed": counts.ignored,
        "links_kept": counts.kept,
        "sessions_ended": counts.sessions_ended,
    }
    if error:
        after["error"] = error
    with connection.begin():
        values = audit.event_values(Action.REGISTRY_IMPORTED, f"import:{run.event}", after=after, actor=run.actor)
        connection.execute(insert(AuditEvent.__table__), values)


def _then(
    batches: Iterator[list[Parsed]], digest: Callable[[], str] | None, finished: Callable[[str | None], None]
) -> Iterator[list[Parsed]]:
    yield from batches
    finished(digest() if digest else None)


_LOOKUP_INDEXES = tuple(sorted((*Account.__table__.indexes, *EsiaLink.__table__.indexes), key=lambda index: str(index.name)))


def _drop_lookup_indexes(connection: Connection) -> bool:
    """Drop the lookup indexes for an initial load, if that can be done at once.

    Dropping an index waits for every open transaction that has read the table; rather than
    wait, the import then keeps the indexes (slower, equally correct).
    """
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            for index in _LOOKUP_INDEXES:
                index.drop(connection, checkfirst=True)
    except OperationalError:
        return False
    return True


def _create_lookup_indexes(connection: Connection) -> None:
    with connection.begin():
        for index in _LOOKUP_INDEXES:
            index.create(connection, checkfirst=True)


def _is_empty(connection: Connection) -> bool:
    with connection.begin():
        return connection.execute(select(Account.__table__.c.id).limit(1)).first() is None


# One parsed row: (line, account shaped for the driver, (account id, esia_oid) or None, problem,
# whether the problem rejects the row).
Parsed = tuple[int, Any, "tuple[str, str] | None", "Rejection | None", bool]


def parse_batches(
    rows: Iterable[tuple[int, Mapping[str, Any] | RowError]],
    parser: RowParser,
    shape: Callable[[dict[str, Any], datetime], Any],
    batch_size: int,
    now: datetime,
) -> Iterator[list[Parsed]]:
    """Validate rows into batches ready to write (plain, picklable, shaped for the driver).

    ``now`` is the accounts' ``updated_at``; the caller reads it from the app's clock, as the
    batches may be made in a forked process.
    """
    batch: list[Parsed] = []
    for line, raw in rows:
        if isinstance(raw, RowError):
            batch.append((line, None, None, Rejection(line, raw.field, raw.why), True))
        else:
            try:
                account, oid, warning = parser.parse(raw)
            except RowError as error:
                batch.append((line, None, None, Rejection(line, error.field, error.why), True))
            else:
                link = (account["id"], oid) if oid else None
                problem = None
                if warning:
                    field_name, _, why = warning.partition(": ")
                    problem = Rejection(line, field_name, why)
                batch.append((line, shape(account, now), link, problem, False))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def in_background(
    batches: Iterator[list[Parsed]],
    digest: Callable[[], str] | None = None,
    finished: Callable[[str | None], None] = lambda digest: None,
) -> Iterator[list[Parsed]]:
    """Run ``batches`` in a forked process, so that parsing and writing use two cores.

    Once they are all through, ``finished(digest())`` is called here with the digest the parser
    process computed (it read the file). Where fork is not available the batches are produced
    in this process.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield from _then(batches, digest, finished)
        return
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=4)
    producer = context.Process(target=_produce, args=(batches, queue, digest), daemon=True)
    producer.start()
    try:
        while True:
            try:
                item = queue.get(timeout=1.0)
            except Empty:
                if producer.exitcode is None:
                    continue
                # The parser died without a word (killed, out of memory): stop, don't wait.
                raise BrokerError(f"the registry parser stopped unexpectedly (exit code {producer.exitcode})") from None
            if isinstance(item, tuple):
                finished(item[1])
                break
            if isinstance(item, str):
                raise BrokerError(f"the registry parser failed: {item}")
            yield item
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join()
        queue.close()


def _produce(batches: Iterator[list[Parsed]], queue: Any, digest: Callable[[], str] | None) -> None:
    try:
        for batch in batches:
            queue.put(batch)
    except UnicodeDecodeError:
        queue.put("the file is not UTF-8 text")
        return
    except Exception as exc:  # reported to the parent, which raises it; the child just ends
        queue.put(f"{type(exc).__name__}: {exc}")
        return
    queue.put(("end", digest() if digest else None))


def _import(
    connection: Connection,
    batches: Iterable[list[Parsed]],
    writer: Writer,
    report: ImportReport,
    on_problem: Callable[[Rejection, bool], None],
    run: _Run,
) -> None:
    for batch in batches:
        good: list[tuple[int, Any, tuple[str, str] | None]] = []
        for line, account, link, problem, rejected in batch:
            report.rows += 1
            if problem is not None:
                on_problem(problem, rejected)
                if rejected:
                    report.rejected += 1
                    continue
                report.warnings += 1
            assert account is not None
            good.append((line, account, link))
        _write(connection, writer, good, report, on_problem, run)


def _write(
    connection: Connection,
    writer: Writer,
    batch: list[tuple[int, Any, tuple[str, str] | None]],
    report: ImportReport,
    on_problem: Callable[[Rejection, bool], None],
    run: _Run,
) -> None:
    if not batch:
        return
    wanted = [registrylinks.Wanted(line, *link) for line, _, link in batch if link]
    changes: dict[int, registrylinks.Change] = {}
    if wanted:
        with connection.begin():
            planned, notes = registrylinks.plan(connection, wanted, allow=run.allow_links, refused=NOT_ALLOWED, counts=report.link_counts)
        changes = {change.key: change for change in planned}
        for line, why in notes:
            report.warnings += 1
            on_problem(Rejection(line, "esia_oid", why), False)
    try:
        with connection.begin():
            counts = _write_rows(connection, writer, batch, changes, run)
        _count(report, len(batch), counts)
        return
    except DBAPIError:
        pass
    # Something in the batch was refused (a login that belongs to another account, most
    # often): write row by row to find it. The database's message is not shown: it may quote
    # the row's personal data.
    for item in batch:
        line = item[0]
        try:
            with connection.begin():
                counts = _write_rows(connection, writer, [item], changes, run)
            _count(report, 1, counts)
        except IntegrityError:
            report.rejected += 1
            on_problem(Rejection(line, "login", "already belongs to another account"), True)
        except DBAPIError:
            report.rejected += 1
            on_problem(Rejection(line, "(row)", "the database refused the row"), True)


def _write_rows(
    connection: Connection,
    writer: Writer,
    batch: list[tuple[int, Any, tuple[str, str] | None]],
    changes: dict[int, registrylinks.Change],
    run: _Run,
) -> tuple[int, registrylinks.LinkCounts]:
    """Write ``batch`` and its link changes in the caller's transaction; return (new accounts, links)."""
    ids = sorted({_account_id(writer, account) for _, account, _ in batch})
    existing = 0
    for start in range(0, len(ids), 1000):
        existing += connection.execute(_EXISTING, {"ids": ids[start : start + 1000]}).scalar_one()
    writer.write([account for _, account, _ in batch])
    refresh.end_blocked(connection, ids, run.clock())  # a blocked account's app sessions end
    mine = [changes[line] for line, _, _ in batch if line in changes]
    counts = registrylinks.apply(connection, mine, event=run.event, key_name="line", actor=run.actor, now=run.clock())
    return len(ids) - existing, counts


_EXISTING = select(func.count()).select_from(Account.__table__).where(Account.__table__.c.id.in_(bindparam("ids", expanding=True)))


def _account_id(writer: Writer, account: Any) -> str:
    """The id of a driver-shaped account (a tuple for positional SQL, else a dict)."""
    return account[writer.id_position] if writer.positional else account["id"]


def _count(report: ImportReport, written: int, counts: tuple[int, registrylinks.LinkCounts]) -> None:
    new, links = counts
    report.written += written
    report.inserted += new
    report.updated += written - new
    report.links += links.created + links.moved
    report.link_counts.created += links.created
    report.link_counts.moved += links.moved
    report.link_counts.sessions_ended += links.sessions_ended
