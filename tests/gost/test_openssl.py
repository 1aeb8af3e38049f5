"""The gost library against the ``openssl`` command with its GOST engine, a separate process: our
keys and signatures read and verified by OpenSSL, OpenSSL's verified by us."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gost import curves, engine, signature, streebog
from tests.opensslgost import Openssl

# (curve, OpenSSL's algorithm and paramset, its digest)
SETS = [
    pytest.param(curves.BY_OID["1.2.643.2.2.35.1"], "gost2012_256", "A", "md_gost12_256", id="256-CryptoPro-A"),
    pytest.param(curves.BY_OID["1.2.643.2.2.35.2"], "gost2012_256", "B", "md_gost12_256", id="256-CryptoPro-B"),
    pytest.param(curves.BY_OID["1.2.643.7.1.2.1.1.1"], "gost2012_256", "TCA", "md_gost12_256", id="256-TC26-A"),
    pytest.param(curves.BY_OID["1.2.643.7.1.2.1.2.1"], "gost2012_512", "A", "md_gost12_512", id="512-TC26-A"),
]
MESSAGE = "client_idscope2026.01.01 12:00:00 +0300state ё".encode()


def pem(der: bytes, label: str) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def digest(curve: curves.Curve, data: bytes) -> bytes:
    return streebog.streebog256(data) if curve.size == 32 else streebog.streebog512(data)


@pytest.mark.parametrize(("curve", "algorithm", "paramset", "md"), SETS)
def test_openssl_verifies_our_signature_and_reads_our_keys(
    openssl: Openssl, tmp_path: Path, curve: curves.Curve, algorithm: str, paramset: str, md: str
) -> None:
    d = 0x5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED % curve.q
    point = signature.public_key(curve, d)
    (tmp_path / "key.pem").write_text(pem(engine.private_key_der(curve, d), "PRIVATE KEY"))
    (tmp_path / "public.pem").write_text(pem(engine.public_key_der(curve, point), "PUBLIC KEY"))
    (tmp_path / "message").write_bytes(MESSAGE)
    (tmp_path / "signature").write_bytes(signature.sign(curve, d, digest(curve, MESSAGE)))

    derived = openssl.run("pkey", "-in", str(tmp_path / "key.pem"), "-pubout")
    verified = openssl.run(
        "dgst", f"-{md}", "-verify", str(tmp_path / "public.pem"), "-signature", str(tmp_path / "signature"), str(tmp_path / "message")
    )

    assert derived.stdout.decode() == (tmp_path / "public.pem").read_text(), derived.stderr
    assert verified.stdout.strip() == b"Verified OK", verified.stderr


@pytest.mark.parametrize(("curve", "algorithm", "paramset", "md"), SETS)
def test_we_verify_a_signature_openssl_made_with_a_key_it_generated(
    openssl: Openssl, tmp_path: Path, curve: curves.Curve, algorithm: str, paramset: str, md: str
) -> None:
    key = tmp_path / "key.pem"
    generated = openssl.run("genpkey", "-algorithm", algorithm, "-pkeyopt", f"paramset:{paramset}", "-out", str(key))
    assert generated.returncode == 0, generated.stderr
    (tmp_path / "message").write_bytes(MESSAGE)
    signed = openssl.run("dgst", f"-{md}", "-sign", str(key), str(tmp_path / "message"))
    spki = openssl.run("pkey", "-in", str(key), "-pubout", "-outform", "DER").stdout
    octets = spki[-2 * curve.size :]  # the SPKI ends with the OCTET STRING x || y, little-endian halves
    point = int.from_bytes(octets[: curve.size], "little"), int.from_bytes(octets[curve.size :], "little")

    assert spki == engine.public_key_der(curve, point)
    assert signature.verify(curve, point, digest(curve, MESSAGE), signed.stdout)
    assert not signature.verify(curve, point, digest(curve, MESSAGE + b"!"), signed.stdout)


@pytest.mark.parametrize(("size", "md"), [(256, "md_gost12_256"), (512, "md_gost12_512")])
def test_streebog_agrees_with_openssl_dgst(openssl: Openssl, size: int, md: str) -> None:
    data = bytes(range(256)) * 3 + MESSAGE
    printed = openssl.run("dgst", f"-{md}", "-r", data=data).stdout.split()[0].decode()
    ours = streebog.streebog256(data) if size == 256 else streebog.streebog512(data)
    assert ours.hex() == printed
