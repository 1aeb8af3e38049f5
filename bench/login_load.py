"""Login load: complete logins (portal → broker → mock ESIA → back, code exchange at the broker)
with N concurrent users, against a running demo (`make run` in another terminal).

    .venv/bin/python bench/login_load.py [--users 16] [--seconds 20] [--person namesake-1]
    .venv/bin/python bench/login_load.py --broker http://127.0.0.1:5000 --client-id ID \\
        --client-secret SECRET --redirect-uri http://127.0.0.1:8000/callback

Each user is a process with its own cookie jar doing logins back to back: the portal's
authorization request (PKCE S256) → the broker → ESIA's login form (POST login/password) → the
broker's callback → the portal's callback → the token request. The default person's account
is linked already, so every login ends in a session (`signed_in`). Prints logins/s, p50/p99
of a whole login, errors, and the broker processes' own CPU per login and peak RSS, read from
/proc (the broker's pids: given, or found by their command line).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import machine  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def one_login(http: requests.Session, args: argparse.Namespace) -> None:
    """A whole login; raises on anything but a token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urlencode({
        "response_type": "code", "client_id": args.client_id, "redirect_uri": args.redirect_uri,
        "scope": "openid profile", "state": state, "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge, "code_challenge_method": "S256", "region": args.region,
    })  # fmt: skip
    answer = http.get(f"{args.broker}/oidc/authorize?{query}", allow_redirects=False)
    answer = follow(http, answer, lambda url: urlsplit(url).path == "/login")
    assert isinstance(answer, str), f"no ESIA login form: {answer.status_code}"
    answer = http.post(answer, data={"login": args.person, "password": "test1234"}, allow_redirects=False)
    callback = follow(http, answer, lambda url: url.startswith(args.redirect_uri))
    assert isinstance(callback, str), f"no portal callback: {callback.status_code}"
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert params.get("state") == state and "code" in params, "bad portal callback"
    token = http.post(
        f"{args.broker}/oidc/token",
        data={"grant_type": "authorization_code", "code": params["code"], "redirect_uri": args.redirect_uri,
              "code_verifier": verifier},
        auth=(args.client_id, args.client_secret),
    )  # fmt: skip
    assert token.status_code == 200 and "id_token" in token.json(), f"token: {token.status_code}"


def follow(http: requests.Session, answer: requests.Response, stop: object) -> requests.Response | str:
    while answer.status_code in (301, 302, 303):
        location = urljoin(answer.url, answer.headers["Location"])
        if stop(location):  # type: ignore[operator]
            return location
        answer = http.get(location, allow_redirects=False)
    return answer


def user(args: argparse.Namespace, deadline: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    http = requests.Session()
    latencies, errors = [], 0
    while time.monotonic() < deadline:
        http.cookies.clear()  # a new person each time: no SSO shortcut
        started = time.perf_counter()
        try:
            one_login(http, args)
            latencies.append(time.perf_counter() - started)
        except (AssertionError, requests.RequestException):
            errors += 1
    results.put((latencies, errors))


def broker_pids(args: argparse.Namespace) -> list[int]:
    if args.broker_pids:
        return [int(pid) for pid in args.broker_pids.split(",")]
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if args.broker_match in command and "login_load" not in command:
                pids.append(int(entry.name))
    return pids


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
    args = parser.parse_args()

    args.client_secret = args.client_secret or demo_portal_secret()
    pids = broker_pids(args)
    if not pids:
        raise SystemExit(f"no broker process found (looked for {args.broker_match!r}); pass --broker-pids")
    one_login(requests.Session(), args)  # fail fast, and warm up
    cpu_before, _ = cpu_and_rss(pids)
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
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
    latencies = sorted(l for done, _ in outcomes for l in done)
    errors = sum(e for _, e in outcomes)
    logins = len(latencies)
    print(f"machine: {machine.describe()}")
    print(f"{args.users} concurrent users, {elapsed:.1f} s, person {args.person} (linked: signed_in)")
    if not logins:
        raise SystemExit(f"no login completed; errors: {errors}")
    print(f"logins: {logins} ({logins / elapsed:.1f}/s), errors: {errors}")
    print(f"whole login: p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms")
    print(f"broker processes ({len(pids)}): CPU {(cpu_after - cpu_before) / logins * 1000:.1f} ms per login, "
          f"peak RSS {peak_rss / 1024 / 1024:.0f} MB")


if __name__ == "__main__":
    main()
