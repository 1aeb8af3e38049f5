"""OpenSSL's GOST engine in this process, through ctypes on the system's libcrypto.

Debian's ``libengine-gost-openssl`` installs the engine as ``engines-3/gost.so``; OpenSSL finds
it by its id ``gost`` in its engines directory (``OPENSSL_ENGINES`` overrides it). :func:`load`
returns None when libcrypto or the engine is missing, and the callers fall back to pure Python.

Keys cross into OpenSSL as DER: PKCS#8 for a private key (the engine's own layout: an OCTET
STRING of the little-endian scalar) and SubjectPublicKeyInfo for a public one (``x || y``,
little-endian halves, RFC 4491 §2.3.2). The engine reads a digest little-endian and writes
``s || r`` big-endian, as :mod:`gost.signature` does, so both give the same bytes. Only the named
parameter sets reach the engine; the standard's test curves stay in pure Python.

The engine's methods are registered in libcrypto's tables for the GOST algorithms only, and
none is made a default: no other user of the same libcrypto (Python's ``ssl``, ``hashlib``)
changes behaviour.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable

from gost.curves import Affine, Curve

_GOST2012_256 = "1.2.643.7.1.1.1.1"
_GOST2012_512 = "1.2.643.7.1.1.1.2"
_STREEBOG_256 = "1.2.643.7.1.1.2.2"
_STREEBOG_512 = "1.2.643.7.1.1.2.3"
_CACHED_KEYS = 16


class EngineError(RuntimeError):
    """OpenSSL refused an operation it should accept."""


# --- a few DER encoders, just enough for the two key containers ---------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _oid(dotted: str) -> bytes:
    parts = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def _algorithm(curve: Curve) -> bytes:
    if curve.size == 32:
        key, digest = _GOST2012_256, _STREEBOG_256
    else:
        key, digest = _GOST2012_512, _STREEBOG_512
    parameters = _oid(curve.oids[0])
    if not curve.oids[0].startswith("1.2.643.7.1.2.1.1."):  # as OpenSSL writes it: TC26's 256-bit sets name no digest
        parameters += _oid(digest)
    return _der(0x30, _oid(key) + _der(0x30, parameters))


def private_key_der(curve: Curve, d: int) -> bytes:
    """PKCS#8 as the engine writes it."""
    return _der(0x30, _der(0x02, b"\x00") + _algorithm(curve) + _der(0x04, d.to_bytes(curve.size, "little")))


def public_key_der(curve: Curve, point: Affine) -> bytes:
    """SubjectPublicKeyInfo."""
    octets = _der(0x04, point[0].to_bytes(curve.size, "little") + point[1].to_bytes(curve.size, "little"))
    return _der(0x30, _algorithm(curve) + _der(0x03, b"\x00" + octets))


# --- the engine ----------------------------------------------------------------------------------


class Engine:
    """The loaded GOST engine: digests, signatures and verification through libcrypto."""

    def __init__(self, library: ctypes.CDLL, engine: int) -> None:
        self._lib = library
        self._engine = ctypes.c_void_p(engine)
        nid = library.OBJ_txt2nid
        self._md256 = library.ENGINE_get_digest(self._engine, nid(_STREEBOG_256.encode()))
        self._md512 = library.ENGINE_get_digest(self._engine, nid(_STREEBOG_512.encode()))
        if not (self._md256 and self._md512):
            raise EngineError("the GOST engine offers no Streebog digest")
        self._keys: OrderedDict[tuple[object, ...], int] = OrderedDict()
        self._lock = threading.Lock()

    # digests

    def _digest(self, md: int, data: bytes, size: int) -> bytes:
        out = ctypes.create_string_buffer(size)
        length = ctypes.c_uint(0)
        if self._lib.EVP_Digest(data, len(data), out, ctypes.byref(length), md, self._engine) != 1:
            raise EngineError(self._error("EVP_Digest"))
        return out.raw[: length.value]

    def streebog256(self, data: bytes) -> bytes:
        return self._digest(self._md256, data, 32)

    def streebog512(self, data: bytes) -> bytes:
        return self._digest(self._md512, data, 64)

    # keys, kept for the last few used (a process signs and verifies with a handful)

    def _key(self, cache_key: tuple[object, ...], der: bytes, reader: Callable[..., int]) -> int:
        with self._lock:
            pkey = self._keys.get(cache_key)
            if pkey is not None:
                self._keys.move_to_end(cache_key)
                return pkey
            pointer = ctypes.c_char_p(der)  # d2i_* moves the pointer past what it read
            pkey = reader(None, ctypes.byref(pointer), len(der))
            if not pkey:
                raise EngineError(self._error("reading a GOST key"))
            self._keys[cache_key] = pkey
            while len(self._keys) > _CACHED_KEYS:
                _, old = self._keys.popitem(last=False)
                self._lib.EVP_PKEY_free(old)
            return pkey

    def _context(self, pkey: int) -> int:
        ctx = self._lib.EVP_PKEY_CTX_new(pkey, self._engine)
        if not ctx:
            raise EngineError(self._error("EVP_PKEY_CTX_new"))
        return int(ctx)

    def sign(self, curve: Curve, d: int, digest: bytes) -> bytes:
        """``s || r`` over ``digest``, with a fresh random k from OpenSSL."""
        lib = self._lib
        pkey = self._key(("private", curve.oids[0], d), private_key_der(curve, d), lib.d2i_AutoPrivateKey)
        ctx = self._context(pkey)
        try:
            signature = ctypes.create_string_buffer(2 * curve.size)
            length = ctypes.c_size_t(len(signature))
            if lib.EVP_PKEY_sign_init(ctx) != 1 or lib.EVP_PKEY_sign(ctx, signature, ctypes.byref(length), digest, len(digest)) != 1:
                raise EngineError(self._error("EVP_PKEY_sign"))
            return signature.raw[: length.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def verify(self, curve: Curve, point: Affine, digest: bytes, signature: bytes) -> bool:
        lib = self._lib
        size = curve.size
        if len(signature) != 2 * size or not curve.contains(point):
            return False
        if not (0 < int.from_bytes(signature[:size], "big") < curve.q and 0 < int.from_bytes(signature[size:], "big") < curve.q):
            return False  # the standard's range check, here whatever the engine checks itself
        pkey = self._key(("public", curve.oids[0], point), public_key_der(curve, point), lib.d2i_PUBKEY)
        ctx = self._context(pkey)
        try:
            if lib.EVP_PKEY_verify_init(ctx) != 1:
                raise EngineError(self._error("EVP_PKEY_verify_init"))
            result = lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest))
            lib.ERR_clear_error()  # a bad signature leaves an error on the thread's queue
            return bool(result == 1)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def _error(self, what: str) -> str:
        code = self._lib.ERR_get_error()
        text = ctypes.create_string_buffer(256)
        self._lib.ERR_error_string_n(code, text, len(text))
        self._lib.ERR_clear_error()
        return f"{what}: {text.value.decode(errors='replace')}"


def _declare(lib: ctypes.CDLL) -> None:
    p, i, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    signatures: dict[str, tuple[object, list[object]]] = {
        "ENGINE_by_id": (p, [ctypes.c_char_p]),
        "ENGINE_init": (i, [p]),
        "ENGINE_free": (i, [p]),
        "ENGINE_register_pkey_asn1_meths": (i, [p]),
        "ENGINE_register_pkey_meths": (i, [p]),
        "ENGINE_get_digest": (p, [p, i]),
        "OBJ_txt2nid": (i, [ctypes.c_char_p]),
        "EVP_Digest": (i, [ctypes.c_char_p, size, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), p, p]),
        "d2i_AutoPrivateKey": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "d2i_PUBKEY": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "EVP_PKEY_free": (None, [p]),
        "EVP_PKEY_CTX_new": (p, [p, p]),
        "EVP_PKEY_CTX_free": (None, [p]),
        "EVP_PKEY_sign_init": (i, [p]),
        "EVP_PKEY_sign": (i, [p, ctypes.c_char_p, ctypes.POINTER(size), ctypes.c_char_p, size]),
        "EVP_PKEY_verify_init": (i, [p]),
        "EVP_PKEY_verify": (i, [p, ctypes.c_char_p, size, ctypes.c_char_p, size]),
        "ERR_get_error": (ctypes.c_ulong, []),
        "ERR_error_string_n": (None, [ctypes.c_ulong, ctypes.c_char_p, size]),
        "ERR_clear_error": (None, []),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype = result
        function.argtypes = arguments


@functools.cache
def load() -> Engine | None:
    """The GOST engine, loaded once; None if libcrypto 3 or the engine is not installed."""
    path = ctypes.util.find_library("crypto")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        _declare(lib)
    except (OSError, AttributeError):
        return None
    engine = lib.ENGINE_by_id(b"gost")
    if not engine:
        lib.ERR_clear_error()
        return None
    if lib.ENGINE_init(engine) != 1:
        lib.ERR_clear_error()
        lib.ENGINE_free(engine)
        return None
    if lib.ENGINE_register_pkey_asn1_meths(engine) != 1 or lib.ENGINE_register_pkey_meths(engine) != 1:
        lib.ERR_clear_error()
        return None
    try:
        return Engine(lib, engine)
    except EngineError:
        return None
