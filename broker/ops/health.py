"""Liveness and readiness for the load balancer (the blueprint ``health``).

``/readyz`` also carries what an operator must act on soon without it stopping logins yet:
ESIA's token-signing certificates that expire within ``ESIA_CERTIFICATE_WARN_DAYS``, or that
have expired and are refused (``esia_certificates``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from broker import services
from broker.db import revision
from broker.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """The database answers and is at the latest schema, and Redis answers if pending logins are kept there: send logins here."""
    try:
        db.session.execute(text("SELECT 1"))
        current = revision.current_revision()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    if current != revision.head_revision():
        return jsonify(status="unavailable", database=f"schema at {current}, run `broker db upgrade`"), 503
    redis = services.current().pending_logins.unreachable()
    if redis is not None:  # pending logins live there (REDIS_URL): no login can start or go on
        return jsonify(status="unavailable", redis=redis), 503
    notices = esia_certificate_notices()
    if notices:
        return jsonify(status="ok", esia_certificates=notices)
    return jsonify(status="ok")


def esia_certificate_notices() -> list[dict[str, str]]:
    """ESIA's certificates expiring soon or expired: the file (its name only), the subject, the end, the state."""
    certificates = getattr(services.current().esia, "certificates", None)
    if certificates is None:  # ESIA is not configured on this instance
        return []
    return [
        {
            "file": notice.source.replace("\\", "/").rsplit("/", 1)[-1],
            "subject": notice.subject,
            "not_after": notice.not_after.isoformat(),
            "state": notice.kind,
        }
        for notice in certificates.notices()
    ]
