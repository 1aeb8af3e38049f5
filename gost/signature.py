"""GOST R 34.10-2012 signatures in pure Python, in OpenSSL's byte order (which is ESIA's).

* A **digest** is the byte string Streebog returns (as ``openssl dgst`` prints it); the standard
  reads it as a little-endian number ``e``.
* A **signature** is ``s || r``, each half big-endian and as long as a coordinate (32 or 64
  bytes): what ``openssl dgst -sign`` writes and X.509, CMS and ESIA carry (RFC 4491 §2.2.2).
* A **public key** is the affine point ``(x, y)`` as numbers.

Verification checks everything the standard asks (0 < r, s < q; the key on the curve; the
point ``C`` finite and ``x_C ≡ r (mod q)``), whatever it is given.
"""

from __future__ import annotations

import secrets

from gost.curves import Affine, Curve


def public_key(curve: Curve, d: int) -> Affine:
    """The public point ``d·P`` of the private scalar ``d`` (0 < d < q)."""
    if not 0 < d < curve.q:
        raise ValueError("a GOST private key is a number between 0 and q")
    point = curve.multiply_base(d)
    assert point is not None  # d is not a multiple of q
    return point


def _e(curve: Curve, digest: bytes) -> int:
    return int.from_bytes(digest, "little") % curve.q or 1


def sign(curve: Curve, d: int, digest: bytes, k: int | None = None) -> bytes:
    """Sign a digest with the private scalar ``d``; ``k`` is fixed only to reproduce published examples."""
    if not 0 < d < curve.q:
        raise ValueError("a GOST private key is a number between 0 and q")
    e = _e(curve, digest)
    q = curve.q
    while True:
        nonce = k if k is not None else 1 + secrets.randbelow(q - 1)
        point = curve.multiply_base(nonce)
        r = point[0] % q if point is not None else 0
        s = (r * d + nonce * e) % q
        if r and s:
            return s.to_bytes(curve.size, "big") + r.to_bytes(curve.size, "big")
        if k is not None:
            raise ValueError("this k gives r = 0 or s = 0; the standard asks for another")


def verify(curve: Curve, point: Affine, digest: bytes, signature: bytes) -> bool:
    """Is ``signature`` (``s || r``) valid for ``digest`` under the public ``point``?"""
    size, q = curve.size, curve.q
    if len(signature) != 2 * size or not curve.contains(point):
        return False
    s, r = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    if not (0 < r < q and 0 < s < q):
        return False
    v = pow(_e(curve, digest), -1, q)
    c = curve.multiply_two(s * v, -r * v, point)
    return c is not None and c[0] % q == r
