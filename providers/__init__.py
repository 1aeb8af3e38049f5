"""Upstream identity providers: ESIA's protocol, tokens and person data, as matching's values.

Import rule: the standard library, requests, Authlib's client parts, joserfc, cryptography,
gostcrypto, marshmallow, and ``matching`` (value types only). Never Flask, SQLAlchemy,
``broker`` or ``mock_esia``. Configuration arrives through constructors and arguments.
"""

from __future__ import annotations

from providers.base import InvalidUpstreamResponseError, ProviderError
from providers.person import person_from_esia, tier_of

__all__ = ["InvalidUpstreamResponseError", "ProviderError", "person_from_esia", "tier_of"]
