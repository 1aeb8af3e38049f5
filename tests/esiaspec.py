"""ESIA's encodings and raw GOST recipe (docs/esia.md), written once for the test-side ESIA and client.

``tests/providers/upstream.py`` (ESIA's side) and ``tests/mock_esia/esia_test_client.py`` (a
client's side) both use it. Like them it shares no code with ``providers`` or ``mock_esia``
(agreeing with our own code would prove nothing): ``gostcrypto`` for GOST R 34.10/34.11-2012,
with ESIA's byte-order recipe (digest reversed in, ``r || s`` swapped to ``s || r``
out).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from gostcrypto import gosthash, gostsignature

if TYPE_CHECKING:
    from pathlib import Path

#: OpenSSL's paramset A (CryptoPro-A), the curve of the tests' GOST keys unless they say otherwise.
CRYPTOPRO_A = "1.2.643.2.2.35.1"
#: OpenSSL's paramset TCA (TC26 A, a twisted Edwards curve).
TC26_A = "1.2.643.7.1.2.1.1.1"
#: gostcrypto's name for each curve.
_CURVES = {
    CRYPTOPRO_A: "id-tc26-gost-3410-2012-256-paramSetB",
    TC26_A: "id-tc26-gost-3410-2012-256-paramSetA",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def streebog(data: bytes) -> bytes:
    return bytes(gosthash.new("streebog256", data=bytearray(data)).digest())


def pem_body(text: str) -> bytes:
    return base64.b64decode("".join(line for line in text.strip().splitlines() if not line.startswith("-----")))


def gost_private_scalar(key_file: Path) -> int:
    """The scalar of an OpenSSL GOST PKCS#8 key: its last OCTET STRING, 32 bytes little-endian."""
    der = pem_body(key_file.read_text())
    assert der[-34:-32] == b"\x04\x20"
    return int.from_bytes(der[-32:], "little")


def gost_public_point(certificate_der: bytes) -> bytes:
    """x || y big-endian from a certificate's 256-bit GOST key (BIT STRING → OCTET STRING of 64)."""
    marker = b"\x03\x43\x00\x04\x40"
    start = certificate_der.index(marker) + len(marker)
    raw = certificate_der[start : start + 64]
    return raw[:32][::-1] + raw[32:][::-1]


def _engine(paramset: str) -> gostsignature.GOST34102012:
    return gostsignature.new(gostsignature.MODE_256, gostsignature.CURVES_R_1323565_1_024_2019[_CURVES[paramset]])


def gost_sign(d: int, message: bytes, paramset: str = CRYPTOPRO_A) -> bytes:
    """Sign ``message`` with scalar ``d``: 64 bytes, ``s || r``."""
    r_s = _engine(paramset).sign(bytearray(d.to_bytes(32, "big")), bytearray(streebog(message)[::-1]))
    return bytes(r_s[32:] + r_s[:32])


def gost_verify(certificate_der: bytes, message: bytes, signature: bytes, paramset: str = CRYPTOPRO_A) -> bool:
    """Check an ``s || r`` signature of ``message`` against the certificate's key."""
    r_s = signature[32:] + signature[:32]
    point = gost_public_point(certificate_der)
    return bool(_engine(paramset).verify(bytearray(point), bytearray(streebog(message)[::-1]), bytearray(r_s)))
