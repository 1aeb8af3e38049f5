"""Signers: detached RSA CMS, raw GOST in OpenSSL's byte order, the certificate hash, key loading."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from mock_esia.certificates import make_gost_certificate, to_pem
from mock_esia.gost import GostPrivateKey as MockGostKey
from providers import GostRawSigner, ProviderConfigError, RsaCmsSigner, Signer, client_certificate_hash, load_signer
from providers.gost import GostKeyError, GostPrivateKey, GostPublicKey, streebog256
from tests.esiaspec import gost_private_scalar, gost_sign, gost_verify, pem_body, streebog
from tests.keymaterial import write_rsa_pair
from tests.opensslgost import Openssl

from .upstream import DATA

MESSAGE = b"DIARY01openid fullname2026.01.01 00:00:00 +00000b9a6c2e-4f3d-4e1a-8b7c-6d5e4f3a2b1c"


def test_streebog_matches_the_standards_first_example() -> None:
    # GOST R 34.11-2012, example 1 (M1), as OpenSSL prints the 256-bit digest.
    m1 = b"012345678901234567890123456789012345678901234567890123456789012"
    assert streebog256(m1).hex() == "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"


def test_rsa_cms_signature_is_detached_carries_the_certificate_and_verifies(rsa_signer: Signer) -> None:
    signature = rsa_signer.sign(MESSAGE)
    assert isinstance(rsa_signer, RsaCmsSigner) and rsa_signer.signature_format == "cms"
    embedded = pkcs7.load_der_pkcs7_certificates(signature)
    assert [c.public_bytes(serialization.Encoding.DER) for c in embedded] == [rsa_signer.certificate_der]


def test_openssl_reads_the_rsa_cms_signature_as_detached_sha256_and_verifies_it_over_the_message_only(
    rsa_signer: Signer, openssl: Openssl, tmp_path: Path
) -> None:
    (tmp_path / "sig.der").write_bytes(rsa_signer.sign(MESSAGE))
    (tmp_path / "data").write_bytes(MESSAGE)
    printed = openssl.run("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "sig.der"))
    assert b"eContent: <ABSENT>" in printed.stdout  # detached
    assert b"sha256" in printed.stdout
    verify = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"), "-noverify"]
    assert openssl.run(*verify, "-content", str(tmp_path / "data")).returncode == 0
    (tmp_path / "other").write_bytes(MESSAGE + b"x")
    assert openssl.run(*verify, "-content", str(tmp_path / "other")).returncode != 0


def test_gost_signature_is_64_bytes_s_then_r_over_streebog(gost_signer: Signer) -> None:
    signature = gost_signer.sign(MESSAGE)
    assert isinstance(gost_signer, GostRawSigner) and gost_signer.signature_format == "raw"
    assert len(signature) == 64
    certificate = pem_body((DATA / "client-gost.cer").read_text())
    assert gost_signer.certificate_der == certificate
    assert gost_verify(certificate, MESSAGE, signature)
    assert not gost_verify(certificate, MESSAGE + b"x", signature)
    swapped = signature[32:] + signature[:32]
    assert not gost_verify(certificate, MESSAGE, swapped)


def test_gost_signature_verifies_with_openssl(gost_signer: Signer, openssl: Openssl, tmp_path: Path) -> None:
    public = openssl.run("x509", "-in", str(DATA / "client-gost.cer"), "-pubkey", "-noout")
    (tmp_path / "pub.pem").write_bytes(public.stdout)
    (tmp_path / "sig").write_bytes(gost_signer.sign(MESSAGE))
    checked = openssl.run(
        "dgst",
        "-md_gost12_256",
        "-verify",
        str(tmp_path / "pub.pem"),
        "-signature",
        str(tmp_path / "sig"),
        data=MESSAGE,
    )
    assert checked.stdout.strip() == b"Verified OK", checked.stderr


def test_openssl_gost_signature_verifies_with_our_public_key(openssl: Openssl, tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(MESSAGE)
    made = openssl.run("dgst", "-md_gost12_256", "-sign", str(DATA / "esia-gost.key"), str(tmp_path / "data"))
    assert made.returncode == 0 and len(made.stdout) == 64, made.stderr
    key = GostPublicKey.from_certificate((DATA / "esia-gost.cer").read_bytes())
    assert key.verify(MESSAGE, made.stdout)
    assert not key.verify(MESSAGE, made.stdout[32:] + made.stdout[:32])


def test_gost_public_key_verifies_what_the_standard_recipe_signs() -> None:
    signature = gost_sign(gost_private_scalar(DATA / "esia-gost.key"), MESSAGE)
    key = GostPublicKey.from_certificate((DATA / "esia-gost.cer").read_bytes())
    assert key.verify(MESSAGE, signature)
    assert not key.verify(MESSAGE, signature[:-1])


def test_certificate_hash_is_uppercase_streebog_of_the_der_certificate(gost_signer: Signer) -> None:
    value = client_certificate_hash(gost_signer.certificate_der)
    assert value == streebog(gost_signer.certificate_der).hex().upper()
    assert len(value) == 64 and value == value.upper()


def test_certificate_hash_agrees_with_openssl(gost_signer: Signer, openssl: Openssl) -> None:
    digest = openssl.run("dgst", "-md_gost12_256", "-r", data=gost_signer.certificate_der)
    assert digest.stdout.split()[0].decode().upper() == client_certificate_hash(gost_signer.certificate_der)


def der(tag: int, content: bytes) -> bytes:
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


@pytest.mark.parametrize("wrapping", ["octets", "nested octets", "integer"])
def test_gost_private_key_is_read_in_each_pkcs8_layout(wrapping: str) -> None:
    original = pem_body((DATA / "client-gost.key").read_text())
    d = gost_private_scalar(DATA / "client-gost.key")
    algorithm = original[5 : 5 + 2 + original[6]]  # after SEQUENCE header and INTEGER 0
    key = {
        "octets": der(0x04, d.to_bytes(32, "little")),
        "nested octets": der(0x04, der(0x04, d.to_bytes(32, "little"))),
        "integer": der(0x04, der(0x02, b"\x00" + d.to_bytes(32, "big"))),
    }[wrapping]
    pkcs8 = der(0x30, der(0x02, b"\x00") + algorithm + key)
    parsed = GostPrivateKey.from_pkcs8(pkcs8)
    assert parsed.public_key() == GostPublicKey.from_certificate(pem_body((DATA / "client-gost.cer").read_text()))


def test_signers_do_not_show_their_keys(rsa_signer: Signer, gost_signer: Signer) -> None:
    d = gost_private_scalar(DATA / "client-gost.key")
    assert str(d) not in repr(gost_signer) and hex(d)[2:] not in repr(gost_signer)
    assert "PRIVATE" not in repr(rsa_signer)
    assert client_certificate_hash(gost_signer.certificate_der) in repr(gost_signer)


def test_loads_a_der_certificate_too(tmp_path: Path) -> None:
    der_file = tmp_path / "client.der"
    der_file.write_bytes(pem_body((DATA / "client-gost.cer").read_text()))
    signer = load_signer("gost-raw", DATA / "client-gost.key", der_file)
    assert signer.certificate_der == der_file.read_bytes()


@pytest.fixture(scope="module")
def other_rsa(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_rsa_pair(tmp_path_factory.mktemp("other_rsa"), "other", "Another system")


@pytest.mark.parametrize(
    ("kind", "key", "certificate", "words"),
    [
        ("gost-raw", "client-gost.key", "esia-gost.cer", "does not belong"),
        ("gost-raw", "other.key", "client-gost.cer", "not a GOST"),
        ("gost-raw", "client-gost.key", "other.cer", "no usable GOST key"),
        ("gost-raw", "missing.key", "client-gost.cer", "Cannot read the private key"),
        ("gost-raw", "client-gost.key", "missing.cer", "Cannot read the certificate"),
        ("gost-raw", "client-gost.cer", "client-gost.cer", "no unencrypted PEM"),
        ("rsa-cms", "client-rsa.key", "other.cer", "does not belong"),
        ("rsa-cms", "client-gost.key", "other.cer", "Cannot read the RSA key"),
        ("rsa-cms", "client-rsa.key", "client-gost.cer", "no RSA key"),
        ("rsa-cms", "client-rsa.key", "two.cer", "exactly one certificate"),
        ("dsa-cms", "client-rsa.key", "other.cer", "Unknown signer kind"),
    ],
)
def test_refuses_keys_and_certificates_that_do_not_fit(
    kind: str,
    key: str,
    certificate: str,
    words: str,
    tmp_path: Path,
    other_rsa: tuple[Path, Path],
    rsa_client_files: tuple[Path, Path],
) -> None:
    files = {
        "client-gost.key": DATA / "client-gost.key",
        "client-gost.cer": DATA / "client-gost.cer",
        "esia-gost.cer": DATA / "esia-gost.cer",
        "other.key": other_rsa[0],
        "other.cer": other_rsa[1],
        "client-rsa.key": rsa_client_files[0],
        "missing.key": tmp_path / "missing.key",
        "missing.cer": tmp_path / "missing.cer",
        "two.cer": tmp_path / "two.cer",
    }
    files["two.cer"].write_bytes(rsa_client_files[1].read_bytes() + other_rsa[1].read_bytes())
    with pytest.raises(ProviderConfigError, match=words):
        load_signer(kind, files[key], files[certificate])  # type: ignore[arg-type]


CLIENT_KEY = pem_body((DATA / "client-gost.key").read_text())
CRYPTOPRO_A_OID = bytes.fromhex("06072a850302022301")  # 1.2.643.2.2.35.1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "truncated"),
        (b"\x30\x03\x02\x01\x00", "needs a version"),
        (b"\x30\x84\xff\xff\xff\xff\x00", "runs past the end"),
        (b"\x30\x80\x00\x00", "bad length"),
        (b"\x1f\x01\x00", "multi-byte tags"),
        (CLIENT_KEY + b"\x00", "trailing bytes"),
        (CLIENT_KEY.replace(CRYPTOPRO_A_OID, bytes.fromhex("06072a850302022309")), "unknown GOST R 34.10-2012"),
        (CLIENT_KEY.replace(CRYPTOPRO_A_OID, bytes.fromhex("06072a850302022381")), "truncated object"),
        (der(0x30, CLIENT_KEY[2:-34] + der(0x04, der(0x05, b""))), "expected tag"),
        (der(0x30, CLIENT_KEY[2:-34] + der(0x04, bytes(32))), "out of range"),
    ],
)
def test_malformed_gost_private_keys_are_refused_with_the_reason(data: bytes, words: str) -> None:
    with pytest.raises(GostKeyError, match=words):
        GostPrivateKey.from_pkcs8(data)


def test_a_certificate_without_a_gost_key_is_not_read_as_one(rsa_signer: Signer) -> None:
    with pytest.raises(GostKeyError, match="not a GOST"):
        GostPublicKey.from_certificate(rsa_signer.certificate_der)
    with pytest.raises(GostKeyError, match="malformed certificate"):
        GostPublicKey.from_certificate(b"\x30\x00")


def test_a_gost_pair_made_without_openssls_engine_loads_and_signs(tmp_path: Path) -> None:
    """Where OpenSSL has no GOST engine, the mock's pure-Python tooling can make a development pair."""
    key = MockGostKey.generate()
    now = dt.datetime.now(dt.UTC)
    certificate = make_gost_certificate(
        key,
        common_name="DIARY01 dev",
        organization="Dev",
        not_before=now,
        not_after=now + dt.timedelta(days=1),
        serial=7,
    )
    (tmp_path / "dev.key").write_text(to_pem(key.to_pkcs8(), "PRIVATE KEY"))
    (tmp_path / "dev.cer").write_text(to_pem(certificate))
    signer = load_signer("gost-raw", tmp_path / "dev.key", tmp_path / "dev.cer")
    assert gost_verify(certificate, MESSAGE, signer.sign(MESSAGE))
