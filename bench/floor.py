"""The least CPU a login can cost on this machine with this stack, before any of our own code.

    .venv/bin/python bench/floor.py [--requests 3000] [--signatures 500] [--flow legacy|current]

A login costs signatures that the protocols demand and HTTP requests that the flow is made of,
whatever the application does in between:

* the broker makes three RSA-2048 signatures per login: the ``client_secret`` of ESIA's
  authorization URL and of the token request (detached CMS, docs/esia.md) and the portal's
  RS256 id_token; it serves three requests (``/oidc/authorize``, the ESIA callback,
  ``/oidc/token``);
* the mock ESIA makes two (the access token and the id_token, RS256) and serves four
  (authorize, the login form, token, person).

This script measures those pieces alone: the broker's own CMS signer and joserfc's RS256 on a
fresh key, and the server CPU per request of an empty WSGI app and an empty Flask view under
gunicorn as `make run` starts it (gthread, keep-alive, one client connection), read from /proc.
It prints the sum per login for the broker and for the mock, next to the targets of
`bench/login_load.py`. Run it on a quiet machine; nothing else needs to be running.

``--flow current`` counts ESIA's current flow instead: the broker's two ``client_secret`` are
raw GOST signatures and it verifies the two GOST-signed tokens; the mock verifies the two
``client_secret`` and signs the two tokens, all with the pure-Python ``gost`` library (the
token figures over a 700-byte ``header.payload``, about what the mock's tokens are).
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine  # noqa: E402
from bench.certificates import self_signed_rsa  # noqa: E402
from bench.login_load import cpu_and_rss, pids_matching  # noqa: E402
from examples.localhost import free_port  # noqa: E402

CMS, JWT = "CMS client_secret (RSA-2048)", "RS256 JWT (joserfc)"
GOST_SECRET, GOST_SECRET_CHECK = "GOST client_secret (pure Python)", "GOST client_secret verified"
GOST_TOKEN, GOST_TOKEN_CHECK = "GOST token signature (pure Python)", "GOST token verified"
#: Per login and flow: (signatures and verifications by kind, requests served).
BROKER = {"legacy": ({CMS: 2, JWT: 1}, 3), "current": ({GOST_SECRET: 2, JWT: 1, GOST_TOKEN_CHECK: 2}, 3)}
MOCK = {"legacy": ({JWT: 2}, 4), "current": ({GOST_SECRET_CHECK: 2, GOST_TOKEN: 2}, 4)}
TARGET_BROKER_MS = 4.0
TARGET_LOGINS_PER_SECOND = 150


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app that does nothing: what the server alone costs per request."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def make_flask_app() -> Any:
    """One empty Flask view: what the server and Flask's dispatch cost per request."""
    from flask import Flask

    app = Flask("floor")
    app.add_url_rule("/", "ok", lambda: "ok")
    return app


def cpu_per_call(call: Callable[[], object], count: int) -> float:
    """Process CPU seconds per call of ``call`` in this process, after a short warm-up."""
    for _ in range(min(50, count)):
        call()
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) / count


def signature_costs(count: int) -> dict[str, float]:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from providers.signing import RsaCmsSigner

    key, certificate = self_signed_rsa("floor")
    signer = RsaCmsSigner(key, certificate)
    secret_input = b"openid fullname birthdate gender snils2026.12.03 21:00:00 +0000DIARY01" + b"0" * 36
    jwk = RSAKey.generate_key(2048, private=True)
    claims = {"iss": "http://127.0.0.1:5000", "sub": "d-016", "aud": "diary-demo", "iat": 1, "exp": 2, "nonce": "n"}
    return {
        CMS: cpu_per_call(lambda: signer.sign(secret_input), count),
        JWT: cpu_per_call(lambda: jwt.encode({"alg": "RS256", "kid": "k"}, claims, jwk), count),
        **gost_costs(secret_input, count),
    }


def gost_costs(secret_input: bytes, count: int) -> dict[str, float]:
    """The current flow's GOST work in pure Python, on one key each side (as in a login)."""
    import secrets

    from gost import curves, signature, streebog

    curve = curves.BY_OID["1.2.643.2.2.35.1"]
    d = 1 + secrets.randbelow(curve.q - 1)
    point = signature.public_key(curve, d)
    token_input = b"e" * 700

    def sign(data: bytes) -> bytes:
        return signature.sign(curve, d, streebog.streebog256(data))

    secret_signature, token_signature = sign(secret_input), sign(token_input)
    return {
        GOST_SECRET: cpu_per_call(lambda: sign(secret_input), count),
        GOST_SECRET_CHECK: cpu_per_call(
            lambda: signature.verify(curve, point, streebog.streebog256(secret_input), secret_signature), count
        ),
        GOST_TOKEN: cpu_per_call(lambda: sign(token_input), count),
        GOST_TOKEN_CHECK: cpu_per_call(lambda: signature.verify(curve, point, streebog.streebog256(token_input), token_signature), count),
    }


def server_cpu_per_request(app: str, count: int) -> float:
    """gunicorn's processes' CPU per keep-alive GET of ``app`` (module:attribute in bench/)."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
        "--log-level", "warning", "--pythonpath", str(Path(__file__).resolve().parent), app,
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                connection.request("GET", "/")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not answer on port {port}") from None
                connection.close()
                time.sleep(0.2)
        for _ in range(200):
            connection.request("GET", "/")
            connection.getresponse().read()
        pids = pids_matching(f"127.0.0.1:{port}")
        before, _ = cpu_and_rss(pids)
        for _ in range(count):
            connection.request("GET", "/")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
        after, _ = cpu_and_rss(pids)
        connection.close()
        return (after - before) / count
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--signatures", type=int, default=500)
    parser.add_argument("--flow", choices=sorted(BROKER), default="legacy")
    args = parser.parse_args()

    print(f"machine: {machine.describe()}")
    signatures = signature_costs(args.signatures)
    for label, seconds in signatures.items():
        print(f"  {label:<40} {seconds * 1000:6.3f} ms CPU")
    bare = server_cpu_per_request("floor:bare_app", args.requests)
    flask = server_cpu_per_request("floor:make_flask_app()", args.requests)
    print(f"  {'request, empty WSGI app, gunicorn':<40} {bare * 1000:6.3f} ms CPU (server processes)")
    print(f"  {'request, empty Flask view, gunicorn':<40} {flask * 1000:6.3f} ms CPU (server processes)")

    def floor(work: dict[str, int], requests: int) -> float:
        return sum(times * signatures[kind] for kind, times in work.items()) + requests * flask

    def spelled(work: dict[str, int], requests: int) -> str:
        return " + ".join([*(f"{times} × {kind}" for kind, times in work.items()), f"{requests} requests"])

    broker, mock = floor(*BROKER[args.flow]), floor(*MOCK[args.flow])
    budget = 2 / TARGET_LOGINS_PER_SECOND  # two cores, every process of the login on them
    print(f"floor per login, {args.flow} flow, broker: {spelled(*BROKER[args.flow])} = "
          f"{broker * 1000:.2f} ms (target: at most {TARGET_BROKER_MS:.0f} ms)")  # fmt: skip
    print(f"floor per login, {args.flow} flow, mock ESIA: {spelled(*MOCK[args.flow])} = {mock * 1000:.2f} ms")
    print(f"{TARGET_LOGINS_PER_SECOND} logins/s on 2 cores leaves {budget * 1000:.1f} ms of CPU per login for "
          f"everything; the floors above already take {(broker + mock) * 1000:.1f} ms, before the load "
          f"generator and before any application code")  # fmt: skip


if __name__ == "__main__":
    main()
