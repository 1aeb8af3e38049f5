"""Who is acting and what they may do: the staff principal, role checks and region scope.

A request has at most one principal, a :class:`~broker.db.models.Staff` member, found either through
the staff session (pages, :func:`staff_required`) or through a bearer API token (JSON API,
:func:`token_required`); :func:`current_staff` returns it either way. The rules:

* ``admin`` passes every role check and manages staff, every region and every account;
* ``operator`` views and manages their own regions only;
* ``support`` views every region and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from broker.db.models import ApiToken, Staff
from broker.extensions import db
from broker.staff import audit
from broker.staff import sessions as staffsessions
from broker.staff import tokens as apitokens
from broker.staff.accounts import Role

F = TypeVar("F", bound=Callable[..., Any])

_STAFF_KEY = "broker.staff.accounts"  # in the WSGI environ: the principal of this request
_TOKEN_KEY = "broker.api_token"


# --- the principal -----------------------------------------------------------------------------


def current_staff() -> Staff | None:
    """The staff member acting in this request (by session or API token), or None."""
    if _STAFF_KEY not in request.environ:
        request.environ[_STAFF_KEY] = None
        row = staffsessions.current()
        member = db.session.get(Staff, row.staff_id) if row is not None else None
        if member is not None and member.disabled_at is None:
            request.environ[_STAFF_KEY] = member
            audit.set_request_actor(member.login)
    return request.environ[_STAFF_KEY]


def current_token() -> ApiToken | None:
    """The API token this request came with (only under :func:`token_required`)."""
    return request.environ.get(_TOKEN_KEY)


def staff_required(*roles: str) -> Callable[[F], F]:
    """Page decorator: a signed-in staff member of one of ``roles`` (any role if none given).

    Admins pass every check. Without a live session the browser goes to the login page and
    comes back; with the wrong role the answer is 403.
    """
    _check_roles(roles)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            member = current_staff()
            if member is None:
                flash("Войдите, чтобы продолжить.")
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("admin.login", next=target))
            if not has_role(member, *roles):
                abort(403)
            return view(*args, **kwargs)

        wrapper.staff_roles = roles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def token_required(*roles: str) -> Callable[[F], F]:
    """JSON API decorator: ``Authorization: Bearer brk_…`` of a live token whose owner has a role.

    401 (RFC 6750, ``WWW-Authenticate: Bearer``) without a usable token, 403 with the wrong
    role. Inside the view :func:`current_staff` is the token's owner and audit events name
    the token (``token:<prefix>``). The blueprint must also be :func:`broker.web.csrf.exempt`.
    """
    _check_roles(roles)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            token = apitokens.verify_token(value.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                challenge = 'Bearer realm="broker"' + (', error="invalid_token"' if scheme else "")
                response = jsonify(error="invalid_token", error_description="A live API token is required.")
                return response, 401, {"WWW-Authenticate": challenge}
            member = db.session.get(Staff, token.staff_id)
            request.environ[_STAFF_KEY] = member
            request.environ[_TOKEN_KEY] = token
            audit.set_request_actor(f"token:{token.prefix}")
            if member is None or not has_role(member, *roles):
                return jsonify(error="insufficient_scope", error_description="The token's owner may not do this."), 403
            return view(*args, **kwargs)

        wrapper.staff_roles = roles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def staff_page_headers(response: Response) -> Response:
    """``after_request`` of every staff blueprint: never cached (personal data, a new token shown
    once), never framed (a framed staff form could be clicked by trickery), no staff URL in Referer.
    The Content-Security-Policy (``frame-ancestors 'none'`` among it) is every page's: ``broker.web.headers``."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _check_roles(roles: tuple[str, ...]) -> None:
    for role in roles:
        if role not in set(Role):  # also catches @staff_required without parentheses
            raise TypeError(f"staff_required/token_required take role names, not {role!r}")


# --- the rules ---------------------------------------------------------------------------------


def has_role(member: Staff, *roles: str) -> bool:
    """True if ``member`` has one of ``roles`` (any role if none given); admins always."""
    return member.role == Role.ADMIN or not roles or member.role in roles


def can_manage_staff(member: Staff) -> bool:
    return member.role == Role.ADMIN


def can_view_region(member: Staff, code: str) -> bool:
    """Admins and support see every region; an operator sees their own."""
    return member.role in (Role.ADMIN, Role.SUPPORT) or code in (member.regions or [])


def can_manage_region(member: Staff, code: str) -> bool:
    """Switch ESIA login, change a policy, unlink an account there: admins, and the region's operators."""
    return member.role == Role.ADMIN or (member.role == Role.OPERATOR and code in (member.regions or []))


def visible_regions(member: Staff) -> frozenset[str] | None:
    """The region codes ``member`` may see; None means every region (for query filters)."""
    return None if member.role in (Role.ADMIN, Role.SUPPORT) else frozenset(member.regions or [])


def require_region(code: str, *, manage: bool) -> Staff:
    """The current principal if it may view (or, with ``manage``, change) region ``code``; else 403."""
    member = current_staff()
    if member is None:
        abort(401)
    allowed = can_manage_region(member, code) if manage else can_view_region(member, code)
    if not allowed:
        abort(403)
    return member
