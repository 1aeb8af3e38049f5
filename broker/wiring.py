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
from broker.login.pending import PendingLogins
from broker.login.redisstore import RedisPendingLogins
from broker.login.sqlstore import SqlPendingLogins
from broker.oidc import provider as oidc
from broker.oidc.clients import load_clients
from broker.oidc.keys import SigningKeys, load_signing_keys
from broker.regions.policies import RegionCache
from broker.registry.sql import SqlRegistry
from broker.services import Services
from broker.web import metrics
from providers import EsiaConfig, EsiaProvider, ProviderConfigError, Signer
from providers.toolsigners import SignerConfigError, SignerSettings, build_signer
from providers.transport import Sender, make_sender

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
        pending_logins=make_pending_logins(config),
    )


def make_pending_logins(config: Mapping[str, Any]) -> PendingLogins:
    """Pending logins in Redis when REDIS_URL is set (shared by every instance, expiring by themselves),
    else in the database (docs/adr/0022)."""
    url = config["REDIS_URL"]
    if not url:
        return SqlPendingLogins()
    return RedisPendingLogins.from_url(url, str(config["REDIS_KEY_PREFIX"]), float(config["REDIS_TIMEOUT"]))


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


def make_esia_provider(config: Mapping[str, Any], sender: Sender | None = None) -> EsiaProvider:
    """Build the ESIA client from the ESIA_* keys; raise ConfigError naming what is wrong.

    ``sender``: how requests reach ESIA (None: ``make_sender``'s for ESIA_PROXY and ESIA_CA_BUNDLE,
    the lean one); with metrics on, each call through it is timed (``metrics.TimedSender``).
    """
    missing = [k for k in ("ESIA_CLIENT_ID", "ESIA_CERTIFICATE_FILE", "ESIA_REDIRECT_URI") if not config.get(k)]
    if config.get("ESIA_SIGNER") in KEY_FILE_SIGNERS and not config.get("ESIA_KEY_FILE"):
        missing.insert(1, "ESIA_KEY_FILE")
    if not config.get("ESIA_TOKEN_CERTIFICATE_FILES"):
        missing.append("ESIA_TOKEN_CERTIFICATE_FILES")
    if missing:
        raise ConfigError(f"ESIA_BASE_URL is set but {', '.join(missing)} not. Set BROKER_<KEY> or the config file.")
    warn_days = config["ESIA_CERTIFICATE_WARN_DAYS"]
    if isinstance(warn_days, bool) or not isinstance(warn_days, int) or not 0 <= warn_days <= 365:
        raise ConfigError("ESIA_CERTIFICATE_WARN_DAYS: must be a whole number of days from 0 to 365, such as 30.")
    signer = make_signer(config)
    try:
        if sender is None:
            sender = make_sender(config["ESIA_PROXY"], config["ESIA_CA_BUNDLE"])
        if metrics.is_enabled(config):
            sender = metrics.TimedSender(sender)
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
                certificate_warn_days=warn_days,
            ),
            sender,
        )
    except ProviderConfigError as exc:
        raise ConfigError(f"ESIA configuration: {exc}") from None


#: The signers that read ESIA_KEY_FILE (the others keep the key in a CryptoPro container or their tool).
KEY_FILE_SIGNERS = ("gost-raw", "rsa-cms", "openssl-raw", "openssl-cms")
#: The config key behind each signer setting, for a one-line error naming it.
_SIGNER_KEYS = {
    "kind": "ESIA_SIGNER",
    "certificate_file": "ESIA_CERTIFICATE_FILE",
    "key_file": "ESIA_KEY_FILE",
    "key_and_certificate": "ESIA_KEY_FILE / ESIA_CERTIFICATE_FILE",
    "command": "ESIA_SIGNER_COMMAND",
    "timeout": "ESIA_SIGNER_TIMEOUT",
    "container": "ESIA_SIGNER_CONTAINER",
    "thumbprint": "ESIA_SIGNER_THUMBPRINT",
    "openssl_conf": "ESIA_OPENSSL_CONF",
    "env": "ESIA_SIGNER_ENV",
}


def make_signer(config: Mapping[str, Any]) -> Signer:
    """The signer ESIA_SIGNER names, from the ESIA_SIGNER* keys; a ConfigError names the key that is wrong."""
    try:
        return build_signer(
            SignerSettings(
                kind=config["ESIA_SIGNER"],
                certificate_file=config.get("ESIA_CERTIFICATE_FILE"),
                key_file=config.get("ESIA_KEY_FILE"),
                command=config["ESIA_SIGNER_COMMAND"],
                timeout=config["ESIA_SIGNER_TIMEOUT"],
                container=config["ESIA_SIGNER_CONTAINER"],
                thumbprint=config["ESIA_SIGNER_THUMBPRINT"],
                openssl_conf=config["ESIA_OPENSSL_CONF"],
                env=config["ESIA_SIGNER_ENV"],
                reversed=bool(config["ESIA_SIGNER_REVERSED"]),
            )
        )
    except SignerConfigError as exc:
        keys = _SIGNER_KEYS[exc.setting]
        envs = " and ".join(f"BROKER_{key}" for key in keys.split(" / "))
        raise ConfigError(f"{keys}: {exc} Set {envs} (or the config file).") from None


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
