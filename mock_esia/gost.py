"""GOST R 34.10-2012 (256-bit) signatures and Streebog digests, in the byte order ESIA uses.

The arithmetic is the project's :mod:`gost` library, which the broker's ESIA client uses too (a
library both depend on, as both depend on ``cryptography``; no client code is shared). It
speaks the byte order OpenSSL's GOST engine and therefore ESIA use (docs/esia.md):

* **Digest.** Streebog digests are byte strings exactly as ``openssl dgst -md_gost12_256``
  prints them; GOST R 34.10 reads the digest as a little-endian number.
* **Signature.** 64 bytes ``s || r``, each half a 32-byte big-endian integer: what
  ``openssl dgst -sign`` writes, what X.509 and CMS carry (RFC 4491 §2.2.2), and what ESIA
  sends and expects as a raw ``client_secret`` and as a JWT signature.
* **Public key** in a certificate: an OCTET STRING of ``x || y``, each half little-endian
  (RFC 4491 §2.3.2); here the point's coordinates are numbers.
* **Private key** in PKCS#8 as the OpenSSL engine writes it: an OCTET STRING holding the
  32-byte little-endian scalar.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

import gost
from mock_esia import der

#: OID of GOST R 34.10-2012 public keys with a 256-bit modulus.
GOST3410_2012_256 = "1.2.643.7.1.1.1.1"
#: OID of the signature algorithm "GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)".
SIGNWITHDIGEST_2012_256 = "1.2.643.7.1.1.3.2"
#: OIDs of Streebog-256 and Streebog-512.
STREEBOG_256 = "1.2.643.7.1.1.2.2"
STREEBOG_512 = "1.2.643.7.1.1.2.3"
#: CryptoPro-A, OpenSSL's ``paramset:A`` and the mock's own choice.
CRYPTOPRO_A = "1.2.643.2.2.35.1"

#: Parameter sets a GOST R 34.10-2012 (256) key may use: CryptoPro A, B, C, XchA, XchB, TC26 A-D.
_CURVES = {oid: curve for oid, curve in gost.BY_OID.items() if curve.size == 32}
PARAMSETS = frozenset(_CURVES)


class GostKeyError(ValueError):
    """A GOST key is malformed or uses parameters this module does not know."""


def streebog256(data: bytes) -> bytes:
    """Return the GOST R 34.11-2012 256-bit digest of ``data``."""
    return gost.streebog256(data)


def streebog512(data: bytes) -> bytes:
    """Return the GOST R 34.11-2012 512-bit digest of ``data``."""
    return gost.streebog512(data)


@functools.cache
def _curve(paramset: str, curve: tuple[tuple[str, int], ...] = ()) -> gost.Curve:
    if curve:
        values = dict(curve)
        return gost.Curve(paramset, values["p"], values["a"], values["b"], values["q"], values["x"], values["y"])
    try:
        return _CURVES[paramset]
    except KeyError:
        raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}") from None


@dataclass(frozen=True, slots=True)
class GostPublicKey:
    """A GOST R 34.10-2012 (256) public key: a curve point on a named parameter set.

    ``curve`` is empty for named parameter sets; tests pass explicit curve parameters (for the
    standard's own test curve) as a tuple of ``(name, value)`` pairs.
    """

    paramset: str
    x: int
    y: int
    curve: tuple[tuple[str, int], ...] = ()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Check a 64-byte ``s || r`` signature over the Streebog-256 digest of ``message``."""
        return self.verify_digest(streebog256(message), signature)

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        """Check a 64-byte ``s || r`` signature over a Streebog-256 digest."""
        if len(signature) != 64 or len(digest) != 32:
            return False
        return gost.verify(_curve(self.paramset, self.curve), (self.x, self.y), digest, signature)

    def to_octets(self) -> bytes:
        """Return ``x || y``, little-endian halves, as a certificate carries the key."""
        return self.x.to_bytes(32, "little") + self.y.to_bytes(32, "little")

    @classmethod
    def from_octets(cls, paramset: str, value: bytes) -> GostPublicKey:
        if len(value) != 64:
            raise GostKeyError(f"a GOST 256-bit public key has 64 bytes, not {len(value)}")
        return cls(paramset, int.from_bytes(value[:32], "little"), int.from_bytes(value[32:], "little"))

    def to_spki(self) -> bytes:
        """Encode as a DER SubjectPublicKeyInfo."""
        algorithm = der.sequence(der.oid(GOST3410_2012_256), der.sequence(der.oid(self.paramset), der.oid(STREEBOG_256)))
        return der.sequence(algorithm, der.bits(der.octets(self.to_octets())))

    @classmethod
    def from_spki(cls, spki: der.Element) -> GostPublicKey:
        """Decode a SubjectPublicKeyInfo element holding a GOST R 34.10-2012 (256) key."""
        algorithm, key_bits = spki.expect(der.SEQUENCE).children()
        algorithm_oid, parameters = algorithm.children()[:2]
        if der.as_oid(algorithm_oid) != GOST3410_2012_256:
            raise GostKeyError(f"not a GOST R 34.10-2012 (256) key: {der.as_oid(algorithm_oid)}")
        paramset = der.as_oid(parameters.children()[0])
        if paramset not in PARAMSETS:
            raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}")
        return cls.from_octets(paramset, der.as_octets(der.read(der.as_bits(key_bits))))


@dataclass(frozen=True, slots=True)
class GostPrivateKey:
    """A GOST R 34.10-2012 (256) private key: the scalar ``d`` on a named parameter set."""

    paramset: str
    d: int = field(repr=False)
    curve: tuple[tuple[str, int], ...] = ()

    @classmethod
    def generate(cls, paramset: str = CRYPTOPRO_A) -> GostPrivateKey:
        if paramset not in PARAMSETS:
            raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}")
        return cls(paramset, 1 + secrets.randbelow(_CURVES[paramset].q - 1))

    def public_key(self) -> GostPublicKey:
        x, y = gost.public_key(_curve(self.paramset, self.curve), self.d)
        return GostPublicKey(self.paramset, x, y, self.curve)

    def sign(self, message: bytes) -> bytes:
        """Sign the Streebog-256 digest of ``message``; return 64 bytes ``s || r``."""
        return self.sign_digest(streebog256(message))

    def sign_digest(self, digest: bytes, k: int | None = None) -> bytes:
        """Sign a Streebog-256 digest; ``k`` is fixed only to reproduce published vectors."""
        if len(digest) != 32:
            raise ValueError("a Streebog-256 digest has 32 bytes")
        return gost.sign(_curve(self.paramset, self.curve), self.d, digest, k)

    def to_pkcs8(self) -> bytes:
        """Encode as DER PKCS#8, in the OpenSSL GOST engine's layout."""
        algorithm = der.sequence(der.oid(GOST3410_2012_256), der.sequence(der.oid(self.paramset), der.oid(STREEBOG_256)))
        return der.sequence(der.integer(0), algorithm, der.octets(self.d.to_bytes(32, "little")))

    @classmethod
    def from_pkcs8(cls, data: bytes) -> GostPrivateKey:
        """Decode DER PKCS#8 with the scalar as raw octets, an OCTET STRING or an INTEGER."""
        try:
            _, algorithm, key = der.read(data).expect(der.SEQUENCE).children()[:3]
            algorithm_oid, parameters = algorithm.children()[:2]
            if der.as_oid(algorithm_oid) != GOST3410_2012_256:
                raise GostKeyError("not a GOST R 34.10-2012 (256) private key")
            paramset = der.as_oid(parameters.children()[0])
            raw = der.as_octets(key)
            if len(raw) == 32:
                d = int.from_bytes(raw, "little")
            else:
                inner = der.read(raw)
                if inner.tag == der.INTEGER:
                    d = der.as_int(inner)
                else:
                    d = int.from_bytes(der.as_octets(inner), "little")
        except der.DerError as exc:
            raise GostKeyError(f"malformed GOST private key: {exc}") from exc
        if paramset not in PARAMSETS:
            raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}")
        return cls(paramset, d)
