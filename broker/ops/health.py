"""Liveness and readiness for the load balancer (the blueprint ``health``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from broker.db import revision
from broker.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """The database answers and is at the latest schema: send logins here."""
    try:
        db.session.execute(text("SELECT 1"))
        current = revision.current_revision()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    if current != revision.head_revision():
        return jsonify(status="unavailable", database=f"schema at {current}, run `broker db upgrade`"), 503
    return jsonify(status="ok")
