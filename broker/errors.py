"""The broker's exceptions, each with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class BrokerError(Exception):
    """Base of the broker's own failures."""

    code = "broker_error"
    description = "The broker failed."
    status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.description)


class ConfigError(BrokerError):
    code = "config_error"
    description = "The broker's configuration is incomplete or invalid."


class InputError(BrokerError):
    """Bad input from an operator or a client: names the field, and nothing was written."""

    code = "invalid_input"
    description = "The input is not valid."
    status = 400

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


class SchemaMissingError(BrokerError):
    code = "schema_missing"
    description = "The database has no schema yet. Run `broker db upgrade` first."
    status = 503


def wants_json() -> bool:
    """JSON for the JSON API and for clients that ask for it; a page for browsers."""
    return request.blueprint == "api" or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    """Broker errors become a page (or JSON for API clients) with their code; nothing leaks."""

    @app.errorhandler(BrokerError)
    def broker_error(error: BrokerError) -> Any:
        log.warning("broker error %s on %s", error.code, request.path)
        if wants_json():
            return jsonify(error=error.code, error_description=str(error)), error.status
        return (
            render_template("error.html", title="Сервис входа недоступен", message=error.description, code=error.code),
            error.status,
        )

    @app.errorhandler(403)
    def forbidden(_error: Any) -> Any:
        # A signed-in staff member, or an API token, whose role or regions do not cover this.
        if wants_json() or request.headers.get("Authorization"):
            return jsonify(error="forbidden", error_description="Your role or regions do not allow this."), 403
        return (
            render_template(
                "error.html",
                title="Недостаточно прав",
                message="Ваша роль или ваши регионы не позволяют открыть эту страницу или выполнить это действие.",
                code="forbidden",
            ),
            403,
        )

    @app.errorhandler(SQLAlchemyError)
    def database_error(error: SQLAlchemyError) -> Any:
        # The database is down or refused: nothing was half-done (each step commits whole).
        log.error("database error %s on %s", type(error).__name__, request.path)
        return (
            render_template(
                "error.html",
                title="Сервис входа временно недоступен",
                message="Повторите попытку через несколько минут или войдите по логину и паролю.",
                code="database_unavailable",
            ),
            503,
        )
