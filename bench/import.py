"""Import speed: rows per second and the importer's peak memory for a large registry file.

    .venv/bin/python bench/import.py [--rows 1000000] [--database-url URL]

Generates a CSV of synthetic accounts (not timed), migrates a fresh database, then times
`broker registry import FILE` as a separate process and reads its peak RSS from the kernel.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "registry.csv"
        started = time.perf_counter()
        synthetic.write_csv(path, args.rows, date.today())
        generated = time.perf_counter() - started
        env = {
            **os.environ,
            "BROKER_SECRET_KEY": "bench",
            "BROKER_SNILS_HASH_KEY": "bench-snils",
            "BROKER_OID_HASH_KEY": "bench-oid",
            "DATABASE_URL": args.database_url or f"sqlite:///{folder}/broker.sqlite3",
        }
        run([BROKER, "db", "upgrade"], env)
        seconds, peak, output, cpu = run([BROKER, "registry", "import", "--allow-links", str(path)], env)
        again, _, _, cpu_again = run([BROKER, "registry", "import", "--allow-links", str(path)], env)

    print(f"machine: {machine.describe()}")
    print(f"database: {'SQLite (file)' if not args.database_url else args.database_url.split('@')[-1]}")
    print(f"file: {args.rows:,} rows, {path.name} generated in {generated:.1f} s (not timed)")
    print(f"importer says: {output.strip().splitlines()[-1]}")
    print(f"first import (empty registry): {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, CPU {cpu:.1f} s")
    print(f"re-import (every row an update): {again:.1f} s, {args.rows / again:,.0f} rows/s, CPU {cpu_again:.1f} s")
    print(f"importer peak memory (PSS of writer and parser processes together): {peak / 1024 / 1024:.0f} MB")


if __name__ == "__main__":
    main()
