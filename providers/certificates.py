"""Certificate files: ESIA's token-signing certificates (with re-reading for rotation) and PEM/DER.

ESIA publishes its token-signing certificates in ``esia.zip`` (``RSA_PROD_2025.cer``,
``ГОСТ_PROD_25_26.cer``, …) and rotates them without notice (ekapusta/oauth2-esia#27: a
hard-coded certificate broke on 2024-05-23). So the client is configured with several files,
RSA and GOST, PEM or DER, or the archive itself, and :meth:`EsiaCertificates.reload` re-reads
them when no configured certificate verifies a token: an operator who drops the new
certificate (or archive) in place fixes logins without a restart. An expired certificate is
refused; one close to its end is warned about (:meth:`EsiaCertificates.notices`).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
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
_CERTIFICATE_SUFFIXES = (".cer", ".crt", ".pem", ".der")
#: A certificate is a few kilobytes; an archive member larger than this is refused unread.
_MAX_MEMBER_BYTES = 1024 * 1024


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
    """One of ESIA's token-signing certificates, its validity and the JWS algorithm its key verifies."""

    source: str
    key: rsa.RSAPublicKey | GostPublicKey = field(repr=False)
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    subject: str = ""

    @property
    def algorithm(self) -> str:
        return RS256 if isinstance(self.key, rsa.RSAPublicKey) else GOST_JWS_ALG

    def expired(self, now: float) -> bool:
        return self.not_after is not None and self.not_after.timestamp() < now

    def days_left(self, now: float) -> float | None:
        return None if self.not_after is None else (self.not_after.timestamp() - now) / 86400

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
        validity = (certificate.not_valid_before_utc, certificate.not_valid_after_utc, certificate.subject.rfc4514_string())
        if certificate.public_key_algorithm_oid.dotted_string == GOST3410_2012_256:
            return EsiaCertificate(source, GostPublicKey.from_certificate(certificate_der), *validity)
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm, GostKeyError) as exc:
        raise ProviderConfigError(f"{source}: not a usable RSA or GOST R 34.10-2012 (256) certificate ({exc}).") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderConfigError(f"{source}: ESIA signs tokens with RSA or GOST keys; this certificate has neither.")
    return EsiaCertificate(source, key, *validity)


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as ESIA's archive means it: names without the UTF-8 flag are in CP866 (``ГОСТ_PROD_25_26.cer``)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp866")
    except UnicodeError:
        return info.filename


def _read_archive(path: Path) -> list[EsiaCertificate]:
    """Every certificate in an archive like ESIA's ``esia.zip`` (``.cer``, ``.crt``, ``.pem``, ``.der``; the ``.jwk`` files are left)."""
    found: list[EsiaCertificate] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = _member_name(info)
                if info.is_dir() or not name.lower().endswith(_CERTIFICATE_SUFFIXES):
                    continue
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise ProviderConfigError(f"{path}: {name} is too large ({info.file_size} bytes) to be a certificate.")
                found.extend(parse_certificate(blob, f"{path}:{name}") for blob in certificates_in(archive.read(info)))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ProviderConfigError(f"Cannot read the ESIA certificate archive {path}: {exc}.") from None
    if not found:
        raise ProviderConfigError(f"{path} holds no certificate (.cer, .crt, .pem or .der).")
    return found


def read_certificates(paths: Sequence[Path]) -> tuple[EsiaCertificate, ...]:
    """Read every certificate in ``paths``: files (PEM, possibly several per file, or DER) and archives (``esia.zip``)."""
    found: list[EsiaCertificate] = []
    for path in paths:
        try:
            is_archive = path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)
            data = b"" if is_archive else path.read_bytes()
        except OSError as exc:
            raise ProviderConfigError(f"Cannot read the ESIA certificate file {path}: {exc.strerror}.") from None
        if is_archive:
            found.extend(_read_archive(path))
            continue
        blobs = certificates_in(data)
        if not blobs:
            raise ProviderConfigError(f"{path} holds no certificate (PEM or DER).")
        found.extend(parse_certificate(blob, str(path)) for blob in blobs)
    if not found:
        raise ProviderConfigError("No ESIA certificate is configured; tokens could not be verified.")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class CertificateNotice:
    """Something an operator must hear about one of ESIA's certificates: ``expired`` or ``expiring``."""

    kind: str
    source: str
    subject: str
    not_after: dt.datetime

    def message(self, now: float) -> str:
        day = self.not_after.date().isoformat()
        if self.kind == "expired":
            return (
                f"ESIA's certificate {self.source} ({self.subject}) expired on {day} and is refused: no token is "
                "verified with it. Put ESIA's current certificates (esia.zip) in ESIA_TOKEN_CERTIFICATE_FILES."
            )
        days = max(0, int((self.not_after.timestamp() - now) // 86400))
        return (
            f"ESIA's certificate {self.source} ({self.subject}) expires on {day}, in {days} days: add ESIA's next "
            "certificate (esia.zip) to ESIA_TOKEN_CERTIFICATE_FILES before then."
        )


class EsiaCertificates:
    """ESIA's token-signing certificates, read from files now and re-read on demand.

    An expired certificate is refused: it verifies no token, and is named in the log (an error)
    and in :meth:`notices`; one that expires within ``warn_days`` is a warning. If every
    certificate has expired, the client cannot start.
    """

    def __init__(self, paths: Sequence[str | Path], *, clock: Callable[[], float] = time.time, warn_days: int = 30) -> None:
        self._paths = tuple(Path(path) for path in paths)
        self._clock = clock
        self._warn_days = warn_days
        self._lock = threading.Lock()
        self._certificates = read_certificates(self._paths)
        #: How many times the files were read (1 after construction).
        self.reads = 1
        now = self._clock()
        if all(certificate.expired(now) for certificate in self._certificates):
            raise ProviderConfigError(" ".join(notice.message(now) for notice in self.notices()))
        self._log_notices()

    @property
    def certificates(self) -> tuple[EsiaCertificate, ...]:
        return self._certificates

    def for_algorithm(self, algorithm: str) -> tuple[EsiaCertificate, ...]:
        """The certificates that may verify a token signed with ``algorithm``: not the expired ones."""
        now = self._clock()
        return tuple(c for c in self._certificates if c.algorithm == algorithm and not c.expired(now))

    def notices(self) -> list[CertificateNotice]:
        """The expired certificates, and those expiring within ``warn_days``, soonest first."""
        now = self._clock()
        found = []
        for certificate in self._certificates:
            left = certificate.days_left(now)
            if certificate.not_after is None or left is None or left >= self._warn_days:
                continue
            kind = "expired" if left < 0 else "expiring"
            found.append(CertificateNotice(kind, certificate.source, certificate.subject, certificate.not_after))
        return sorted(found, key=lambda notice: notice.not_after)

    def reload(self) -> None:
        """Re-read the files; if they became unreadable, keep what was read before."""
        with self._lock:
            self.reads += 1
            before = self.notices()
            try:
                self._certificates = read_certificates(self._paths)
            except ProviderConfigError as exc:
                _log.warning("ESIA certificates not re-read, keeping the previous ones: %s", exc)
                return
        if self.notices() != before:  # said once, not again on every token that verifies with none
            self._log_notices()

    def _log_notices(self) -> None:
        now = self._clock()
        for notice in self.notices():
            (_log.error if notice.kind == "expired" else _log.warning)("%s", notice.message(now))
