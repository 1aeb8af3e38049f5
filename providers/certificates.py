"""Certificate files: ESIA's token-signing certificates (with re-reading for rotation) and PEM/DER.

ESIA publishes its token-signing certificates in ``esia.zip`` (``RSA_PROD_2025.cer``,
``ГОСТ_PROD_25_26.cer``, …) and rotates them without notice (ekapusta/oauth2-esia#27: a
hard-coded certificate broke on 2024-05-23). So the client is configured with several files,
RSA and GOST, PEM or DER, and :meth:`EsiaCertificates.reload` re-reads them when no configured
certificate verifies a token: an operator who drops the new certificate in place fixes logins
without a restart.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.base import ProviderConfigError
from providers.gost import GOST3410_2012_256, GostKeyError, GostPublicKey

#: JWS ``alg`` values ESIA signs tokens with (docs/esia.md, 'Token checks'), and nothing else.
RS256 = "RS256"
GOST_JWS_ALG = "GOST3410_2012_256"

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----")
_log = logging.getLogger(__name__)


def pem_blocks(data: bytes, label: str) -> list[bytes]:
    """The DER bodies of every PEM block labelled ``label``."""
    text = data.decode("ascii", "replace")
    return [base64.b64decode("".join(body.split())) for found, body in _PEM_BLOCK.findall(text) if found == label]


def certificates_in(data: bytes) -> list[bytes]:
    """DER certificates in a file's bytes: every PEM ``CERTIFICATE`` block, or the file as DER."""
    if b"-----BEGIN" in data:
        return pem_blocks(data, "CERTIFICATE")
    return [data] if data else []


@dataclass(frozen=True, slots=True)
class EsiaCertificate:
    """One of ESIA's token-signing certificates and the JWS algorithm its key verifies."""

    source: str
    key: rsa.RSAPublicKey | GostPublicKey = field(repr=False)

    @property
    def algorithm(self) -> str:
        return RS256 if isinstance(self.key, rsa.RSAPublicKey) else GOST_JWS_ALG

    def verifies(self, signing_input: bytes, signature: bytes) -> bool:
        """Does this certificate's key verify ``signature`` over ``signing_input``?"""
        if isinstance(self.key, GostPublicKey):
            return self.key.verify(signing_input, signature)
        if len(signature) != (self.key.key_size + 7) // 8:
            return False
        try:
            # RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
            self.key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def parse_certificate(certificate_der: bytes, source: str) -> EsiaCertificate:
    """Read an RSA or GOST R 34.10-2012 (256) certificate."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        if certificate.public_key_algorithm_oid.dotted_string == GOST3410_2012_256:
            return EsiaCertificate(source, GostPublicKey.from_certificate(certificate_der))
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm, GostKeyError) as exc:
        raise ProviderConfigError(f"{source}: not a usable RSA or GOST R 34.10-2012 (256) certificate ({exc}).") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderConfigError(f"{source}: ESIA signs tokens with RSA or GOST keys; this certificate has neither.")
    return EsiaCertificate(source, key)


def read_certificates(paths: Sequence[Path]) -> tuple[EsiaCertificate, ...]:
    """Read every certificate in ``paths`` (PEM, possibly several per file, or DER)."""
    found: list[EsiaCertificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProviderConfigError(f"Cannot read the ESIA certificate file {path}: {exc.strerror}.") from None
        blobs = certificates_in(data)
        if not blobs:
            raise ProviderConfigError(f"{path} holds no certificate (PEM or DER).")
        found.extend(parse_certificate(blob, str(path)) for blob in blobs)
    if not found:
        raise ProviderConfigError("No ESIA certificate is configured; tokens could not be verified.")
    return tuple(found)


class EsiaCertificates:
    """ESIA's token-signing certificates, read from files now and re-read on demand."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self._paths = tuple(Path(path) for path in paths)
        self._lock = threading.Lock()
        self._certificates = read_certificates(self._paths)
        #: How many times the files were read (1 after construction).
        self.reads = 1

    @property
    def certificates(self) -> tuple[EsiaCertificate, ...]:
        return self._certificates

    def for_algorithm(self, algorithm: str) -> tuple[EsiaCertificate, ...]:
        return tuple(c for c in self._certificates if c.algorithm == algorithm)

    def reload(self) -> None:
        """Re-read the files; if they became unreadable, keep what was read before."""
        with self._lock:
            self.reads += 1
            try:
                self._certificates = read_certificates(self._paths)
            except ProviderConfigError as exc:
                _log.warning("ESIA certificates not re-read, keeping the previous ones: %s", exc)
