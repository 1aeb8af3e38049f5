"""Fixtures for the mock ESIA's tests: the app, a live server, OpenSSL, and an independent client."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

import mock_esia

from .esia_test_client import DATA, OPENSSL_GOST_CONF, EsiaTestClient, FlaskAdapter, GostSigner, Openssl, RsaSigner
from .registration import (
    BASE_URL,
    CLIENT_ID,
    GOST_CLIENT_ID,
    GOST_REDIRECT_URI,
    GRANTED_SCOPES,
    PERSON_SCOPES,
    REDIRECT_URI,
)

class FakeClock:
    """A clock the test moves by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key directory for the session: the mock generates its keys once, then loads them."""
    return tmp_path_factory.mktemp("mock_esia_keys")


@pytest.fixture(scope="session")
def rsa_signer() -> RsaSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DIARY01 RSA test system")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return RsaSigner(key, certificate)


@pytest.fixture(scope="session")
def gost_signer() -> GostSigner:
    """DIARY01's GOST key and certificate, made by OpenSSL's GOST engine (paramset A)."""
    return GostSigner(DATA / "client-gost.key", DATA / "client-gost.cer")


@pytest.fixture(scope="session")
def other_gost_signer() -> GostSigner:
    """A GOST key no client registered (TC26 paramset A, twisted Edwards curve)."""
    return GostSigner(DATA / "other-gost.key", DATA / "other-gost.cer", paramset="1.2.643.7.1.2.1.1.1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app(data_dir: Path, rsa_signer: RsaSigner, gost_signer: GostSigner, clock: FakeClock) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        config = {
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "CLOCK": clock,
            "CLIENTS": {
                CLIENT_ID: {
                    "name": "Электронный дневник (тест)",
                    "certificates": [rsa_signer.pem, gost_signer.pem],
                    "redirect_uris": [REDIRECT_URI],
                    "scopes": GRANTED_SCOPES.split(),
                },
                GOST_CLIENT_ID: {
                    "certificates": [rsa_signer.pem, gost_signer.pem],
                    "redirect_uris": [GOST_REDIRECT_URI],
                    "scopes": PERSON_SCOPES.split(),
                    "jwt_alg": "GOST3410_2012_256",
                },
            },
        }
        config.update(overrides)
        return mock_esia.create_app(config)

    return make


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client_for(rsa_signer: RsaSigner, gost_signer: GostSigner, clock: FakeClock) -> Callable[..., EsiaTestClient]:
    """An ESIA client talking to ``app`` in-process through ``requests``."""

    def make(app: Any, client_id: str = CLIENT_ID, redirect_uri: str = REDIRECT_URI, **kwargs: Any) -> EsiaTestClient:
        session = requests.Session()
        adapter = FlaskAdapter(app)
        # ESIA writes element URLs with an explicit default port (http://esia.test:80/rs/…).
        session.mount(BASE_URL + "/", adapter)
        session.mount(BASE_URL + ":80/", adapter)
        options: dict[str, Any] = {"rsa": rsa_signer, "gost": gost_signer, "clock": clock}
        options.update(kwargs)
        return EsiaTestClient(session, BASE_URL, client_id, redirect_uri, **options)

    return make


@pytest.fixture
def esia(app: Any, client_for: Callable[..., EsiaTestClient]) -> EsiaTestClient:
    return client_for(app)


@pytest.fixture
def live_server(make_app: Callable[..., Any]) -> Iterator[Callable[..., str]]:
    """Serve an app (by default a new mock with the real clock) on 127.0.0.1; returns its base URL."""
    servers = []

    def start(app: Any = None, **overrides: Any) -> str:
        if app is None:
            overrides.setdefault("CLOCK", None)
            app = make_app(**overrides)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> Openssl:
    """OpenSSL with Debian's GOST engine; skipped without it unless REQUIRE_GOST_ENGINE=1."""
    config = tmp_path_factory.mktemp("openssl") / "gost.cnf"
    config.write_text(OPENSSL_GOST_CONF)
    tool = Openssl(config)
    problem = None
    if shutil.which("openssl") is None:
        problem = "the openssl command is not installed"
    else:
        probe = tool.run("list", "-digest-algorithms")
        if probe.returncode != 0 or b"md_gost12_256" not in probe.stdout:
            problem = "OpenSSL's GOST engine (Debian libengine-gost-openssl) is not available"
    if problem:
        if os.environ.get("REQUIRE_GOST_ENGINE") == "1":
            pytest.fail(f"REQUIRE_GOST_ENGINE=1 but {problem}")
        pytest.skip(problem)
    return tool
