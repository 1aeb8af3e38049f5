"""Fixtures for the ESIA client's tests: keys, a fake clock, ESIA's tokens, HTTP fakes, the mock ESIA."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import mock_esia
from providers import EsiaConfig, EsiaProvider, Signer, load_signer
from tests.clock import FakeClock

from .upstream import BASE_URL, CLIENT_ID, DATA, ISSUER, REDIRECT_URI, EsiaKeys, Upstream, gost_private_scalar


def make_rsa_certificate(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def write_rsa_pair(directory: Path, stem: str, common_name: str) -> tuple[Path, Path]:
    """Write an RSA key (PEM PKCS#8) and its self-signed certificate (PEM); return both paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path, certificate_path = directory / f"{stem}.key", directory / f"{stem}.cer"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    certificate_path.write_bytes(make_rsa_certificate(key, common_name).public_bytes(serialization.Encoding.PEM))
    return key_path, certificate_path


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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_path = keys_dir / "esia-rsa.cer"
    rsa_path.write_bytes(
        make_rsa_certificate(key, "TESIA RSA (provider tests)").public_bytes(serialization.Encoding.PEM)
    )
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


@dataclass
class ProviderFactory:
    esia_keys: EsiaKeys
    rsa_signer: Signer
    gost_signer: Signer
    clock: FakeClock

    def config(self, **overrides: Any) -> EsiaConfig:
        flow = overrides.get("flow", "current")
        values: dict[str, Any] = {
            "base_url": BASE_URL,
            "client_id": CLIENT_ID,
            "signer": self.gost_signer if flow == "current" else self.rsa_signer,
            "redirect_uri": REDIRECT_URI,
            "issuer": ISSUER,
            "certificate_files": self.esia_keys.certificate_files,
            "scopes": ("openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile"),
        }
        values.update(overrides)
        return EsiaConfig(**values)

    def __call__(self, **overrides: Any) -> EsiaProvider:
        return EsiaProvider(self.config(**overrides), requests.Session(), clock=self.clock)


@pytest.fixture
def make_provider(esia_keys: EsiaKeys, rsa_signer: Signer, gost_signer: Signer, clock: FakeClock) -> ProviderFactory:
    return ProviderFactory(esia_keys, rsa_signer, gost_signer, clock)


# -- the mock ESIA, in-process (flow tests) ---------------------------------------------------

#: Client systems registered with the mock: flow and the algorithm ESIA signs their tokens with.
MOCK_CLIENTS = {
    "LEGACY01": ("legacy", "RS256"),
    "DIARY02": ("current", "GOST3410_2012_256"),
    "DIARY03": ("current", "RS256"),
}
MOCK_SCOPES = ("openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile")


@pytest.fixture(scope="session")
def mock_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mock's key directory: it makes ESIA's keys once, then every app of the session loads them."""
    return tmp_path_factory.mktemp("mock_esia_keys")


@dataclass
class MockEsia:
    """The mock ESIA behind ``responses``, and a browser to click through its login page."""

    app: Any
    data_dir: Path
    browser: requests.Session

    @property
    def certificate_files(self) -> tuple[str, ...]:
        """ESIA's token-signing certificates as the mock writes them (RSA and GOST, PEM)."""
        return (str(self.data_dir / "esia-rsa.cer"), str(self.data_dir / "esia-gost.cer"))

    def log_in(self, url: str, login: str, password: str = "test1234") -> dict[str, str]:
        """Follow the authorization URL to the login form, log in, return the callback's query."""
        page = self.browser.get(url, allow_redirects=False)
        assert page.status_code == 302, page.text[:500]
        form_url = urljoin(url, page.headers["Location"])
        assert urlsplit(form_url).path == "/login"
        answer = self.browser.post(form_url, data={"login": login, "password": password}, allow_redirects=False)
        assert answer.status_code == 302, answer.text[:500]
        callback = urlsplit(answer.headers["Location"])
        assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
        return {name: values[0] for name, values in parse_qs(callback.query).items()}


@pytest.fixture
def make_esia(mock_data_dir: Path, rsa_client_files: tuple[Path, Path]) -> Iterator[Callable[..., MockEsia]]:
    """Start the mock with the test client systems registered; ``overrides`` go to its config."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as routes:

        def make(**overrides: Any) -> MockEsia:
            certificates = {
                "legacy": [rsa_client_files[1].read_text()],
                "current": [(DATA / "client-gost.cer").read_text()],
            }
            config: dict[str, Any] = {
                "TESTING": True,
                "DATA_DIR": str(mock_data_dir),
                "CLIENTS": {
                    client_id: {
                        "certificates": certificates[flow],
                        "redirect_uris": [REDIRECT_URI],
                        "scopes": list(MOCK_SCOPES),
                        "jwt_alg": alg,
                    }
                    for client_id, (flow, alg) in MOCK_CLIENTS.items()
                },
            }
            config.update(overrides)
            app = mock_esia.create_app(config)
            client = app.test_client()

            def forward(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
                url = urlsplit(str(request.url))
                answer = client.open(
                    url.path,
                    base_url=f"{url.scheme}://{url.netloc}",
                    method=str(request.method),
                    query_string=url.query,
                    headers=dict(request.headers),
                    data=request.body,
                )
                headers = {name: value for name, value in answer.headers.items() if name.lower() != "content-length"}
                return answer.status_code, headers, answer.get_data()

            routes.reset()
            # ESIA writes element URLs with an explicit port (https://esia.test:443/rs/…).
            pattern = re.compile(r"https://esia\.test(:443)?/.*")
            routes.add_callback(responses.GET, pattern, callback=forward)
            routes.add_callback(responses.POST, pattern, callback=forward)
            return MockEsia(app, mock_data_dir, requests.Session())

        yield make


@pytest.fixture
def esia(make_esia: Callable[..., MockEsia]) -> MockEsia:
    """The mock ESIA (ESIA.md's look-alike) wired in behind https://esia.test."""
    return make_esia()
