"""Test key material: RSA keys and self-signed certificates, in memory or as PEM files.

Only ``cryptography``: the test-side ESIA and clients use it without sharing code with
``providers`` or ``mock_esia``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificateIssuerPrivateKeyTypes,
    )


def make_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_certificate(key: CertificateIssuerPrivateKeyTypes, common_name: str) -> x509.Certificate:
    """Self-sign a certificate for ``key`` (SHA-256), valid from yesterday for a year."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def write_rsa_pair(directory: Path, stem: str, common_name: str) -> tuple[Path, Path]:
    """Write an RSA key (PEM PKCS#8) and its self-signed certificate (PEM); return both paths."""
    key = make_rsa_key()
    key_path, certificate_path = directory / f"{stem}.key", directory / f"{stem}.cer"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certificate_path.write_bytes(make_certificate(key, common_name).public_bytes(serialization.Encoding.PEM))
    return key_path, certificate_path
