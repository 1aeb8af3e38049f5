"""Support search latency over 1,000,000 login attempts (issue #5: p99 under 50 ms for a lookup by
reference code, account or SNILS on SQLite).

    .venv/bin/python bench/attempts_search.py [--attempts 1000000] [--queries 300]
                                              [--database-url postgresql+psycopg://...] [--rebuild]

Fills ``login_attempts`` with synthetic attempts (and the diary accounts and ESIA links they
concern) at driver level, in big transactions, as ``broker/registry/importer.py`` loads a registry: 90
days of logins, more by day than by night, over 25 enabled regions weighted by size and a few
disabled ones; outcomes and refusal reasons at the shares a live region shows (most logins go
through a link; about one in five is refused); keyed digests of the oid and SNILS as
``broker.login.attempts`` records them, and masked traces of realistic length. The rows are kept (the
SQLite file under --workdir, or the PostgreSQL database) and reused while they are complete.

Then it times :func:`broker.support.search.search` inside an app context, the way the support pages
and the API call it: by reference code (typed in lower case, without the dash), by account id,
by diary login, by SNILS (through its keyed digest), and by region and a day's time range, plus,
for information, an operator's latest attempts over three regions and a rare reason in the whole
country. It prints p50/p99/max per kind and the machine line.

``run(database_url, attempts)`` does it all and returns the figures; ``bench/preflight.py``
calls it. It only adds its own rows (client ``bench-attempts``, accounts ``att-…``), so it may
share a database with other benchmarks.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402
from sqlalchemy import bindparam, delete, func, insert, select  # noqa: E402

import matching  # noqa: E402
from bench import machine  # noqa: E402
from broker import create_app  # noqa: E402
from broker.db import revision  # noqa: E402
from broker.db.models import Account, EsiaLink, LoginAttempt  # noqa: E402
from broker.extensions import db  # noqa: E402
from broker.support import search as attemptsearch  # noqa: E402

SECRET = "bench-secret"
SNILS_KEY = "bench-snils-key"
OID_KEY = "bench-oid-key"
CLIENT = "bench-attempts"
END = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DAYS = 90
SNILS_BASE = 700_000_000
OID_BASE = 5_000_000_000
BATCH = 20_000
TRANSACTION = 100_000
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# 25 enabled regions, weighted roughly by the number of pupils; logins elsewhere are refused.
ENABLED = {
    "77": 12, "50": 8, "78": 5, "23": 5, "66": 4, "16": 4, "61": 4, "02": 4, "52": 3, "54": 3,
    "74": 3, "63": 3, "24": 3, "59": 3, "38": 2, "26": 3, "64": 2, "36": 2, "34": 2, "42": 2,
    "39": 1, "41": 1, "25": 2, "14": 1, "10": 1,
}  # fmt: skip
DISABLED = ("05", "07", "20", "48", "76")
# Outcome shares; a refusal's reason by its share of refusals.
OUTCOMES = (("signed_in", 0.72), ("linked", 0.08), ("choose_account", 0.01), ("refused", 0.19))
REASONS = (
    ("tier_insufficient", 22), ("snils_missing_in_diary", 16), ("region_disabled", 14), ("no_account", 13),
    ("esia_denied", 10), ("name_mismatch", 6), ("esia_error", 4), ("esia_unavailable", 3),
    ("not_attached", 3), ("account_blocked", 3), ("birthdate_mismatch", 2), ("snils_mismatch", 2),
    ("esia_data_incomplete", 1), ("gender_mismatch", 0.5), ("ambiguous", 0.3), ("linked_elsewhere", 0.2),
)  # fmt: skip
_ESIA_STEP = {"esia_denied", "esia_error", "esia_unavailable"}  # no decision, no oid, no SNILS
_ACCOUNT_REASONS = {"snils_missing_in_diary", "not_attached", "account_blocked", "name_mismatch",
                    "birthdate_mismatch", "snils_mismatch", "gender_mismatch", "linked_elsewhere"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figures:
    """Latency of one kind of search, in milliseconds."""

    kind: str
    queries: int
    p50: float
    p99: float
    max: float
    rows: float  # mean rows returned

    def line(self) -> str:
        return (
            f"{self.kind:<34} {self.queries:>5}  p50 {self.p50:7.2f} ms  p99 {self.p99:7.2f} ms  max {self.max:7.2f} ms"
            f"  rows {self.rows:5.1f}"
        )


# --- the synthetic data ----------------------------------------------------------------------------


def _keyed(value: str) -> str:
    """An oid digest as the broker keeps it (HMAC under OID_HASH_KEY)."""
    return hmac.new(OID_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def _snils_digits(i: int) -> str:
    number = f"{SNILS_BASE + i:09d}"
    return number + matching.snils_checksum(number)


def _snils_digest(i: int) -> str:
    return hmac.digest(SNILS_KEY.encode(), _snils_digits(i).encode(), "sha256").hex()


def _people(count: int) -> tuple[list[str], list[bool]]:
    """Each account's region (weighted by size) and whether its holder is an adult."""
    codes, weights = list(ENABLED), list(ENABLED.values())
    rnd = random.Random(31)
    regions = rnd.choices(codes, weights, k=count)
    adults = [random.Random(i * 7919 + 3).random() < 0.7 for i in range(count)]
    return regions, adults


def _accounts(count: int) -> Iterator[dict[str, Any]]:
    """The diary accounts the attempts concern: ``att-i``, login ``att.user{i}``, most with SNILS."""
    regions, _ = _people(count)
    for i in range(count):
        rnd = random.Random(i * 7919 + 3)
        adult = rnd.random() < 0.7
        born = (
            date(1975, 1, 1) + timedelta(days=rnd.randrange(30 * 365))
            if adult
            else date(2010, 1, 1) + timedelta(days=rnd.randrange(9 * 365))
        )
        has_snils = adult and rnd.random() > 0.06 or (not adult and rnd.random() < 0.7)
        yield {
            "id": f"att-{i}", "login": f"att.user{i}", "role": "parent" if adult else "student",
            "region": regions[i], "school_id": f"school-{i % 5000}",
            "last_name": "Бенчев", "first_name": "Иван", "middle_name": "Петрович", "name_key": f"бенчев|иван|петрович{i}",
            "short_key": "бенчев|иван", "birth_date": born, "gender": "M",
            "snils_digest": _snils_digest(i) if has_snils else None,
            "snils_masked": matching.mask_snils(_snils_digits(i)) if has_snils else None,
            "snils_valid": True, "status": "active",
        }  # fmt: skip


def _trace_templates() -> dict[str, str]:
    """Masked traces as the engine writes them, with ``@ACC@`` for the account id (JSON text)."""

    def check(field: str, result: str, detail: str, account: bool = False, rules: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {"field": field, "result": result, "detail": detail}
        if rules:
            out["rules"] = list(rules)
        if account:
            out["account_id"] = "@ACC@"
        return out

    head = [
        check("region", "pass", "ESIA login is enabled in region @REG@"),
        check("age", "info", "@AGE@ on 2026-11-28 in Europe/Moscow"),
        check("rule", "info", "14 and over: standard or verified account; full name, SNILS, birth date and gender"),
        check("tier", "pass", "verified account is enough at @AGE@"),
        check("esia_snils", "pass", "ESIA SNILS ***-***-*45 67 is well-formed"),
    ]
    account = [
        check("account_region", "pass", "ESIA login is enabled in region @REG@", True),
        check("status", "pass", "account is active", True),
        check("school", "pass", "account is attached to a school", True),
    ]
    identity = [
        check("last_name", "pass", "И****** = И******", True, ("esia:yo",)),
        check("first_name", "pass", "П**** = П****", True),
        check("middle_name", "pass", "С******** = С********", True),
        check("birth_date", "pass", "1986-**-** equal", True),
        check("gender", "pass", "equal", True),
        check("snils", "pass", "***-***-*45 67 equal", True),
    ]
    templates = {
        "signed_in": head + [check("lookup", "info", "through links: 1 account(s); names are not compared again")]
        + account + [check("link", "pass", "account is linked to this ESIA person", True)],
        "linked": head + [check("lookup", "info", "by SNILS: 1 account(s)")] + identity + account
        + [check("link", "pass", "account is not linked yet", True)],
        "choose_account": head + [check("lookup", "info", "by SNILS: 2 account(s)")] + identity + account
        + [check("link", "pass", "account is not linked yet", True), check("identity", "info", "one person owns 2 accounts")],
        "region_disabled": [check("region", "fail", "ESIA login is not enabled in region @REG@")],
        "tier_insufficient": head[:3] + [check("tier", "fail", "simplified account; standard or verified required from 14")],
        "esia_data_incomplete": head[:4] + [check("esia_snils", "fail", "ESIA supplied no SNILS")],
        "no_account": head + [check("lookup", "info", "by SNILS: 0 account(s)"),
                              check("lookup", "info", "by full name and birth date: 0 account(s)")],
        "snils_missing_in_diary": head + [check("lookup", "info", "by SNILS: 0 account(s)"),
                                          check("lookup", "info", "by full name and birth date: 1 account(s)")]
        + identity[:5] + [check("snils", "fail", "the diary account has no SNILS", True)],
        "ambiguous": head + [check("lookup", "info", "by full name and birth date: 2 account(s)")] + identity[:5]
        + [check("identity", "fail", "2 different people match; not guessing")],
    }  # fmt: skip
    for reason, field, detail in (
        ("name_mismatch", "middle_name", "С******** vs С*******: differ"),
        ("birthdate_mismatch", "birth_date", "1986-**-** vs 1987-**-**: year differ"),
        ("gender_mismatch", "gender", "M vs F"),
        ("snils_mismatch", "snils", "***-***-*45 67 vs ***-***-*12 34"),
    ):
        changed = [dict(c, result="fail", detail=detail) if c["field"] == field else c for c in identity]
        templates[reason] = head + [check("lookup", "info", "by SNILS: 1 account(s)")] + changed
    for reason, field, detail in (
        ("not_attached", "school", "account is not attached to a school"),
        ("account_blocked", "status", "account is blocked"),
    ):
        templates[reason] = (
            head
            + [check("lookup", "info", "by SNILS: 1 account(s)")]
            + identity
            + [dict(c, result="fail", detail=detail) if c["field"] == field else c for c in account]
        )
    templates["linked_elsewhere"] = templates["linked"][:-1] + [check("link", "fail", "account is linked to another ESIA person", True)]
    return {name: json.dumps(trace, ensure_ascii=False) for name, trace in templates.items()}


def _times(count: int, rnd: random.Random) -> list[datetime]:
    """``count`` login instants over ``DAYS`` days before ``END``, busier by day (Moscow time), sorted."""
    start = END - timedelta(days=DAYS)
    span = DAYS * 86400.0
    out: list[float] = []
    while len(out) < count:
        t = rnd.random() * span
        hour = ((start.timestamp() + t) / 3600 + 3) % 24  # Moscow hour
        if rnd.random() < 0.15 + 0.85 * max(0.0, math.sin(math.pi * (hour - 6) / 17)):  # 6:00-23:00 peak at 14:30
            out.append(t)
    out.sort()
    return [start + timedelta(seconds=t) for t in out]


def _attempts(count: int, accounts: int) -> Iterator[dict[str, Any]]:
    rnd = random.Random(20261128)
    traces = _trace_templates()
    outcomes, outcome_weights = [name for name, _ in OUTCOMES], [weight for _, weight in OUTCOMES]
    reasons, reason_weights = [name for name, _ in REASONS], [weight for _, weight in REASONS]
    regions, adults = _people(accounts)
    frequent = max(accounts // 10, 1)
    seen: set[str] = set()
    for when in _times(count, rnd):
        # A tenth of the people log in daily: they make 40 % of the attempts.
        i = rnd.randrange(frequent) if rnd.random() < 0.4 else rnd.randrange(accounts)
        account = f"att-{i}"
        region: str | None = regions[i]
        outcome = rnd.choices(outcomes, outcome_weights)[0]
        reason = rnd.choices(reasons, reason_weights)[0] if outcome == "refused" else None
        if reason == "region_disabled":
            region = rnd.choice(DISABLED)
        elif reason == "esia_error" and rnd.random() < 0.3:
            region = None  # refused before a region was known (a replayed or unknown state)
        while True:
            code = "".join(rnd.choices(_ALPHABET, k=8))
            if code not in seen:
                seen.add(code)
                break
        adult = adults[i]
        esia_step = reason in _ESIA_STEP
        trace = "[]" if esia_step else traces[reason or outcome].replace("@ACC@", account).replace("@REG@", region or "")
        age = 30 + i % 40 if adult else 7 + i % 7
        yield {
            "reference": f"{code[:4]}-{code[4:]}",
            "started_at": when,
            "finished_at": when + timedelta(seconds=2 + rnd.random() * 20),
            "client_id": CLIENT,
            "flow": "link" if rnd.random() < 0.02 else "login",
            "region": region,
            "outcome": outcome,
            "reason": reason,
            "account_id": account if outcome in ("signed_in", "linked") else None,
            "candidate_ids": json.dumps([account, f"att-{(i + 1) % accounts}"]) if outcome == "choose_account" else "[]",
            "oid_digest": None if esia_step else _keyed(str(OID_BASE + i)),
            "snils_digest": None if esia_step or not adult else _snils_digest(i),
            "tier": None if esia_step else ("simplified" if reason == "tier_insufficient" or not adult else "verified"),
            "age": None if esia_step else age,
            "trace": trace.replace("@AGE@", str(age)),
            "detail": {"esia_denied": "access_denied", "esia_error": "state_unknown_or_replayed", "esia_unavailable": "timeout"}.get(
                reason or ""
            ),  # fmt: skip
        }


# --- loading -----------------------------------------------------------------------------------------


def _app(url: str) -> Flask:
    return create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SNILS_HASH_KEY": SNILS_KEY, "SECRET_KEY": SECRET,
         "OID_HASH_KEY": OID_KEY, "REGION_CACHE_SECONDS": 3600}
    )  # fmt: skip


def _driver_insert(connection: Any, table: Any, names: tuple[str, ...]) -> Callable[[list[dict[str, Any]]], None]:
    """executemany of compiled SQL, rows shaped for the driver (SQLite: text times, integer booleans)."""
    compiled = insert(table).values({name: bindparam(name) for name in names}).compile(dialect=connection.dialect)
    sql, order = compiled.string, compiled.positiontup
    is_sqlite = connection.dialect.name == "sqlite"

    def shape(row: dict[str, Any]) -> Any:
        if is_sqlite:
            row = {k: (v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime)
                       else v.isoformat() if isinstance(v, date) else int(v) if isinstance(v, bool) else v)
                   for k, v in row.items()}  # fmt: skip
        return tuple(row[name] for name in order) if order else row

    def write(rows: list[dict[str, Any]]) -> None:
        connection.exec_driver_sql(sql, [shape(row) for row in rows])

    return write


def _load(connection: Any, table: Any, rows: Iterator[dict[str, Any]], label: str) -> int:
    names: tuple[str, ...] | None = None
    writer = None
    written = 0
    batch: list[dict[str, Any]] = []
    transaction = connection.begin()
    for row in rows:
        if writer is None:
            names = tuple(row)
            writer = _driver_insert(connection, table, names)
        batch.append(row)
        if len(batch) == BATCH:
            writer(batch)
            written += len(batch)
            batch = []
            if written % TRANSACTION == 0:
                transaction.commit()
                transaction = connection.begin()
                print(f"  {label}: {written:,}", end="\r", flush=True)
    if batch and writer is not None:
        writer(batch)
        written += len(batch)
    transaction.commit()
    return written


def fill(url: str, attempts_count: int, *, rebuild: bool = False) -> None:
    """Make the database hold exactly ``attempts_count`` bench attempts (reused when it does)."""
    app = _app(url)
    accounts = max(attempts_count // 5, 10)
    with app.app_context():
        revision.upgrade()
        c = LoginAttempt.__table__.c
        held = db.session.scalar(select(func.count()).select_from(LoginAttempt).where(c.client_id == CLIENT))
        db.session.commit()
        if held == attempts_count and not rebuild:
            print(f"  reusing {held:,} attempts")
            db.engine.dispose()
            return
        started = time.perf_counter()
        with db.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA cache_size=-262144")
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint=16384")
                connection.commit()
            with connection.begin():
                connection.execute(delete(LoginAttempt.__table__).where(c.client_id == CLIENT))
                connection.execute(delete(EsiaLink.__table__).where(EsiaLink.__table__.c.account_id.like("att-%")))
                connection.execute(delete(Account.__table__).where(Account.__table__.c.id.like("att-%")))
                empty = connection.execute(select(func.count()).select_from(LoginAttempt)).scalar() == 0
                indexes = sorted(LoginAttempt.__table__.indexes, key=lambda index: str(index.name))
                if empty:  # an initial load: build the indexes once at the end (as the importer does)
                    for index in indexes:
                        index.drop(connection, checkfirst=True)
            now = datetime.now(UTC)
            rows = (dict(row, updated_at=now) for row in _accounts(accounts))
            _load(connection, Account.__table__, rows, "accounts")
            links = ({"account_id": f"att-{i}", "oid": str(OID_BASE + i), "tier": "verified", "source": "login",
                      "linked_at": END - timedelta(days=DAYS + 1)} for i in range(accounts) if i % 10 < 6)  # fmt: skip
            _load(connection, EsiaLink.__table__, links, "links")
            written = _load(connection, LoginAttempt.__table__, _attempts(attempts_count, accounts), "attempts")
            index_started = time.perf_counter()
            with connection.begin():
                for index in indexes:
                    index.create(connection, checkfirst=True)
            if connection.dialect.name == "postgresql":
                with connection.begin():
                    for table in ("login_attempts", "accounts", "esia_links"):
                        connection.exec_driver_sql(f"ANALYZE {table}")
        print(f"  loaded {accounts:,} accounts and {written:,} attempts in {time.perf_counter() - started:.1f} s "
              f"(indexes {time.perf_counter() - index_started:.1f} s)")  # fmt: skip
        db.engine.dispose()


# --- measuring ---------------------------------------------------------------------------------------


def _measure(kind: str, criteria: list[attemptsearch.Criteria], scope: frozenset[str] | None = None) -> Figures:
    for item in criteria[:20]:  # warm the statement cache and the pages each kind touches first
        attemptsearch.search(item, regions=scope, limit=50)
        db.session.rollback()
    timings: list[float] = []
    rows = 0
    for item in criteria:
        started = time.perf_counter()
        page = attemptsearch.search(item, regions=scope, limit=50)
        timings.append((time.perf_counter() - started) * 1000)
        db.session.rollback()  # each search is its own request
        rows += len(page.attempts)
    timings.sort()
    p99 = timings[min(len(timings) - 1, math.ceil(len(timings) * 0.99) - 1)]
    return Figures(kind, len(timings), statistics.median(timings), p99, timings[-1], rows / len(timings))


def measure(url: str, attempts_count: int, queries: int = 300) -> list[Figures]:
    app = _app(url)
    accounts = max(attempts_count // 5, 10)
    rnd = random.Random(7)
    with app.app_context():
        c = LoginAttempt.__table__.c
        high = db.session.scalar(select(func.max(c.id)).where(c.client_id == CLIENT)) or 0
        low = db.session.scalar(select(func.min(c.id)).where(c.client_id == CLIENT)) or 0
        picked = sorted({rnd.randint(low, high) for _ in range(queries * 2)})[:queries]
        refs = list(db.session.scalars(select(c.reference).where(c.id.in_(picked))))
        rnd.shuffle(refs)
        people = [rnd.randrange(accounts) for _ in range(queries)]
        _, adults = _people(accounts)
        with_snils = [i for i in (rnd.randrange(accounts) for _ in range(queries * 3)) if adults[i]][:queries]
        days = [END - timedelta(days=rnd.randrange(1, DAYS), hours=rnd.randrange(24)) for _ in range(queries)]
        codes = list(ENABLED)
        db.session.commit()
        figures = [
            _measure("reference code", [attemptsearch.Criteria(reference=r.lower().replace("-", "")) for r in refs]),
            _measure("account id", [attemptsearch.Criteria(account=f"att-{i}") for i in people]),
            _measure("diary login", [attemptsearch.Criteria(account=f"att.user{i}") for i in people]),
            _measure("SNILS (keyed digest)",
                     [attemptsearch.Criteria(snils=matching.format_snils(_snils_digits(i))) for i in with_snils]),
            _measure("region + one day",
                     [attemptsearch.Criteria(region=rnd.choice(codes), started_from=d, started_to=d + timedelta(days=1)) for d in days]),
            _measure("operator, 3 regions, latest", [attemptsearch.Criteria() for _ in range(queries // 3)],
                     scope=frozenset({"77", "39", "41"})),
            _measure("reason linked_elsewhere, country", [attemptsearch.Criteria(reason="linked_elsewhere") for _ in range(queries // 10)]),
        ]  # fmt: skip
        db.engine.dispose()
    return figures


def run(database_url: str, attempts: int = 1_000_000, *, queries: int = 300, rebuild: bool = False) -> list[Figures]:
    """Fill (or reuse) ``attempts`` synthetic attempts in ``database_url``, time the searches, print
    and return the figures."""
    print(f"attempts search over {attempts:,} attempts ({_where(database_url)})", flush=True)
    fill(database_url, attempts, rebuild=rebuild)
    figures = measure(database_url, attempts, queries)
    for item in figures:
        print("  " + item.line())
    targets = [f for f in figures if f.kind in ("reference code", "account id", "diary login", "SNILS (keyed digest)")]
    verdict = "met" if all(f.p99 < 50 for f in targets) else "NOT met"
    print(f"  target p99 < 50 ms for reference, account and SNILS lookups: {verdict}")
    return figures


def _where(url: str) -> str:
    return "SQLite " + url.split("///")[-1] if url.startswith("sqlite") else "PostgreSQL " + url.split("@")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="searches timed per kind")
    parser.add_argument("--workdir", default="/tmp/bench-attempts", help="where the SQLite file is kept")
    parser.add_argument("--database-url", help="a PostgreSQL DSN (bench rows are added to it, others are kept)")
    parser.add_argument("--rebuild", action="store_true", help="fill afresh even if the attempts are there")
    args = parser.parse_args()
    print(f"machine: {machine.describe()}")
    if args.database_url:
        url = args.database_url
    else:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(args.workdir) / f'attempts-{args.attempts}.sqlite3'}"
    run(url, args.attempts, queries=args.queries, rebuild=args.rebuild)


if __name__ == "__main__":
    main()
