"""The broker's HTML problem pages: one renderer, one template family (``alert.html``).

Every page that tells a person something went wrong goes through here: an error (``error.html``:
a title, a message and a code), a refusal of a login (``refusal.html``: the reason's texts from
``matching.REFUSALS`` and the attempt's reference code) and too many requests
(``too_many.html``). Each returns a Flask answer tuple ``(html, status, headers)``, and each
page offers a way on (:func:`onward`): back to the diary portal, or to the staff pages' start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app, render_template, request, session, url_for

import matching
from broker import services
from broker.web import statuses
from broker.web.headers import content_security_policy, csp_nonce

if TYPE_CHECKING:
    from collections.abc import Mapping

Page = tuple[str, int, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Ways:
    """What a refusal page offers besides its texts: the portal the person came from (a
    registered client: its name, support contact and logo) and the ways on.

    ``retry_url``: «Попробовать ещё раз»; ``back_url``: «Вернуться на сайт» (the OIDC error
    response), or «Вернуться в дневник» in the link flow; ``sign_out``: the link flow's form
    that signs the person out of Gosuslugi, ``(action, csrf_token)``.
    """

    portal: Any = None
    retry_url: str | None = None
    back_url: str | None = None
    link_flow: bool = False
    other_person: bool = False
    sign_out: tuple[str, str] | None = None


#: The staff pages' path prefixes: their problem pages lead to the staff start page.
STAFF_PATHS = ("/admin", "/support", "/regions", "/preflight")
#: Where the logout remembers the portal that asked for it, for the "you are logged out" page.
LOGOUT_PORTAL = "logout_portal"
#: Where a logout remembers the address ``/oidc/logged-out`` (ESIA's way back from its logout) goes
#: on to: the portal's ``post_logout_redirect_uri``, its login afresh («Это не я») or the diary
#: (the link flow's «Выйти из Госуслуг»). Set by both wings, read by ``oidc``.
AFTER_LOGOUT = "after_logout"


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
    portal = _portal()
    page = render_template("error.html", title=title, message=message, code=code, links=onward(), portal=portal)
    return page, status, showing(portal, dict(headers or {}))


def render_logged_out() -> Page:
    """The "you are logged out" page, leading back to the portal that asked for the logout (if known)."""
    portal_id = session.pop(LOGOUT_PORTAL, None)
    portal = _portal(portal_id)
    return render_template("auth/logged_out.html", links=onward(portal_id), portal=portal), 200, showing(portal)


def _portal(portal_id: str | None = None) -> Any:
    """The registered portal a person's page is about (``portal_id``, else the request's
    ``client_id``), shown by its name, logo and support contact; None on the staff pages."""
    if request.path.startswith(STAFF_PATHS):
        return None
    return services.current().clients.get(portal_id or request.args.get("client_id") or "")


def showing(portal: Any, answer: dict[str, str] | None = None) -> dict[str, str]:
    """The answer's headers for a page that shows ``portal``: its logo's origin joins the page
    policy's image sources (nothing else does)."""
    answer = {} if answer is None else answer
    logo = getattr(portal, "logo_url", None)
    if logo:
        parts = urlsplit(logo)
        answer["Content-Security-Policy"] = content_security_policy(csp_nonce(), f"{parts.scheme}://{parts.netloc}")
    return answer


def render_refusal(reason: matching.Reason, reference: str, login_url: str | None, ways: Ways | None = None) -> Page:
    """The refusal page for ``reason``, with the HTTP status it means (``broker.web.statuses``).

    ``login_url``: the portal's password login, offered instead (None: no portal to go back to);
    ``ways``: the portal and the other ways on (none known: the links of :func:`onward`).
    """
    ways = ways or Ways()
    status = statuses.status_of(reason)
    known = ways.retry_url or ways.back_url or login_url
    page = render_template("refusal.html", refusal=matching.REFUSALS[reason], reference=reference, login_url=login_url,
                           ways=ways, portal=ways.portal, links=[] if known else onward())  # fmt: skip
    return page, status, showing(ways.portal, retry_after() if status in statuses.RETRY_LATER else {})


def render_too_many(*, per_portal: bool, wait: str, from_portal: bool, code: str, headers: Mapping[str, str]) -> Page:
    """429: too many requests from this address (or through this portal); try again ``wait``."""
    portal = _portal()
    page = render_template("too_many.html", per_portal=per_portal, wait=wait, from_portal=from_portal, code=code,
                           links=onward(), portal=portal)  # fmt: skip
    return page, 429, showing(portal, dict(headers))
