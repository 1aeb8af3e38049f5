"""Pre-flight speed: a region of 1,000,000 accounts, scanned and grouped, with time and memory.

    .venv/bin/python bench/preflight.py [--accounts 1000000] [--region 50] [--grouping database]
                                        [--database-url postgresql+psycopg://...] [--rebuild]
                                        [--attempts 1000000]

Then, as the issue asks next to it, the support search over ``--attempts`` login attempts
(``bench/attempts_search.py``; ``--attempts 0`` skips it).

Builds the region with the real importer from ``synthetic.rows(..., problems=True)`` (the data
problems of a real registry at the rates of ``synthetic.PROBLEM_RATES``), once: the SQLite file
is kept under --workdir and reused while the generator is unchanged; a PostgreSQL database is
reused when it holds exactly that region. Then runs ``broker.regions.preflight.run_preflight`` in a
fresh process (so that its peak RSS is the pre-flight's own) and prints wall time, CPU time,
accounts per second, peak RSS, and the counts by predicted refusal and by finding.

The registry is generated for, and the pre-flight runs at, a fixed instant, so that the counts
are the same from run to run.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from bench import attempts_search, machine, synthetic  # noqa: E402
from broker import create_app, services  # noqa: E402
from broker.db import revision  # noqa: E402
from broker.extensions import db  # noqa: E402
from broker.regions import policies as regions  # noqa: E402
from broker.regions import preflight  # noqa: E402
from broker.registry import importer  # noqa: E402

KEY = "bench-snils-key"
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # noon in Moscow: the day the rows are made for
GENERATED = AT.date()


def _app(url: str) -> Flask:
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SNILS_HASH_KEY": KEY, "SECRET_KEY": "bench"})


def _holds_region(url: str, region: str, count: int) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.execute(text("SELECT count(*) FROM accounts")).scalar()
            here = connection.execute(text("SELECT count(*) FROM accounts WHERE region = :r"), {"r": region}).scalar()
    except SQLAlchemyError:  # no schema yet: build afresh
        return False
    finally:
        engine.dispose()
    return total == here == count


def build(url: str, region: str, count: int) -> None:
    """Load ``count`` synthetic accounts with data problems into ``region`` of an empty database."""
    app = _app(url)
    with app.app_context():
        revision.upgrade()
        parser = importer.RowParser(
            regions=frozenset(r.code for r in regions.all_regions()),
            snils_key=services.current().snils_key,
            today=GENERATED,
        )
        db.session.commit()
        rows = synthetic.rows(count, GENERATED, problems=True, regions=(region,))
        started = time.perf_counter()
        with db.engine.connect() as connection:
            report = importer.import_registry(
                connection, enumerate(rows, start=2), parser, actor="bench", allow_links=True, background=True
            )
        print(
            f"  built {report.written:,} accounts ({report.warnings:,} import warnings) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        db.engine.dispose()


def _measure(
    url: str, region: str, grouping: preflight.Grouping, queue: multiprocessing.Queue[tuple[float, float, int, int, str, int]]
) -> None:
    app = _app(url)
    with app.app_context():
        regions.get_region(region)  # connect and read the schema before timing
        db.session.commit()
        before = _rss()
        cpu, wall = time.process_time(), time.perf_counter()
        report = preflight.run_preflight(region, AT, grouping=grouping)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        queue.put((wall, cpu, before, peak, preflight.format_summary(report, wall, top=5), report.accounts))
        db.engine.dispose()


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def preflight_figures(url: str, region: str, grouping: preflight.Grouping) -> None:
    """Time one pre-flight in a fresh process and print its figures."""
    context = multiprocessing.get_context("spawn")  # fresh: the peak RSS is the pre-flight's own
    queue: multiprocessing.Queue[tuple[float, float, int, int, str, int]] = context.Queue()
    process = context.Process(target=_measure, args=(url, region, grouping, queue))
    process.start()
    wall, cpu, before, peak, summary, accounts = queue.get()
    process.join()
    print(
        f"pre-flight ({grouping} grouping): {wall:.1f} s, CPU {cpu:.1f} s, {accounts / wall:,.0f} accounts/s, "
        f"peak RSS {peak / 2**20:.0f} MB (the process; {before / 2**20:.0f} MB before the pre-flight)"
    )
    print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--region", default="50", help="the region of every account (ESIA login stays off)")
    parser.add_argument("--grouping", choices=("database", "memory"), default="database")
    parser.add_argument("--workdir", default="/tmp/bench-preflight", help="where the SQLite registry is kept")
    parser.add_argument("--database-url", help="PostgreSQL DSN; its public schema is replaced when rebuilt")
    parser.add_argument("--rebuild", action="store_true", help="build the registry even if one is kept")
    parser.add_argument("--attempts", type=int, default=1_000_000, help="login attempts for the search figures (0: skip)")
    args = parser.parse_args()
    print(f"machine: {machine.describe()}")

    if args.database_url:
        url, where = args.database_url, f"PostgreSQL ({args.database_url.split('@')[-1]})"
    else:
        # The file name carries the generator's digest: a changed generator builds a new registry.
        version = hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:8]
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        url, where = f"sqlite:///{args.workdir}/registry-{args.accounts}-{args.region}-{version}.sqlite3", "SQLite"
    print(f"{where}: {args.accounts:,} accounts in region {args.region}", flush=True)
    if args.rebuild or not _holds_region(url, args.region, args.accounts):
        if args.database_url:
            engine = create_engine(url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        else:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        build(url, args.region, args.accounts)
    else:
        with _app(url).app_context():  # a kept registry gets today's indexes too
            revision.upgrade()
    preflight_figures(url, args.region, args.grouping)
    if args.attempts:
        # The support search, as the issue asks for it next to the pre-flight: its own rows in
        # the same database (bench/attempts_search.py; reused while they are there).
        attempts_search.run(url, args.attempts)


if __name__ == "__main__":
    main()
