"""The broker's exceptions (each with a stable code), the JSON error shape, and the one handler that answers them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from broker.web.pages import render_error, retry_after

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)

#: How many bad fields an exception's message lists before "and N more" (``bad_fields`` has all).
MESSAGE_FIELDS = 10


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


@dataclass(frozen=True, slots=True)
class BadField:
    """One bad field of some input, and why.

    ``field`` names it as the caller wrote it (``comment``, ``policy.max_candidates``,
    ``accounts.3.region``); ``why`` says what is wrong in English (logs, CLI, the JSON API);
    ``why_ru`` says it in Russian for a staff page, where a page shows the field; ``index`` is
    the item's position in a batch request (0-based), if any.
    """

    field: str
    why: str
    why_ru: str | None = None
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON API's entry: ``{"field", "why"}`` and ``index`` if any (never the Russian text)."""
        found: dict[str, Any] = {"field": self.field, "why": self.why}
        if self.index is not None:
            found["index"] = self.index
        return found


class InputError(BrokerError):
    """Bad input from an operator or a client: names every bad field, and nothing was written.

    ``InputError(field, why, why_ru=None)`` for one bad field, ``InputError([BadField(...), ...])``
    for several. ``bad_fields`` holds them all, in order; ``field``, ``why`` and ``why_ru`` are the
    first one's, for callers that show a single message. The message (``str(error)``) lists them
    as ``field: why; field: why``.
    """

    code = "invalid_input"
    description = "The input is not valid; nothing was written."
    status = 400

    def __init__(self, field: str | Iterable[BadField], why: str = "", why_ru: str | None = None) -> None:
        if isinstance(field, str):
            found: tuple[BadField, ...] = (BadField(field, why, why_ru),)
        else:
            found = tuple(field)
            if not found:
                raise ValueError(f"{type(self).__name__} needs at least one bad field")
        shown = [f"{item.field}: {item.why}" for item in found[:MESSAGE_FIELDS]]
        if len(found) > MESSAGE_FIELDS:
            shown.append(f"and {len(found) - MESSAGE_FIELDS} more")
        super().__init__("; ".join(shown))
        self.bad_fields = found
        self.field, self.why, self.why_ru = found[0].field, found[0].why, found[0].why_ru

    def why_by_field(self) -> dict[str, str]:
        """Each bad field's English explanation, by field (the first one where a field repeats)."""
        found: dict[str, str] = {}
        for item in self.bad_fields:
            found.setdefault(item.field, item.why)
        return found

    def why_ru_by_field(self) -> dict[str, str]:
        """Each bad field's Russian explanation, by field, for a form (English where there is none)."""
        found: dict[str, str] = {}
        for item in self.bad_fields:
            found.setdefault(item.field, item.why_ru or item.why)
        return found


class InvalidFieldsError(InputError):
    """A request's fields are not valid, by their shape (marshmallow) or by the rules behind them.

    The JSON API answers 422 with one entry per bad field; nothing was written.
    """

    code = "invalid_request"
    description = "Some fields are not valid; nothing was written."
    status = 422


class MalformedBodyError(InvalidFieldsError):
    """The request's body is not a JSON object, so no field in it can be named."""

    description = "The body must be a JSON object."
    status = 400

    def __init__(self) -> None:
        super().__init__("(body)", "must be a JSON object; send Content-Type: application/json")


class DatabaseUnavailableError(BrokerError):
    code = "database_unavailable"
    description = "The broker's database is unavailable; try again later."
    status = 503


class BodyTooLargeError(BrokerError):
    code = "body_too_large"
    description = "The request body is larger than the broker accepts."
    status = 413


class SchemaMissingError(BrokerError):
    code = "schema_missing"
    description = "The database has no schema yet. Run `broker db upgrade` first."
    status = 503


def bad_fields_of(messages: Any, prefix: str = "") -> list[BadField]:
    """marshmallow's nested messages as a flat list of bad fields: ``accounts.3.gender``, …

    A schema-level message (``_schema``) belongs to the object it is in; at the top, to ``(body)``.
    """
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            found.extend(bad_fields_of(value, name))
        return found
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return [BadField(prefix or "(body)", " ".join(messages))]
    return [BadField(prefix or "(body)", str(messages))]


class ErrorItemSchema(Schema):
    index = fields.Integer(metadata={"description": "Position of the item in the request (0-based), if any."})
    field = fields.String(required=True, metadata={"description": "The field at fault, e.g. accounts.3.birth_date."})
    why = fields.String(required=True, metadata={"description": "What is wrong with it, in English."})


class ErrorSchema(Schema):
    """Every error answer of the API (:func:`problem` and the rate limits dump it through this schema)."""

    error = fields.String(
        required=True,
        metadata={
            "description": (
                "A stable snake_case code, the failure's own: invalid_request (400 the body is not a JSON "
                "object; 422 some fields are not valid), invalid_criteria (422 search criteria or a reference "
                "code that cannot be used), invalid_token (401), insufficient_scope (403 role), forbidden "
                "(403 region), not_found (404: no such region, or nothing at this address), attempt_not_found "
                "(404 attempt), method_not_allowed (405, with Allow), body_too_large (413), database_unavailable "
                "(503, with Retry-After)."
            )
        },
    )
    error_description = fields.String(metadata={"description": "What happened, in English, for people."})
    errors = fields.List(
        fields.Nested(ErrorItemSchema),
        metadata={"description": "Bad input: one entry per bad field (absent for other errors)."},
    )


def problem(error: BrokerError) -> dict[str, Any]:
    """The JSON answer to ``error``: its code, what happened, and (for bad input) every bad field.

    A server-side failure (5xx) says only its class's description: its message may name
    internals. The Russian texts are for pages and never appear here.
    """
    body: dict[str, Any] = {
        "error": error.code,
        "error_description": str(error) if error.status < 500 else error.description,
    }
    if isinstance(error, InputError):
        body["errors"] = [item.as_dict() for item in error.bad_fields]
    return ErrorSchema().dump(body)  # the OpenAPI document's shape of every error answer


#: The endpoints a portal's server calls (never a browser): every answer of theirs, errors and
#: refusals included, is JSON in OAuth's error shape (RFC 6749 §5.2). The one list of them.
OAUTH_ENDPOINTS = frozenset({"oidc.token", "oidc.revoke", "oidc.userinfo", "oidc.start_link"})


#: The JSON API's path: a request there is the API's, even one that matched no view (404, 405).
API_PATH = "/api/v1/"


def wants_json() -> bool:
    """JSON for the JSON API, the portals' back-channel endpoints and clients that ask for it; a page for browsers."""
    return request.path.startswith(API_PATH) or request.endpoint in OAUTH_ENDPOINTS or request.accept_mimetypes.best == "application/json"


def _path_endpoint() -> str | None:
    """The endpoint the request's path names, by any method: a 405 matched none of its own."""
    error = request.routing_exception
    if request.endpoint or not isinstance(error, MethodNotAllowed) or not error.valid_methods:
        return request.endpoint
    adapter = current_app.create_url_adapter(request)
    try:
        return adapter.match(method=sorted(error.valid_methods)[0])[0] if adapter else None
    except HTTPException:
        return None


def _allow(error: HTTPException) -> dict[str, str]:
    """A 405's ``Allow`` header (the methods the path takes), as werkzeug's own answer has it."""
    return {name: value for name, value in error.get_headers() if name == "Allow"}


def oauth_error(error: str, description: str, status: int, headers: dict[str, str] | None = None) -> Any:
    """An OAuth-shaped error answer (``{"error", "error_description"}``) for the token and userinfo endpoints."""
    return jsonify(error=error, error_description=description), status, headers or {}


#: A broker error's page (title, what to do), by its status class: its own description is English.
SERVER_FAILED_RU = (
    "Сервис входа недоступен",
    "Сервис входа сейчас не может выполнить запрос. Повторите попытку через несколько минут или войдите по логину и паролю.",
)
REQUEST_FAILED_RU = (
    "Запрос не выполнен",
    "Сервис входа не может выполнить этот запрос. Вернитесь назад, проверьте введённые данные и повторите попытку.",
)


def register_error_handlers(app: Flask) -> None:
    """Broker errors become a page (or JSON for API clients) with their code; nothing leaks."""

    @app.errorhandler(BrokerError)
    def broker_error(error: BrokerError) -> Any:
        if error.status >= 500:
            # The answer names only the class; the message (no personal data: our own wording) is kept here.
            log.error("broker error %s on %s: %s", error.code, request.path, error)
        else:
            log.warning("broker error %s on %s", error.code, request.path)
        if wants_json():
            return jsonify(problem(error)), error.status
        # The description is English (logs, the JSON API): a person reads the status's own words.
        title, message = SERVER_FAILED_RU if error.status >= 500 else REQUEST_FAILED_RU
        return render_error(title, message, error.code, error.status)

    @app.errorhandler(ValidationError)
    def validation_error(error: ValidationError) -> Any:
        # Only the JSON API loads requests with marshmallow: 422, every bad field named.
        found = bad_fields_of(error.messages) or [BadField("(body)", "is not valid")]
        return broker_error(InvalidFieldsError(found))

    @app.errorhandler(403)
    def forbidden(_error: Any) -> Any:
        # A signed-in staff member, or an API token, whose role or regions do not cover this.
        if wants_json() or request.headers.get("Authorization"):
            return jsonify(error="forbidden", error_description="Your role or regions do not allow this."), 403
        return render_error(
            "Недостаточно прав",
            "Ваша роль или ваши регионы не позволяют открыть эту страницу или выполнить это действие. "
            "Если это нужно для работы, попросите администратора сервиса входа изменить вашу роль или регионы.",
            "forbidden",
            403,
        )

    @app.errorhandler(NotFound)
    def not_found(_error: NotFound) -> Any:
        if wants_json():
            return jsonify(ErrorSchema().dump({"error": "not_found", "error_description": "Nothing is at this address."})), 404
        return render_error(
            "Страница не найдена",
            "Такой страницы нет. Проверьте адрес или вернитесь туда, откуда пришли.",
            "not_found",
            404,
        )

    @app.errorhandler(MethodNotAllowed)
    def method_not_allowed(error: MethodNotAllowed) -> Any:
        description = "This address does not take this method."
        if _path_endpoint() in OAUTH_ENDPOINTS:
            return oauth_error("invalid_request", description, 405, _allow(error))
        if wants_json():
            return jsonify(ErrorSchema().dump({"error": "method_not_allowed", "error_description": description})), 405, _allow(error)
        return render_error(
            "Так эту страницу открыть нельзя",
            "Страница открыта не так, как положено: например, по устаревшей ссылке или после повторной отправки формы. "
            "Вернитесь туда, откуда пришли, и повторите действие.",
            "method_not_allowed",
            405,
            _allow(error),
        )

    @app.errorhandler(SQLAlchemyError)
    def database_error(error: SQLAlchemyError) -> Any:
        # The database is down or refused: nothing was half-done (each step commits whole).
        log.error("database error %s on %s", type(error).__name__, request.path)
        if request.endpoint in OAUTH_ENDPOINTS:  # RFC 6749 §4.1.2.1's code for "try again later"
            return oauth_error("temporarily_unavailable", "The broker's database is unavailable.", 503, retry_after())
        if wants_json():
            return jsonify(problem(DatabaseUnavailableError())), 503, retry_after()
        return render_error(
            "Сервис входа временно недоступен",
            "Повторите попытку через несколько минут или войдите по логину и паролю.",
            "database_unavailable",
            503,
            retry_after(),
        )

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge) -> Any:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        log.warning("request body over %s bytes on %s", limit, request.path)
        if request.endpoint in OAUTH_ENDPOINTS:
            return oauth_error("invalid_request", f"The request body is larger than {limit} bytes.", 413)
        if wants_json():
            return jsonify(problem(BodyTooLargeError(f"The request body is larger than {limit} bytes."))), 413
        return render_error(
            "Слишком большой запрос",
            "Браузер отправил слишком много данных. Вернитесь назад и повторите попытку.",
            BodyTooLargeError.code,
            413,
        )
