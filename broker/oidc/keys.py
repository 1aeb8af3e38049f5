"""The broker's id_token signing keys: every key is published in the JWKS, the first one signs.

Rotation without downtime: add the new key's file *after* the current one (published, not yet
signing), wait longer than the portals cache the JWKS, then move it first; drop the old file
once the longest-lived id_token signed with it has expired.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from joserfc.jwk import KeySetSerialization, RSAKey

from broker.errors import ConfigError

_NO_KEYS = "OIDC_SIGNING_KEY_FILES is empty. Create a key with `broker keys generate FILE`."


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The keys, first one signing. Empty on an instance without portals: it publishes an empty
    JWKS and raises ConfigError when asked to sign."""

    keys: tuple[RSAKey, ...]
    #: Each key's id (its RFC 7638 thumbprint), worked out once: every id_token names one.
    kids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kids", tuple(key.thumbprint() for key in self.keys))

    def __bool__(self) -> bool:
        return bool(self.keys)

    @property
    def active(self) -> RSAKey:
        if not self.keys:
            raise ConfigError(_NO_KEYS)
        return self.keys[0]

    @property
    def active_kid(self) -> str:
        if not self.kids:
            raise ConfigError(_NO_KEYS)
        return self.kids[0]

    def jwks(self) -> KeySetSerialization:
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "RS256"}
                for key, kid in zip(self.keys, self.kids, strict=True)
            ]
        }


def load_signing_keys(paths: Sequence[str]) -> SigningKeys:
    """Read RSA private keys (PEM) from ``paths``; the first signs."""
    if not paths:
        raise ConfigError(_NO_KEYS)
    keys = []
    for path in paths:
        try:
            keys.append(RSAKey.import_key(Path(path).read_bytes()))
        except OSError as exc:
            raise ConfigError(f"OIDC_SIGNING_KEY_FILES: cannot read {path}: {exc.strerror}") from None
        except ValueError:
            raise ConfigError(f"OIDC_SIGNING_KEY_FILES: {path} is not an RSA private key in PEM") from None
    return SigningKeys(tuple(keys))


def generate_key_file(path: Path, bits: int = 2048) -> None:
    """Write a new RSA private key (PEM), readable by its owner only."""
    key = RSAKey.generate_key(bits, private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.as_pem(private=True))
