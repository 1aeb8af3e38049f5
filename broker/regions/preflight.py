"""Pre-flight of a region's registry on the database: what ``broker preflight``, its pages and the API report.

The region's accounts are streamed with one query (Core, in chunks; a server-side cursor on
PostgreSQL) into :func:`matching.preflight_region`, which applies the engine's rules. Groups
across accounts (one SNILS, several people; namesakes) take two more steps. Before the stream,
two ``GROUP BY`` queries over the whole registry give the keys that several accounts hold (on
SQLite they read only the SNILS and the name indexes), so that only the accounts holding one are
kept in memory. After it, the accounts of other regions holding one of the region's keys are read
through those indexes: the engine's lookups cross regions, so the groups do too.

All of it runs in one read-only transaction, so every query sees the same registry.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from itertools import islice
from typing import IO, Any, Literal

from sqlalchemy import Boolean, Connection, bindparam, func, select, tuple_, type_coerce

import matching
from broker import services
from broker.db.models import Account, EsiaLink
from broker.extensions import db
from broker.regions import policies as regions

_accounts = Account.__table__
_links = EsiaLink.__table__
# The columns of matching.AccountRow, in its order: rows go to the domain as they come.
_COLUMNS = (
    _accounts.c.id,
    _accounts.c.login,
    _accounts.c.role,
    _accounts.c.school_id,
    _accounts.c.last_name,
    _accounts.c.first_name,
    _accounts.c.middle_name,
    _accounts.c.name_key,
    _accounts.c.birth_date,
    _accounts.c.snils_digest,
    _accounts.c.snils_masked,
    _accounts.c.snils_valid,
    _accounts.c.status,
    type_coerce(_links.c.account_id.is_not(None), Boolean).label("linked"),
)
assert tuple(column.name for column in _COLUMNS) == matching.AccountRow._fields
_ROWS = select(*_COLUMNS).select_from(_accounts.outerjoin(_links, _links.c.account_id == _accounts.c.id))
# Keys held by two or more accounts anywhere: each reads one index only (a superset of what
# the domain groups; it filters the rest).
_SHARED_SNILS = (
    select(_accounts.c.snils_digest)
    .where(_accounts.c.snils_digest.is_not(None))
    .group_by(_accounts.c.snils_digest)
    .having(func.count() > 1)
)
_SHARED_NAMES = (
    select(_accounts.c.name_key, _accounts.c.birth_date).group_by(_accounts.c.name_key, _accounts.c.birth_date).having(func.count() > 1)
)
CHUNK_SIZE = 10_000  # rows fetched at a time
_KEYS_PER_QUERY = 500  # keys per IN (...) when reading other regions' accounts

CSV_HEADER = ("account_id", "login", "role", "school_id", "findings", "predicted_refusal", "snils_masked")

Grouping = Literal["database", "memory"]


def run_preflight(
    region_code: str,
    at: datetime | None = None,
    *,
    grouping: Grouping = "database",
    chunk_size: int = CHUNK_SIZE,
) -> matching.PreflightReport:
    """Pre-flight the registry of ``region_code`` for a login at ``at`` (default: now).

    Reads only, on a connection of its own (the caller's session is left as it is); the region
    may be enabled or not. Raises :class:`broker.errors.InputError` (field ``region``) for an unknown code.
    ``grouping="memory"`` finds the groups in Python dictionaries instead of ``GROUP BY``
    (the same answer; slower and larger on a big registry, see docs/benchmarks.md).
    """
    policy = regions.to_policy(regions.get_region(region_code))
    at = at or services.current().clock()
    with _snapshot() as connection:
        shared = shared_keys(connection) if grouping == "database" else None

        def elsewhere(digests: Collection[str], names: Collection[tuple[str, date]]) -> Iterator[Any]:
            return accounts_elsewhere(connection, policy.code, digests, names)

        return matching.preflight_region(
            stream_accounts(connection, policy.code, chunk_size),
            region=policy,
            at=at,
            shared=shared,
            elsewhere=elsewhere,
        )


@contextmanager
def _snapshot() -> Iterator[Connection]:
    """A connection in one read-only transaction, so that every query sees the same registry."""
    with db.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin() as transaction:
            if not postgres:
                # pysqlite begins a transaction only before a write; a read snapshot needs its own
                # BEGIN (in WAL mode it blocks no writer).
                connection.exec_driver_sql("BEGIN")
            yield connection
            transaction.rollback()  # nothing was written


def stream_accounts(connection: Connection, region_code: str, chunk_size: int = CHUNK_SIZE) -> Iterator[Any]:
    """The region's accounts as :class:`matching.AccountRow` tuples, ``chunk_size`` at a time.

    The Core statement runs on a driver cursor (a server-side one on PostgreSQL) and its rows go
    on as the driver's tuples: SQLAlchemy's per-row result processing would cost twice the
    database's own work. SQLite has no date or boolean type, so there the two are converted here.
    """
    compiled = _ROWS.where(_accounts.c.region == bindparam("region")).compile(dialect=connection.dialect)
    params: Any = {"region": region_code}
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    postgres = connection.dialect.name == "postgresql"
    # A named cursor is a server-side one (psycopg): rows arrive in chunks, not all at once.
    cursor = connection.connection.cursor(name="preflight") if postgres else connection.connection.cursor()
    try:
        cursor.execute(compiled.string, params)
        if postgres:
            while chunk := cursor.fetchmany(chunk_size):
                yield from chunk
            return
        dates: dict[str, date] = {}  # a registry has a few tens of thousands of birth dates
        while chunk := cursor.fetchmany(chunk_size):
            for account_id, login, role, school, last, first, middle, key, born, digest, masked, valid, status, linked in chunk:
                birth_date = dates.get(born)
                if birth_date is None:
                    birth_date = dates[born] = date.fromisoformat(born)
                yield (
                    account_id,
                    login,
                    role,
                    school,
                    last,
                    first,
                    middle,
                    key,
                    birth_date,
                    digest,
                    masked,
                    valid == 1,
                    status,
                    linked == 1,
                )
    finally:
        cursor.close()


def shared_keys(connection: Connection) -> matching.SharedKeys:
    """The SNILS digests and (name key, birth date) pairs that two or more accounts hold."""
    digests = set(connection.scalars(_SHARED_SNILS))
    names = {(key, born) for key, born in connection.execute(_SHARED_NAMES)}
    return matching.SharedKeys(snils_digests=digests, names=names)


def accounts_elsewhere(
    connection: Connection, region_code: str, digests: Collection[str], names: Collection[tuple[str, date]]
) -> Iterator[Any]:
    """Accounts outside ``region_code`` holding one of ``digests`` or ``names`` (by their indexes)."""
    outside = _ROWS.where(_accounts.c.region != region_code)
    for chunk in _chunks(digests):
        yield from connection.execute(outside.where(_accounts.c.snils_digest.in_(chunk)))
    for chunk in _chunks(names):
        yield from connection.execute(outside.where(tuple_(_accounts.c.name_key, _accounts.c.birth_date).in_(chunk)))


def _chunks(keys: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(keys)
    while chunk := list(islice(iterator, _KEYS_PER_QUERY)):
        yield chunk


def csv_rows(report: matching.PreflightReport) -> Iterator[tuple[str, ...]]:
    """The accounts to fix as CSV rows (``CSV_HEADER`` first); SNILS only as its masked tail."""
    yield CSV_HEADER
    for account in report.flagged:
        yield (
            cell(account.id),
            cell(account.login),
            account.role,
            cell(account.school_id or ""),
            " ".join(account.findings),
            account.reason or "",
            account.snils_masked or "",
        )


def cell(text: str) -> str:
    """A registry value as a spreadsheet will not run it: one that starts like a formula
    (``= + - @``, a tab or a carriage return) gets a leading apostrophe (OWASP's advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(report: matching.PreflightReport, stream: IO[str]) -> int:
    """Write the accounts to fix to ``stream`` (opened with ``newline=""``); return how many."""
    csv.writer(stream).writerows(csv_rows(report))
    return len(report.flagged)


def format_summary(report: matching.PreflightReport, seconds: float | None = None, top: int = 10) -> str:
    """The report as the command prints it (counts, codes and school ids only: no personal data)."""
    region = report.region
    state = "on" if region.enabled else "off"
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    lines = [
        f"Pre-flight of region {region.code} {region.name} (ESIA login {state}) for a login at "
        f"{report.at.isoformat()} ({report.today.isoformat()} in {region.timezone})",
        f"{report.accounts:,} accounts scanned{took}: {report.refused:,} predicted to be refused "
        f"({_share(report.refused, report.accounts)}), {len(report.flagged):,} to fix.",
    ]
    if report.by_reason:
        lines += ["", "Predicted refusals (one primary reason per account):"]
        lines += [f"  {reason:<24} {count:>10,}  {matching.REFUSALS[reason].text_en}" for reason, count in report.by_reason.items()]
    if report.by_finding:
        lines += ["", "Findings (accounts; one account may have several):"]
        lines += [f"  {finding:<24} {count:>10,}  {matching.FINDINGS[finding].text_en}" for finding, count in report.by_finding.items()]
    schools = report.schools()
    if schools and top:
        shown = min(top, len(schools))
        lines += ["", f"Schools with the most predicted refusals ({shown} of {len(schools):,} with findings):"]
        for school in schools[:top]:
            counts = ", ".join(f"{finding} {count:,}" for finding, count in school.by_finding.items())
            name = school.school_id or "(not attached)"
            lines.append(f"  {name:<24} {school.refused:>6,} refused, {school.flagged:,} to fix of {school.accounts:,} accounts: {counts}")
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"
