"""Keys, one per purpose: the broker never uses one secret for two jobs, and rotates each.

Every keyed digest the broker makes is an HMAC-SHA256 under a key of its own purpose, so a
digest made for one purpose is worth nothing for another, and a key can be changed without
touching the others:

* purposes whose digests live for minutes or weeks (the browser binding of a pending login, the
  link ticket, the login pages' CSRF token, the schools' invite codes) derive their keys from
  ``SECRET_KEY`` with HKDF-SHA256 (RFC 5869), the purpose's name as ``info``. Rotating
  ``SECRET_KEY``: put the old secret first in ``SECRET_KEY_FALLBACKS``; Flask then still reads
  session cookies signed with it, and these purposes still accept its digests, while everything
  new is made under the new secret. Drop the fallback once what was made under it has expired
  (``PENDING_LOGIN_SECONDS``, the staff sessions, the invite codes' ``INVITE_CODE_MAX_DAYS``), or
  earlier, re-issuing the invite codes still outstanding. The mobile app's refresh tokens are
  made under ``SECRET_KEY`` too (``REFRESH_TOKEN_DAYS``): dropping the fallback earlier signs the
  app out, and the person logs in again.
* stored lookups (the ESIA oid digests of ``login_attempts``, kept for months and searched by
  support) use ``OID_HASH_KEY``, which has nothing to do with ``SECRET_KEY``. Its old keys go in
  ``OID_HASH_KEY_FALLBACKS``: searches look under every key, and ``broker keys rehash-oids``
  re-keys the attempts of every linked person (the only oids the broker holds in clear).

A :class:`Keys` makes digests under its first key and accepts digests under any of them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker.errors import ConfigError

log = logging.getLogger(__name__)


class Purpose(StrEnum):
    """The short-lived purposes whose keys derive from ``SECRET_KEY`` (the HKDF ``info`` labels)."""

    BROWSER_BINDING = "browser_binding"
    LINK_TICKET = "link_ticket"
    LOGIN_CSRF = "login_csrf"
    INVITE_CODE = "invite_code"
    REFRESH_TOKEN = "refresh_token"


_INFO_PREFIX = b"broker/keyring/v1/"


@dataclass(frozen=True, slots=True)
class Keys:
    """One purpose's keys: the first makes digests, every one of them is accepted."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a purpose needs at least one key")

    def __repr__(self) -> str:  # a key never reaches a log line or a traceback
        return f"Keys(<{len(self.keys)} keys>)"

    def digest(self, value: str) -> str:
        """The digest of ``value`` under the current key (what is stored or sent from now on)."""
        return _hmac(self.keys[0], value)

    def digests(self, value: str) -> tuple[str, ...]:
        """The digests of ``value`` under every key, the current one first (for lookups)."""
        return tuple(dict.fromkeys(_hmac(key, value) for key in self.keys))

    def verify(self, value: str, digest: str | None) -> bool:
        """Whether ``digest`` is ``value``'s under any key (compared in constant time)."""
        if not isinstance(digest, str):
            return False
        found = False
        for candidate in self.digests(value):  # no early exit: the time says nothing of which key
            found |= hmac.compare_digest(candidate.encode(), digest.encode())
        return found

    @property
    def fallbacks(self) -> tuple[bytes, ...]:
        return self.keys[1:]


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys of every purpose, built once per app (``services.current().keyring``)."""

    browser_binding: Keys
    link_ticket: Keys
    login_csrf: Keys
    invite_code: Keys
    refresh_token: Keys
    oid: Keys


def make_keyring(config: Mapping[str, Any]) -> Keyring:
    """Build the keyring from ``SECRET_KEY(_FALLBACKS)`` and ``OID_HASH_KEY(_FALLBACKS)``.

    Under ``TESTING`` a missing secret is replaced by a random one of this app only (``validate``
    refuses to start without them otherwise).
    """
    secret_keys = _secrets(config, "SECRET_KEY")
    oid_keys = _secrets(config, "OID_HASH_KEY")
    return Keyring(
        browser_binding=Keys(tuple(derive(secret, Purpose.BROWSER_BINDING) for secret in secret_keys)),
        link_ticket=Keys(tuple(derive(secret, Purpose.LINK_TICKET) for secret in secret_keys)),
        login_csrf=Keys(tuple(derive(secret, Purpose.LOGIN_CSRF) for secret in secret_keys)),
        invite_code=Keys(tuple(derive(secret, Purpose.INVITE_CODE) for secret in secret_keys)),
        refresh_token=Keys(tuple(derive(secret, Purpose.REFRESH_TOKEN) for secret in secret_keys)),
        oid=Keys(oid_keys),
    )


def derive(secret: bytes, purpose: Purpose) -> bytes:
    """The 32-byte key of ``purpose`` under ``secret`` (HKDF-SHA256, RFC 5869; no salt, §3.1)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO_PREFIX + purpose.encode()).derive(secret)


def as_key(value: Any) -> bytes:
    """A configured key as bytes. ``str()``: BROKER_* values are JSON-decoded, so digits arrive as a number."""
    return str(value).encode()


def fallbacks_of(config: Mapping[str, Any], name: str) -> list[Any]:
    """``<name>_FALLBACKS`` as a list; ConfigError when it is anything else.

    A single string would be read by Flask character by character: every one-letter key would
    then sign valid session cookies.
    """
    key = f"{name}_FALLBACKS"
    value = config.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f'{key} must be a list of old keys, e.g. {key} = ["old key"] in the config file or '
            f"BROKER_{key}='[\"old key\"]' in the environment (JSON)."
        )
    return list(value)


def _secrets(config: Mapping[str, Any], name: str) -> tuple[bytes, ...]:
    current = config.get(name)
    if current in (None, ""):
        if not config.get("TESTING"):
            raise ConfigError(f"{name} is not set. Set BROKER_{name} or put it in the config file.")
        log.warning("%s is not set: its keys are random keys of this process only", name)
        current = secrets.token_hex(32)
    return tuple(dict.fromkeys(as_key(value) for value in [current, *fallbacks_of(config, name)]))


def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
