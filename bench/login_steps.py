"""Where the broker's CPU goes in a login, step by step, without a web server in between.

    .venv/bin/python bench/login_steps.py [--logins 400] [--person namesake-1]
    .venv/bin/python bench/login_steps.py --flow legacy [--limits high] [--sql] [--profile out.prof]

The broker is built here, in this process, and driven through Flask's test client, one login
at a time; the mock ESIA answers over real HTTP. Without ``--flow`` the settings are those of
the running `make run` (read from its environment in /proc); with ``--flow`` this script
prepares a fresh instance as `bench/login_load.py --flows` does (examples/run_demo.py, a temporary
folder, ``DEMO_DATABASE_URL`` if set) and starts only the mock ESIA for that flow.
Prints the CPU time per login of each endpoint and of the steps inside them (process time of
this process only, so the mock's and the network's share is not in it).

``--limits``: ``off`` (as the load runs, every login from one address), ``high`` (on, with limits
no login here reaches: what counting costs in production) or ``as-configured``. ``--sql`` counts
the SQL statements and commits of each endpoint per login (a SQLAlchemy event listener) and
lists one login's statements. ``--profile FILE`` writes a cProfile of the measured logins.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import functools
import hashlib
import os
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine  # noqa: E402
from bench.login_load import Browser, pids_matching  # noqa: E402

SPENT: defaultdict[str, float] = defaultdict(float)


def environment_of(match: str) -> dict[str, str]:
    for pid in pids_matching(match):
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    raise SystemExit(f"no running process matches {match!r}: start `make run` first")


def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] += time.process_time() - started

    return wrapper


def instrument() -> None:
    """Time the steps inside the endpoints (the names are the broker's own functions)."""
    from broker.login import attempts, decisions, flow
    from broker.login import pending as login
    from broker.oidc import authorization
    from broker.oidc import provider as oidc
    from providers.esia import EsiaProvider

    for owner, name in [
        (EsiaProvider, "authorize"), (EsiaProvider, "exchange_code"), (EsiaProvider, "fetch_profile"),
        (login, "start"), (login, "claim"), (attempts, "record"), (decisions, "decide"), (flow, "sign_in"),
        (authorization, "complete_authorization"), (oidc.CodeGrant, "query_authorization_code"),
    ]:  # fmt: skip
        setattr(owner, name, timed(f"  {name}", getattr(owner, name)))


#: ``--limits high``: every limit on, and none a run of this script comes near.
HIGH_LIMIT = "1000000 per minute"


class Statements:
    """Counts the SQL statements and commits of an engine, by the endpoint being timed."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.label = ""
        self.statements: defaultdict[str, int] = defaultdict(int)
        self.commits: defaultdict[str, int] = defaultdict(int)
        self.listing: list[str] | None = None
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements[self.label] += 1
        if self.listing is not None:
            self.listing.append(f"{self.label:<22} {' '.join(statement.split())[:150]}")

    def _commit(self, _conn: Any) -> None:
        self.commits[self.label] += 1
        if self.listing is not None:
            self.listing.append(f"{self.label:<22} COMMIT")


def settings_from_running() -> tuple[str, str, str]:
    """The running `make run`'s broker settings (into os.environ) and its portal's client."""
    broker_env = environment_of("broker:create_app")
    portal_env = environment_of("diary_portal:create_app")
    os.environ.update({k: v for k, v in broker_env.items() if k.startswith("BROKER_") or k.lower() == "no_proxy"})
    redirect_uri = portal_env["DIARY_PORTAL_PUBLIC_URL"] + "/callback"
    return portal_env["DIARY_PORTAL_CLIENT_ID"], portal_env["DIARY_PORTAL_CLIENT_SECRET"], redirect_uri


def settings_of_own_instance(flow: str, instance: Path, stack: contextlib.ExitStack) -> tuple[str, str, str]:
    """A fresh demo instance in ``instance`` and the mock ESIA for ``flow`` (stopped with ``stack``)."""
    from bench import cluster

    run_demo = cluster.demo_module()
    secret = secrets.token_urlsafe(32)
    config_path, verdicts = cluster.prepare_instance(run_demo, instance)
    ports = run_demo.Ports(cluster.free_port(), cluster.free_port(), cluster.free_port())
    broker_env = run_demo.broker_settings(instance, ports, secret, config_path, run_demo.FLOWS[flow])
    mock = run_demo.make_servers(instance, ports, broker_env, secret, verdicts, run_demo.FLOWS[flow])[0]
    process = run_demo.start(mock)
    stack.callback(run_demo.stop, [process])
    run_demo.wait_until_ready(mock, process)
    os.environ.update(broker_env)
    return run_demo.PORTAL_CLIENT_ID, secret, f"http://127.0.0.1:{ports.portal}/callback"


def limit_settings(limits: str) -> dict[str, str]:
    """The environment that sets ``--limits`` (read by create_app: the limiter is built there)."""
    from broker.config import RATE_LIMIT_KEYS

    if limits == "off":
        return {"BROKER_RATE_LIMITS_ENABLED": "false"}
    if limits == "high":
        return {"BROKER_RATE_LIMITS_ENABLED": "true", **{f"BROKER_{key}": HIGH_LIMIT for key in RATE_LIMIT_KEYS}}
    return {}


def attempt_storage(app: Any) -> int:
    """Bytes the ``login_attempts`` table and its indexes take on disk now (SQLite's pages, PostgreSQL's relation)."""
    from sqlalchemy import text

    from broker.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            found = db.session.execute(
                text("SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'login_attempts')")
            ).scalar()
        else:
            found = db.session.execute(text("SELECT pg_total_relation_size('login_attempts')")).scalar()
        db.session.remove()
    return int(found or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--person", default="namesake-1")
    parser.add_argument("--region", default="77")
    parser.add_argument("--flow", choices=("legacy", "current"), help="start an instance and the mock ESIA here (no `make run`)")
    parser.add_argument("--limits", choices=("off", "high", "as-configured"), default="off")
    parser.add_argument("--sql", action="store_true", help="count statements and commits per login, and list one login's")
    parser.add_argument("--profile", help="write a cProfile of the measured logins to this file")
    parser.add_argument("--bytes", action="store_true", help="the login_attempts table's growth (rows and indexes) per login")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.flow:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-steps-"))
            client_id, secret, redirect_uri = settings_of_own_instance(args.flow, Path(folder), stack)
        else:
            client_id, secret, redirect_uri = settings_from_running()
        run(args, client_id, secret, redirect_uri)


def run(args: argparse.Namespace, client_id: str, secret: str, redirect_uri: str) -> None:
    from broker import create_app

    instrument()
    os.environ.update(limit_settings(args.limits))
    app = create_app()
    statements = None
    if args.sql:
        from broker.extensions import db

        with app.app_context():
            statements = Statements(db.engine)
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    esia = Browser()

    def endpoint(label: str, call: Callable[[], Any]) -> Any:
        if statements is not None:
            statements.label = label
        started = time.process_time()
        answer = call()
        SPENT[label] += time.process_time() - started
        return answer

    def one_login(client: Any) -> None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid profile",
            "state": "s", "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256", "region": args.region,
        })  # fmt: skip
        answer = endpoint("/oidc/authorize", lambda: client.get(f"/oidc/authorize?{query}"))
        url = answer.headers["Location"]
        while urlsplit(url).path != "/login":
            status, headers, _ = esia.request("GET", url)
            url = urljoin(url, headers["location"])
        _, headers, _ = esia.request("POST", url, {"login": args.person, "password": "test1234"})
        callback = urlsplit(headers["location"])
        answer = endpoint("/auth/esia/callback", lambda: client.get(f"{callback.path}?{callback.query}"))
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
        answer = endpoint("/oidc/token", lambda: client.post("/oidc/token", data=form, headers={"Authorization": basic}))
        assert answer.status_code == 200, answer.data

    client = app.test_client()
    cookies = client._cookies
    assert cookies is not None  # a test client keeps cookies unless made with use_cookies=False
    for _ in range(20):  # warm up: caches, connections, compiled statements
        cookies.clear()
        one_login(client)
    SPENT.clear()
    listing: list[str] = []
    if statements is not None:
        statements.statements.clear()
        statements.commits.clear()
        statements.listing = listing
        cookies.clear()
        one_login(client)
        statements.listing = None
        SPENT.clear()
    stored = attempt_storage(app) if args.bytes else 0
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    for _ in range(args.logins):
        cookies.clear()
        one_login(client)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    if args.bytes:
        grown = attempt_storage(app) - stored
        print(f"login_attempts grew {grown} bytes (rows and indexes) over {args.logins} logins: {grown / args.logins:.0f} bytes per login")
    print(f"machine: {machine.describe()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"limits: {args.limits}; database: {app.config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]}")
    endpoints = [label for label in SPENT if label.startswith("/")]
    total = sum(SPENT[label] for label in endpoints)
    print(f"broker CPU per login, in-process, {args.logins} logins: {total / args.logins * 1000:.2f} ms")
    for label, seconds in SPENT.items():
        print(f"  {label:<32} {seconds / args.logins * 1000:6.2f} ms")
    if statements is not None:
        count = args.logins + 1
        for label in endpoints:
            spent = statements.statements[label] / count, statements.commits[label] / count
            print(f"  {label:<32} {spent[0]:5.1f} statements, {spent[1]:4.1f} commits per login")
        print(f"  {'whole login':<32} {sum(statements.statements.values()) / count:5.1f} statements, "
              f"{sum(statements.commits.values()) / count:4.1f} commits")  # fmt: skip
        print("one login's statements:")
        for line in listing:
            print(f"  {line}")


if __name__ == "__main__":
    main()
