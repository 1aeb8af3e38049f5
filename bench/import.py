"""Import speed: rows per second and the importer's peak memory for a large registry file.

    .venv/bin/python bench/import.py [--rows 1000000] [--database-url postgresql+psycopg://...]

Generates a CSV of synthetic accounts (not timed), migrates a fresh SQLite file (and, with
--database-url, a fresh PostgreSQL schema), then times `broker registry import FILE` as a
separate process on each, twice (into an empty registry, then every row an update), reads its
peak memory from the kernel, and prints the figures side by side with PostgreSQL's ratio to
SQLite's. The importer writes to PostgreSQL by COPY (broker/registry/importer.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine, synthetic  # noqa: E402

BROKER = str(Path(sys.executable).with_name("broker"))


def tree_rss(pid: int) -> int:
    """Memory of a process and its children, in bytes (0 once it has gone).

    Counted as PSS (proportional set size): pages a forked child still shares with its parent
    count once, split between them, rather than once in each.
    """
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children = [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return total
    return total + sum(tree_rss(child) for child in children)


def run(args: list[str], env: dict[str, str]) -> tuple[float, int, str, float]:
    """Run a command; return (seconds, peak RSS of its process tree in bytes, output, CPU seconds).

    The peak is sampled every 100 ms over the whole tree (the importer forks a parser), so it
    is the sum of both processes' PSS, not the larger one's RSS as ``ru_maxrss`` would give.
    """
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")
    return elapsed, peak, output, usage.ru_utime + usage.ru_stime


def reset_postgres(url: str) -> None:
    """Replace the public schema of the PostgreSQL database at ``url`` (the bench's own)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def measure(path: Path, url: str, rows: int) -> dict[str, float]:
    """Migrate the database at ``url`` and import ``path`` twice: into the empty registry, then over it."""
    env = {
        **os.environ,
        "BROKER_SECRET_KEY": "bench",
        "BROKER_SNILS_HASH_KEY": "bench-snils",
        "BROKER_OID_HASH_KEY": "bench-oid",
        "DATABASE_URL": url,
    }
    run([BROKER, "db", "upgrade"], env)
    first, peak, output, cpu = run([BROKER, "registry", "import", "--allow-links", str(path)], env)
    again, peak_again, _, cpu_again = run([BROKER, "registry", "import", "--allow-links", str(path)], env)
    print(f"  importer says: {output.strip().splitlines()[-1]}")
    print(f"  first import {first:.1f} s ({rows / first:,.0f} rows/s), re-import {again:.1f} s ({rows / again:,.0f} rows/s)", flush=True)
    return {
        "first": first, "first_rate": rows / first, "first_cpu": cpu,
        "again": again, "again_rate": rows / again, "again_cpu": cpu_again,
        "peak": max(peak, peak_again) / 1024 / 1024,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL DSN to measure beside SQLite; its public schema is replaced")
    parser.add_argument("--skip-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()

    print(f"machine: {machine.describe()}")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "registry.csv"
        started = time.perf_counter()
        synthetic.write_csv(path, args.rows, date.today())
        print(f"file: {args.rows:,} rows, {path.name} generated in {time.perf_counter() - started:.1f} s (not timed)")
        if not args.skip_sqlite:
            print("SQLite (a file in a temporary folder):", flush=True)
            results["SQLite"] = measure(path, f"sqlite:///{folder}/broker.sqlite3", args.rows)
        if args.database_url:
            print(f"PostgreSQL ({args.database_url.split('@')[-1]}):", flush=True)
            reset_postgres(args.database_url)
            results["PostgreSQL"] = measure(path, args.database_url, args.rows)

    names = list(results)
    print()
    print(f"| {args.rows:,} rows | " + " | ".join(names) + (" | PostgreSQL ÷ SQLite |" if len(names) == 2 else " |"))
    print("|---|" + "---:|" * (len(names) + (len(names) == 2)))
    lines = [
        ("first import (empty registry), rows/s", "first_rate", "{:,.0f}"),
        ("first import, time", "first", "{:.1f} s"),
        ("first import, CPU of the importer (writer + parser)", "first_cpu", "{:.1f} s"),
        ("re-import (every row an update), rows/s", "again_rate", "{:,.0f}"),
        ("re-import, time", "again", "{:.1f} s"),
        ("re-import, CPU of the importer", "again_cpu", "{:.1f} s"),
        ("importer peak memory (PSS, writer + parser)", "peak", "{:.0f} MB"),
    ]
    for label, key, shape in lines:
        cells = [shape.format(results[name][key]) for name in names]
        if len(names) == 2:
            cells.append(f"{results['PostgreSQL'][key] / results['SQLite'][key]:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
