"""The mock's own token-signing keys and certificates, like those in ESIA's ``esia.zip``.

Two key pairs: RSA 2048 (``RS256``) and GOST R 34.10-2012 (256, CryptoPro-A parameters, as
OpenSSL's ``paramset:A``), each with a self-signed certificate. A client library verifies an
RS256 token with the RSA certificate (or the JWKS), and a GOST3410_2012_256 token with the
GOST certificate, e.g. ``openssl dgst -md_gost12_256 -verify <public key> -signature <s||r>``
over ``header.payload``. With a data directory the files are written on first start and
reused afterwards:

    esia-rsa.key   esia-rsa.cer   esia-gost.key   esia-gost.cer   jwks.json

Without one (tests), fresh keys live in memory only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from mock_esia.certificates import make_gost_certificate, pem_blocks, to_pem
from mock_esia.errors import ConfigError
from mock_esia.gost import GostPrivateKey, GostPublicKey

RSA_KEY_FILE = "esia-rsa.key"
RSA_CERTIFICATE_FILE = "esia-rsa.cer"
GOST_KEY_FILE = "esia-gost.key"
GOST_CERTIFICATE_FILE = "esia-gost.cer"
JWKS_FILE = "jwks.json"

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """ESIA's token-signing keys as the mock holds them."""

    rsa_key: rsa.RSAPrivateKey = field(repr=False)
    rsa_certificate_pem: str
    gost_key: GostPrivateKey = field(repr=False)
    gost_certificate_pem: str

    @property
    def rsa_jwk(self) -> RSAKey:
        return RSAKey.import_key(self.rsa_key)

    @property
    def gost_public_key(self) -> GostPublicKey:
        return self.gost_key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The RSA public key as a JWK Set (GOST keys have no registered JWK form)."""
        public = RSAKey.import_key(self.rsa_key.public_key())
        entry = public.as_dict(private=False)
        entry.update({"kid": public.thumbprint(), "use": "sig", "alg": "RS256"})
        return {"keys": [entry]}

    @classmethod
    def generate(cls, now: dt.datetime) -> SigningKeys:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        gost_key = GostPrivateKey.generate()
        return cls(
            rsa_key=rsa_key,
            rsa_certificate_pem=_rsa_certificate(rsa_key, now),
            gost_key=gost_key,
            gost_certificate_pem=to_pem(
                make_gost_certificate(
                    gost_key,
                    common_name="TESIA GOST 2012 (mock ESIA)",
                    organization="Mock ESIA",
                    not_before=now - dt.timedelta(days=1),
                    not_after=now + _VALIDITY,
                    serial=secrets.randbits(63),
                )
            ),
        )


def load_or_create_keys(data_dir: Path | None, now: float) -> SigningKeys:
    """Load the keys from ``data_dir``, creating and writing them there on first use."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if data_dir is None:
        return SigningKeys.generate(moment)
    paths = [data_dir / name for name in (RSA_KEY_FILE, RSA_CERTIFICATE_FILE, GOST_KEY_FILE, GOST_CERTIFICATE_FILE)]
    if all(path.exists() for path in paths):
        try:
            rsa_key = serialization.load_pem_private_key(paths[0].read_bytes(), password=None)
            if not isinstance(rsa_key, rsa.RSAPrivateKey):
                raise ValueError("not an RSA key")
            keys = SigningKeys(
                rsa_key=rsa_key,
                rsa_certificate_pem=paths[1].read_text(encoding="ascii"),
                gost_key=GostPrivateKey.from_pkcs8(pem_blocks(paths[2].read_text(encoding="ascii"), "PRIVATE KEY")[0]),
                gost_certificate_pem=paths[3].read_text(encoding="ascii"),
            )
        except (OSError, ValueError, IndexError) as exc:
            raise ConfigError(f"The mock's keys in {data_dir} are unreadable ({exc}). Delete the directory to generate new ones.") from exc
    else:
        keys = SigningKeys.generate(moment)
        data_dir.mkdir(parents=True, exist_ok=True)
        _write(
            paths[0],
            keys.rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            private=True,
        )
        _write(paths[1], keys.rsa_certificate_pem.encode("ascii"))
        _write(paths[2], to_pem(keys.gost_key.to_pkcs8(), "PRIVATE KEY").encode("ascii"), private=True)
        _write(paths[3], keys.gost_certificate_pem.encode("ascii"))
    _write(data_dir / JWKS_FILE, json.dumps(keys.jwks(), indent=2).encode("ascii"))
    return keys


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _rsa_certificate(key: rsa.RSAPrivateKey, now: dt.datetime) -> str:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "TESIA RSA (mock ESIA)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mock ESIA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
