"""Client systems registered with the mock, as ESIA's technology portal registers them.

A client system has a mnemonic (``client_id``), one or more certificates (RSA for the legacy
flow's CMS, GOST R 34.10-2012 for either flow), the redirect URIs it may use, the scopes its
application was granted and the algorithm ESIA signs its tokens with. Config shape::

    CLIENTS = {
        "DIARY01": {
            "name": "Электронный дневник",                      # optional, shown on pages
            "certificates": ["-----BEGIN CERTIFICATE-----…"],    # PEM text, and/or
            "certificate_files": ["diary-gost.cer"],             # PEM or DER files
            "redirect_uris": ["http://127.0.0.1:5000/auth/esia/callback"],
            "scopes": ["openid", "fullname", "birthdate", "gender", "snils", "id_doc"],
            "jwt_alg": "RS256",                                  # or "GOST3410_2012_256"
        }
    }

A redirect URI registered without a path (``https://diary.example/``) admits any URI on that
origin, as ESIA's domain-level registration does; any other entry must match exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mock_esia.certificates import Certificate, CertificateError, parse_certificate, pem_blocks
from mock_esia.errors import ConfigError
from mock_esia.scopes import KNOWN_SCOPES

#: Token signing algorithms a client system may choose on the technology portal.
JWT_ALGORITHMS = ("RS256", "GOST3410_2012_256")
_KEYS = {"name", "certificates", "certificate_files", "redirect_uris", "scopes", "jwt_alg"}


@dataclass(frozen=True, slots=True)
class ClientSystem:
    """A registered information system (ИС) and what ESIA allows it."""

    mnemonic: str
    name: str
    certificates: tuple[Certificate, ...]
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    jwt_alg: str

    def certificate_by_hash(self, value: str) -> Certificate | None:
        """Find the certificate whose Streebog-256 DER hash is ``value`` (hex, any case)."""
        wanted = value.strip().lower()
        for certificate in self.certificates:
            if certificate.streebog_hash == wanted:
                return certificate
        return None

    def valid_certificates(self, moment: float) -> tuple[Certificate, ...]:
        return tuple(c for c in self.certificates if c.is_valid_at(moment))

    def allows_redirect(self, uri: str) -> bool:
        if uri in self.redirect_uris:
            return True
        target = urlsplit(uri)
        for registered in self.redirect_uris:
            parts = urlsplit(registered)
            if (
                parts.path in ("", "/")
                and not parts.query
                and (parts.scheme, parts.netloc)
                == (
                    target.scheme,
                    target.netloc,
                )
            ):
                return True
        return False


def load_clients(config: Mapping[str, Mapping[str, Any]], base_dir: Path | None = None) -> dict[str, ClientSystem]:
    """Build client systems from config; relative certificate files resolve against ``base_dir``."""
    clients = {}
    for mnemonic, entry in config.items():
        clients[mnemonic] = _load_client(mnemonic, entry, base_dir or Path.cwd())
    return clients


def _load_client(mnemonic: str, entry: Mapping[str, Any], base_dir: Path) -> ClientSystem:
    where = f"CLIENTS[{mnemonic!r}]"
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}.")
    blobs: list[tuple[str, bytes]] = []
    for index, text in enumerate(entry.get("certificates", ())):
        found = pem_blocks(text)
        if not found:
            raise ConfigError(f"{where}.certificates[{index}] is not a PEM certificate.")
        blobs.extend((f"{where}.certificates[{index}]", blob) for blob in found)
    for name in entry.get("certificate_files", ()):
        path = Path(name) if Path(name).is_absolute() else base_dir / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read certificate file {path}: {exc.strerror}.") from exc
        found = pem_blocks(data.decode("ascii", "replace")) if b"-----BEGIN" in data else [data]
        blobs.extend((str(path), blob) for blob in found)
    if not blobs:
        raise ConfigError(f"{where} has no certificate. Add 'certificates' (PEM) or 'certificate_files'.")
    certificates = []
    for origin, blob in blobs:
        try:
            certificates.append(parse_certificate(blob))
        except CertificateError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc

    redirect_uris = tuple(entry.get("redirect_uris", ()))
    if not redirect_uris:
        raise ConfigError(f"{where} has no redirect_uris.")
    scopes = frozenset(entry.get("scopes", ("openid", "fullname")))
    if scopes - KNOWN_SCOPES:
        raise ConfigError(f"{where}.scopes has unknown ESIA scopes {sorted(scopes - KNOWN_SCOPES)}.")
    jwt_alg = entry.get("jwt_alg", "RS256")
    if jwt_alg not in JWT_ALGORITHMS:
        raise ConfigError(f"{where}.jwt_alg is {jwt_alg!r}; choose one of {JWT_ALGORITHMS}.")
    return ClientSystem(
        mnemonic=mnemonic,
        name=str(entry.get("name", mnemonic)),
        certificates=tuple(certificates),
        redirect_uris=redirect_uris,
        scopes=scopes,
        jwt_alg=jwt_alg,
    )
