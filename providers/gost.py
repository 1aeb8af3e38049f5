"""GOST R 34.10-2012 (256-bit) keys, signatures and Streebog-256, in ESIA's byte order.

The arithmetic is the project's :mod:`gost` library (OpenSSL's GOST engine in process when it is
installed, fast pure Python otherwise), which already speaks OpenSSL's byte order; this module
owns the key containers at its edges (docs/esia.md, 'client_secret signing'):

* A signature is 64 bytes ``s || r``, each half big-endian: what ``openssl dgst
  -md_gost12_256 -sign`` writes, what ESIA expects in ``client_secret`` and puts in a
  ``GOST3410_2012_256`` JWT.
* The Streebog digest is the byte string OpenSSL prints; GOST R 34.10 reads it as a
  little-endian number (:mod:`gost.signature`).
* A certificate carries the public key as an OCTET STRING ``x || y`` with little-endian halves
  (RFC 4491 §2.3.2); :class:`GostPublicKey` keeps ``x || y`` big-endian.
* OpenSSL's GOST engine writes the private key in PKCS#8 as an OCTET STRING of the 32-byte
  little-endian scalar; other tools wrap it in a further OCTET STRING or write an INTEGER.

Pure Python is not constant-time. It serves development, tests and the legacy of small
deployments; production in Russia needs certified crypto behind the same ``Signer`` interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gost
from providers import der

#: Public key algorithm "GOST R 34.10-2012 with a 256-bit key".
GOST3410_2012_256 = "1.2.643.7.1.1.1.1"

# The 256-bit parameter sets by OID: CryptoPro A, B, C and XchA, XchB, and TC26's A-D
# (RFC 4357 §11.4, RFC 7836 Appendix A). OpenSSL's "paramset:A" is CryptoPro-A.
_CURVES = {oid: curve for oid, curve in gost.BY_OID.items() if curve.size == 32}


class GostKeyError(ValueError):
    """A GOST key or certificate is malformed or uses parameters this module does not know."""


def streebog256(data: bytes) -> bytes:
    """The GOST R 34.11-2012 (Streebog) 256-bit digest, bytes as OpenSSL prints them."""
    return gost.streebog256(data)


def _curve(paramset: str) -> gost.Curve:
    try:
        return _CURVES[paramset]
    except KeyError:
        raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}") from None


def _algorithm_paramset(algorithm: der.Node) -> str:
    """The parameter set of a GOST R 34.10-2012 (256) AlgorithmIdentifier."""
    parts = algorithm.expect(der.SEQUENCE).children()
    if len(parts) < 2 or parts[0].oid() != GOST3410_2012_256:
        raise GostKeyError("not a GOST R 34.10-2012 (256-bit) key")
    parameters = parts[1].expect(der.SEQUENCE).children()
    if not parameters:
        raise GostKeyError("the key names no parameter set")
    paramset = parameters[0].oid()
    if paramset not in _CURVES:
        raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}")
    return paramset


@dataclass(frozen=True, slots=True)
class GostPublicKey:
    """A public key: the curve's parameter set and the point ``x || y``, big-endian halves."""

    paramset: str
    point: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Is ``signature`` (64 bytes ``s || r``) valid for ``message`` under this key?"""
        if len(signature) != 64 or len(self.point) != 64:
            return False
        point = int.from_bytes(self.point[:32], "big"), int.from_bytes(self.point[32:], "big")
        return gost.verify(_curve(self.paramset), point, streebog256(message), signature)

    @classmethod
    def from_spki(cls, spki: der.Node) -> GostPublicKey:
        """Read a SubjectPublicKeyInfo (RFC 4491 §2.3.2)."""
        try:
            algorithm, key_bits = spki.expect(der.SEQUENCE).children()[:2]
            paramset = _algorithm_paramset(algorithm)
            octets = der.parse(key_bits.bit_string_bytes()).expect(der.OCTET_STRING).content
        except (der.DerError, IndexError) as exc:
            raise GostKeyError(f"malformed GOST public key: {exc}") from exc
        if len(octets) != 64:
            raise GostKeyError("a GOST 256-bit public key has 64 bytes")
        return cls(paramset, octets[:32][::-1] + octets[32:][::-1])

    @classmethod
    def from_certificate(cls, certificate_der: bytes) -> GostPublicKey:
        """Read the key of a DER X.509 certificate."""
        try:
            tbs = der.parse(certificate_der).expect(der.SEQUENCE).children()[0].expect(der.SEQUENCE)
            fields = tbs.children()
            # TBSCertificate: [0] version (optional), serial, signature, issuer, validity, subject, spki.
            spki = fields[6] if fields[0].tag == 0xA0 else fields[5]
        except (der.DerError, IndexError) as exc:
            raise GostKeyError(f"malformed certificate: {exc}") from exc
        return cls.from_spki(spki)


@dataclass(frozen=True, slots=True)
class GostPrivateKey:
    """A private key: the parameter set and the scalar ``d``."""

    paramset: str
    d: int = field(repr=False)

    def public_key(self) -> GostPublicKey:
        x, y = gost.public_key(_curve(self.paramset), self.d)
        return GostPublicKey(self.paramset, x.to_bytes(32, "big") + y.to_bytes(32, "big"))

    def sign(self, message: bytes) -> bytes:
        """Sign Streebog-256 of ``message``; return 64 bytes ``s || r`` as OpenSSL does."""
        return gost.sign(_curve(self.paramset), self.d, streebog256(message))

    @classmethod
    def from_pkcs8(cls, data: bytes) -> GostPrivateKey:
        """Read an unencrypted DER PKCS#8 key as OpenSSL's GOST engine writes it (and variants)."""
        try:
            parts = der.parse(data).expect(der.SEQUENCE).children()
            if len(parts) < 3:
                raise der.DerError("PKCS#8 needs a version, an algorithm and a key")
            paramset = _algorithm_paramset(parts[1])
            raw = parts[2].expect(der.OCTET_STRING).content
            if len(raw) == 32:
                d = int.from_bytes(raw, "little")
            else:
                inner = der.parse(raw)
                if inner.tag == der.INTEGER:
                    d = int.from_bytes(inner.content, "big")
                else:
                    d = int.from_bytes(inner.expect(der.OCTET_STRING).content, "little")
        except (der.DerError, IndexError) as exc:
            raise GostKeyError(f"malformed GOST private key: {exc}") from exc
        if not 0 < d < 2**256:
            raise GostKeyError("the GOST private key is out of range")
        return cls(paramset, d)
