"""`make run`: the mock ESIA, the broker and a demo diary portal on loopback, ready to click through.

First run: development secrets and the demo registry (``examples/demo.py``), and key material under
``instance/demo/``: the broker's RSA key and self-signed certificate as ESIA's client system
``DIARY01`` (legacy flow, detached CMS) and its id_token signing key. Every run: the mock ESIA's
config and the broker's settings for the ports in use, then three child processes: the mock ESIA,
the broker and the portal, each under gunicorn with several threads. It prints the portal's URL
and which test person shows which outcome; Ctrl-C or SIGTERM stops all three.

Environment: ``DEMO_INSTANCE_DIR`` (default ``instance/``), ``DEMO_ESIA_PORT`` (8800),
``DEMO_BROKER_PORT`` (5000), ``DEMO_PORTAL_PORT`` (8000), ``DEMO_DATABASE_URL`` (default: the
SQLite file ``<instance>/broker.sqlite3``; a PostgreSQL URL runs the demo on the production
store, e.g. for ``bench/login_load.py``), ``DEMO_BROKER_WORKERS`` and ``DEMO_BROKER_THREADS``
(gunicorn's, 2 and 4). Server output: ``<instance>/demo/log/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from demo import DEMO_REGIONS, ROOT, Verdict, ensure_dev_config, report
from diary_portal import REGIONS as PORTAL_REGIONS

from broker import create_app
from broker.config import DEFAULTS as BROKER_DEFAULTS
from broker.oidc import keys
from mock_esia.identities import Person, load_persons

HOST = "127.0.0.1"
ESIA_CLIENT_ID = "DIARY01"
PORTAL_CLIENT_ID = "diary-demo"
DEFAULT_PORTS = {"DEMO_ESIA_PORT": 8800, "DEMO_BROKER_PORT": 5000, "DEMO_PORTAL_PORT": 8000}
READY_SECONDS = 30.0
STOP_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Ports:
    esia: int
    broker: int
    portal: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        values = []
        for name, default in DEFAULT_PORTS.items():
            raw = env.get(name) or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DemoError(f"{name}={raw!r} is not a port number (1-65535).")
            values.append(int(raw))
        if len(set(values)) != len(values):
            raise DemoError(f"The three ports must differ: {', '.join(map(str, values))}.")
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Server:
    """One child process: how to start it and which URL answers 200 once it is up."""

    name: str
    port: int
    command: list[str]
    env: dict[str, str]
    ready_path: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


# --- files ----------------------------------------------------------------------------------


def write_client_pair(key_path: Path, certificate_path: Path) -> None:
    """The broker's RSA key and self-signed certificate as ESIA's client system (one year)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ESIA_CLIENT_ID)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256())
    )  # fmt: skip
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def is_expiring(certificate_path: Path) -> bool:
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    return certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def ensure_key_material(demo: Path) -> tuple[Path, Path, Path]:
    """Create the broker's ESIA key pair and id_token key once; renew the certificate near its end."""
    demo.mkdir(parents=True, exist_ok=True)
    key, certificate, signing = demo / "esia.key", demo / "esia.cer", demo / "oidc.pem"
    if not (key.exists() and certificate.exists()) or is_expiring(certificate):
        write_client_pair(key, certificate)
    if not signing.exists():
        keys.generate_key_file(signing)
    return key, certificate, signing


def toml_value(value: Any) -> str:
    """A string or a list of strings as TOML (a JSON string is a valid TOML basic string)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def write_mock_config(demo: Path, ports: Ports) -> Path:
    """The mock ESIA's settings: the broker registered as client system DIARY01."""
    broker = f"http://{HOST}:{ports.broker}"
    client = {
        "name": "Электронный дневник (демо)",
        "certificate_files": ["esia.cer"],
        "redirect_uris": [f"{broker}/auth/esia/callback", f"{broker}/oidc/logged-out"],
        "scopes": list(BROKER_DEFAULTS["ESIA_SCOPES"]),
        "jwt_alg": "RS256",
    }
    lines = [
        "# Written by `make run` on every start (the ports may change). Relative paths: this folder.",
        f"ISSUER = {toml_value(BROKER_DEFAULTS['ESIA_ISSUER'])}",
        "",
        f"[CLIENTS.{ESIA_CLIENT_ID}]",
        *(f"{key} = {toml_value(value)}" for key, value in client.items()),
    ]
    path = demo / "mock-esia.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the three servers ----------------------------------------------------------------------


def base_env(instance: Path) -> dict[str, str]:
    """What every process of the demo shares: the broker's files, and no proxy for loopback."""
    env = dict(os.environ)
    env["BROKER_CONFIG"] = str(instance / "config.toml")
    env["BROKER_DATABASE_URL"] = env.get("DEMO_DATABASE_URL") or f"sqlite:///{instance / 'broker.sqlite3'}"
    loopback = ",".join(filter(None, [HOST, "localhost", env.get("NO_PROXY") or env.get("no_proxy")]))
    env["NO_PROXY"] = env["no_proxy"] = loopback
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_servers(instance: Path, ports: Ports, portal_secret: str) -> list[Server]:
    """The mock ESIA, the broker and the portal, in the order they must start."""
    demo = instance / "demo"
    key, certificate, signing = ensure_key_material(demo)
    mock_config = write_mock_config(demo, ports)
    esia, broker, portal = (f"http://{HOST}:{port}" for port in (ports.esia, ports.broker, ports.portal))
    env = base_env(instance)
    logs = demo / "log"
    gunicorn = [sys.executable, "-m", "gunicorn", "--graceful-timeout", "5", "--log-level", "warning"]
    clients = {
        PORTAL_CLIENT_ID: {
            "name": "Электронный дневник (демо-портал)",
            "redirect_uris": [f"{portal}/callback"],
            "post_logout_redirect_uris": [f"{portal}/"],
            "regions": sorted(PORTAL_REGIONS),
            "login_url": f"{portal}/login",
            "secret_sha256": hashlib.sha256(portal_secret.encode()).hexdigest(),
        }
    }
    broker_env = {
        **env,
        "BROKER_OIDC_ISSUER": broker,
        "BROKER_OIDC_SIGNING_KEY_FILES": json.dumps([str(signing)]),
        "BROKER_OIDC_CLIENTS": json.dumps(clients),
        "BROKER_COOKIE_SECURE": "false",  # plain HTTP, loopback only
        "BROKER_ESIA_BASE_URL": esia,
        "BROKER_ESIA_CLIENT_ID": ESIA_CLIENT_ID,
        "BROKER_ESIA_FLOW": "legacy",
        "BROKER_ESIA_SIGNER": "rsa-cms",
        "BROKER_ESIA_KEY_FILE": str(key),
        "BROKER_ESIA_CERTIFICATE_FILE": str(certificate),
        "BROKER_ESIA_ISSUER": BROKER_DEFAULTS["ESIA_ISSUER"],
        # The mock writes its token certificate into its data folder on start.
        "BROKER_ESIA_TOKEN_CERTIFICATE_FILES": json.dumps([str(demo / "mock_esia" / "esia-rsa.cer")]),
        "BROKER_ESIA_REDIRECT_URI": f"{broker}/auth/esia/callback",
    }
    portal_env = {
        **env,
        "DIARY_PORTAL_BROKER_URL": broker,
        "DIARY_PORTAL_CLIENT_ID": PORTAL_CLIENT_ID,
        "DIARY_PORTAL_CLIENT_SECRET": portal_secret,
        "DIARY_PORTAL_PUBLIC_URL": portal,
        "DIARY_PORTAL_SECRET_KEY": secrets.token_hex(32),
    }
    # One worker: the mock keeps its codes and tokens in memory. Its settings come from the
    # environment, as `python -m mock_esia --config … --data-dir …` would set them.
    mock = [*gunicorn, "--bind", f"{HOST}:{ports.esia}", "--workers", "1", "--threads", "8", "mock_esia:create_app()"]
    mock_env = {**env, "MOCK_ESIA_CONFIG_FILE": str(mock_config), "MOCK_ESIA_DATA_DIR": str(demo / "mock_esia")}
    return [
        Server("mock ESIA", ports.esia, mock, mock_env, "/__mock__/jwks.json", logs / "mock_esia.log"),
        Server(
            "broker",
            ports.broker,
            [*gunicorn, "--bind", f"{HOST}:{ports.broker}", "--workers", env.get("DEMO_BROKER_WORKERS") or "2",
             "--threads", env.get("DEMO_BROKER_THREADS") or "4", "broker:create_app()"],
            broker_env,
            "/readyz",  # the database answers at the latest schema
            logs / "broker.log",
        ),
        Server(
            "portal",
            ports.portal,
            [*gunicorn, "--bind", f"{HOST}:{ports.portal}", "--threads", "4", "--pythonpath", str(ROOT / "examples"),
             "diary_portal:create_app()"],
            portal_env,
            "/",
            logs / "portal.log",
        ),
    ]  # fmt: skip


def is_port_free(port: int) -> bool:
    """Whether a server could listen on HOST:port now (SO_REUSEADDR, as the servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def check_ports(ports: Ports) -> None:
    for variable, name, port in (
        ("DEMO_ESIA_PORT", "mock ESIA", ports.esia),
        ("DEMO_BROKER_PORT", "broker", ports.broker),
        ("DEMO_PORTAL_PORT", "portal", ports.portal),
    ):
        if not is_port_free(port):
            raise DemoError(
                f"Port {port} on {HOST} (the {name}) is busy: another program listens there. "
                f"Stop it, or choose another port: {variable}={port + 1} make run"
            )


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    return "\n".join("    " + line for line in text[-lines:])


def start(server: Server) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own.

    Ctrl-C then reaches this script only, which stops each server with one SIGTERM: a gunicorn
    worker that gets the terminal's SIGINT and then its master's SIGQUIT can hang in its exit
    until the master SIGKILLs it.
    """
    server.log.parent.mkdir(parents=True, exist_ok=True)
    with server.log.open("wb") as log:
        return subprocess.Popen(
            server.command, cwd=ROOT, env=server.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            process_group=0,
        )  # fmt: skip


def wait_until_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not answers(server.url + server.ready_path):
        if process.poll() is not None:
            raise DemoError(
                f"The {server.name} exited ({process.returncode}) while starting. Its log, {server.log}:\n{log_tail(server.log)}"
            )
        if time.monotonic() > deadline:
            raise DemoError(f"The {server.name} did not answer on {server.url} within {READY_SECONDS:.0f} s. Its log: {server.log}")
        time.sleep(0.1)


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM in reverse start order, then wait; kill the process groups still there after STOP_SECONDS."""
    for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signum, signal.SIG_IGN)
    for process in reversed(processes):
        process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own group: gunicorn's workers too
            process.wait()


# --- what to tell the person at the keyboard ------------------------------------------------

LABELS = {
    "signed_in": "входит сразу / signs in at once (already linked)",
    "linked": "подтверждает телефон и почту, затем входит / confirms phone and e-mail once, then signs in",
    "choose_account": "выбирает один из своих аккаунтов / chooses one of their accounts",
    "refused": "отказ с кодом обращения / refused, with a reference code",
    "esia_denied": "не даёт согласия на Госуслугах / declines consent at ESIA (refused: esia_denied)",
}


def wrap(items: Sequence[str], width: int = 100) -> list[str]:
    """Comma-separated items on indented lines, never breaking inside an item."""
    lines = [""]
    for item in items:
        if lines[-1] and len(lines[-1]) + len(item) + 8 > width:
            lines.append("")
        lines[-1] += (", " if lines[-1] else "") + item
    return ["      " + line + ("," if number < len(lines) - 1 else "") for number, line in enumerate(lines)]


def hints(verdicts: Sequence[Verdict], persons: Mapping[str, Person]) -> list[str]:
    """Group the mock's test persons by what a login through the portal shows today."""
    groups: dict[str, list[str]] = {}
    for verdict in verdicts:
        person = persons.get(verdict.oid)
        if person is None:  # an example for `broker simulate` only: no such login at the mock
            continue
        if person.declines_consent:
            key, shown = "esia_denied", person.login
        elif verdict.verdict in LABELS:
            key, shown = verdict.verdict, f"{person.login} ({', '.join(verdict.account_ids)})"
        else:
            key, shown = "refused", f"{person.login} ({verdict.verdict})"
        groups.setdefault(key, []).append(shown)
    lines = []
    for key, label in LABELS.items():
        if key in groups:
            lines.append(f"  {label}:")
            lines.extend(wrap(groups[key]))
    off = [f"{name} ({code})" for code, name in sorted(PORTAL_REGIONS.items()) if code not in DEMO_REGIONS]
    if off:
        lines.append(f"  регион без входа через Госуслуги / region with ESIA login off: {', '.join(off)}: refused, region_disabled")
    return lines


def serve(instance: Path, ports: Ports) -> int:
    """Prepare, start the three servers, print the URL, and run until stopped."""
    check_ports(ports)
    config_path = ensure_dev_config(instance)
    os.environ.update({k: v for k, v in base_env(instance).items() if k.startswith("BROKER_")})
    verdicts = report(create_app(), config_path)
    servers = make_servers(instance, ports, secrets.token_urlsafe(32))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for server in servers:
            process = start(server)
            processes.append(process)
            wait_until_ready(server, process)
        persons = {str(person.oid): person for person in load_persons()}
        print()
        print("Тестовые люди на странице входа ЕСИА, пароль test1234 / test persons at the mock ESIA, password test1234:")
        print("\n".join(hints(verdicts, persons)))
        print()
        print(f"Откройте / open:  http://{HOST}:{ports.portal}/")
        print(f"(mock ESIA on port {ports.esia}, the broker on port {ports.broker}; logs in {servers[0].log.parent}. "
              "Ctrl-C stops all three.)", flush=True)  # fmt: skip
        while True:
            for server, process in zip(servers, processes, strict=True):
                if process.poll() is not None:
                    raise DemoError(f"The {server.name} stopped ({process.returncode}). Its log, {server.log}:\n{log_tail(server.log)}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping the mock ESIA, the broker and the portal…", flush=True)
        return 0
    finally:
        stop(processes)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C, SIGTERM and SIGHUP stop the demo."""
    raise KeyboardInterrupt


def main() -> int:
    for signum in STOP_SIGNALS:  # SIGINT too: a shell may start a background job with it ignored
        signal.signal(signum, _interrupt)
    instance = Path(os.environ.get("DEMO_INSTANCE_DIR") or ROOT / "instance").resolve()
    try:
        code = serve(instance, Ports.from_env(os.environ))
        print("Stopped.")
        return code
    except DemoError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
