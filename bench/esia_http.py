"""CPU per call of the ESIA client's HTTP: the requests sender against the lean http.client one.

    .venv/bin/python bench/esia_http.py [--calls 2000] [--rounds 5] [--tls]

A server in a child process answers every request on a kept-alive connection with a 2 KB JSON
object (about ESIA's person answer), over HTTP or, with ``--tls``, HTTPS with a certificate of
this run's own. This process sends through ``providers.transport.Transport`` as the broker does
(a GET with an ``embed`` parameter and a bearer token, and a form POST like the token request),
once with :class:`RequestsSender` on the session the provider used to build and once with
:class:`ConnectionSender`, in interleaved rounds. The figure is this thread's CPU time per call
(``time.thread_time``), so the server's CPU is not in it; each sender's median round and the
ratio of the two are printed, with the load average.

``--logins N`` measures whole logins at the provider instead: the mock ESIA under gunicorn
(gthread, keep-alive) in a child process, ESIA's legacy flow (RSA CMS ``client_secret``, RS256
tokens), and for each sender in interleaved rounds ``EsiaProvider.authorize``,
``exchange_code`` and ``fetch_profile``, their CPU in this thread per login (the mock's login
page is clicked through between them and not counted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import multiprocessing
import os
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from bench import machine  # noqa: E402
from providers.connections import ConnectionSender  # noqa: E402
from providers.transport import RequestsSender, Transport, requests_session  # noqa: E402

BODY = json.dumps({"firstName": "Иван", "lastName": "Петров", "padding": "x" * 1900}, ensure_ascii=False).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def serve(port: Any, certificate: str | None, key: str | None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if certificate and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port.value = server.server_address[1]
    server.serve_forever()


def write_certificate(folder: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, in ``folder``."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    issued = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    certificate, key = folder / "server.pem", folder / "server.key"
    certificate.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(certificate), str(key)


def cpu_per_call(transport: Transport, base: str, calls: int) -> float:
    """Thread CPU seconds per call, half GETs and half form POSTs."""
    headers = {"Authorization": "Bearer " + "a" * 900, "Accept": "application/json"}
    form = {"client_id": "DIARY01", "code": "c" * 40, "grant_type": "authorization_code", "client_secret": "s" * 400}
    started = time.thread_time()
    for _ in range(calls // 2):
        transport.get_json(f"{base}/rs/prns/1000299703", "the person data", headers=headers, params={"embed": "(documents.elements)"})
        transport.post_form(f"{base}/aas/oauth2/te", form, "the token request")
    return (time.thread_time() - started) / (calls // 2 * 2)


def serve_mock(port: int, data_dir: str, certificate: str) -> None:
    """The mock ESIA with one legacy client system, under gunicorn as `make run` serves it."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]  # noqa: PLC0415

    import mock_esia  # noqa: PLC0415

    url = f"http://127.0.0.1:{port}"
    client = {"certificates": [Path(certificate).read_text()], "redirect_uris": [REDIRECT_URI], "scopes": list(SCOPES), "jwt_alg": "RS256"}
    app = mock_esia.create_app({"DATA_DIR": data_dir, "PUBLIC_URL": url, "CLIENTS": {"BENCH01": client}})

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": 4,
                "loglevel": "warning",
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()


REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPES = ("openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile")


def login_figures(logins: int, rounds: int) -> dict[str, list[float]]:
    """Provider CPU per login (thread time) for each sender, ``rounds`` interleaved rounds of ``logins``."""
    from bench.login_load import Browser, free_port  # noqa: PLC0415
    from providers import EsiaConfig, EsiaProvider, load_signer  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bench-esia-login-") as folder:
        key, certificate = write_rsa_client(Path(folder))
        port = free_port()
        mock = multiprocessing.Process(target=serve_mock, args=(port, folder, certificate), daemon=True)
        mock.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(400):  # until the mock listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        browser = Browser()
        config = EsiaConfig(
            base_url=base, client_id="BENCH01", signer=load_signer("rsa-cms", key, certificate), redirect_uri=REDIRECT_URI,
            issuer="http://esia-portal1.test.gosuslugi.ru/", certificate_files=(f"{folder}/esia-rsa.cer",), flow="legacy", scopes=SCOPES,
        )  # fmt: skip
        providers = {
            "requests (RequestsSender)": EsiaProvider(config, RequestsSender(requests_session(None, None))),
            "http.client (ConnectionSender)": EsiaProvider(config),
        }

        def run(provider: EsiaProvider, count: int) -> float:
            spent = 0.0
            for _ in range(count):
                started = time.thread_time()
                request = provider.authorize()
                spent += time.thread_time() - started
                _, headers, _ = browser.request("GET", request.url)
                _, headers, _ = browser.request(
                    "POST", urljoin(request.url, headers["location"]), {"login": "adult-verified", "password": "test1234"}
                )
                code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
                started = time.thread_time()
                provider.fetch_profile(provider.exchange_code(code, request))
                spent += time.thread_time() - started
            return spent / count

        for provider in providers.values():
            run(provider, 20)  # warm
        figures: dict[str, list[float]] = {name: [] for name in providers}
        for _ in range(rounds):
            for name, provider in providers.items():
                figures[name].append(run(provider, logins))
        mock.terminate()
    return figures


def write_rsa_client(folder: Path) -> tuple[str, str]:
    """The client system's RSA key and self-signed certificate (legacy flow), in ``folder``."""
    from bench.certificates import self_signed_rsa  # noqa: PLC0415

    private, issued = self_signed_rsa("BENCH01")
    key, certificate = folder / "client.key", folder / "client.cer"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certificate.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    return str(key), str(certificate)


def report(figures: dict[str, list[float]], what: str) -> None:
    medians = {name: statistics.median(values) for name, values in figures.items()}
    for name, values in figures.items():
        print(f"  {name}: {medians[name] * 1e6:.0f} µs CPU {what} (rounds {', '.join(f'{v * 1e6:.0f}' for v in values)})")
    old, new = medians.values()
    print(f"lean / requests: {new / old:.2f} ({(old - new) * 1e6:.0f} µs less {what})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and sender")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tls", action="store_true", help="HTTPS with a certificate of this run")
    parser.add_argument("--logins", type=int, help="measure whole logins at the provider (legacy flow), this many per round")
    args = parser.parse_args()
    if args.logins:
        per_login = login_figures(args.logins, args.rounds)
        print(f"machine: {machine.describe()}")
        print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"logins at the provider (authorize, exchange_code, fetch_profile), legacy flow, {args.logins} × {args.rounds} per sender")
        report(per_login, "per login")
        return
    with tempfile.TemporaryDirectory(prefix="bench-esia-http-") as folder:
        certificate = key = ca_bundle = None
        if args.tls:
            certificate, key = write_certificate(Path(folder))
            ca_bundle = certificate
        port = multiprocessing.Value("i", 0)
        server = multiprocessing.Process(target=serve, args=(port, certificate, key), daemon=True)
        server.start()
        while not port.value:
            time.sleep(0.01)
        base = f"{'https' if args.tls else 'http'}://127.0.0.1:{port.value}"
        senders: dict[str, Callable[[], Any]] = {
            "requests (RequestsSender)": lambda: RequestsSender(requests_session(None, ca_bundle)),
            "http.client (ConnectionSender)": lambda: ConnectionSender(ca_bundle=ca_bundle),
        }
        transports = {
            name: Transport(make(), connect_timeout=3.05, read_timeout=10.0, max_response_bytes=256 * 1024)
            for name, make in senders.items()
        }
        for transport in transports.values():
            cpu_per_call(transport, base, 200)  # warm: connections open, code paths hot
        figures: dict[str, list[float]] = {name: [] for name in transports}
        for _ in range(args.rounds):
            for name, transport in transports.items():
                figures[name].append(cpu_per_call(transport, base, args.calls))
        server.terminate()
    print(f"machine: {machine.describe()}")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    scheme = "HTTPS" if args.tls else "HTTP"
    print(f"{scheme} on loopback, kept-alive, {args.calls} calls × {args.rounds} rounds per sender (GET and form POST)")
    report(figures, "per call")


if __name__ == "__main__":
    main()
