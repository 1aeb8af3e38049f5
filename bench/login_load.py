"""Login load: complete logins (portal → broker → mock ESIA → back, code exchange at the broker)
with N concurrent users, against a running demo started without rate limits (every user here
comes from one address, which the per-address limits would refuse after a few hundred logins a
minute): `BROKER_RATE_LIMITS_ENABLED=false make run` in another terminal. That measures ESIA's
current flow, `make run`'s default; add `DEMO_ESIA_FLOW=legacy` to measure the legacy one.

    .venv/bin/python bench/login_load.py [--users 16] [--seconds 20] [--person namesake-1]
    .venv/bin/python bench/login_load.py --broker http://127.0.0.1:5000 --client-id ID \\
        --client-secret SECRET --redirect-uri http://127.0.0.1:8000/callback

Each user is a process with its own keep-alive connections and cookie jar doing logins back to
back: the portal's authorization request (PKCE S256) → the broker → ESIA's login form (POST
login/password) → the broker's callback → the portal's callback → the token request. The default person's account
is linked already, so every login ends in a session (`signed_in`). Prints logins/s, p50/p99
of a whole login, errors, and the broker processes' own CPU per login and peak RSS, read from
/proc (the broker's pids: given, or found by their command line).

    .venv/bin/python bench/login_load.py --flows legacy,current [--rounds 2] [--gost-backend python]

compares ESIA's two flows in one run, without `make run`: for each flow in turn (interleaved,
``--rounds`` times) it starts the mock ESIA and the broker as ``DEMO_ESIA_FLOW=<flow> make run``
does (examples/run_demo.py: the same settings, keys, registry and gunicorn shapes, a fresh
instance folder, free ports, rate limits off), measures, and stops them. The current flow signs
``client_secret`` with a GOST key (raw) and the mock signs its tokens ``GOST3410_2012_256``; the
legacy flow signs a detached RSA CMS and gets RS256 tokens. Both servers run with
``GOST_BACKEND`` as given (default ``python``: pure-Python GOST). It ends with each flow's broker
CPU per login and their ratio.

    .venv/bin/python bench/login_load.py --instances 2 [--database-url postgresql+psycopg://…/DB]
        [--redis-url redis://…/N] [--flow current] [--rate R] [--seconds 20] [--soak 300 [--rate-of-peak 0.7]]
        [--rolling-restart]

runs several brokers as production does, without `make run`: the mock ESIA and ``--instances``
``broker serve`` processes (``--workers`` × ``--threads`` each; one config, one SECRET_KEY and
keys, one database: a SQLite file, or the PostgreSQL database given, whose public schema is
replaced) behind one public address, with ``REDIS_URL`` if given (bench/cluster.py). The load
generator is the load balancer (bench/balancer.py): each request goes to the next instance in
turn with the public ``Host``, so the steps of one login land on different instances. The load
phase runs ``--users`` back to back, or ``--rate`` logins/s arriving at random (Poisson, open
loop: each login timed from when it was due) for ``--seconds``; it prints logins/s, errors,
p50/p99, and per login what the servers spent and kept (bench/costs.py): broker CPU (and so
logins/s per broker core), database commits and rows written per table, the tables' growth and
their rows' compacted size, with that at 1 M logins a day over the retention settings, Redis
round trips, database connections, memory per instance. ``--rolling-restart`` restarts each
instance in turn during that phase (out of the rotation, SIGTERM, exit, start, ``/readyz``, back)
and counts the logins under way that were lost. ``--soak S`` then runs S seconds at ``--rate``,
or at ``--rate-of-peak`` × the load phase's logins/s, and compares each broker process's memory
after a warm-up with the end (pass: 0 errors and growth under 10 %). Rate limits are on, far above
the load (``--rate-limits far``), so that the limiter's work and its Redis calls count.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import importlib
import json
import multiprocessing
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cluster, costs, machine  # noqa: E402
from bench.balancer import Balancer  # noqa: E402
from bench.cluster import demo_module, free_port, prepare_instance  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Browser:
    """A lean browser for the load: one keep-alive connection per origin and a cookie jar.

    ``requests`` costs about 0.7 ms of CPU per call; on a 2-core machine that shares the CPU
    with the servers it measures, the load generator must be cheap. Cookies are kept per
    host by name (the servers set them on ``/``); a cookie set to expire is dropped. With a
    ``balancer`` (``--instances``), requests to its public address go to the instance it picks,
    with the public ``Host`` header.
    """

    def __init__(self, balancer: Balancer | None = None) -> None:
        self.balancer = balancer
        self.connections: dict[str, http.client.HTTPConnection] = {}
        self.cookies: dict[str, dict[str, str]] = {}
        self.reopened: Counter[str] = Counter()  # by host:port

    def request(
        self, method: str, url: str, body: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        sent = dict(headers or {})
        jar = self.cookies.setdefault(parts.netloc, {})
        if jar:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        payload = None
        if body is not None:
            payload = urlencode(body).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        target = parts.path + ("?" + parts.query if parts.query else "")
        if self.balancer is not None and parts.netloc == self.balancer.public:
            response, data = self.send_balanced(self.balancer, method, target, payload, {**sent, "Host": parts.netloc})
        else:
            response, data = self.send(parts.netloc, method, target, payload, sent)
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def send(
        self, netloc: str, method: str, target: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request on the keep-alive connection to ``netloc``; a kept-alive connection the server
        closed before answering (it closes idle ones) is opened again once, as browsers do."""
        for attempt in (1, 2):
            connection = self.connections.get(netloc)
            if connection is None:
                connection = self.connections[netloc] = http.client.HTTPConnection(netloc, timeout=30)
            kept_alive = connection.sock is not None
            try:
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                return response, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.drop(netloc)
                if attempt == 2 or not kept_alive:
                    raise
                self.reopened[netloc] += 1
            except OSError:  # refused, unreachable: the caller decides
                self.drop(netloc)
                raise
        raise AssertionError("unreachable")

    def send_balanced(
        self, balancer: Balancer, method: str, target: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request to the instance ``balancer`` picks; sent again to the next one only when the
        connection was refused, so before anything was sent."""
        for attempt in range(1, len(balancer.upstreams) + 1):
            upstream = balancer.pick()
            try:
                return self.send(upstream, method, target, payload, headers)
            except ConnectionRefusedError:
                balancer.refused(upstream)
                if attempt == len(balancer.upstreams):
                    raise
        raise AssertionError("unreachable")

    def drop(self, netloc: str) -> None:
        connection = self.connections.pop(netloc, None)
        if connection is not None:
            connection.close()

    def clear_cookies(self) -> None:
        self.cookies.clear()


def one_login(browser: Browser, args: argparse.Namespace) -> None:
    """A whole login; raises on anything but a token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urlencode({
        "response_type": "code", "client_id": args.client_id, "redirect_uri": args.redirect_uri,
        "scope": "openid profile", "state": state, "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge, "code_challenge_method": "S256", "region": args.region,
    })  # fmt: skip
    login_form = follow(browser, f"{args.broker}/oidc/authorize?{query}", lambda url: urlsplit(url).path == "/login")
    time.sleep(args.think)  # the person at ESIA's login page
    status, headers, _ = browser.request("POST", login_form, {"login": args.person, "password": "test1234"})
    assert status in (301, 302, 303), f"ESIA login: {status}"
    callback = follow(browser, urljoin(login_form, headers["location"]), lambda url: url.startswith(args.redirect_uri))
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert params.get("state") == state and "code" in params, "bad portal callback"
    basic = base64.b64encode(f"{args.client_id}:{args.client_secret}".encode()).decode()
    status, _, body = browser.request(
        "POST", f"{args.broker}/oidc/token",
        {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": args.redirect_uri,
         "code_verifier": verifier},
        {"Authorization": f"Basic {basic}"},
    )  # fmt: skip
    assert status == 200 and "id_token" in json.loads(body), f"token: {status}"


def follow(browser: Browser, url: str, stop: Callable[[str], bool]) -> str:
    """GET ``url`` and follow redirects until one points where ``stop`` says; return that URL."""
    while not stop(url):
        status, headers, _ = browser.request("GET", url)
        assert status in (301, 302, 303), f"{urlsplit(url).path}: HTTP {status}"
        url = urljoin(url, headers["location"])
    return url


#: One login as a load process saw it: when it was due (monotonic seconds), when it ended, and
#: its error ("" for a token response).
Record = tuple[float, float, str]


def user(
    args: argparse.Namespace, deadline: float, results: multiprocessing.Queue[tuple[list[Record], Counter[str]]],
    balancer: Balancer | None = None, rate: float | None = None, seed: int = 0,
) -> None:  # fmt: skip
    """Logins until ``deadline``: back to back, or at Poisson arrivals of ``rate`` per second (open
    loop: each login timed from when it was due, so that a slow server cannot slow the arrivals)."""
    browser = Browser(balancer)
    arrivals = random.Random(seed)
    records: list[Record] = []
    due = time.monotonic()
    while True:
        due = due + arrivals.expovariate(rate) if rate else time.monotonic()
        if due >= deadline:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        browser.clear_cookies()  # a new person each time: no SSO shortcut
        try:
            one_login(browser, args)
            records.append((due, time.monotonic(), ""))
        except (AssertionError, OSError, http.client.HTTPException, ValueError, KeyError) as error:
            records.append((due, time.monotonic(), f"{type(error).__name__}: {error}"[:80]))
    upstreams = balancer.upstreams if balancer else []
    retries = Counter(
        {"reopened": sum(browser.reopened[upstream] for upstream in upstreams), "refused": balancer.refusals if balancer else 0}
    )
    results.put((records, retries))


def drive(
    args: argparse.Namespace, seconds: float, balancer: Balancer | None = None, rate: float | None = None,
    every: Callable[[], None] | None = None,
) -> tuple[list[Record], float, Counter[str]]:  # fmt: skip
    """``args.users`` load processes for ``seconds`` (at ``rate`` logins/s in all, if given),
    calling ``every`` about every 0.2 s meanwhile; returns their logins, the elapsed time, and how
    often a request went out again (``reopened``: a kept-alive connection the server had closed;
    ``refused``: to another instance; both for requests to the balanced instances only)."""
    results: multiprocessing.Queue[tuple[list[Record], Counter[str]]] = multiprocessing.Queue()
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    share = rate / args.users if rate else None
    workers = [
        multiprocessing.Process(target=user, args=(args, deadline, results, balancer, share, secrets.randbits(32)))
        for _ in range(args.users)
    ]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers) and results.qsize() < len(workers):
        if every is not None:
            every()
        time.sleep(0.2)
    records: list[Record] = []
    retries: Counter[str] = Counter()
    for _ in workers:
        done, again = results.get()
        records += done
        retries += again
    for worker in workers:
        worker.join()
    return records, time.perf_counter() - started, retries


def pids_matching(match: str) -> list[int]:
    """Processes whose command line contains ``match`` (not this script's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if match in command and "login_load" not in command:
                pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def demo_portal_secret() -> str:
    """The client secret `make run` gave the demo portal (it is random on every run)."""
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"DIARY_PORTAL_CLIENT_SECRET="):
                return item.split(b"=", 1)[1].decode()
    raise SystemExit("no running demo portal found: start `make run`, or pass --client-secret")


def cpu_and_rss(pids: list[int]) -> tuple[float, int]:
    """CPU seconds used so far and resident bytes now, summed over ``pids``."""
    cpu, rss = 0.0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return cpu, rss


@dataclass
class Measured:
    """One load run: what the users saw and what each side spent."""

    users: int
    elapsed: float
    latencies: list[float]
    errors: int
    broker_cpu: float  # seconds, over the run
    esia_cpu: float
    load_cpu: float
    busy: float  # the whole machine's busy seconds
    peak_rss: int
    broker_processes: int

    def per_login(self, seconds: float) -> float:
        return seconds / len(self.latencies) if self.latencies else float("nan")


def measure(args: argparse.Namespace, pids: list[int], esia_pids: list[int]) -> Measured:
    """``args.users`` processes doing logins back to back for ``args.seconds``, after ``args.warmup`` logins.

    Each warm-up login opens new connections, so that every server process gets some and builds
    what it builds once (imports, caches, the GOST tables) before the measurement.
    """
    for _ in range(max(1, args.warmup)):
        one_login(Browser(), args)  # fail fast, and warm up
    cpu_before, _ = cpu_and_rss(pids)
    esia_before, busy_before = cpu_and_rss(esia_pids)[0], machine_busy_seconds()
    own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_rss = 0

    def sample() -> None:
        nonlocal peak_rss
        peak_rss = max(peak_rss, cpu_and_rss(pids)[1])

    records, elapsed, _ = drive(args, args.seconds, every=sample)
    cpu_after, _ = cpu_and_rss(pids)
    esia_after, busy_after = cpu_and_rss(esia_pids)[0], machine_busy_seconds()
    own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Measured(
        users=args.users,
        elapsed=elapsed,
        latencies=sorted(ended - due for due, ended, error in records if not error),
        errors=sum(1 for *_, error in records if error),
        broker_cpu=cpu_after - cpu_before,
        esia_cpu=esia_after - esia_before,
        load_cpu=(own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime),
        busy=busy_after - busy_before,
        peak_rss=peak_rss,
        broker_processes=len(pids),
    )


def report(run: Measured) -> None:
    logins, latencies = len(run.latencies), run.latencies
    if not logins:
        raise SystemExit(f"no login completed; errors: {run.errors}")
    print(f"logins: {logins} ({logins / run.elapsed:.1f}/s), errors: {run.errors}")
    print(
        f"whole login: p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )
    print(
        f"broker processes ({run.broker_processes}): CPU {run.per_login(run.broker_cpu) * 1000:.1f} ms per login, "
        f"peak RSS {run.peak_rss / 1024 / 1024:.0f} MB (summed over the processes: shared pages count once per process)"
    )
    print(
        f"CPU per login elsewhere: mock ESIA {run.per_login(run.esia_cpu) * 1000:.1f} ms, load generator "
        f"{run.per_login(run.load_cpu) * 1000:.1f} ms; the whole machine {run.per_login(run.busy) * 1000:.1f} ms "
        f"({run.busy / run.elapsed / (os.cpu_count() or 1) * 100:.0f} % busy)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="http://127.0.0.1:5000")
    parser.add_argument("--client-id", default="diary-demo")
    parser.add_argument("--client-secret", help="default: the running demo portal's (read from its environment)")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/callback")
    parser.add_argument("--region", default="77")
    parser.add_argument("--person", default="namesake-1", help="a mock ESIA login whose account is linked")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--broker-pids", help="comma-separated; default: processes whose command line has --broker-match")
    parser.add_argument("--broker-match", default="broker:create_app")
    parser.add_argument("--esia-match", default="mock_esia", help="the mock ESIA's processes, for its CPU figure")
    parser.add_argument("--warmup", type=int, default=20, help="logins before the measurement, each on new connections")
    parser.add_argument(
        "--flows",
        help="e.g. legacy,current: start the mock ESIA and the broker here for each flow in turn (no `make run` needed), "
        "measure each, and compare their broker CPU per login",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --flows: how many times to run each flow, interleaved")
    parser.add_argument(
        "--gost-backend", default="python", help="with --flows or --instances: GOST_BACKEND of the servers (python, engine, auto)"
    )
    add_instances_arguments(parser)
    args = parser.parse_args()

    if args.instances:
        run_instances(args)
        return
    if args.flows:
        compare_flows(args, [flow.strip() for flow in args.flows.split(",")])
        return
    args.client_secret = args.client_secret or demo_portal_secret()
    pids = [int(pid) for pid in args.broker_pids.split(",")] if args.broker_pids else pids_matching(args.broker_match)
    if not pids:
        raise SystemExit(f"no broker process found (looked for {args.broker_match!r}); pass --broker-pids")
    run = measure(args, pids, pids_matching(args.esia_match))
    print(f"machine: {machine.describe()}")
    print(f"{args.users} concurrent users, {run.elapsed:.1f} s, person {args.person} (linked: signed_in)")
    report(run)


def add_instances_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("--instances: brokers behind one address, started here (the servers' costs per login)")
    group.add_argument(
        "--instances", type=int, help="start the mock ESIA and this many `broker serve` processes (one config, one database)"
    )
    group.add_argument("--workers", type=int, default=1, help="gunicorn workers per instance")
    group.add_argument("--threads", type=int, default=4, help="threads per worker")
    group.add_argument("--flow", choices=FLOWS, default="current", help="ESIA's flow")
    group.add_argument("--database-url", help="PostgreSQL (its public schema is replaced); default: a SQLite file")
    group.add_argument("--redis-url", help="the brokers' REDIS_URL (its commands are counted through MONITOR)")
    group.add_argument(
        "--rate-limits", choices=("off", "far"), default="far",
        help="far (default): on, every limit 1,000,000 per minute, so that the limiter counts (in memory or in Redis) "
        "and never refuses; off: BROKER_RATE_LIMITS_ENABLED=false",
    )  # fmt: skip
    group.add_argument("--rate", type=float, help="logins/s arriving (Poisson, open loop) instead of --users back to back")
    group.add_argument("--soak", type=float, help="then this many seconds at --rate, or at --rate-of-peak × the load phase's logins/s")
    group.add_argument("--rate-of-peak", type=float, default=0.7)
    group.add_argument("--rolling-restart", action="store_true", help="restart each instance in turn during the load phase")
    group.add_argument(
        "--drain", type=float, default=1.0,
        help="with --rolling-restart: seconds an instance is out of the rotation before its SIGTERM (0: never taken out)",
    )  # fmt: skip
    group.add_argument(
        "--think", type=float, default=0.0,
        help="seconds each person spends at ESIA's login page (then many logins are under way across a restart)",
    )  # fmt: skip


# --- --flows: the servers started here, one flow at a time -----------------------------------

FLOWS = ("legacy", "current")


def start_flow(
    run_demo: Any, instance: Path, prepared: tuple[Path, Any], flow: str, secret: str, gost_backend: str
) -> tuple[list[Any], Any]:
    """The mock ESIA and the broker for ``flow`` on free ports, set up as `make run` sets them up
    with ``DEMO_ESIA_FLOW=flow``; returns the processes and the ports."""
    ports = run_demo.Ports(free_port(), free_port(), free_port())
    config_path, verdicts = prepared
    broker_env = run_demo.broker_settings(instance, ports, secret, config_path, run_demo.FLOWS[flow])
    mock, broker = run_demo.make_servers(instance, ports, broker_env, secret, verdicts, run_demo.FLOWS[flow])[:2]  # no portal
    for server in (mock, broker):
        server.env["GOST_BACKEND"] = gost_backend
    broker.env["BROKER_RATE_LIMITS_ENABLED"] = "false"  # every user comes from one address
    processes = []
    try:
        for server in (mock, broker):
            process = run_demo.start(server)
            processes.append(process)
            run_demo.wait_until_ready(server, process)
    except BaseException:
        run_demo.stop(processes)
        raise
    return processes, ports


def compare_flows(args: argparse.Namespace, flows: list[str]) -> None:
    unknown = sorted(set(flows) - set(FLOWS))
    if unknown:
        raise SystemExit(f"--flows: unknown {', '.join(unknown)}; choose from {', '.join(FLOWS)}")
    run_demo = demo_module()
    secret = secrets.token_urlsafe(32)
    print(f"machine: {machine.describe()}")
    print(
        f"{args.users} concurrent users, {args.seconds:.0f} s per run, person {args.person} (linked: signed_in); "
        f"GOST_BACKEND={args.gost_backend}; flows {', '.join(flows)} × {args.rounds}, interleaved"
    )
    broker_ms: dict[str, list[float]] = {flow: [] for flow in flows}
    with tempfile.TemporaryDirectory(prefix="bench-login-") as folder:
        instance = Path(folder)
        prepared = prepare_instance(run_demo, instance)
        for round_number in range(1, args.rounds + 1):
            for flow in flows:
                processes, ports = start_flow(run_demo, instance, prepared, flow, secret, args.gost_backend)
                try:
                    args.broker = f"http://127.0.0.1:{ports.broker}"
                    args.redirect_uri = f"http://127.0.0.1:{ports.portal}/callback"  # registered; the portal itself is not started
                    args.client_secret = secret
                    run = measure(args, pids_matching(f"127.0.0.1:{ports.broker}"), pids_matching(f"127.0.0.1:{ports.esia}"))
                finally:
                    run_demo.stop(processes)
                print(f"\n{flow} flow, round {round_number}:")
                report(run)
                broker_ms[flow].append(run.per_login(run.broker_cpu) * 1000)
    print()
    for flow, figures in broker_ms.items():
        print(f"broker CPU per login, {flow}: {', '.join(f'{ms:.1f}' for ms in figures)} ms (mean {statistics.fmean(figures):.1f} ms)")
    if "legacy" in broker_ms and "current" in broker_ms:
        ratio = statistics.fmean(broker_ms["current"]) / statistics.fmean(broker_ms["legacy"])
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(f"current / legacy: {ratio:.2f} (target: at most 1.5, {verdict})")


# --- --instances: brokers behind one address, the stores' costs, a soak, a rolling restart --------

#: Memory samples of the brokers during a soak, and the growth a soak must stay under.
SAMPLE_SECONDS = 5.0
GROWTH_LIMIT = 0.10
#: How often the database's connections are counted during a load phase.
CONNECTIONS_SECONDS = 2.0
#: Logins a day of the sizing figures.
MILLION = 1_000_000


@dataclass
class Phase:
    """One load phase against the cluster: the logins, and what the servers spent meanwhile."""

    records: list[Record]
    elapsed: float
    broker_cpu: list[float] | None  # seconds, per instance; None when they restarted (their processes changed)
    store: costs.Store | None
    redis: costs.RedisCommands | None
    most_connections: int | None
    load: tuple[float, float]  # load average (1 min) at the start and the end
    retries: Counter[str]
    restarts: list[tuple[float, float, int]] = field(default_factory=list)  # from, to, exit code
    compact: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: bytes and rows, compacted
    mock_cpu: float = 0.0
    busy: float = 0.0  # the whole machine's busy CPU seconds (other sessions' too)

    @property
    def done(self) -> list[Record]:
        return [record for record in self.records if not record[2]]

    def per_login(self, value: float) -> float:
        return value / len(self.done) if self.done else float("nan")


def run_instances(args: argparse.Namespace) -> None:
    """``--instances``: start the servers, warm up, measure a load phase, then soak if asked."""
    settings = cluster.Settings(
        flow=args.flow, instances=args.instances, workers=args.workers, threads=args.threads, database_url=args.database_url,
        redis_url=args.redis_url, gost_backend=args.gost_backend, rate_limits=args.rate_limits,
    )  # fmt: skip
    if args.database_url and costs.is_postgres(args.database_url):
        importlib.import_module("bench.import").reset_postgres(args.database_url)  # a fresh schema: sizes from zero
    print(f"machine: {machine.describe()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{settings.instances} instances of `broker serve` × {settings.workers} worker(s) × {settings.threads} threads, "
        f"ESIA flow {settings.flow}, GOST_BACKEND={settings.gost_backend}, rate limits {settings.rate_limits}; "
        f"database {'PostgreSQL' if args.database_url else 'SQLite'}, Redis {'yes' if args.redis_url else 'no'}; "
        f"person {args.person} (linked: signed_in)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-instances-") as folder,
        cluster.started(Path(folder), settings, secrets.token_urlsafe(32)) as servers,
    ):
        args.broker, args.redirect_uri, args.client_secret = f"http://{servers.public}", servers.redirect_uri, servers.client_secret
        rotation = multiprocessing.Array("b", [1] * len(servers.instances), lock=False)
        balancer = Balancer(servers.public, [instance.netloc for instance in servers.instances], rotation)
        for _ in range(max(1, args.warmup)):
            one_login(Browser(balancer), args)  # fail fast, and warm up every worker
        phase = load_phase(args, servers, balancer, rotation)
        report_phase(args, servers, phase)
        if args.soak:
            peak = len(phase.done) / phase.elapsed
            rate = args.rate or args.rate_of_peak * peak
            soak(args, servers, balancer, rate, f"{args.rate_of_peak:.0%} of {peak:.1f}/s" if not args.rate else "--rate")


def load_phase(args: argparse.Namespace, servers: cluster.Cluster, balancer: Balancer, rotation: Any) -> Phase:
    """``args.seconds`` of load (closed loop, or ``args.rate`` arrivals), the stores' counters around it,
    and with ``args.rolling_restart`` each instance restarted in turn meanwhile."""
    time.sleep(costs.STATS_DELAY if costs.is_postgres(servers.database_url) else 0)  # the warm-up in the statistics
    store_before = costs.snapshot(servers.database_url)
    cpu_before = [cpu_and_rss(instance.pids())[0] for instance in servers.instances]
    mock_before, busy_before = cpu_and_rss(servers.mock.pids())[0], machine_busy_seconds()
    load_before = os.getloadavg()[0]
    most: list[int] = []
    restarts: list[tuple[float, float, int]] = []
    roller = threading.Thread(target=roll, args=(servers, rotation, args.seconds * 0.2, args.drain, restarts), daemon=True)
    started = time.monotonic()

    def sample() -> None:
        if len(most) < (time.monotonic() - started) / CONNECTIONS_SECONDS:
            most.append(costs.connections(servers.database_url) or 0)

    with costs.RedisCommands(args.redis_url) if args.redis_url else contextlib.nullcontext() as redis:
        if args.rolling_restart:
            roller.start()
        records, elapsed, retries = drive(args, args.seconds, balancer, args.rate, every=sample)
        if args.rolling_restart:
            roller.join()
    load_after = os.getloadavg()[0]
    cpu = [cpu_and_rss(instance.pids())[0] - before for instance, before in zip(servers.instances, cpu_before, strict=True)]
    mock_cpu, busy = cpu_and_rss(servers.mock.pids())[0] - mock_before, machine_busy_seconds() - busy_before
    time.sleep(costs.STATS_DELAY if costs.is_postgres(servers.database_url) else 0)
    store = costs.snapshot(servers.database_url).minus(store_before)
    if store.commits is not None:  # less this script's own: the snapshot before, the connection counts
        store = dataclasses.replace(store, commits=store.commits - costs.SNAPSHOT_TRANSACTIONS - len(most))
    grown = [name for name, table in store.tables.items() if table.inserted]
    return Phase(
        records=records,
        elapsed=elapsed,
        broker_cpu=None if args.rolling_restart else cpu,
        store=store,
        redis=redis if isinstance(redis, costs.RedisCommands) else None,
        most_connections=max(most, default=0) if store.commits is not None else None,
        load=(load_before, load_after),
        retries=retries,
        restarts=restarts,
        compact=costs.compact_sizes(servers.database_url, grown),
        mock_cpu=mock_cpu,
        busy=busy,
    )


def roll(servers: cluster.Cluster, rotation: Any, after: float, drain: float, restarts: list[tuple[float, float, int]]) -> None:
    """A rolling restart: each instance in turn out of the rotation ``drain`` seconds before its SIGTERM
    (0: left in, the balancer learns from refused connections), its exit, started again, ``/readyz``,
    back in the rotation. Records (out, back, exit code) in ``restarts``."""
    time.sleep(after)
    for index, instance in enumerate(servers.instances):
        rotation[index] = 0 if drain else 1
        out = time.monotonic()
        time.sleep(drain)
        code = instance.stop()
        instance.start()
        rotation[index] = 1
        restarts.append((out, time.monotonic(), code))
        time.sleep(2.0)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def report_logins(records: list[Record], elapsed: float) -> None:
    latencies = sorted(ended - due for due, ended, error in records if not error)
    errors = Counter(error for *_, error in records if error)
    print(f"logins: {len(latencies)} ({len(latencies) / elapsed:.1f}/s), errors: {sum(errors.values())}")
    for error, count in errors.most_common(5):
        print(f"  {count} × {error}")
    if latencies:
        print(f"whole login: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms")


def report_phase(args: argparse.Namespace, servers: cluster.Cluster, phase: Phase) -> None:
    shape = f"{args.users} users back to back" if not args.rate else f"{args.rate:.1f} logins/s arriving (Poisson)"
    print(f"\nload: {shape}, {phase.elapsed:.0f} s; load average {phase.load[0]:.1f} → {phase.load[1]:.1f}")
    report_logins(phase.records, phase.elapsed)
    if phase.restarts:
        report_restarts(servers, phase, args.drain)
    report_costs(args, servers, phase)


def report_restarts(servers: cluster.Cluster, phase: Phase, drain: float) -> None:
    """Each restart, and the logins under way when an instance left the rotation: begun before, ended after
    (their next steps went to the other instances, or to the restarted one)."""
    for (out, back, code), instance in zip(phase.restarts, servers.instances, strict=False):
        how = f"out of the rotation, SIGTERM {drain:g} s later" if drain else "SIGTERM while in the rotation"
        print(f"{instance.server.name}: {how}, exit code {code}, ready and back after {back - out:.1f} s")
    for instance in servers.instances[len(phase.restarts) :]:
        print(f"{instance.server.name}: NOT restarted (the error is above); its log:\n{instance.run_demo.log_tail(instance.server.log)}")
    spanning = [record for record in phase.records if any(record[0] < out < record[1] for out, _, _ in phase.restarts)]
    lost = sum(1 for *_, error in spanning if error)
    print(f"logins under way when an instance left: {len(spanning)}, lost: {lost}; requests sent again: "
          f"{phase.retries['refused']} to another instance (connection refused), {phase.retries['reopened']} on a new "
          "connection (a kept-alive one closed before any answer)")  # fmt: skip


def report_costs(args: argparse.Namespace, servers: cluster.Cluster, phase: Phase) -> None:
    """Per login: broker CPU, database commits and rows, Redis commands, bytes stored; memory per instance."""
    from broker.config import DEFAULTS

    logins = len(phase.done)
    print(f"\nper login ({logins} logins):")
    if phase.broker_cpu is not None:
        ms = phase.per_login(sum(phase.broker_cpu)) * 1000
        shares = ", ".join(f"{cpu / sum(phase.broker_cpu):.0%}" for cpu in phase.broker_cpu)
        print(f"  broker CPU {ms:.1f} ms (instances' shares {shares}): {1000 / ms:.0f} logins/s per broker core")
    print(f"  CPU elsewhere: mock ESIA {phase.per_login(phase.mock_cpu) * 1000:.1f} ms; the whole machine "
          f"{phase.per_login(phase.busy) * 1000:.1f} ms ({phase.busy / phase.elapsed / (os.cpu_count() or 1):.0%} busy, "
          "other sessions' work included)")  # fmt: skip
    store = phase.store
    if store is not None:
        if store.commits is not None:
            print(f"  database commits {phase.per_login(store.commits):.2f} (every connection of the database, /readyz too)")
        rows = "inserted" if store.commits is not None else "net rows"  # SQLite keeps no write statistics
        print(f"  {'':<16} {rows:>8} {'updated':>8} {'deleted':>8} {'growth':>8} {'row':>8} {'rows':>5}   1 M logins a day:")
        print(f"  {'table':<16} {'':>8} {'':>8} {'':>8} {'bytes':>8} {'bytes':>8} {'left':>5} {'a day':>10}  kept (retention)")
        kept = costs.kept_seconds(DEFAULTS)
        for name, table in sorted(store.tables.items(), key=lambda item: -item[1].size):
            if table.inserted or table.updated or table.deleted or table.size:
                print(table_line(phase, name, table, kept.get(name)))
    if phase.redis is not None:
        for what, counts in (("calls (round trips)", phase.redis.counts), ("commands run by its scripts", phase.redis.scripted)):
            named = ", ".join(f"{name} {phase.per_login(count):.2f}" for name, count in counts.most_common())
            print(f"  Redis {what} {phase.per_login(sum(counts.values())):.2f} ({named or 'none'})")
    if phase.most_connections is not None:
        workers = len(servers.instances) * args.workers
        print(f"  database connections at most {phase.most_connections} ({phase.most_connections / workers:.1f} per worker, "
              f"{args.threads} threads each)")  # fmt: skip
    for instance in servers.instances:
        pss = [costs.memory(pid)[1] / 2**20 for pid in instance.pids()]
        each = ", ".join(f"{'worker' if number else 'master'} {mb:.0f}" for number, mb in enumerate(pss))
        print(f"  memory of {instance.server.name}: {sum(pss):.0f} MB PSS ({each}; RSS counts shared pages in each)")


def table_line(phase: Phase, name: str, table: costs.Table, kept: float | None) -> str:
    """One table per login: rows written, the table's growth in bytes, and what stays: rows left
    (a pending login, deleted within its login, leaves none) at their compacted size; that at 1 M
    logins a day for one day, and for as long as the retention settings keep it (``kept`` seconds)."""
    rows = " ".join(f"{'-':>8}" if count is None else f"{phase.per_login(count):>8.2f}"
                    for count in (table.inserted, table.updated, table.deleted))  # fmt: skip
    line = f"  {name:<16} {rows} {phase.per_login(table.size):>8,.0f}"
    size, count = phase.compact.get(name, (0, 0))
    if not count:
        return line
    left = phase.per_login(table.inserted - (table.deleted or 0))
    day = size / count * left * MILLION
    line += f" {size / count:>8,.0f} {left:>5.2f} {day / 1e9:>7.2f} GB"
    if kept is not None:
        line += f"  {day * kept / costs.DAY / 1e9:,.1f} GB over {kept / costs.DAY:.3g} days"
    return line


def soak(args: argparse.Namespace, servers: cluster.Cluster, balancer: Balancer, rate: float, said: str) -> None:
    """``args.soak`` seconds at ``rate`` logins/s: errors, latency, and each broker process's memory
    after a warm-up (a tenth of the soak, at most 30 s) against the end."""
    samples: list[tuple[float, dict[int, tuple[int, int]]]] = []
    started = time.monotonic()
    names = servers.broker_processes()

    def sample() -> None:
        if not samples or time.monotonic() - samples[-1][0] >= SAMPLE_SECONDS:
            samples.append((time.monotonic(), {pid: costs.memory(pid) for pid in servers.broker_pids()}))

    load_before = os.getloadavg()[0]
    records, elapsed, _ = drive(args, args.soak, balancer, rate, every=sample)
    sample()
    print(f"\nsoak: {rate:.1f} logins/s ({said}), Poisson arrivals, {elapsed:.0f} s; "
          f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f}")  # fmt: skip
    report_logins(records, elapsed)
    warm = next((memory for at, memory in samples if at - started >= min(30.0, args.soak / 10)), samples[0][1])
    growth = memory_growth(warm, samples[-1][1], names)
    errors = sum(1 for *_, error in records if error)
    verdict = "PASS" if errors == 0 and growth < GROWTH_LIMIT else "FAIL"
    print(f"soak: {errors} errors, largest memory growth {growth:+.1%} (limit {GROWTH_LIMIT:.0%}): {verdict}")


def memory_growth(warm: dict[int, tuple[int, int]], end: dict[int, tuple[int, int]], names: dict[int, str]) -> float:
    """Print each broker process's memory (RSS, PSS) after the warm-up and at the end; return the
    largest growth of PSS (infinite when a process was replaced: a worker that crashed or timed out)."""
    growths = []
    for pid in sorted(set(warm) | set(end)):
        if pid not in warm or pid not in end or not warm[pid][1]:
            print(f"  process {pid} ({names.get(pid, 'new')}): {'gone' if pid in warm else 'started'} during the soak")
            growths.append(float("inf"))
            continue
        growths.append(end[pid][1] / warm[pid][1] - 1)
        print(f"  {names[pid]} ({pid}): PSS {warm[pid][1] / 2**20:.1f} → {end[pid][1] / 2**20:.1f} MB ({growths[-1]:+.1%}), "
              f"RSS {warm[pid][0] / 2**20:.1f} → {end[pid][0] / 2**20:.1f} MB")  # fmt: skip
    return max(growths)


if __name__ == "__main__":
    main()
