"""What logins cost, read from the servers: the database's statistics and table sizes, Redis's commands, processes' memory.

* PostgreSQL: ``pg_stat_database`` (commits; rows inserted, updated, deleted) and
  ``pg_stat_user_tables`` per table, and ``pg_total_relation_size`` (table, indexes and TOAST),
  for the benchmark's database only. A backend reports its statistics at most once a second,
  and an idle one after ten: :data:`STATS_DELAY` is waited before a snapshot that follows load.
* SQLite: the pages of each table and its indexes (``dbstat``) and its rows; SQLite keeps no
  write statistics.
* Redis: ``INFO commandstats`` counts the whole server, which other databases share, so
  :class:`RedisCommands` counts the commands sent to one database number through ``MONITOR``.
* Processes: resident and proportional memory (``/proc/PID/smaps_rollup``).
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

#: How long to wait after load before PostgreSQL's statistics hold it (PGSTAT_IDLE_INTERVAL, 10 s).
STATS_DELAY = 11.0
#: The transactions of one :func:`postgres_snapshot` (they count in the next one's commits).
SNAPSHOT_TRANSACTIONS = 3


# --- processes ---------------------------------------------------------------------------------


def memory(pid: int) -> tuple[int, int]:
    """Resident and proportional set size of ``pid`` in bytes (0, 0 once it is gone)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("Rss", "Pss"):
                kb = int(value.split()[0]) * 1024
                rss, pss = (kb, pss) if name == "Rss" else (rss, kb)
    except (OSError, ValueError):
        pass
    return rss, pss


# --- the database ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """One table's counters: rows written (PostgreSQL; SQLite: the net change of its rows) and bytes."""

    inserted: int
    updated: int | None
    deleted: int | None
    size: int  # bytes: table, indexes, TOAST


@dataclass(frozen=True, slots=True)
class Store:
    """The database's counters at one moment."""

    commits: int | None  # None: SQLite keeps no statistics
    tables: dict[str, Table]

    def minus(self, before: Store) -> Store:
        """What happened between ``before`` and this snapshot (tables new since then from zero)."""
        zero = Table(0, 0, 0, 0)

        def less(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a - b

        tables = {
            name: Table(
                table.inserted - before.tables.get(name, zero).inserted,
                less(table.updated, before.tables.get(name, zero).updated),
                less(table.deleted, before.tables.get(name, zero).deleted),
                table.size - before.tables.get(name, zero).size,
            )
            for name, table in self.tables.items()
        }
        return Store(less(self.commits, before.commits), tables)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg) reads it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def snapshot(url: str) -> Store:
    """The database's counters now (PostgreSQL or a SQLite file)."""
    return postgres_snapshot(url) if is_postgres(url) else sqlite_snapshot(Path(make_url(url).database or ""))


def postgres_snapshot(url: str) -> Store:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
        tables = connection.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, pg_total_relation_size(relid) FROM pg_stat_user_tables"
        ).fetchall()
    return Store(int(row[0]) if row else None, {name: Table(*counts) for name, *counts in tables})


def sqlite_snapshot(path: Path) -> Store:
    with sqlite3.connect(path) as connection:
        owners = dict(connection.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes: Counter[str] = Counter()
        for name, size in connection.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            sizes[owners.get(name, name)] += size
        tables = {
            name: Table(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0], None, None, sizes[name])
            for name, kind in connection.execute("SELECT name, type FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
    return Store(None, tables)


def connections(url: str) -> int | None:
    """The database's open connections now (PostgreSQL; None for SQLite), this one excepted."""
    if not is_postgres(url):
        return None
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


# --- Redis -------------------------------------------------------------------------------------


class RedisCommands:
    """The commands sent to one Redis database while it runs, counted by name through ``MONITOR``.

    ``MONITOR`` shows every command with its database number (``+1733.1 [4 127.0.0.1:5000] "GET"
    …``); only ``url``'s database is counted, so other users of the server do not count. The
    commands a Lua script runs (``[4 lua]``) are counted apart: they cost no round trip.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.password = parts.password
        self.database = int(parts.path.strip("/") or 0)
        self.counts: Counter[str] = Counter()
        self.scripted: Counter[str] = Counter()
        self.socket: socket.socket | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.ready = threading.Event()

    def __enter__(self) -> RedisCommands:
        self.socket = socket.create_connection(self.address, timeout=5)
        if self.password:
            self.socket.sendall(f"AUTH {self.password}\r\n".encode())
        self.socket.sendall(b"MONITOR\r\n")
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # the last commands' lines
        assert self.socket is not None
        self.socket.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.socket.close()

    def _read(self) -> None:
        assert self.socket is not None
        self.socket.settimeout(None)
        tag = f"[{self.database} "
        with self.socket.makefile("rb") as stream:
            for raw in stream:
                line = raw.decode(errors="replace")
                if line.startswith("+OK"):
                    self.ready.set()
                elif line.startswith("+") and tag in line:
                    where, _, rest = line.partition("] ")
                    command = rest.split(" ", 1)[0].strip().strip('"').upper()
                    (self.scripted if where.endswith(" lua") else self.counts)[command] += 1


# --- retention ---------------------------------------------------------------------------------

DAY = 24 * 3600


def kept_seconds(config: Mapping[str, Any], purge_every: float = DAY) -> dict[str, float]:
    """How long a login's rows stay in each table at the retention settings (broker/ops/retention.py),
    with ``broker purge`` run every ``purge_every`` seconds: a row past its time waits for the next purge."""
    from broker.oidc.provider import CODE_SECONDS

    return {
        "login_attempts": config["ATTEMPT_RETENTION_DAYS"] * DAY + purge_every,
        "audit_events": config["AUDIT_RETENTION_DAYS"] * DAY + purge_every,
        # kept past its end while an access token issued in it may live
        "sessions": config["SESSION_SECONDS"] + config["ACCESS_TOKEN_SECONDS"] + CODE_SECONDS + purge_every,
        "oidc_codes": CODE_SECONDS + purge_every,
        "oidc_tokens": config["ACCESS_TOKEN_SECONDS"] + purge_every,
        "pending_logins": config["PENDING_LOGIN_SECONDS"] + purge_every,
    }


def compact_sizes(url: str, tables: list[str]) -> dict[str, tuple[int, int]]:
    """Each table's bytes (table, indexes, TOAST) and rows once compacted: what its live rows take
    when the versions that updates and deletes left behind are gone. PostgreSQL: ``VACUUM FULL``
    rewrites the table (run it only on the benchmark's own database); SQLite reuses freed pages
    and updates in place, so its sizes are already about that."""
    if not is_postgres(url):
        store = sqlite_snapshot(Path(make_url(url).database or ""))
        return {name: (store.tables[name].size, store.tables[name].inserted) for name in tables if name in store.tables}
    import psycopg
    from psycopg import sql

    sizes = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        for name in tables:
            connection.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(name)))
            row = connection.execute(
                sql.SQL("SELECT pg_total_relation_size({}), (SELECT count(*) FROM {})").format(sql.Literal(name), sql.Identifier(name))
            ).fetchone()
            assert row is not None
            sizes[name] = (int(row[0]), int(row[1]))
    return sizes
