"""Upstream identity providers: ESIA's protocol, tokens and person data, as matching's values.

:class:`EsiaProvider` speaks ESIA's current flow (``/aas/oauth2/v2/ac`` + ``/v3/te``, raw GOST
``client_secret``, ``client_certificate_hash``, PKCE) or its legacy flow (``/ac`` + ``/te``,
detached CMS), chosen in :class:`EsiaConfig`: it builds the authorization URL, checks the
callback, exchanges the code, verifies both tokens against ESIA's configured certificates, reads
the person, documents and contacts, and maps the person to a :class:`matching.Person` with its
tier. Signers sit behind the :class:`Signer` protocol (:func:`load_signer`). Every failure is a
:class:`ProviderError` with a stable ``code`` and a public ``reason`` (``esia_denied``,
``esia_unavailable``, ``esia_error``); no ``requests`` or crypto exception leaves the package.

Import rule: the standard library, requests, certifi (ESIA's default CA bundle), Authlib's
client parts, joserfc, cryptography, the :mod:`gost` library, marshmallow, and ``matching``
(value types only). Never Flask, SQLAlchemy, ``broker`` or ``mock_esia``. Configuration arrives through constructors and arguments.
"""

from __future__ import annotations

from providers.base import (
    ConsentDeclinedError,
    InvalidUpstreamResponseError,
    Provider,
    ProviderConfigError,
    ProviderError,
    ResponseTooLargeError,
    SignatureError,
    StateMismatchError,
    TokenClaimsError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)
from providers.esia import AuthorizationRequest, EsiaConfig, EsiaContacts, EsiaProvider, EsiaTokens
from providers.person import person_from_esia, tier_of
from providers.signing import GostRawSigner, RsaCmsSigner, Signer, client_certificate_hash, load_signer

__all__ = [
    "AuthorizationRequest",
    "ConsentDeclinedError",
    "EsiaConfig",
    "EsiaContacts",
    "EsiaProvider",
    "EsiaTokens",
    "GostRawSigner",
    "InvalidUpstreamResponseError",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "ResponseTooLargeError",
    "RsaCmsSigner",
    "SignatureError",
    "Signer",
    "StateMismatchError",
    "TokenClaimsError",
    "UpstreamRefusedError",
    "UpstreamUnavailableError",
    "client_certificate_hash",
    "load_signer",
    "person_from_esia",
    "tier_of",
]
