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
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import io
import json
import multiprocessing
import os
import resource
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Browser:
    """A lean browser for the load: one keep-alive connection per origin and a cookie jar.

    ``requests`` costs about 0.7 ms of CPU per call; on a 2-core machine that shares the CPU
    with the servers it measures, the load generator must be cheap. Cookies are kept per
    host by name (the servers set them on ``/``); a cookie set to expire is dropped.
    """

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}
        self.cookies: dict[str, dict[str, str]] = {}

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
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            connection = self.connections.get(parts.netloc)
            if connection is None:
                connection = self.connections[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=30)
            try:
                connection.request(method, target, body=payload, headers=sent)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                del self.connections[parts.netloc]
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

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


def user(args: argparse.Namespace, deadline: float, results: multiprocessing.Queue[tuple[list[float], int]]) -> None:
    browser = Browser()
    latencies: list[float] = []
    errors = 0
    while time.monotonic() < deadline:
        browser.clear_cookies()  # a new person each time: no SSO shortcut
        started = time.perf_counter()
        try:
            one_login(browser, args)
            latencies.append(time.perf_counter() - started)
        except (AssertionError, OSError, http.client.HTTPException, ValueError, KeyError):
            errors += 1
    results.put((latencies, errors))


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
    results: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
    deadline = time.monotonic() + args.seconds
    started = time.perf_counter()
    workers = [multiprocessing.Process(target=user, args=(args, deadline, results)) for _ in range(args.users)]
    peak_rss = 0
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers) and results.qsize() < len(workers):
        peak_rss = max(peak_rss, cpu_and_rss(pids)[1])
        time.sleep(0.2)
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cpu_after, _ = cpu_and_rss(pids)
    esia_after, busy_after = cpu_and_rss(esia_pids)[0], machine_busy_seconds()
    own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Measured(
        users=args.users,
        elapsed=elapsed,
        latencies=sorted(latency for done, _ in outcomes for latency in done),
        errors=sum(e for _, e in outcomes),
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
    parser.add_argument("--gost-backend", default="python", help="with --flows: GOST_BACKEND of both servers (python, engine, auto)")
    args = parser.parse_args()

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


# --- --flows: the servers started here, one flow at a time -----------------------------------

FLOWS = ("legacy", "current")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_module() -> Any:
    """examples/run_demo.py, whose setup `make run` uses: the same servers, settings and registry."""
    sys.path.insert(0, str(ROOT / "examples"))
    import run_demo  # type: ignore[import-not-found]

    return run_demo


def prepare_instance(run_demo: Any, instance: Path) -> tuple[Path, Any]:
    """Config, migrated database and the demo registry, as `make run` prepares them (its output
    hidden); returns the config's path and the registry's verdicts."""
    from broker import create_app

    config_path = run_demo.ensure_dev_config(instance)
    os.environ.update({k: v for k, v in run_demo.base_env(instance).items() if k.startswith("BROKER_")})
    with contextlib.redirect_stdout(io.StringIO()):
        verdicts = run_demo.report(create_app(), config_path)
    return config_path, verdicts


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


if __name__ == "__main__":
    main()
