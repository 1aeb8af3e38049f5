"""Configuration: the only module that reads the environment.

Order (as Flask's tutorial): ``DEFAULTS`` -> the TOML file named by ``BROKER_CONFIG`` (or
``instance/config.toml`` when it exists) -> ``BROKER_*`` environment variables -> ``test_config``.
``DATABASE_URL`` (or ``BROKER_DATABASE_URL``) sets ``SQLALCHEMY_DATABASE_URI``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from broker.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    # Signs the broker's cookies. Secret: no default.
    "SECRET_KEY": None,
    # Key of the HMAC under which SNILS is stored and looked up. Secret: no default. Changing it
    # makes every stored SNILS digest unusable (re-import the registry after a change).
    "SNILS_HASH_KEY": None,
    # Database; None means a SQLite file in the instance folder.
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # How long a broker process trusts its copy of the regions table (seconds).
    "REGION_CACHE_SECONDS": 5.0,
    # Rows written per transaction by `broker registry import`.
    "IMPORT_BATCH_SIZE": 5000,
    # `broker purge`: login attempts and audit events older than this many days are deleted.
    # Attempts (masked traces, keyed SNILS and oid digests) serve complaints and the figures;
    # 152-FZ art. 5(7) keeps personal data no longer than its purpose needs. Audit events answer
    # "who changed this" for as long as a dispute may arise (3 years, Civil Code art. 196).
    "ATTEMPT_RETENTION_DAYS": 180,
    "AUDIT_RETENTION_DAYS": 3 * 365,
    # --- the broker as the portals' OpenID Connect provider ---------------------------------
    # The issuer the portals see (the broker's public base URL, no trailing slash).
    "OIDC_ISSUER": None,
    # The portals: {client_id: {redirect_uris, regions, login_url, secret_sha256?,
    # post_logout_redirect_uris?, name?}}; see config.example.toml.
    "OIDC_CLIENTS": {},
    # RSA private keys (PEM) signing id_tokens; the first signs, all are published.
    "OIDC_SIGNING_KEY_FILES": [],
    "ACCESS_TOKEN_SECONDS": 600,
    "ID_TOKEN_SECONDS": 600,
    # How long a broker session (SSO across portals) lasts.
    "SESSION_SECONDS": 8 * 3600,
    # How long a person may take at ESIA and on the broker's pages.
    "PENDING_LOGIN_SECONDS": 900,
    # Cookies are Secure unless this is False (plain-HTTP development on loopback only). When
    # True, the broker's cookies are named with the ``__Host-`` prefix (``cookie_name``) and every
    # answer carries Strict-Transport-Security.
    "COOKIE_SECURE": True,
    # Strict-Transport-Security's max-age (seconds) when COOKIE_SECURE: the browser then refuses
    # plain HTTP to the broker for this long. One year (the HSTS preload list's minimum).
    "HSTS_SECONDS": 365 * 24 * 3600,
    # Retry-After (seconds) on answers that mean "try again later": ESIA or the database unavailable.
    "RETRY_AFTER_SECONDS": 60,
    # The largest request body the broker reads (bytes); a larger one is answered 413. The JSON
    # API's registry batches are the largest legitimate bodies.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # --- staff: admins, regional operators, support (the /admin pages) ---------------------
    # Failed password logins in a row after which a staff login is locked, and for how long.
    "STAFF_MAX_FAILED_LOGINS": 5,
    # Failed staff logins from one address within STAFF_LOCKOUT_SECONDS before its attempts are refused.
    "STAFF_MAX_FAILURES_PER_ADDRESS": 30,
    "STAFF_LOCKOUT_SECONDS": 900,
    # A staff session ends this long after login, whatever happens (absolute timeout) ...
    "STAFF_SESSION_SECONDS": 8 * 3600,
    # ... or after this long without a request (idle timeout).
    "STAFF_IDLE_SECONDS": 1800,
    # The longest lifetime an API token may be given (days).
    "STAFF_TOKEN_MAX_DAYS": 365,
    # --- ESIA ------------------------------------------------------------------------------
    "ESIA_BASE_URL": None,
    "ESIA_CLIENT_ID": None,
    "ESIA_FLOW": "current",  # "current" (v2/ac + v3/te, GOST) or "legacy" (ac + te, CMS)
    "ESIA_SIGNER": "gost-raw",  # "gost-raw" for the current flow, "rsa-cms" for the legacy one
    "ESIA_KEY_FILE": None,  # the system's private key (PKCS#8 PEM)
    "ESIA_CERTIFICATE_FILE": None,  # the system's certificate registered at ESIA
    "ESIA_ISSUER": "http://esia-portal1.test.gosuslugi.ru/",
    "ESIA_TOKEN_CERTIFICATE_FILES": [],  # ESIA's token-signing certificates (several: rotation)
    "ESIA_REDIRECT_URI": None,  # the broker's callback as registered at ESIA
    "ESIA_SCOPES": ["openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile"],
    "ESIA_CONNECT_TIMEOUT": 3.05,
    "ESIA_READ_TIMEOUT": 10.0,
    # The largest answer read from ESIA (bytes); past it the answer is refused as esia_error. A
    # person's data with documents and contacts is a few kilobytes.
    "ESIA_MAX_RESPONSE_BYTES": 256 * 1024,
    "ESIA_PROXY": None,  # outbound proxy to ESIA; the *_PROXY environment variables are not read
    "ESIA_CA_BUNDLE": None,  # PEM bundle checking ESIA's TLS certificate (default: certifi's)
    "ESIA_PERSON_FILTER": None,
}

REQUIRED = ("SECRET_KEY", "SNILS_HASH_KEY")

#: The broker's cookies, by their plain names: the SSO session, the pending login's binding to
#: the browser, and Flask's signed session (staff sign-in, logout's way back).
SSO_COOKIE = "broker_sso"
LOGIN_COOKIE = "broker_login"
FLASK_COOKIE = "broker_flask"


def cookie_name(config: Mapping[str, Any], name: str) -> str:
    """The name a broker cookie goes by: ``__Host-`` + ``name`` when cookies are Secure.

    A ``__Host-`` cookie is accepted by the browser only if it is Secure, has Path=/ and no
    Domain (RFC 6265bis §4.1.3.2): no sibling subdomain and no plain-HTTP page can set or
    shadow it.
    """
    return f"__Host-{name}" if config.get("COOKIE_SECURE") else name


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in the documented order."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        path = os.environ.get("BROKER_CONFIG") or str(Path(app.instance_path) / "config.toml")
        if os.environ.get("BROKER_CONFIG") or Path(path).exists():
            _load_toml(app, path)
        app.config.from_prefixed_env("BROKER")
        url = os.environ.get("BROKER_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if url:
            app.config["SQLALCHEMY_DATABASE_URI"] = url
    else:
        app.config.from_mapping(test_config)
    if app.config.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config.update(flask_cookie_settings(app.config))
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'broker.sqlite3'}"


def flask_cookie_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Flask's own signed cookie (staff sign-in, logout's way back) follows the broker's cookie rules."""
    return {
        "SESSION_COOKIE_NAME": cookie_name(config, FLASK_COOKIE),
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_SECURE": bool(config["COOKIE_SECURE"]),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def _load_toml(app: Flask, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"BROKER_CONFIG names {path}, which does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    app.config.from_mapping({key: value for key, value in values.items() if key.isupper()})


def validate(config: Mapping[str, Any]) -> None:
    """Raise one :class:`ConfigError` naming every missing required key."""
    if config.get("OIDC_CLIENTS") and not (config.get("OIDC_ISSUER") and config.get("OIDC_SIGNING_KEY_FILES")):
        raise ConfigError(
            "OIDC_CLIENTS are configured but OIDC_ISSUER or OIDC_SIGNING_KEY_FILES is not: the broker cannot "
            "sign id_tokens for them. Create a key with `broker keys generate FILE` and set both."
        )
    if config.get("TESTING"):
        return
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        names = ", ".join(missing)
        envs = ", ".join(f"BROKER_{key}" for key in missing)
        raise ConfigError(
            f"{names} not set. Set {envs} in the environment or put the keys in the file named "
            "by BROKER_CONFIG (see config.example.toml)."
        )
