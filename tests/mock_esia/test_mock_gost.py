"""GOST R 34.11-2012 and 34.10-2012 in the mock: published test vectors and OpenSSL interop."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_esia import cms, gost
from mock_esia.certificates import parse_certificate, pem_blocks, to_pem
from tests.esiaspec import pem_body
from tests.opensslgost import Openssl

from .esia_test_client import DATA

# GOST R 34.11-2012, Appendix A: M1 (63 ASCII digits) and M2 (72 bytes, CP1251 text). Digests as
# byte strings, i.e. as OpenSSL prints them (the standard prints them reversed).
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = bytes.fromhex(
    "d1e520e2e5f2f0e82c20d1f2f0e8e1eee6e820e2edf3f6e82c20e2e5fef2fa20f120eceef0ff20f1f2f0e5ebe0ece820ede020f5f0e0e1f0fbff20efebfaeafb20c8e3eef0e5e2fb"
)
STREEBOG_VECTORS = [
    (gost.streebog256, M1, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
    (gost.streebog256, M2, "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"),
    (
        gost.streebog512,
        M1,
        "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
    ),
    (
        gost.streebog512,
        M2,
        "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
    ),
]

# GOST R 34.10-2012, Appendix A.1: the 256-bit example on its test curve.
TEST_CURVE = (
    ("p", 0x8000000000000000000000000000000000000000000000000000000000000431),
    ("a", 0x7),
    ("b", 0x5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E),
    ("m", 0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3),
    ("q", 0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3),
    ("x", 0x2),
    ("y", 0x08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8),
)
D = 0x7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28
QX = 0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B
QY = 0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA
E = 0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5
K = 0x77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3
R = 0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493
S = 0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40
# The standard's hash value e as the byte string a Streebog implementation would emit.
DIGEST_OF_E = E.to_bytes(32, "big")[::-1]


@pytest.mark.parametrize(("function", "message", "expected"), STREEBOG_VECTORS)
def test_streebog_matches_the_published_vectors(function, message, expected):
    assert function(message).hex() == expected


def test_gost_signature_reproduces_the_standards_example_in_openssl_byte_order():
    key = gost.GostPrivateKey("test-curve", D, TEST_CURVE)

    public = key.public_key()
    signature = key.sign_digest(DIGEST_OF_E, k=K)

    assert (public.x, public.y) == (QX, QY)
    assert signature == S.to_bytes(32, "big") + R.to_bytes(32, "big")
    assert public.verify_digest(DIGEST_OF_E, signature)


def test_gost_verification_rejects_a_changed_digest_or_signature():
    public = gost.GostPublicKey("test-curve", QX, QY, TEST_CURVE)
    good = S.to_bytes(32, "big") + R.to_bytes(32, "big")
    assert not public.verify_digest(DIGEST_OF_E[:-1] + b"\x00", good)
    assert not public.verify_digest(DIGEST_OF_E, good[32:] + good[:32])
    assert not public.verify_digest(DIGEST_OF_E, good[:63])


def test_a_client_gost_key_and_certificate_made_by_openssl_are_read():
    key = gost.GostPrivateKey.from_pkcs8(pem_blocks((DATA / "client-gost.key").read_text(), "PRIVATE KEY")[0])
    certificate = parse_certificate(pem_blocks((DATA / "client-gost.cer").read_text())[0])

    assert certificate.is_gost
    assert isinstance(certificate.public_key, gost.GostPublicKey)
    assert certificate.public_key == key.public_key()
    assert certificate.subject == "DIARY01 test system"
    assert certificate.public_key.verify(b"message", key.sign(b"message"))


@pytest.mark.parametrize("name", ["client", "other"])
def test_a_signature_made_by_openssl_verifies_in_the_mock(openssl: Openssl, tmp_path: Path, name: str):
    message = tmp_path / "message"
    message.write_bytes("client_idscope2026.01.01 12:00:00 +0300state ё".encode())
    signed = openssl.run("dgst", "-md_gost12_256", "-sign", str(DATA / f"{name}-gost.key"), str(message))
    assert signed.returncode == 0, signed.stderr
    certificate = parse_certificate(pem_blocks((DATA / f"{name}-gost.cer").read_text())[0])

    assert isinstance(certificate.public_key, gost.GostPublicKey)
    assert certificate.public_key.verify(message.read_bytes(), signed.stdout)
    assert not certificate.public_key.verify(message.read_bytes() + b"!", signed.stdout)


@pytest.mark.parametrize("name", ["client", "other"])
def test_a_signature_made_by_the_mock_verifies_in_openssl(openssl: Openssl, tmp_path: Path, name: str):
    key = gost.GostPrivateKey.from_pkcs8(pem_blocks((DATA / f"{name}-gost.key").read_text(), "PRIVATE KEY")[0])
    message = tmp_path / "message"
    message.write_bytes(b"scope2026.01.01 12:00:00 +0300DIARY01state")
    (tmp_path / "signature").write_bytes(key.sign(message.read_bytes()))
    public = openssl.run("x509", "-in", str(DATA / f"{name}-gost.cer"), "-pubkey", "-noout")
    (tmp_path / "public.pem").write_bytes(public.stdout)

    verified = openssl.run(
        "dgst",
        "-md_gost12_256",
        "-verify",
        str(tmp_path / "public.pem"),
        "-signature",
        str(tmp_path / "signature"),
        str(message),
    )

    assert verified.stdout.strip() == b"Verified OK", verified.stderr


def test_the_mocks_gost_certificate_and_key_are_valid_for_openssl(openssl: Openssl, app, tmp_path: Path):
    keys = app.extensions["mock_esia"].keys
    (tmp_path / "esia.cer").write_text(keys.gost_certificate_pem)
    (tmp_path / "esia.key").write_text(to_pem(keys.gost_key.to_pkcs8(), "PRIVATE KEY"))

    verified = openssl.run("verify", "-CAfile", str(tmp_path / "esia.cer"), str(tmp_path / "esia.cer"))
    from_key = openssl.run("pkey", "-in", str(tmp_path / "esia.key"), "-pubout")
    from_certificate = openssl.run("x509", "-in", str(tmp_path / "esia.cer"), "-pubkey", "-noout")

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert from_key.returncode == 0 and from_key.stdout == from_certificate.stdout


def test_the_certificate_hash_equals_openssls_streebog_of_the_der_certificate(openssl: Openssl):
    der = openssl.run("x509", "-in", str(DATA / "client-gost.cer"), "-outform", "DER").stdout
    digest = openssl.run("dgst", "-md_gost12_256", "-r", data=der).stdout.split()[0].decode()

    assert parse_certificate(pem_body((DATA / "client-gost.cer").read_text())).streebog_hash == digest


@pytest.mark.parametrize("attributes", [True, False], ids=["with-signed-attributes", "noattr"])
def test_a_gost_cms_signature_made_by_openssl_smime_verifies(openssl: Openssl, tmp_path: Path, attributes: bool):
    message = tmp_path / "message"
    message.write_bytes(b"openid fullname2026.01.01 12:00:00 +0300DIARY01a3f1c8d0-0000-4000-8000-000000000001")
    arguments = [
        "smime",
        "-sign",
        "-binary",
        "-outform",
        "DER",
        "-signer",
        str(DATA / "client-gost.cer"),
        "-inkey",
        str(DATA / "client-gost.key"),
        "-in",
        str(message),
    ]
    signed = openssl.run(*arguments, *([] if attributes else ["-noattr"]))
    assert signed.returncode == 0, signed.stderr
    registered = [parse_certificate(pem_blocks((DATA / "client-gost.cer").read_text())[0])]

    assert cms.verify_detached(signed.stdout, message.read_bytes(), registered) == registered[0]
    with pytest.raises(cms.CmsError):
        cms.verify_detached(signed.stdout, message.read_bytes() + b"x", registered)
    with pytest.raises(cms.CmsError):
        other = parse_certificate(pem_blocks((DATA / "other-gost.cer").read_text())[0])
        cms.verify_detached(signed.stdout, message.read_bytes(), [other])
