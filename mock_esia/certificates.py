"""X.509 certificates: client systems' RSA or GOST certificates and the mock's own GOST one.

`cryptography` parses RSA certificates but cannot read GOST keys, so the fields the mock needs
(issuer, serial, key identifier, validity, public key) are read with the DER reader for both
kinds, and the RSA key alone is handed to `cryptography`. A certificate's Streebog-256 hash
over its DER encoding is what ESIA's ``client_certificate_hash`` carries (docs/esia.md, 'The two flows').
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from mock_esia import der
from mock_esia.gost import SIGNWITHDIGEST_2012_256, GostPrivateKey, GostPublicKey, streebog256

RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_COMMON_NAME = "2.5.4.3"
_ORGANIZATION = "2.5.4.10"
_COUNTRY = "2.5.4.6"
_SUBJECT_KEY_IDENTIFIER = "2.5.29.14"
_KEY_USAGE = "2.5.29.15"
_BASIC_CONSTRAINTS = "2.5.29.19"

_PEM_BLOCK = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>[A-Za-z0-9+/=\s]+)-----END (?P=label)-----")


class CertificateError(ValueError):
    """The bytes are not a certificate the mock can use."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """A parsed certificate with an RSA or GOST R 34.10-2012 (256) public key."""

    der: bytes = field(repr=False)
    subject: str
    issuer_der: bytes = field(repr=False)
    serial: int
    subject_key_id: bytes | None
    not_before: dt.datetime
    not_after: dt.datetime
    public_key: rsa.RSAPublicKey | GostPublicKey = field(repr=False)
    streebog_hash: str

    @property
    def is_gost(self) -> bool:
        return isinstance(self.public_key, GostPublicKey)

    def is_valid_at(self, moment: float) -> bool:
        """Is the certificate valid at ``moment`` (epoch seconds)?"""
        return self.not_before.timestamp() <= moment <= self.not_after.timestamp()


def pem_blocks(text: str, label: str = "CERTIFICATE") -> list[bytes]:
    """Return the DER bodies of every PEM block with ``label`` in ``text``."""
    return [base64.b64decode("".join(match["body"].split())) for match in _PEM_BLOCK.finditer(text) if match["label"] == label]


def to_pem(data: bytes, label: str = "CERTIFICATE") -> str:
    body = base64.b64encode(data).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def parse_certificate(data: bytes) -> Certificate:
    """Parse one DER certificate."""
    try:
        certificate = der.read(data).expect(der.SEQUENCE)
        tbs = certificate.children()[0].expect(der.SEQUENCE)
        fields = tbs.children()
        if fields[0].tag == der.context(0):
            fields = fields[1:]
        serial, _signature, issuer, validity, subject, spki = fields[:6]
        extensions = [item for item in fields[6:] if item.tag == der.context(3)]
        not_before, not_after = (der.as_time(item) for item in validity.children())
        algorithm = der.as_oid(spki.children()[0].children()[0])
        public_key: rsa.RSAPublicKey | GostPublicKey
        if algorithm == RSA_ENCRYPTION:
            key = x509.load_der_x509_certificate(data).public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise CertificateError("the RSA certificate does not carry an RSA key")
            public_key = key
        else:
            public_key = GostPublicKey.from_spki(spki)
        return Certificate(
            der=bytes(data),
            subject=_common_name(subject),
            issuer_der=issuer.encoded,
            serial=der.as_int(serial),
            subject_key_id=_subject_key_id(extensions),
            not_before=not_before,
            not_after=not_after,
            public_key=public_key,
            streebog_hash=streebog256(data).hex(),
        )
    except (der.DerError, ValueError, IndexError) as exc:
        if isinstance(exc, CertificateError):
            raise
        raise CertificateError(f"not a usable RSA or GOST R 34.10-2012 certificate: {exc}") from exc


def _common_name(name: der.Element) -> str:
    for rdn in name.children():
        for attribute in rdn.children():
            kind, value = attribute.children()
            if der.as_oid(kind) == _COMMON_NAME:
                return value.content.decode("utf-8", "replace")
    return ""


def _subject_key_id(extensions: list[der.Element]) -> bytes | None:
    for wrapper in extensions:
        for extension in wrapper.children()[0].children():
            parts = extension.children()
            if der.as_oid(parts[0]) == _SUBJECT_KEY_IDENTIFIER:
                return der.as_octets(der.read(der.as_octets(parts[-1])))
    return None


def make_gost_certificate(
    key: GostPrivateKey,
    *,
    common_name: str,
    organization: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int,
) -> bytes:
    """Build and self-sign a GOST R 34.10-2012 (256) CA certificate; return its DER."""
    public_key = key.public_key()
    name = der.sequence(
        der.set_of(der.sequence(der.oid(_COMMON_NAME), der.utf8(common_name))),
        der.set_of(der.sequence(der.oid(_ORGANIZATION), der.utf8(organization))),
        der.set_of(der.sequence(der.oid(_COUNTRY), der.printable("RU"))),
    )
    key_id = streebog256(public_key.to_octets())[:20]
    extensions = der.sequence(
        der.sequence(der.oid(_SUBJECT_KEY_IDENTIFIER), der.octets(der.octets(key_id))),
        der.sequence(der.oid(_BASIC_CONSTRAINTS), der.boolean(True), der.octets(der.sequence(der.boolean(True)))),
        # digitalSignature (bit 0) and keyCertSign (bit 5): 0b10000100, two unused bits.
        der.sequence(der.oid(_KEY_USAGE), der.boolean(True), der.octets(der.encode(der.BIT_STRING, b"\x02\x84"))),
    )
    algorithm = der.sequence(der.oid(SIGNWITHDIGEST_2012_256))
    tbs = der.sequence(
        der.explicit(0, der.integer(2)),
        der.integer(serial),
        algorithm,
        name,
        der.sequence(der.time(not_before), der.time(not_after)),
        name,
        public_key.to_spki(),
        der.explicit(3, extensions),
    )
    return der.sequence(tbs, algorithm, der.bits(key.sign(tbs)))
