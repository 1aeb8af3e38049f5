"""`make run`: the mock ESIA, the broker and a demo diary portal on loopback, ready to click through.

It runs ESIA's current flow, as production does: the broker signs ``client_secret`` with a GOST
R 34.10-2012 key (raw signature, signer ``gost-raw``: the ``gost`` library, OpenSSL's GOST engine
in process when installed, pure Python otherwise) and the mock ESIA signs its tokens
``GOST3410_2012_256``. ``DEMO_ESIA_FLOW=legacy`` runs the legacy flow instead: an RSA key, detached
CMS (``rsa-cms``) and RS256 tokens.

First run: development secrets and the demo registry (``examples/demo.py``), and key material under
``instance/demo/``: the broker's key and self-signed certificate as ESIA's client system
``DIARY01`` for the flow that runs (GOST ``esia-gost.key``/``esia-gost.cer``, or RSA
``esia.key``/``esia.cer``) and its id_token signing key. Every run: the mock ESIA's config (the
broker registered with the flow's certificate and token algorithm) and persons (its own and every
example person of ``examples/persons/`` it lacks) and the broker's settings for the ports in use,
then three child processes: the mock ESIA, the broker and the portal, each under gunicorn with
several threads. The broker serves the demo portal (``diary-demo``) and any portal the operator
registered in the instance config (``[OIDC_CLIENTS.x]``) or ``BROKER_OIDC_CLIENTS``. It prints
which test person shows which outcome, the ESIA faults to pick, the portal's own password login
and link flow, how to create a staff login, which ESIA flow runs, and the portal's URL; Ctrl-C or
SIGTERM stops all three.

Environment: ``DEMO_ESIA_FLOW`` (``current``, the default, or ``legacy``), ``DEMO_INSTANCE_DIR``
(default ``instance/``), ``DEMO_ESIA_PORT`` (8800), ``DEMO_BROKER_PORT`` (5000),
``DEMO_PORTAL_PORT`` (8000), ``DEMO_DATABASE_URL`` (default: the SQLite file
``<instance>/broker.sqlite3``; a PostgreSQL URL runs the demo on the production store, e.g. for
``bench/login_load.py``), ``DEMO_BROKER_WORKERS`` and ``DEMO_BROKER_THREADS``
(gunicorn's, 2 and 4). Server output: ``<instance>/demo/log/``.
"""

from __future__ import annotations

import base64
import csv
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
import tomllib
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
from demo import DEMO_REGIONS, EXAMPLES, ROOT, Verdict, ensure_dev_config, report
from diary_portal import REGIONS as PORTAL_REGIONS

import gost
import gost.engine
import matching
from broker import create_app
from broker.config import DEFAULTS as BROKER_DEFAULTS
from broker.errors import ConfigError
from broker.oidc import keys
from broker.support.glossary import OUTCOME_RU, REASON_RU
from mock_esia.identities import DEFAULT_PERSONS_FILE, Person, load_persons
from mock_esia.scenarios import LOGIN_PAGE_FAULTS
from providers import person_from_esia

HOST = "127.0.0.1"
ESIA_CLIENT_ID = "DIARY01"
PORTAL_CLIENT_ID = "diary-demo"
#: The password of every test person at the mock ESIA and of every account of the demo portal.
PASSWORD = "test1234"
#: The ESIA failures the demo offers on the mock's login page, and the refusal each ends in.
FAULTS = {"te-503": "esia_unavailable", "wrong-iss": "esia_error"}
#: Refusals whose way out is the diary's link flow («Привязать аккаунт портала Госуслуги»).
LINK_FIXES = ("snils_missing_in_diary", "ambiguous")
DEFAULT_PORTS = {"DEMO_ESIA_PORT": 8800, "DEMO_BROKER_PORT": 5000, "DEMO_PORTAL_PORT": 8000}
READY_SECONDS = 30.0
STOP_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The broker's GOST key for the current flow: CryptoPro-A, as `broker esia keygen` makes it
#: (OpenSSL's ``paramset:A``), signing certificates with Streebog-256.
GOST_CURVE = gost.BY_OID["1.2.643.2.2.35.1"]
GOST_SIGN_WITH_STREEBOG_256 = "1.2.643.7.1.1.3.2"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One of ESIA's two flows as the demo runs it (docs/esia.md): the broker's signer and key
    files in ``instance/demo/``, and the algorithm of the mock's tokens and its certificate."""

    name: str
    signer: str
    key_file: str
    certificate_file: str
    jwt_alg: str
    token_certificate_file: str  # in the mock's data folder, written on its first start
    said: str


FLOWS = {
    "current": Flow("current", "gost-raw", "esia-gost.key", "esia-gost.cer", "GOST3410_2012_256", "esia-gost.cer",
                    "GOST R 34.10-2012 client_secret, GOST-signed ESIA tokens, as in production"),
    "legacy": Flow("legacy", "rsa-cms", "esia.key", "esia.cer", "RS256", "esia-rsa.cer",
                   "RSA detached CMS client_secret, RS256 ESIA tokens"),
}  # fmt: skip
DEFAULT_FLOW = "current"


def flow_from_env(env: Mapping[str, str]) -> Flow:
    raw = env.get("DEMO_ESIA_FLOW") or DEFAULT_FLOW
    if raw not in FLOWS:
        raise DemoError(f"DEMO_ESIA_FLOW={raw!r} is not an ESIA flow: choose current (the default) or legacy.")
    return FLOWS[raw]


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


def _der(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _der_oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for part in rest:
        chunk = [part & 0x7F]
        while part := part >> 7:
            chunk.append(0x80 | (part & 0x7F))
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_time(moment: dt.datetime) -> bytes:
    return _der(0x17, moment.astimezone(dt.UTC).strftime("%y%m%d%H%M%SZ").encode())  # UTCTime: until 2049


def _pem(data: bytes, label: str) -> bytes:
    body = base64.encodebytes(data).decode().replace("\n", "")
    lines = [body[start : start + 64] for start in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode()


def write_gost_client_pair(key_path: Path, certificate_path: Path) -> None:
    """The broker's GOST R 34.10-2012 (256) key and self-signed certificate as ESIA's client system
    (one year), made with the ``gost`` library, so without OpenSSL's GOST engine: the kind of pair
    `broker esia keygen --self-signed` writes (CryptoPro-A, the key in PKCS#8 as the engine writes
    it, the certificate signed GOST R 34.10-2012 with Streebog-256), for ESIA's test environment only."""
    d = 1 + secrets.randbelow(GOST_CURVE.q - 1)
    name = _der(0x30, _der(0x31, _der(0x30, _der_oid("2.5.4.3"), _der(0x0C, ESIA_CLIENT_ID.encode()))),
                _der(0x31, _der(0x30, _der_oid("2.5.4.10"), _der(0x0C, b"make run demo"))),
                _der(0x31, _der(0x30, _der_oid("2.5.4.6"), _der(0x13, b"RU"))))  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    algorithm = _der(0x30, _der_oid(GOST_SIGN_WITH_STREEBOG_256))
    tbs = _der(
        0x30,
        _der(0xA0, _der_integer(2)),  # X.509 v3
        _der_integer(x509.random_serial_number()),
        algorithm,
        name,
        _der(0x30, _der_time(now - dt.timedelta(days=1)), _der_time(now + dt.timedelta(days=365))),
        name,
        gost.engine.public_key_der(GOST_CURVE, gost.public_key(GOST_CURVE, d)),
    )
    signature = gost.sign(GOST_CURVE, d, gost.streebog256(tbs))  # s || r, as certificates carry it
    certificate = _der(0x30, tbs, algorithm, _der(0x03, b"\x00", signature))
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_pem(gost.engine.private_key_der(GOST_CURVE, d), "PRIVATE KEY"))
    certificate_path.write_bytes(_pem(certificate, "CERTIFICATE"))


def is_expiring(certificate_path: Path) -> bool:
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    return certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def ensure_key_material(demo: Path, flow: Flow) -> tuple[Path, Path, Path]:
    """Create the broker's ESIA key pair for ``flow`` and its id_token key once; renew the
    certificate near its end."""
    demo.mkdir(parents=True, exist_ok=True)
    key, certificate, signing = demo / flow.key_file, demo / flow.certificate_file, demo / "oidc.pem"
    if not (key.exists() and certificate.exists()) or is_expiring(certificate):
        (write_gost_client_pair if flow.signer == "gost-raw" else write_client_pair)(key, certificate)
    if not signing.exists():
        keys.generate_key_file(signing)
    return key, certificate, signing


def toml_value(value: Any) -> str:
    """A string or a list of strings as TOML (a JSON string is a valid TOML basic string)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def mock_person(data: dict[str, Any], login: str, description: str) -> dict[str, Any]:
    """An example person (ESIA's answer, ``examples/persons/``) as an entry of the mock's persons file."""

    def bare(entity: dict[str, Any]) -> dict[str, Any]:  # the mock adds stateFacts and eTag itself
        return {key: value for key, value in entity.items() if key not in ("stateFacts", "eTag")}

    entry = bare(data)
    for name in ("documents", "contacts", "addresses", "kids"):
        if isinstance(entry.get(name), dict):
            entry[name] = [bare(element) for element in entry[name].get("elements", [])]
    tier = str(person_from_esia(data).tier)
    return {**entry, "login": login, "password": PASSWORD, "description": description, "tier": tier}


def write_mock_persons(demo: Path, verdicts: Sequence[Verdict]) -> Path:
    """The mock's own test persons, plus every example person it lacks.

    ``examples/persons/`` holds people for ``broker simulate`` that the mock does not know; here
    they become test persons too (login: the file's name), so that every line of the decision
    table ``make run`` prints can be reached by logging in.
    """
    document = json.loads(DEFAULT_PERSONS_FILE.read_text(encoding="utf-8"))
    known = {int(entry["oid"]) for entry in document["persons"]}
    for verdict in verdicts:
        if int(verdict.oid) in known:
            continue
        data = json.loads((EXAMPLES / "persons" / f"{verdict.name}.json").read_text(encoding="utf-8"))
        if verdict.verdict in {reason.value for reason in matching.Reason}:
            said = REASON_RU[matching.Reason(verdict.verdict)]
        else:
            said = OUTCOME_RU[matching.Outcome(verdict.verdict)]
        description = f"Пример из examples/persons/{verdict.name}.json: {said}."
        document["persons"].append(mock_person(data, verdict.name, description))
    path = demo / "mock-persons.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def write_mock_config(demo: Path, ports: Ports, persons: Path, flow: Flow) -> Path:
    """The mock ESIA's settings: the broker registered as client system DIARY01 with the flow's
    certificate and token algorithm, and the test persons."""
    broker = f"http://{HOST}:{ports.broker}"
    client = {
        "name": "Электронный дневник (демо)",
        "certificate_files": [flow.certificate_file],
        "redirect_uris": [f"{broker}/auth/esia/callback", f"{broker}/oidc/logged-out"],
        "scopes": list(BROKER_DEFAULTS["ESIA_SCOPES"]),
        "jwt_alg": flow.jwt_alg,
    }
    lines = [
        "# Written by `make run` on every start (the ports may change). Relative paths: this folder.",
        f"ISSUER = {toml_value(BROKER_DEFAULTS['ESIA_ISSUER'])}",
        f"PERSONS_FILE = {toml_value(persons.name)}",
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


def portal_clients(config_path: Path, env: Mapping[str, str], demo_client: dict[str, Any]) -> dict[str, Any]:
    """The portals the broker serves: any the operator registered (``[OIDC_CLIENTS.x]`` in the
    instance config, or ``BROKER_OIDC_CLIENTS``), and the demo portal."""
    values = tomllib.loads(config_path.read_text(encoding="utf-8"))
    clients: dict[str, Any] = {}
    for where, registered in ((str(config_path), values.get("OIDC_CLIENTS")), ("BROKER_OIDC_CLIENTS", env.get("BROKER_OIDC_CLIENTS"))):
        if isinstance(registered, str):
            try:
                registered = json.loads(registered)
            except ValueError as error:
                raise DemoError(f"{where} is not JSON: {error}") from None
        if registered in (None, ""):
            continue
        if not isinstance(registered, dict):
            raise DemoError(f"{where}: OIDC_CLIENTS must map a client_id to a table ([OIDC_CLIENTS.my-portal]).")
        if PORTAL_CLIENT_ID in registered:
            raise DemoError(f"{where}: {PORTAL_CLIENT_ID!r} is the demo portal's own client_id; give your portal another one.")
        clients.update(registered)
    return {**clients, PORTAL_CLIENT_ID: demo_client}


def broker_settings(instance: Path, ports: Ports, portal_secret: str, config_path: Path, flow: Flow) -> dict[str, str]:
    """The broker's environment: the instance's files, the demo's keys, the portals, the mock ESIA in ``flow``."""
    demo = instance / "demo"
    key, certificate, signing = ensure_key_material(demo, flow)
    esia, broker, portal = (f"http://{HOST}:{port}" for port in (ports.esia, ports.broker, ports.portal))
    env = base_env(instance)
    demo_client = {
        "name": "Электронный дневник (демо-портал)",
        "redirect_uris": [f"{portal}/callback"],
        "post_logout_redirect_uris": [f"{portal}/"],
        "regions": sorted(PORTAL_REGIONS),
        "login_url": f"{portal}/login",
        "secret_sha256": hashlib.sha256(portal_secret.encode()).hexdigest(),
        # Where the broker's pages send a person who needs the portal's help (an https page and
        # an address of the reserved .example domain: the demo has no real support desk).
        "support_phone": "8 800 100-00-00",
        "support_url": "https://diary.example/support",
        "support_email": "help@diary.example",
        # «Попробовать ещё раз» on the broker's refusal pages starts a fresh login here.
        "initiate_login_uri": f"{portal}/login/initiate",
    }
    return {
        **{name: value for name, value in env.items() if name.startswith("BROKER_")},
        "BROKER_OIDC_ISSUER": broker,
        "BROKER_OIDC_SIGNING_KEY_FILES": json.dumps([str(signing)]),
        "BROKER_OIDC_CLIENTS": json.dumps(portal_clients(config_path, os.environ, demo_client), ensure_ascii=False),
        "BROKER_COOKIE_SECURE": "false",  # plain HTTP, loopback only
        "BROKER_ESIA_BASE_URL": esia,
        "BROKER_ESIA_CLIENT_ID": ESIA_CLIENT_ID,
        "BROKER_ESIA_FLOW": flow.name,
        "BROKER_ESIA_SIGNER": flow.signer,
        "BROKER_ESIA_KEY_FILE": str(key),
        "BROKER_ESIA_CERTIFICATE_FILE": str(certificate),
        "BROKER_ESIA_ISSUER": BROKER_DEFAULTS["ESIA_ISSUER"],
        # The mock writes its token certificate into its data folder on start.
        "BROKER_ESIA_TOKEN_CERTIFICATE_FILES": json.dumps([str(demo / "mock_esia" / flow.token_certificate_file)]),
        "BROKER_ESIA_REDIRECT_URI": f"{broker}/auth/esia/callback",
    }


#: What the broker needs to start before the mock ESIA has written its certificate: its portals.
OIDC_SETTINGS = ("BROKER_OIDC_ISSUER", "BROKER_OIDC_SIGNING_KEY_FILES", "BROKER_OIDC_CLIENTS")


def make_servers(
    instance: Path, ports: Ports, broker_env: Mapping[str, str], portal_secret: str, verdicts: Sequence[Verdict], flow: Flow
) -> list[Server]:
    """The mock ESIA, the broker and the portal, in the order they must start."""
    demo = instance / "demo"
    mock_config = write_mock_config(demo, ports, write_mock_persons(demo, verdicts), flow)
    broker, portal = (f"http://{HOST}:{port}" for port in (ports.broker, ports.portal))
    env = base_env(instance)
    logs = demo / "log"
    gunicorn = [sys.executable, "-m", "gunicorn", "--graceful-timeout", "5", "--log-level", "warning"]
    portal_env = {
        **env,
        "DIARY_PORTAL_BROKER_URL": broker,
        "DIARY_PORTAL_CLIENT_ID": PORTAL_CLIENT_ID,
        "DIARY_PORTAL_CLIENT_SECRET": portal_secret,
        "DIARY_PORTAL_PUBLIC_URL": portal,
        "DIARY_PORTAL_SECRET_KEY": secrets.token_hex(32),
        "DIARY_PORTAL_ACCOUNTS_FILE": str(EXAMPLES / "registry.csv"),
        "DIARY_PORTAL_PASSWORD": PASSWORD,
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
            {**env, **broker_env},
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
        if person is None:  # write_mock_persons() gives the mock every example person
            raise DemoError(f"examples/persons/{verdict.name}.json is not a test person of the mock ESIA.")
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
        lines.append("  регион без входа через Госуслуги (выберите его на портале) / a region with ESIA login off:")
        lines.extend(wrap([f"{name}: region_disabled" for name in off]))
    lines.append("  сбой Госуслуг (выберите его внизу страницы входа ЕСИА) / ESIA failing, any person:")
    lines.extend(wrap([f"«{LOGIN_PAGE_FAULTS[key][0]}» ({reason})" for key, reason in FAULTS.items()]))
    return lines


def link_hints(verdicts: Sequence[Verdict]) -> list[str]:
    """The demo portal's own login, and the accounts whose refusal the link flow removes."""
    with (EXAMPLES / "registry.csv").open(encoding="utf-8", newline="") as stream:
        logins = {row["login"] for row in csv.DictReader(stream)}
    fixable = [f"{verdict.name}.diary ({verdict.verdict})" for verdict in verdicts
               if verdict.verdict in LINK_FIXES and f"{verdict.name}.diary" in logins]  # fmt: skip
    lines = [f"Вход в дневник по логину и паролю (логины в examples/registry.csv), пароль {PASSWORD} / the portal's own login:"]
    if fixable:
        lines.append("  затем «Привязать аккаунт портала Госуслуги», и вход через Госуслуги пройдёт / link, then sign in with ESIA:")
        lines.extend(wrap(fixable))
    return lines


def staff_hint(instance: Path, broker: str) -> list[str]:
    """How to create a staff login for the demo's broker, and where to sign in."""
    program = Path(sys.executable).with_name("broker")
    command = str(program.relative_to(Path.cwd())) if program.is_relative_to(Path.cwd()) else str(program)
    env = base_env(instance)
    if instance != ROOT / "instance" or os.environ.get("DEMO_DATABASE_URL"):
        command = f"BROKER_CONFIG={env['BROKER_CONFIG']} BROKER_DATABASE_URL={env['BROKER_DATABASE_URL']} {command}"
    return [
        "Страницы сотрудников / staff pages: создайте вход (пароль спросит команда) / create a login:",
        f"  {command} staff create admin --role admin",
        f"  и войдите / then sign in:  {broker}/admin",
    ]


def flow_hint(flow: Flow) -> list[str]:
    """Which of ESIA's flows runs, and how to run the other."""
    lines = [f"Схема ЕСИА / ESIA flow: {flow.name} ({flow.said})"]
    if flow.name == DEFAULT_FLOW:
        lines.append("  другая схема / the legacy flow:  DEMO_ESIA_FLOW=legacy make run")
    else:
        lines.append(f"  схема по умолчанию / the {DEFAULT_FLOW} flow, as in production:  make run (DEMO_ESIA_FLOW unset)")
    return lines


def serve(instance: Path, ports: Ports, flow: Flow) -> int:
    """Prepare, start the three servers, print the URL, and run until stopped."""
    check_ports(ports)
    config_path = ensure_dev_config(instance)
    portal_secret = secrets.token_urlsafe(32)
    broker_env = broker_settings(instance, ports, portal_secret, config_path, flow)
    os.environ.update({name: broker_env[name] for name in ("BROKER_CONFIG", "BROKER_DATABASE_URL", *OIDC_SETTINGS)})
    try:
        verdicts = report(create_app(), config_path)
    except ConfigError as error:
        raise DemoError(f"the broker's settings ({config_path} and BROKER_* variables): {error}") from None
    servers = make_servers(instance, ports, broker_env, portal_secret, verdicts, flow)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for server in servers:
            process = start(server)
            processes.append(process)
            wait_until_ready(server, process)
        persons = {str(person.oid): person for person in load_persons(instance / "demo" / "mock-persons.json")}
        print()
        print(f"Тестовые люди на странице входа ЕСИА, пароль {PASSWORD} / test persons at the mock ESIA, password {PASSWORD}:")
        print("\n".join(hints(verdicts, persons)))
        print()
        print("\n".join(link_hints(verdicts)))
        print()
        print("\n".join(staff_hint(instance, servers[1].url)))
        print()
        print("\n".join(flow_hint(flow)))
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
        code = serve(instance, Ports.from_env(os.environ), flow_from_env(os.environ))
        print("Stopped.")
        return code
    except DemoError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
