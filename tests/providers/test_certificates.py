"""ESIA's token-signing certificates: PEM and DER files, RSA and GOST, and rotation without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers import ProviderConfigError, SignatureError
from providers.certificates import EsiaCertificates
from tests.keymaterial import make_certificate, make_rsa_key

from .factory import ProviderFactory
from .upstream import BASE_URL, DATA, GOST, OID, EsiaKeys, Upstream

TE = f"{BASE_URL}/aas/oauth2/v3/te"


def test_reads_pem_with_several_certificates_and_der(esia_keys: EsiaKeys, tmp_path: Path) -> None:
    bundle = tmp_path / "esia.pem"
    other = make_certificate(make_rsa_key(), "Old ESIA")
    bundle.write_bytes(esia_keys.rsa_certificate_path.read_bytes() + other.public_bytes(serialization.Encoding.PEM))
    store = EsiaCertificates([bundle, DATA / "esia-gost.cer"])
    assert [c.algorithm for c in store.certificates] == ["RS256", "RS256", GOST]
    assert len(store.for_algorithm("RS256")) == 2 and len(store.for_algorithm(GOST)) == 1
    assert store.for_algorithm("HS256") == ()


def test_reads_a_pem_gost_certificate(tmp_path: Path) -> None:
    assert EsiaCertificates([DATA / "client-gost.cer"]).certificates[0].algorithm == GOST


def ec_certificate(path: Path) -> Path:
    certificate = make_certificate(ec.generate_private_key(ec.SECP256R1()), "EC")
    path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    return path


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "Cannot read"),
        (b"", "holds no certificate"),
        (b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", "holds no certificate"),
        (b"\x30\x03\x02\x01\x01", "not a usable"),
        ("ec", "neither"),
    ],
)
def test_refuses_files_without_a_usable_certificate(tmp_path: Path, content: bytes | str | None, words: str) -> None:
    path = tmp_path / "esia.cer"
    if content == "ec":
        ec_certificate(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ProviderConfigError, match=words):
        EsiaCertificates([path])


def test_refuses_an_empty_list() -> None:
    with pytest.raises(ProviderConfigError, match="No ESIA certificate"):
        EsiaCertificates([])


# -- rotation ------------------------------------------------------------------------------------


@pytest.fixture
def rotated(tmp_path: Path, esia_keys: EsiaKeys) -> tuple[Path, Path]:
    """A certificate file holding an old ESIA certificate, and the current one beside it."""
    old = make_certificate(make_rsa_key(), "ESIA 2024")
    configured = tmp_path / "esia-rsa.cer"
    configured.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    return configured, esia_keys.rsa_certificate_path


def test_picks_up_a_rotated_certificate_by_rereading_the_file_once(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, rotated: tuple[Path, Path]
) -> None:
    configured, current = rotated
    provider = make_provider(certificate_files=(str(configured),))
    shutil.copyfile(current, configured)  # the operator drops in ESIA's new certificate
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint())
    assert provider.exchange_code("c0de", provider.authorize()).oid == str(OID)
    assert provider.certificates.reads == 2  # once for both tokens


def test_refuses_an_unknown_key_after_rereading_the_files_once(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, rotated: tuple[Path, Path]
) -> None:
    configured, _ = rotated
    provider = make_provider(certificate_files=(str(configured),))
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint())
    with pytest.raises(SignatureError):
        provider.exchange_code("c0de", provider.authorize())
    assert provider.certificates.reads == 2


def test_rereads_at_most_once_per_token_response(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, esia_keys: EsiaKeys
) -> None:
    """The access token verifies at once; the id_token's unknown key costs one re-read, not two."""
    provider = make_provider(certificate_files=(str(esia_keys.rsa_certificate_path),))
    gost_id_token = upstream.sign(upstream.header("id", alg=GOST), upstream.id_claims())
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint(id_token=gost_id_token))
    with pytest.raises(SignatureError):
        provider.exchange_code("c0de", provider.authorize())
    assert provider.certificates.reads == 2


def test_keeps_the_known_certificates_when_the_files_vanish(
    http: responses.RequestsMock,
    make_provider: ProviderFactory,
    upstream: Upstream,
    tmp_path: Path,
    esia_keys: EsiaKeys,
) -> None:
    configured = tmp_path / "esia-rsa.cer"
    shutil.copyfile(esia_keys.rsa_certificate_path, configured)
    provider = make_provider(certificate_files=(str(configured),))
    configured.unlink()
    forged = upstream.sign(upstream.header("access", alg=GOST), upstream.access_claims())
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint(access_token=forged))
    with pytest.raises(SignatureError):
        provider.exchange_code("c0de", provider.authorize())
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint())
    assert provider.exchange_code("c0de", provider.authorize()).oid == str(OID)
    assert provider.certificates.reads == 2
