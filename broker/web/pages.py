"""The broker's HTML problem pages: one renderer, one template family (``alert.html``).

Every page that tells a person something went wrong goes through here: an error (``error.html``:
a title, a message and a code), a refusal of a login (``refusal.html``: the reason's texts from
``matching.REFUSALS`` and the attempt's reference code) and too many requests
(``too_many.html``). Each returns a Flask answer tuple ``(html, status, headers)``, and each
page offers a way on (:func:`onward`): back to the diary portal, or to the staff pages' start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, render_template, request, session, url_for

import matching
from broker import services
from broker.web import statuses

if TYPE_CHECKING:
    from collections.abc import Mapping

Page = tuple[str, int, dict[str, str]]

#: The staff pages' path prefixes: their problem pages lead to the staff start page.
STAFF_PATHS = ("/admin", "/support", "/regions", "/preflight")
#: Where the logout remembers the portal that asked for it, for the "you are logged out" page.
LOGOUT_PORTAL = "logout_portal"


def onward(portal_id: str | None = None) -> list[tuple[str, str]]:
    """Links a problem page offers onward, as ``(text, href)``.

    The staff pages lead to their start page. A person's page leads back to the diary portal
    they came from (``portal_id``, else the request's ``client_id``); with no portal known, to
    the start of every registered portal's login (there is no broker start page for people).
    """
    if request.path.startswith(STAFF_PATHS):
        return [("На главную", url_for("admin.home"))]
    clients = services.current().clients
    known = clients.get(portal_id or request.args.get("client_id") or "")
    if known is not None:
        return [(f"Вернуться на портал «{known.name}»", known.login_url)]
    return [(f"На главную: портал «{each.name}»", each.login_url) for each in sorted(clients.values(), key=lambda c: c.name)]


def retry_after() -> dict[str, str]:
    """``Retry-After`` for an answer meaning "try again later"."""
    return {"Retry-After": str(int(current_app.config["RETRY_AFTER_SECONDS"]))}


def render_error(title: str, message: str, code: str | None, status: int, headers: Mapping[str, str] | None = None) -> Page:
    """An error page: what happened (``title``), what to do (``message``), the error's code and the way on."""
    page = render_template("error.html", title=title, message=message, code=code, links=onward())
    return page, status, dict(headers or {})


def render_logged_out() -> str:
    """The "you are logged out" page, leading back to the portal that asked for the logout (if known)."""
    return render_template("auth/logged_out.html", links=onward(session.pop(LOGOUT_PORTAL, None)))


def render_refusal(reason: matching.Reason, reference: str, login_url: str | None) -> Page:
    """The refusal page for ``reason``, with the HTTP status it means (``broker.web.statuses``).

    ``login_url``: the portal's password login, offered instead (None: no portal to go back to).
    """
    status = statuses.status_of(reason)
    page = render_template("refusal.html", refusal=matching.REFUSALS[reason], reference=reference, login_url=login_url)
    return page, status, retry_after() if status in statuses.RETRY_LATER else {}


def render_too_many(*, per_portal: bool, wait: str, from_portal: bool, code: str, headers: Mapping[str, str]) -> Page:
    """429: too many requests from this address (or through this portal); try again ``wait``."""
    page = render_template("too_many.html", per_portal=per_portal, wait=wait, from_portal=from_portal, code=code, links=onward())
    return page, 429, dict(headers)
