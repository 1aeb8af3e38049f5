"""The broker: the Flask application that takes a person from the diary portal through ESIA.

``create_app`` is the one composition root: config -> validation -> extensions -> services ->
commands -> blueprints (the person's login and the portals' OIDC provider, then, behind CSRF
protection, the staff pages, then the bearer-token JSON API) -> error handlers.

Import rule: ``matching`` and ``providers`` plus Flask, Flask-SQLAlchemy, Alembic, Authlib's
Flask parts and marshmallow. Never ``mock_esia``: the broker knows the mock only as a URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event

from broker import config
from broker.db import dbfile
from broker.extensions import db
from broker.web import logs, proxies


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the broker application."""
    app = Flask(__name__, instance_relative_config=True)
    config.load(app, test_config)
    config.validate(app.config)
    logs.init_app(app)  # the log lines' format (LOG_FORMAT), and each request's login context
    dbfile.prepare(app)  # an owner-only instance folder, before Flask-SQLAlchemy makes one
    proxies.init_app(app)  # the client's address behind a reverse proxy (TRUSTED_PROXIES)
    db.init_app(app)
    with app.app_context():
        dbfile.protect(app, db.engine)  # an owner-only SQLite file, before SQLite makes one
        event.listen(db.engine, "connect", _sqlite_pragmas)
        logs.listen_for_attempts(db.engine)  # an attempt's reference code into its request's log lines

    from broker import cli, errors, wiring
    from broker.api import views as api
    from broker.login import views as auth
    from broker.oidc import views as portal
    from broker.ops import health
    from broker.regions import preflightviews as preflightpages
    from broker.regions import views as regionpages
    from broker.staff import views as admin
    from broker.support import views as support
    from broker.web import csrf, headers, metrics, ratelimits

    app.extensions["broker"] = wiring.build_services(app)
    cli.init_app(app)
    for blueprint in (portal.bp, auth.bp, health.bp):
        app.register_blueprint(blueprint)
    csrf.init_app(app)  # every form post of the staff pages; `oidc` and `auth` exempt
    for blueprint in (admin.bp, support.bp, regionpages.bp, preflightpages.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(api.bp)  # bearer tokens; exempts itself from CSRF (after csrf.init_app)
    ratelimits.init_app(app)  # limits the views above by endpoint name; answers its own 429s
    metrics.init_app(app)  # /metrics for a scraper (METRICS_TOKEN, METRICS_ALLOW), unlimited; off without them
    errors.register_error_handlers(app)
    headers.init_app(app)  # every answer, error pages too
    return app


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: enforce foreign keys, and write-ahead logging for concurrent readers."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
