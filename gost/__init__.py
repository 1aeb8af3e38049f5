"""GOST cryptography shared by the broker's ESIA client and the mock ESIA: Streebog (GOST R
34.11-2012) and GOST R 34.10-2012 signatures, in OpenSSL's byte order.

Import rule: this package imports the standard library only (``ctypes`` included, for OpenSSL's
engine) and none of the project's packages; ``providers`` and ``mock_esia`` may both import it.
It is a library both depend on, as both depend on ``cryptography``: neither owns it, and the
mock shares no ESIA client code through it (only the primitives).

Two implementations give the same bytes:

* OpenSSL's GOST engine in this process (:mod:`gost.engine`), when libcrypto 3 and the engine
  are installed (Debian: ``libengine-gost-openssl``);
* pure Python (:mod:`gost.streebog`, :mod:`gost.curves`, :mod:`gost.signature`), fast by
  algorithm: table-driven Streebog, projective coordinates, a precomputed table for the base
  point and a simultaneous multiplication for verification.

The functions here use the engine when it is there and the curve is a named one, pure Python
otherwise. ``GOST_BACKEND=python`` (in the environment, read on first use) keeps to pure
Python, ``GOST_BACKEND=engine`` refuses to run without the engine; the default is ``auto``.

Pure Python is not constant-time. It serves development, tests and the legacy of small
deployments; production in Russia needs certified crypto behind the broker's ``Signer``
interface.
"""

from __future__ import annotations

import functools
import os

from gost import engine as _engine
from gost import signature as _signature
from gost import streebog as _streebog
from gost.curves import BY_OID, CURVES, Affine, Curve

__all__ = [
    "BACKENDS",
    "BY_OID",
    "CURVES",
    "Affine",
    "BackendError",
    "Curve",
    "backend",
    "public_key",
    "sign",
    "streebog256",
    "streebog512",
    "verify",
]

BACKENDS = ("auto", "engine", "python")


class BackendError(RuntimeError):
    """GOST_BACKEND names no backend, or asks for an engine that is not installed."""


@functools.cache
def _engine_in_use() -> _engine.Engine | None:
    choice = os.environ.get("GOST_BACKEND", "auto") or "auto"
    if choice not in BACKENDS:
        raise BackendError(f"GOST_BACKEND={choice!r}: choose one of {', '.join(BACKENDS)}")
    if choice == "python":
        return None
    loaded = _engine.load()
    if loaded is None and choice == "engine":
        raise BackendError("GOST_BACKEND=engine but OpenSSL's GOST engine is not installed (Debian: libengine-gost-openssl)")
    return loaded


def backend() -> str:
    """``engine`` or ``python``: what this process uses for the named curves."""
    return "engine" if _engine_in_use() is not None else "python"


def streebog256(data: bytes) -> bytes:
    """The GOST R 34.11-2012 256-bit digest, bytes as OpenSSL prints them."""
    engine = _engine_in_use()
    return engine.streebog256(data) if engine is not None else _streebog.streebog256(data)


def streebog512(data: bytes) -> bytes:
    """The GOST R 34.11-2012 512-bit digest, bytes as OpenSSL prints them."""
    engine = _engine_in_use()
    return engine.streebog512(data) if engine is not None else _streebog.streebog512(data)


def public_key(curve: Curve, d: int) -> Affine:
    """The public point of the private scalar ``d``."""
    return _signature.public_key(curve, d)


def sign(curve: Curve, d: int, digest: bytes, k: int | None = None) -> bytes:
    """``s || r`` over a digest; a fixed ``k`` (published examples only) always runs in Python."""
    engine = _engine_in_use()
    if engine is not None and curve.oids and k is None:
        if not 0 < d < curve.q:
            raise ValueError("a GOST private key is a number between 0 and q")
        return engine.sign(curve, d, digest)
    return _signature.sign(curve, d, digest, k)


def verify(curve: Curve, point: Affine, digest: bytes, signature: bytes) -> bool:
    """Is ``signature`` (``s || r``) valid for ``digest`` under the public ``point``?"""
    engine = _engine_in_use()
    if engine is not None and curve.oids:
        return engine.verify(curve, point, digest, signature)
    return _signature.verify(curve, point, digest, signature)
