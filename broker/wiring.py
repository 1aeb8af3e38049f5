"""Build the app's ``Services`` whole, from its config: the composition root's one builder.

``create_app`` calls :func:`build_services` once. Every field is filled here; a collaborator an
instance legitimately lacks (ESIA on a staff-only instance, id_token keys without portals) is a
null object that raises ConfigError with what to configure, never None.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from flask import Flask

from broker.clock import Clock, system_clock
from broker.errors import ConfigError
from broker.extensions import db
from broker.keyring import make_keyring
from broker.oidc import provider as oidc
from broker.oidc.clients import load_clients
from broker.oidc.keys import SigningKeys, load_signing_keys
from broker.regions.policies import RegionCache
from broker.registry.sql import SqlRegistry
from broker.services import Services
from providers import EsiaConfig, EsiaProvider, ProviderConfigError, load_signer

if TYPE_CHECKING:
    from matching import Person
    from providers import AuthorizationRequest, EsiaContacts, EsiaTokens

log = logging.getLogger(__name__)


def build_services(app: Flask, clock: Clock = system_clock) -> Services:
    """Every collaborator of ``app``, built from its config (``app.extensions["broker"]``)."""
    config = app.config
    key = snils_key(config)
    clients = load_clients(config["OIDC_CLIENTS"])
    files = config["OIDC_SIGNING_KEY_FILES"]
    server, protector = oidc.create_server(app, clients)
    return Services(
        clock=clock,
        registry=SqlRegistry(lambda: db.session.connection(), key),
        snils_key=key,
        keyring=make_keyring(config),
        clients=clients,
        signing_keys=load_signing_keys(files) if files else SigningKeys(()),
        esia=make_esia_provider(config) if config["ESIA_BASE_URL"] else UnconfiguredEsia(),
        oidc=server,
        resource_protector=protector,
        region_cache=RegionCache(),
    )


def snils_key(config: Mapping[str, Any]) -> bytes:
    """The key of the SNILS digests; under ``TESTING`` without one, a random key for this app only.

    ``validate`` refuses to start without ``SNILS_HASH_KEY`` outside tests. A random key (never a
    fixed one in the code) keeps a test app's digests meaningless anywhere else.
    """
    configured = config["SNILS_HASH_KEY"]
    if configured in (None, ""):
        log.warning("SNILS_HASH_KEY is not set: SNILS digests use a random key of this process only")
        return secrets.token_bytes(32)
    # str(): BROKER_* values are JSON-decoded, so a key of digits would arrive as a number.
    return str(configured).encode()


def make_esia_provider(config: Mapping[str, Any]) -> EsiaProvider:
    """Build the ESIA client from the ESIA_* keys; raise ConfigError naming what is wrong."""
    missing = [k for k in ("ESIA_CLIENT_ID", "ESIA_KEY_FILE", "ESIA_CERTIFICATE_FILE", "ESIA_REDIRECT_URI") if not config.get(k)]
    if not config.get("ESIA_TOKEN_CERTIFICATE_FILES"):
        missing.append("ESIA_TOKEN_CERTIFICATE_FILES")
    if missing:
        raise ConfigError(f"ESIA_BASE_URL is set but {', '.join(missing)} not. Set BROKER_<KEY> or the config file.")
    try:
        signer = load_signer(config["ESIA_SIGNER"], config["ESIA_KEY_FILE"], config["ESIA_CERTIFICATE_FILE"])
    except ProviderConfigError as exc:
        raise ConfigError(
            f"ESIA_KEY_FILE / ESIA_CERTIFICATE_FILE: {exc} Set BROKER_ESIA_KEY_FILE and BROKER_ESIA_CERTIFICATE_FILE."
        ) from None
    try:
        return EsiaProvider(
            EsiaConfig(
                base_url=config["ESIA_BASE_URL"],
                client_id=config["ESIA_CLIENT_ID"],
                signer=signer,
                redirect_uri=config["ESIA_REDIRECT_URI"],
                issuer=config["ESIA_ISSUER"],
                certificate_files=tuple(config["ESIA_TOKEN_CERTIFICATE_FILES"]),
                flow=config["ESIA_FLOW"],
                scopes=tuple(config["ESIA_SCOPES"]),
                connect_timeout=float(config["ESIA_CONNECT_TIMEOUT"]),
                read_timeout=float(config["ESIA_READ_TIMEOUT"]),
                max_response_bytes=int(config["ESIA_MAX_RESPONSE_BYTES"]),
                person_filter=config["ESIA_PERSON_FILTER"],
                proxy=config["ESIA_PROXY"],
                ca_bundle=config["ESIA_CA_BUNDLE"],
            )
        )
    except ProviderConfigError as exc:
        raise ConfigError(f"ESIA configuration: {exc}") from None


class UnconfiguredEsia:
    """ESIA on an instance without ``ESIA_BASE_URL`` (staff pages only): implements
    :class:`providers.Provider`, and every use is a ConfigError."""

    def _refuse(self) -> NoReturn:
        raise ConfigError("ESIA is not configured: set ESIA_BASE_URL, ESIA_CLIENT_ID and the ESIA_* keys.")

    def authorize(self) -> AuthorizationRequest:
        self._refuse()

    def parse_callback(self, args: Mapping[str, str], request: AuthorizationRequest) -> str:
        self._refuse()

    def exchange_code(self, code: str, request: AuthorizationRequest) -> EsiaTokens:
        self._refuse()

    def fetch_person(self, tokens: EsiaTokens) -> Person:
        self._refuse()

    def fetch_contacts(self, tokens: EsiaTokens) -> EsiaContacts:
        self._refuse()

    def fetch_profile(self, tokens: EsiaTokens) -> tuple[Person, EsiaContacts]:
        self._refuse()

    def logout_url(self, redirect_url: str) -> str:
        self._refuse()
