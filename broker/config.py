"""Configuration: the only module that reads the environment.

Order (as Flask's tutorial): ``DEFAULTS`` -> the TOML file named by ``BROKER_CONFIG`` (or
``instance/config.toml`` when it exists) -> ``BROKER_*`` environment variables -> ``test_config``.
``DATABASE_URL`` (or ``BROKER_DATABASE_URL``) sets ``SQLALCHEMY_DATABASE_URI``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from limits import parse_many

from broker import keyring
from broker.errors import ConfigError
from broker.web import proxies

DEFAULTS: dict[str, Any] = {
    # Signs the broker's cookies; the keys of the short-lived digests (browser binding, link
    # ticket, login CSRF) derive from it, one per purpose (broker/keyring.py). Secret: no default.
    "SECRET_KEY": None,
    # Old SECRET_KEYs, newest first: still accepted (cookies, pending logins), never used to sign.
    "SECRET_KEY_FALLBACKS": [],
    # Key of the HMAC under which ESIA oids are kept in login_attempts and searched by support;
    # independent of SECRET_KEY. Secret: no default.
    "OID_HASH_KEY": None,
    # Old OID_HASH_KEYs (an upgrade from a broker without OID_HASH_KEY: the old SECRET_KEY):
    # searched too, until `broker keys rehash-oids` and retention have left nothing under them.
    "OID_HASH_KEY_FALLBACKS": [],
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
    # post_logout_redirect_uris?, name?, support_phone?, support_url?, support_email?,
    # logo_url?}}; see config.example.toml.
    "OIDC_CLIENTS": {},
    # RSA private keys (PEM) signing id_tokens; the first signs, all are published.
    "OIDC_SIGNING_KEY_FILES": [],
    "ACCESS_TOKEN_SECONDS": 600,
    "ID_TOKEN_SECONDS": 600,
    # The mobile app's session (refresh tokens, public clients asking for offline_access; ADR
    # 0020): it ends this many days after the login through Gosuslugi, whatever happens ...
    "REFRESH_TOKEN_DAYS": 30,
    # ... or once the app has not refreshed for this many days (at most REFRESH_TOKEN_DAYS).
    "REFRESH_TOKEN_IDLE_DAYS": 14,
    # How long a broker session (SSO across portals) lasts.
    "SESSION_SECONDS": 8 * 3600,
    # How long a person may take at ESIA and on the broker's pages.
    "PENDING_LOGIN_SECONDS": 900,
    # How long a refused login's page stays the same for the browser that met it (a reload, Back
    # and Forward, a phone restoring its tabs), with its ways back to the portal.
    "REFUSAL_KEPT_SECONDS": 3600,
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
    # --- invite codes: a child's first link where a region asks for one ------------
    # How long an invite code lives by default, and the longest a staff member may give it (days).
    "INVITE_CODE_DAYS": 30,
    "INVITE_CODE_MAX_DAYS": 90,
    # Wrong codes one pending login may type before it is refused (invite_code_invalid) ...
    "INVITE_MAX_TRIES_PER_LOGIN": 3,
    # ... and wrong codes one ESIA person types for one account, over all their logins, within the
    # window, after which no code (not even the right one) is accepted from that person for it
    # until the window has passed; other persons (the family) are not affected ...
    "INVITE_MAX_FAILURES_PER_ACCOUNT": 10,
    # ... and wrong codes typed for one account by all ESIA persons together within the window
    # (against guessing from many ESIA accounts): past it no code is accepted for the account from
    # anyone until the window has passed. Keep it well above INVITE_MAX_FAILURES_PER_ACCOUNT.
    "INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS": 50,
    "INVITE_FAILURE_WINDOW_SECONDS": 24 * 3600,
    # --- behind a reverse proxy (broker.web.proxies) -------------------------------------------
    # Which proxies' X-Forwarded-For the broker believes: 0 (believe none: the client is the TCP
    # peer), a count of proxy hops in front of the broker (1: one nginx), or the proxies' networks
    # ("10.0.0.0/8, 192.168.1.5"): then the header is read only when the peer is in them.
    "TRUSTED_PROXIES": 0,
    # --- rate limits (broker.web.ratelimits) ----------------------------------------------------
    # Limits are strings of the `limits` library ("300 per minute", "10/second; 1000/hour"); "" switches one
    # off. Each endpoint counts on its own; addresses as TRUSTED_PROXIES makes them, IPv6 per /64.
    "RATE_LIMITS_ENABLED": True,
    # The browser's steps of a login (/oidc/authorize, ESIA's callback, /auth/link), per client
    # address. A school's whole class logs in at 8:00 from one NAT address: 30 pupils, each 2-3
    # requests per step (the region page, a reload, a second portal), ~90 within the minute, and
    # several classes at the same bell: 300 lets about 100 pupils a minute through one address
    # and still holds one attacker's address to 5 requests a second (the report saw 460).
    "RATE_LIMIT_LOGIN_PER_ADDRESS": "300 per minute",
    # /oidc/authorize per portal (client_id): one portal's share of the broker's capacity, so that
    # one portal (or someone claiming to be it) cannot take every login slot; set it to about half
    # of what the deployment serves (2 cores served ~85 logins/s, docs/benchmarks.md).
    "RATE_LIMIT_LOGIN_PER_PORTAL": "3000 per minute",
    # /oidc/token and /oidc/link, per address and per portal: a portal's back end calls from a few
    # addresses, one token request per login, so both are as wide as the portal's share above.
    "RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS": "3000 per minute",
    "RATE_LIMIT_BACK_CHANNEL_PER_PORTAL": "3000 per minute",
    # The JSON API (/api/v1), all its endpoints together, per address (a sync job sends batches).
    "RATE_LIMIT_API_PER_ADDRESS": "600 per minute",
    # Password posts to /admin/login per address; failures also count towards STAFF_MAX_FAILURES_PER_ADDRESS.
    "RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS": "30 per minute",
    # Where the counters and the pending logins live. None: the counters in each process's memory
    # (each gunicorn worker counts alone, so N workers let up to N times a limit through) and the
    # pending logins in the database. A redis:// URL holds both, shared by every process and
    # instance, each key expiring by itself (docs/adr/0022). If Redis is unreachable, each process
    # falls back to in-memory counters with the same limits, logs a warning and tries Redis again
    # after 1, 2, 4 ... 32 s; but a login cannot start or go on without its pending login, so the
    # person gets the "service unavailable" page (redis_unavailable) and /readyz answers 503.
    "REDIS_URL": None,
    # Connect and read timeout of each call to Redis (seconds).
    "REDIS_TIMEOUT": 0.5,
    # The first part of every key the broker writes to Redis (pending logins: <prefix>:pending:<state>;
    # the rate limits' counters: LIMITS:LIMITER/<prefix>/...), so that several deployments (staging and
    # production, two regions' brokers) can share one Redis and count apart. Letters, digits, "_", "-"
    # and "." only.
    "REDIS_KEY_PREFIX": "broker",
    # --- logs (broker.web.logs) -----------------------------------------------------------------
    # "text" (one readable line each) or "json" (JSON lines: time, level, logger, message, and the
    # login's reference code, portal and step when known). Neither ever holds a name, SNILS, code,
    # token, address or query string.
    "LOG_FORMAT": "text",
    # The broker's own loggers' level: DEBUG, INFO, WARNING or ERROR (other libraries keep theirs).
    "LOG_LEVEL": "INFO",
    # One line per request (method, endpoint, status, duration, the login's context), in place of
    # an access log (gunicorn's would copy the query strings that carry ESIA's codes).
    "LOG_REQUESTS": True,
    # --- metrics (broker.web.metrics) ------------------------------------------------------------
    # /metrics (Prometheus) is off, answering 404 and counting nothing, unless one of these is set.
    # A bearer token the scraper sends (Authorization: Bearer ...), at least 32 characters. Secret.
    "METRICS_TOKEN": None,
    # Networks a scrape may come from ("10.0.0.0/8, ::1"), checked against the client's address as
    # TRUSTED_PROXIES makes it. With both keys set, a scrape needs both.
    "METRICS_ALLOW": [],
    # --- ESIA ------------------------------------------------------------------------------
    "ESIA_BASE_URL": None,
    "ESIA_CLIENT_ID": None,
    "ESIA_FLOW": "current",  # "current" (v2/ac + v3/te, GOST) or "legacy" (ac + te, CMS)
    # Who signs client_secret (docs/esia.md, 'Signing tools'). Current flow (raw GOST): "gost-raw"
    # (pure Python), "openssl-raw", "csptest-raw", "command-raw"; legacy flow (detached CMS):
    # "rsa-cms" (pure Python), "openssl-cms", "csptest-cms", "cryptcp-cms", "command-cms".
    "ESIA_SIGNER": "gost-raw",
    "ESIA_KEY_FILE": None,  # the system's private key (PKCS#8 PEM): gost-raw, rsa-cms, openssl-*
    "ESIA_CERTIFICATE_FILE": None,  # the system's certificate registered at ESIA (every signer)
    # The signing tool: its path (openssl-*, csptest-*, cryptcp-cms; default openssl and
    # /opt/cprocsp/bin/amd64/{csptest,cryptcp}), or for command-* its argv as a list, naming
    # {data} (the file to sign), {signature} (the file to write) and optionally {certificate}.
    "ESIA_SIGNER_COMMAND": None,
    "ESIA_SIGNER_TIMEOUT": 10.0,  # seconds a signing tool may take before the login fails
    "ESIA_SIGNER_CONTAINER": None,  # csptest-raw: the CryptoPro key container (its PIN kept by the CSP)
    "ESIA_SIGNER_THUMBPRINT": None,  # csptest-cms, cryptcp-cms: SHA-1 thumbprint (default: the certificate's)
    "ESIA_SIGNER_ENV": {},  # extra environment variables for the tool (never secrets)
    "ESIA_SIGNER_REVERSED": False,  # command-raw: the tool writes the signature byte-reversed
    "ESIA_OPENSSL_CONF": None,  # openssl-*: an OPENSSL_CONF loading the GOST engine (default: the broker's own)
    "ESIA_ISSUER": "http://esia-portal1.test.gosuslugi.ru/",
    # ESIA's token-signing certificates (several: rotation): .cer files (PEM or DER) or the
    # esia.zip archive ESIA publishes. An expired one is refused; one expiring within
    # ESIA_CERTIFICATE_WARN_DAYS is warned about in the log and on /readyz.
    "ESIA_TOKEN_CERTIFICATE_FILES": [],
    "ESIA_CERTIFICATE_WARN_DAYS": 30,
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

REQUIRED = ("SECRET_KEY", "SNILS_HASH_KEY", "OID_HASH_KEY")
# Secrets that must all differ from each other.
_ONE_JOB = ("SECRET_KEY", "SNILS_HASH_KEY", "OID_HASH_KEY")

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# The limits of broker.web.ratelimits.LIMITS, each checked at start.
RATE_LIMIT_KEYS = tuple(key for key in DEFAULTS if key.startswith("RATE_LIMIT_"))
#: What REDIS_KEY_PREFIX may be: a plain word, so that keys stay readable and no prefix holds a glob.
_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: The broker's cookies, by their plain names: the SSO session, the pending login's binding to
#: the browser, a refusal before ESIA's own binding, and Flask's signed session (staff sign-in,
#: logout's way back).
SSO_COOKIE = "broker_sso"
LOGIN_COOKIE = "broker_login"
REFUSAL_COOKIE = "broker_refusal"
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
    _validate_keys(config)
    _check_proxies_and_limits(config)
    _check_refresh_lifetimes(config)
    if config.get("TESTING"):
        return
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        names = ", ".join(missing)
        envs = ", ".join(f"BROKER_{key}" for key in missing)
        upgrade = (
            " Upgrading a broker that had no OID_HASH_KEY: set OID_HASH_KEY to a new random key and "
            "OID_HASH_KEY_FALLBACKS to a list holding the current SECRET_KEY, so that the oid digests "
            "stored so far stay findable, then run `broker keys rehash-oids`."
            if "OID_HASH_KEY" in missing
            else ""
        )
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            f"{names} {verb} not set. Set {envs} in the environment or put them in the file named "
            f"by BROKER_CONFIG (see config.example.toml).{upgrade}"
        )


def _validate_keys(config: Mapping[str, Any]) -> None:
    """One key, one job: the fallbacks are lists, and no secret serves two settings."""
    for name in ("SECRET_KEY", "OID_HASH_KEY"):
        keyring.fallbacks_of(config, name)
    given = {name: keyring.as_key(config[name]) for name in _ONE_JOB if config.get(name) not in (None, "")}
    for i, first in enumerate(_ONE_JOB):
        for second in _ONE_JOB[i + 1 :]:
            if first in given and second in given and given[first] == given[second]:
                raise ConfigError(
                    f"{first} and {second} are the same key: each must have its own (one key, one job). "
                    'Create one with `python -c "import secrets; print(secrets.token_hex(32))"`.'
                )


def _check_refresh_lifetimes(config: Mapping[str, Any]) -> None:
    """Refuse refresh token lifetimes that are not whole days, or an idle one past the absolute one."""
    days = {key: config.get(key, DEFAULTS[key]) for key in ("REFRESH_TOKEN_DAYS", "REFRESH_TOKEN_IDLE_DAYS")}
    for key, value in days.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
            raise ConfigError(f"{key} must be a whole number of days from 1 to 365, not {value!r}.")
    if days["REFRESH_TOKEN_IDLE_DAYS"] > days["REFRESH_TOKEN_DAYS"]:
        raise ConfigError(
            f"REFRESH_TOKEN_IDLE_DAYS ({days['REFRESH_TOKEN_IDLE_DAYS']}) is longer than REFRESH_TOKEN_DAYS "
            f"({days['REFRESH_TOKEN_DAYS']}): the session ends at REFRESH_TOKEN_DAYS anyway; make it at most that."
        )


def _check_proxies_and_limits(config: Mapping[str, Any]) -> None:
    """Refuse a TRUSTED_PROXIES, limit string, REDIS_URL, LOG_* or METRICS_* the broker cannot use, naming each."""
    problems = []
    try:
        proxies.parse_trusted_proxies(config.get("TRUSTED_PROXIES"))
    except ValueError as exc:
        problems.append(f"TRUSTED_PROXIES: {exc}")
    for key in RATE_LIMIT_KEYS:
        value = config.get(key, DEFAULTS[key])  # a mapping checked on its own may leave a limit at its default
        if not isinstance(value, str):
            problems.append(f'{key}: must be a string such as "300 per minute" ("" switches the limit off)')
            continue
        try:
            parse_many(value) if value.strip() else None
        except ValueError:
            problems.append(f'{key}: {value!r} is not a limit such as "300 per minute" or "10/second; 1000/hour"')
    if config.get("LOG_FORMAT", "text") not in LOG_FORMATS:
        problems.append(f"LOG_FORMAT: must be one of {', '.join(LOG_FORMATS)}")
    if config.get("LOG_LEVEL", "INFO") not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}")
    url = config.get("REDIS_URL")
    if url and not (isinstance(url, str) and url.startswith(("redis://", "rediss://", "redis+unix://"))):
        problems.append("REDIS_URL: must start with redis://, rediss:// or redis+unix://")
    prefix = config.get("REDIS_KEY_PREFIX", DEFAULTS["REDIS_KEY_PREFIX"])
    if not (isinstance(prefix, str) and _KEY_PREFIX.fullmatch(prefix)):
        problems.append('REDIS_KEY_PREFIX: must be 1 to 64 letters, digits, "_", "-" or "." such as "broker-staging"')
    from broker.web import metrics  # here: it imports the web's modules, which read this one

    problems += metrics.config_problems(config)
    if problems:
        raise ConfigError("; ".join(problems))
