"""Decision speed: decisions per second and p50/p99 latency against registries of growing size.

    .venv/bin/python bench/matching.py [--sizes 10000,100000,1000000] [--decisions 20000]
                                       [--database-url postgresql+psycopg://...]

Builds each registry with the real importer (SQLite files are kept in --workdir and reused),
then runs the real decision path — ``broker.login.decisions.decide``: region policies, SqlRegistry
lookups and ``matching.decide`` — one decision at a time in one thread (one core). The persons
are the registry's own people spelled as ESIA might (capitals, ё), every fifth already linked,
plus one in ten unknown to the diary.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

import matching  # noqa: E402
from bench import machine, synthetic  # noqa: E402
from broker import create_app, services  # noqa: E402
from broker.db import revision  # noqa: E402
from broker.extensions import db  # noqa: E402
from broker.login import decisions  # noqa: E402
from broker.regions import admin as regionadmin  # noqa: E402
from broker.regions import policies as regions  # noqa: E402
from broker.registry import importer  # noqa: E402

KEY = "bench-snils-key"


def build(count: int, today: date) -> None:
    """Load ``count`` synthetic accounts into the current app's (empty) database."""
    revision.upgrade()
    if db.session.execute(text("SELECT count(*) FROM accounts")).scalar():
        return
    parser = importer.RowParser(
        regions=frozenset(r.code for r in regions.all_regions()),
        snils_key=services.current().snils_key,
        today=today,
    )
    db.session.commit()  # end the read transaction: the initial load drops and rebuilds indexes
    started = time.perf_counter()
    with db.engine.connect() as connection:
        report = importer.import_registry(
            connection, enumerate(synthetic.rows(count, today), start=2), parser, actor="bench", allow_links=True
        )
    print(f"  built {report.written:,} accounts in {time.perf_counter() - started:.1f} s", flush=True)
    for code in synthetic.REGIONS:
        regionadmin.change_region(code, enabled=True, policy=None, comment="bench", actor_staff=None, actor="bench")


def workload(count: int, decisions_wanted: int, today: date) -> list[tuple[matching.Person, str]]:
    rnd = random.Random(count)
    people = []
    for n in range(decisions_wanted):
        i = rnd.randrange(count)
        row = synthetic.account_row(i, today)
        person = synthetic.person_for(row, today, n)
        if n % 10 == 9:  # somebody the diary does not know
            number = f"{900_000_000 + n:09d}"
            snils = matching.format_snils(number + matching.snils_checksum(number))
            person = replace(person, oid=matching.EsiaOid(str(3_000_000_000 + n)), last_name="Неизвестный", snils=snils)
        people.append((person, row["region"]))
    return people


def run(count: int, url: str, decisions_wanted: int) -> dict[str, object]:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SNILS_HASH_KEY": KEY, "SECRET_KEY": "bench"})
    today = date.today()
    at = datetime.now(UTC)
    with app.app_context():
        build(count, today)
        people = workload(count, decisions_wanted, today)
        for person, region in people[:500]:  # warm caches and the connection
            decisions.decide(person, region, at)
        latencies = []
        outcomes: Counter[str] = Counter()
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for person, region in people:
            started = time.perf_counter_ns()
            decision = decisions.decide(person, region, at)
            latencies.append(time.perf_counter_ns() - started)
            outcomes[str(decision.reason or decision.outcome)] += 1
        wall = time.perf_counter() - wall_started
        cpu = time.process_time() - cpu_started
        db.session.remove()
        db.engine.dispose()
    latencies.sort()
    return {
        "accounts": count,
        "per_second": len(people) / wall,
        "cpu_per_decision_us": cpu / len(people) * 1e6,
        "p50_ms": latencies[len(latencies) // 2] / 1e6,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1e6,
        "mean_ms": statistics.fmean(latencies) / 1e6,
        "outcomes": dict(outcomes.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--workdir", default="/tmp/bench-matching", help="where SQLite registries are kept")
    parser.add_argument("--database-url", help="PostgreSQL DSN; its public schema is replaced for each size")
    args = parser.parse_args()
    print(f"machine: {machine.describe()}")
    results = []
    for count in (int(size) for size in args.sizes.split(",")):
        if args.database_url:
            engine = create_engine(args.database_url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
            url, where = args.database_url, "PostgreSQL"
        else:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
            url, where = f"sqlite:///{args.workdir}/registry-{count}.sqlite3", "SQLite"
        print(f"{where}, {count:,} accounts:", flush=True)
        result = run(count, url, args.decisions)
        results.append(result)
        print(
            f"  {result['per_second']:,.0f} decisions/s on one core, CPU {result['cpu_per_decision_us']:.0f} µs/decision, "
            f"p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms",
            flush=True,
        )
        print(f"  outcomes: {result['outcomes']}", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        ratio = float(first["per_second"]) / float(last["per_second"])  # type: ignore[arg-type]
        print(f"decisions/s at {first['accounts']:,} accounts / at {last['accounts']:,} accounts: {ratio:.2f} (target: at most 1.5)")


if __name__ == "__main__":
    main()
