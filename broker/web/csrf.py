"""CSRF protection of every form post: a synchronizer token kept in the Flask session.

``init_app`` guards every POST, PUT, PATCH and DELETE of the app, so a new staff blueprint is
protected without doing anything. A form carries the token in the hidden field ``csrf_token``
(templates call ``csrf_token()``); a script may send it in the ``X-CSRF-Token`` header. A
request without the session's token gets a 400 page before its view runs: nothing is written.

Exempt, by name: the blueprints ``oidc`` and ``auth``. Their posts come from ESIA, from the
portals' back channels (``/oidc/token`` with client authentication) or carry their own
protection (the single-use ``state`` bound to the browser's cookie), and a synchronizer token
cannot work there. A bearer-token JSON API (no cookies, so nothing to forge) declares itself
exempt with :func:`exempt`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, session
from flask.blueprints import BlueprintSetupState

log = logging.getLogger(__name__)

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SESSION_KEY = "csrf"
EXEMPT_BLUEPRINTS = frozenset({"oidc", "auth"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def init_app(app: Flask) -> None:
    app.extensions["csrf_exempt"] = set(EXEMPT_BLUEPRINTS)
    app.jinja_env.globals["csrf_token"] = token
    app.before_request(protect)


def exempt(bp: Blueprint) -> Blueprint:
    """Exempt a blueprint whose clients send no cookies (a bearer-token API)."""

    def register(state: BlueprintSetupState) -> None:
        state.app.extensions.setdefault("csrf_exempt", set(EXEMPT_BLUEPRINTS)).add(bp.name)

    bp.record_once(register)
    return bp


def token() -> str:
    """This browser's CSRF token (made on first use; a new one after each staff login)."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str):
        value = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return value


def is_valid(sent: str | None) -> bool:
    expected = session.get(SESSION_KEY)
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())


def protect() -> Any:
    """``before_request``: refuse an unsafe request whose token is missing or wrong."""
    if request.method in _SAFE_METHODS or request.url_rule is None:  # unknown URL: let it 404/405
        return None
    if set(request.blueprints) & current_app.extensions["csrf_exempt"]:
        return None
    if is_valid(request.form.get(FIELD) or request.headers.get(HEADER)):
        return None
    log.warning("csrf token missing or wrong on %s %s", request.method, request.path)
    return (
        render_template(
            "error.html",
            title="Форма устарела",
            message="Страница была открыта слишком давно или в другом окне. Обновите её и отправьте форму ещё раз.",
            code="csrf_failed",
        ),
        400,
    )
