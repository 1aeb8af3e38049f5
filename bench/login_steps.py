"""Where the broker's CPU goes in a login, step by step, without a web server in between.

    .venv/bin/python bench/login_steps.py [--logins 400] [--person namesake-1]

Needs `make run` in another terminal: the broker is built here, in this process, with the
running demo broker's settings (read from its environment in /proc), and driven through
Flask's test client, one login at a time; the mock ESIA is the running one, over real HTTP.
Prints the CPU time per login of each endpoint and of the steps inside them (process time of
this process only, so the mock's and the network's share is not in it).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import os
import secrets
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--person", default="namesake-1")
    parser.add_argument("--region", default="77")
    args = parser.parse_args()

    broker_env = environment_of("broker:create_app")
    portal_env = environment_of("diary_portal:create_app")
    os.environ.update({k: v for k, v in broker_env.items() if k.startswith("BROKER_") or k.lower() == "no_proxy"})
    from broker import create_app

    instrument()
    app = create_app()
    client_id, secret = portal_env["DIARY_PORTAL_CLIENT_ID"], portal_env["DIARY_PORTAL_CLIENT_SECRET"]
    redirect_uri = portal_env["DIARY_PORTAL_PUBLIC_URL"] + "/callback"
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    esia = Browser()

    def endpoint(label: str, call: Callable[[], Any]) -> Any:
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
    for _ in range(args.logins):
        cookies.clear()
        one_login(client)
    print(f"machine: {machine.describe()}")
    endpoints = [label for label in SPENT if label.startswith("/")]
    total = sum(SPENT[label] for label in endpoints)
    print(f"broker CPU per login, in-process, {args.logins} logins: {total / args.logins * 1000:.2f} ms")
    for label, seconds in SPENT.items():
        print(f"  {label:<32} {seconds / args.logins * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
