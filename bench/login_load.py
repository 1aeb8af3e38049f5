"""Login load: complete logins (portal → broker → mock ESIA → back, code exchange at the broker)
with N concurrent users, against a running demo started without rate limits (every user here
comes from one address, which the per-address limits would refuse after a few hundred logins a
minute): `BROKER_RATE_LIMITS_ENABLED=false make run` in another terminal.

    .venv/bin/python bench/login_load.py [--users 16] [--seconds 20] [--person namesake-1]
    .venv/bin/python bench/login_load.py --broker http://127.0.0.1:5000 --client-id ID \\
        --client-secret SECRET --redirect-uri http://127.0.0.1:8000/callback

Each user is a process with its own keep-alive connections and cookie jar doing logins back to
back: the portal's authorization request (PKCE S256) → the broker → ESIA's login form (POST
login/password) → the broker's callback → the portal's callback → the token request. The default person's account
is linked already, so every login ends in a session (`signed_in`). Prints logins/s, p50/p99
of a whole login, errors, and the broker processes' own CPU per login and peak RSS, read from
/proc (the broker's pids: given, or found by their command line).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    args = parser.parse_args()

    args.client_secret = args.client_secret or demo_portal_secret()
    pids = [int(pid) for pid in args.broker_pids.split(",")] if args.broker_pids else pids_matching(args.broker_match)
    if not pids:
        raise SystemExit(f"no broker process found (looked for {args.broker_match!r}); pass --broker-pids")
    esia_pids = pids_matching(args.esia_match)
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
    load_cpu = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    latencies = sorted(latency for done, _ in outcomes for latency in done)
    errors = sum(e for _, e in outcomes)
    logins = len(latencies)
    print(f"machine: {machine.describe()}")
    print(f"{args.users} concurrent users, {elapsed:.1f} s, person {args.person} (linked: signed_in)")
    if not logins:
        raise SystemExit(f"no login completed; errors: {errors}")
    print(f"logins: {logins} ({logins / elapsed:.1f}/s), errors: {errors}")
    print(
        f"whole login: p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )
    print(
        f"broker processes ({len(pids)}): CPU {(cpu_after - cpu_before) / logins * 1000:.1f} ms per login, "
        f"peak RSS {peak_rss / 1024 / 1024:.0f} MB (summed over the processes: shared pages count once per process)"
    )
    per_login = lambda seconds: f"{seconds / logins * 1000:.1f} ms"  # noqa: E731
    print(
        f"CPU per login elsewhere: mock ESIA {per_login(esia_after - esia_before)}, load generator "
        f"{per_login(load_cpu)}; the whole machine {per_login(busy_after - busy_before)} "
        f"({(busy_after - busy_before) / elapsed / (os.cpu_count() or 1) * 100:.0f} % busy)"
    )


if __name__ == "__main__":
    main()
