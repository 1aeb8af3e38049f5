"""Fixtures for the mock ESIA's tests: the app, its keys and clock, and an independent client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

import mock_esia
from tests.clock import FakeClock
from tests.esiaspec import TC26_A
from tests.keymaterial import make_certificate, make_rsa_key

from .esia_test_client import DATA, EsiaTestClient, FlaskAdapter, GostSigner, RsaSigner
from .registration import (
    BASE_URL,
    CLIENT_ID,
    GOST_CLIENT_ID,
    GOST_REDIRECT_URI,
    GRANTED_SCOPES,
    PERSON_SCOPES,
    REDIRECT_URI,
)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key directory for the session: the mock generates its keys once, then loads them."""
    return tmp_path_factory.mktemp("mock_esia_keys")


@pytest.fixture(scope="session")
def rsa_signer() -> RsaSigner:
    key = make_rsa_key()
    return RsaSigner(key, make_certificate(key, "DIARY01 RSA test system"))


@pytest.fixture(scope="session")
def gost_signer() -> GostSigner:
    """DIARY01's GOST key and certificate, made by OpenSSL's GOST engine (paramset A)."""
    return GostSigner(DATA / "client-gost.key", DATA / "client-gost.cer")


@pytest.fixture(scope="session")
def other_gost_signer() -> GostSigner:
    """A GOST key no client registered (TC26 paramset A, twisted Edwards curve)."""
    return GostSigner(DATA / "other-gost.key", DATA / "other-gost.cer", paramset=TC26_A)


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
