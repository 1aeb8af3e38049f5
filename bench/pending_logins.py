"""The pending logins' own cost per login, in the database and in Redis, measured in one run.

    .venv/bin/python bench/pending_logins.py [--logins 2000] [--rounds 5]
        [--redis-url redis://127.0.0.1:6379/0] [--database-url postgresql+psycopg://...]

One login's pending-login operations, in-process, as ``broker.login.flow`` runs them on the
chooser's way (the longest common one): ``start`` (commit), ``claim`` (commit), ``set_stage``
(commit), the chooser's page and post (``staged`` twice, ``set_stage``, commit), the first link's
page and post (``staged`` twice, ``drop``, commit). ESIA, the matching and the attempts are left
out (a fake ESIA makes the authorization request); the keyring's digests are in.

Each store runs ``--logins`` logins per round, the stores taking turns for ``--rounds`` rounds
(the machine's load moves between them less than across runs); the figure is each store's median
round: this process's CPU time and wall time per login, and Redis's as a ratio to the database's.
The database's CPU time is partly the server's on PostgreSQL (not counted here) and all in-process
on SQLite; Redis's server side is not counted either. The load average is printed with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402

from broker import create_app, services  # noqa: E402
from broker.db import revision  # noqa: E402
from broker.extensions import db  # noqa: E402
from broker.login import pending  # noqa: E402
from broker.login.pending import Stage, Step  # noqa: E402
from providers import AuthorizationRequest  # noqa: E402

REQUEST = {"client_id": "portal", "redirect_uri": "https://portal.test/cb", "state": "p", "nonce": "n", "code_challenge": "c" * 43}


class FakeEsia:
    """ESIA's authorization request, made without signing (its cost is not the pending login's)."""

    def __init__(self) -> None:
        self.made = 0

    def authorize(self) -> AuthorizationRequest:
        self.made += 1
        state = f"{self.made:08x}-{os.urandom(6).hex()}-bench"
        return AuthorizationRequest(url="https://esia.test/aas", state=state, nonce=state, code_verifier="v" * 43, timestamp="")


def make_app(database_url: str, redis_url: str | None) -> Flask:
    config: dict[str, Any] = {"TESTING": True, "SECRET_KEY": "bench", "SNILS_HASH_KEY": "bench-snils"}
    config["SQLALCHEMY_DATABASE_URI"] = database_url
    if redis_url:
        config.update(REDIS_URL=redis_url, REDIS_KEY_PREFIX=f"bench-{os.getpid()}")
    app = create_app(config)
    with app.app_context():
        revision.upgrade()
        services.current().esia = FakeEsia()  # type: ignore[assignment]
    return app


def one_login(index: int) -> None:
    """One login's pending-login operations, step by step, each step committed as the flow does."""
    started = pending.start("portal", REQUEST, "77")
    db.session.commit()
    claimed = pending.claim(started.state, started.binding)
    db.session.commit()
    assert claimed is not None
    stage = Stage(Step.CHOOSE_ACCOUNT, attempt_id=index, account_ids=("a-1", "a-2"), oid="1000", tier="verified", amr="PWD",
                  auth_time=None, email="a@b.ru", mobile="+79000000000", reference="ABCD-EFGH")  # fmt: skip
    pending.set_stage(claimed, stage)
    db.session.commit()
    pending.staged(started.state, started.binding)  # the chooser's page
    waiting = pending.staged(started.state, started.binding)  # its post
    assert waiting is not None and waiting.stage is not None
    pending.set_stage(waiting, Stage(**{**{n: getattr(stage, n) for n in Stage.__slots__}, "step": Step.CONFIRM, "account_ids": ("a-1",)}))
    db.session.commit()
    pending.staged(started.state, started.binding)  # the first link's page
    confirming = pending.staged(started.state, started.binding)  # its post
    assert confirming is not None and confirming.stage is not None and confirming.stage.step is Step.CONFIRM
    pending.drop(confirming)
    db.session.commit()


def round_of(app: Flask, logins: int, first: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per login over ``logins`` logins."""
    with app.app_context():
        cpu, wall = time.process_time(), time.perf_counter()
        for index in range(first, first + logins):
            one_login(index)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        db.session.remove()
    return cpu / logins, wall / logins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database-url", help="the database's store on this database (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
        stores = {"database": make_app(database, None), "redis": make_app(database, args.redis_url)}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
        for app in stores.values():  # warm up: statements compiled, scripts loaded, connections open
            round_of(app, 50, 0)
        for number in range(args.rounds):
            for name, app in stores.items():
                figures[name].append(round_of(app, args.logins, (number + 1) * 1_000_000))
    load = os.getloadavg()
    kind = database.split(":", 1)[0]
    print(f"pending-login operations per login ({args.logins} logins x {args.rounds} rounds, median round; database: {kind})")
    medians = {name: (statistics.median(c for c, _ in rounds), statistics.median(w for _, w in rounds)) for name, rounds in figures.items()}
    for name, (cpu, wall) in medians.items():
        print(f"  {name:9} CPU {cpu * 1e6:7.0f} µs   wall {wall * 1e6:7.0f} µs")
    (db_cpu, db_wall), (redis_cpu, redis_wall) = medians["database"], medians["redis"]
    print(f"  redis / database: CPU {redis_cpu / db_cpu:.2f}, wall {redis_wall / db_wall:.2f}")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
