"""Fixtures for the ESIA client's tests: keys, a fake clock, ESIA's tokens, HTTP fakes, the mock ESIA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization

from providers import Signer, load_signer
from tests.clock import FakeClock
from tests.esiaspec import gost_private_scalar
from tests.keymaterial import make_certificate, make_rsa_key, write_rsa_pair

from .factory import ProviderFactory
from .mockesia import MockEsia, start_mock_esia
from .upstream import DATA, EsiaKeys, Upstream


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("provider_keys")


@pytest.fixture(scope="session")
def rsa_client_files(keys_dir: Path) -> tuple[Path, Path]:
    """Our client system's RSA key and certificate (legacy flow)."""
    return write_rsa_pair(keys_dir, "client-rsa", "DIARY01 RSA test system")


@pytest.fixture(scope="session")
def rsa_signer(rsa_client_files: tuple[Path, Path]) -> Signer:
    return load_signer("rsa-cms", *rsa_client_files)


@pytest.fixture(scope="session")
def gost_signer() -> Signer:
    """Our client system's GOST key and certificate, made by OpenSSL's GOST engine."""
    return load_signer("gost-raw", DATA / "client-gost.key", DATA / "client-gost.cer")


@pytest.fixture(scope="session")
def esia_keys(keys_dir: Path) -> EsiaKeys:
    """ESIA's token-signing keys: RSA made here (PEM), GOST made by OpenSSL (DER certificate)."""
    key = make_rsa_key()
    rsa_path = keys_dir / "esia-rsa.cer"
    rsa_path.write_bytes(make_certificate(key, "TESIA RSA (provider tests)").public_bytes(serialization.Encoding.PEM))
    return EsiaKeys(key, rsa_path, gost_private_scalar(DATA / "esia-gost.key"), DATA / "esia-gost.cer")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def upstream(esia_keys: EsiaKeys, clock: FakeClock) -> Upstream:
    """ESIA minting tokens (RS256 unless a test sets ``upstream.alg``) at the fake clock's time."""
    return Upstream(esia_keys, clock)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Every upstream call is registered; an unregistered one fails, and so does an unused one."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def make_provider(esia_keys: EsiaKeys, rsa_signer: Signer, gost_signer: Signer, clock: FakeClock) -> ProviderFactory:
    return ProviderFactory(esia_keys, rsa_signer, gost_signer, clock)


# -- the mock ESIA, in-process (flow tests) ---------------------------------------------------


@pytest.fixture(scope="session")
def mock_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mock's key directory: it makes ESIA's keys once, then every app of the session loads them."""
    return tmp_path_factory.mktemp("mock_esia_keys")


@pytest.fixture
def make_esia(mock_data_dir: Path, rsa_client_files: tuple[Path, Path]) -> Iterator[Callable[..., MockEsia]]:
    """Start the mock with the test client systems registered; ``overrides`` go to its config."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as routes:

        def make(**overrides: Any) -> MockEsia:
            return start_mock_esia(routes, mock_data_dir, rsa_client_files[1], **overrides)

        yield make


@pytest.fixture
def esia(make_esia: Callable[..., MockEsia]) -> MockEsia:
    """The mock ESIA (docs/esia.md, 'The mock') wired in behind https://esia.test."""
    return make_esia()
