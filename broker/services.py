"""The collaborators each app uses, built once in ``create_app`` (svcs' idea, by hand)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

from broker.oidc.clients import PortalClient, load_clients
from broker.errors import ConfigError
from broker.extensions import db
from broker.keyring import Keyring, make_keyring
from broker.oidc.keys import SigningKeys, load_signing_keys
from broker.registry.sql import SqlRegistry
from matching import RegionPolicy
from providers import EsiaConfig, EsiaProvider, Provider, ProviderConfigError, load_signer

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector

log = logging.getLogger(__name__)

@dataclass(slots=True)
class RegionCache:
    value: dict[str, RegionPolicy] | None = None
    expires: float = 0.0

    def clear(self) -> None:
        self.value = None


@dataclass(slots=True)
class Services:
    registry: SqlRegistry
    snils_key: bytes
    keyring: Keyring
    clients: dict[str, PortalClient] = field(default_factory=dict)
    signing_keys: SigningKeys | None = None
    esia_provider: Provider | None = None
    oidc: AuthorizationServer | None = None
    resource_protector: ResourceProtector | None = None
    region_cache: RegionCache = field(default_factory=RegionCache)

    @property
    def esia(self) -> Provider:
        if self.esia_provider is None:
            raise ConfigError("ESIA is not configured: set ESIA_BASE_URL, ESIA_CLIENT_ID and the ESIA_* keys.")
        return self.esia_provider


def init_app(app: Flask) -> None:
    key = snils_key(app.config)
    services = Services(
        registry=SqlRegistry(lambda: db.session.connection(), key), snils_key=key, keyring=make_keyring(app.config)
    )
    services.clients = load_clients(app.config["OIDC_CLIENTS"])
    if app.config["OIDC_SIGNING_KEY_FILES"]:
        services.signing_keys = load_signing_keys(app.config["OIDC_SIGNING_KEY_FILES"])
    if app.config["ESIA_BASE_URL"]:
        services.esia_provider = make_esia_provider(app.config)
    app.extensions["broker"] = services


def snils_key(config: dict) -> bytes:  # type: ignore[type-arg]
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


def make_esia_provider(config: dict) -> EsiaProvider:  # type: ignore[type-arg]
    """Build the ESIA client from the ESIA_* keys; raise ConfigError naming what is wrong."""
    missing = [k for k in ("ESIA_CLIENT_ID", "ESIA_KEY_FILE", "ESIA_CERTIFICATE_FILE", "ESIA_REDIRECT_URI") if not config.get(k)]
    if not config.get("ESIA_TOKEN_CERTIFICATE_FILES"):
        missing.append("ESIA_TOKEN_CERTIFICATE_FILES")
    if missing:
        raise ConfigError(f"ESIA_BASE_URL is set but {', '.join(missing)} not. Set BROKER_<KEY> or the config file.")
    try:
        signer = load_signer(config["ESIA_SIGNER"], config["ESIA_KEY_FILE"], config["ESIA_CERTIFICATE_FILE"])
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


def current() -> Services:
    return current_app.extensions["broker"]
