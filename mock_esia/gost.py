"""GOST R 34.10-2012 (256-bit) signatures and Streebog digests, in the byte order ESIA uses.

The arithmetic is PyPI's pure-Python ``gostcrypto``; this module only fixes the byte order at
its edges, so that signatures match OpenSSL's GOST engine and therefore ESIA (docs/esia.md):

* **Digest.** Streebog digests are byte strings exactly as ``openssl dgst -md_gost12_256``
  prints them. GOST R 34.10 reads the digest as a little-endian number, ``gostcrypto`` reads a
  big-endian one, so the digest is reversed before it reaches ``gostcrypto``.
* **Signature.** 64 bytes ``s || r``, each half a 32-byte big-endian integer: what
  ``openssl dgst -sign`` writes, what X.509 and CMS carry (RFC 4491 §2.2.2), and what ESIA
  sends and expects as a raw ``client_secret`` and as a JWT signature. ``gostcrypto`` works
  in ``r || s``, so the halves are swapped at both edges.
* **Public key** in a certificate: an OCTET STRING of ``x || y``, each half little-endian
  (RFC 4491 §2.3.2); ``gostcrypto`` wants both big-endian.
* **Private key** in PKCS#8 as the OpenSSL engine writes it: an OCTET STRING holding the
  32-byte little-endian scalar.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

from gostcrypto import gosthash, gostsignature

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

_GOSTCRYPTO_CURVE = {
    CRYPTOPRO_A: "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",  # CryptoPro-B
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-C
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",  # CryptoPro-XchA
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-XchB
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",
}
#: Parameter sets a GOST R 34.10-2012 (256) key may use.
PARAMSETS = frozenset(_GOSTCRYPTO_CURVE)


class GostKeyError(ValueError):
    """A GOST key is malformed or uses parameters this module does not know."""


def streebog256(data: bytes) -> bytes:
    """Return the GOST R 34.11-2012 256-bit digest of ``data``."""
    return bytes(gosthash.new("streebog256", data=bytearray(data)).digest())


def streebog512(data: bytes) -> bytes:
    """Return the GOST R 34.11-2012 512-bit digest of ``data``."""
    return bytes(gosthash.new("streebog512", data=bytearray(data)).digest())


@functools.cache
def _engine(paramset: str, curve: tuple[tuple[str, int], ...] = ()) -> gostsignature.GOST34102012:
    if curve:
        return gostsignature.new(gostsignature.MODE_256, dict(curve))
    try:
        name = _GOSTCRYPTO_CURVE[paramset]
    except KeyError:
        raise GostKeyError(f"unknown GOST R 34.10-2012 (256) parameter set {paramset}") from None
    return gostsignature.new(gostsignature.MODE_256, gostsignature.CURVES_R_1323565_1_024_2019[name])


def _swap_halves(signature: bytes) -> bytes:
    return signature[32:] + signature[:32]


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
        point = self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")
        return bool(
            _engine(self.paramset, self.curve).verify(bytearray(point), bytearray(digest[::-1]), bytearray(_swap_halves(signature)))
        )

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
        curve = gostsignature.CURVES_R_1323565_1_024_2019[_GOSTCRYPTO_CURVE[paramset]]
        return cls(paramset, 1 + secrets.randbelow(curve["q"] - 1))

    def public_key(self) -> GostPublicKey:
        point = _engine(self.paramset, self.curve).public_key_generate(bytearray(self.d.to_bytes(32, "big")))
        return GostPublicKey(
            self.paramset,
            int.from_bytes(point[:32], "big"),
            int.from_bytes(point[32:], "big"),
            self.curve,
        )

    def sign(self, message: bytes) -> bytes:
        """Sign the Streebog-256 digest of ``message``; return 64 bytes ``s || r``."""
        return self.sign_digest(streebog256(message))

    def sign_digest(self, digest: bytes, k: int | None = None) -> bytes:
        """Sign a Streebog-256 digest; ``k`` is fixed only to reproduce published vectors."""
        if len(digest) != 32:
            raise ValueError("a Streebog-256 digest has 32 bytes")
        nonce = bytearray(k.to_bytes(32, "big")) if k is not None else bytearray()
        # gostcrypto zero-fills the key buffer it is given, so it gets a fresh one each time.
        signature = _engine(self.paramset, self.curve).sign(bytearray(self.d.to_bytes(32, "big")), bytearray(digest[::-1]), nonce)
        return _swap_halves(bytes(signature))

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
