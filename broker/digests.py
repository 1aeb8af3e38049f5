"""The digest under which the broker stores a random token (a session cookie, an access token).

A random token of 256 bits needs no key or salt: its SHA-256 digest is enough to find the row
without keeping the token itself. Keyed digests of guessable values are ``broker.keyring``'s job.
"""

from __future__ import annotations

import hashlib


def digest(token: str) -> str:
    """The SHA-256 digest (hex) of a random ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()
