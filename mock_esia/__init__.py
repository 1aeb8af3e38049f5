"""A protocol-faithful stand-in for ESIA (Gosuslugi's identity provider), for tests and local dev.

It serves both of ESIA's OAuth flows (``/aas/oauth2/ac`` + ``/te`` with detached CMS, and
``/aas/oauth2/v2/ac`` + ``/v3/te`` with raw GOST R 34.10-2012 signatures), refresh, logout and
the ``/rs/prns`` person API, with ESIA's parameter checks, error codes, token shapes and byte
orders as ``docs/esia.md`` describes them, so that client libraries written against real ESIA work
against it unchanged. It verifies client signatures for real, signs tokens with its own RSA
or GOST key, lets a person pick a test identity on a Russian login page, and fails on demand
(:mod:`mock_esia.scenarios`). ``python -m mock_esia`` runs it on loopback.

Import rule: the standard library, flask, cryptography, joserfc and the :mod:`gost` library
(primitives the client uses too, as it uses ``cryptography``) only; never ``broker``,
``matching`` or ``providers``, because sharing code with the client under test would make the
tests tautological.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from mock_esia import admin, login, oauth, rest, scenarios
from mock_esia.clients import load_clients
from mock_esia.config import DEFAULTS, load_config_file, validate
from mock_esia.grants import GrantStore
from mock_esia.identities import load_persons
from mock_esia.keys import load_or_create_keys
from mock_esia.services import Services
from mock_esia.tokens import TokenIssuer

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the mock: defaults → ``MOCK_ESIA_*`` environment (only without ``test_config``)
    → ``CONFIG_FILE`` → ``test_config``."""
    app = Flask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env("MOCK_ESIA")
    else:
        app.config.update(test_config)
    base_dir = Path.cwd()
    if app.config["CONFIG_FILE"]:
        config_file = Path(app.config["CONFIG_FILE"])
        app.config.update(load_config_file(config_file))
        base_dir = config_file.resolve().parent
        if test_config is not None:
            app.config.update(test_config)
    validate(app.config)

    clock = app.config["CLOCK"] or time.time
    persons = load_persons(app.config["PERSONS_FILE"])
    data_dir = Path(app.config["DATA_DIR"]) if app.config["DATA_DIR"] else None
    keys = load_or_create_keys(data_dir, clock())
    board = scenarios.FaultBoard()
    services = Services(
        clients=load_clients(app.config["CLIENTS"], base_dir),
        persons=persons,
        persons_by_oid={person.oid: person for person in persons},
        keys=keys,
        tokens=TokenIssuer(
            keys,
            app.config["ISSUER"],
            clock,
            access_ttl=int(app.config["ACCESS_TOKEN_TTL"]),
            id_ttl=int(app.config["ID_TOKEN_TTL"]),
        ),
        grants=GrantStore(
            clock,
            code_ttl=float(app.config["CODE_TTL"]),
            refresh_ttl=float(app.config["REFRESH_TOKEN_TTL"]),
            session_ttl=float(max(app.config["ID_TOKEN_TTL"], app.config["REFRESH_TOKEN_TTL"])),
        ),
        faults=board,
        clock=clock,
        timestamp_window=float(app.config["TIMESTAMP_WINDOW"]),
        login_ttl=float(app.config["LOGIN_TTL"]),
        consent=app.config["CONSENT"],
        public_url=app.config["PUBLIC_URL"],
    )
    app.extensions["mock_esia"] = services
    scenarios.install(app, board, random.Random(app.config["FAULT_SEED"]))

    app.register_blueprint(oauth.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(rest.bp)
    if app.config["ADMIN_API"]:
        app.register_blueprint(admin.bp)
    return app
