"""The broker's cookies: their names (``__Host-`` when Secure), how they are set, read and removed.

Every cookie is HttpOnly, SameSite=Lax, Path=/, without Domain, and Secure unless
``COOKIE_SECURE`` is false (plain-HTTP development on loopback). Callers name a cookie by its
plain name (``config.SSO_COOKIE``, ``config.LOGIN_COOKIE``); the name on the wire comes from
:func:`broker.config.cookie_name` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

from flask import current_app, request

from broker.config import cookie_name

if TYPE_CHECKING:
    from werkzeug.wrappers import Response  # Flask's own, or the one redirect() returns


def name(plain: str) -> str:
    """The name cookie ``plain`` goes by under this app's config."""
    return cookie_name(current_app.config, plain)


def read(plain: str) -> str | None:
    """This request's value of cookie ``plain``, or None."""
    return request.cookies.get(name(plain))


def put(response: Response, plain: str, value: str, max_age: int) -> None:
    """Set cookie ``plain`` on ``response`` for ``max_age`` seconds."""
    response.set_cookie(name(plain), value, max_age=max_age, path="/", **_attributes())


def forget(response: Response, plain: str) -> None:
    """Remove cookie ``plain``: the removal carries the same attributes, or a browser ignores it."""
    response.delete_cookie(name(plain), path="/", **_attributes())


class _Attributes(TypedDict):
    secure: bool
    httponly: bool
    samesite: Literal["Lax"]


def _attributes() -> _Attributes:
    return {"secure": bool(current_app.config["COOKIE_SECURE"]), "httponly": True, "samesite": "Lax"}
