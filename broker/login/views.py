"""The person's side of a login: ESIA's callback, the link flow, the account chooser, the invite
code and the first-link confirmation (the blueprint ``auth``).

Each view reads the request, calls one step of ``broker.login.flow`` and renders its result.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, session

from broker import services
from broker.login import flow
from broker.login.responses import REFUSAL_COOKIE, current_browser, respond, start_over
from broker.oidc import sessions
from broker.web import cookies, pages

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.get("/esia/callback")
def esia_callback() -> Any:
    """ESIA sends the browser back here with a code (or an error) and the state."""
    return respond(flow.callback(flow.Callback(current_browser(), request.args.to_dict())))


@bp.get("/link")
def link() -> Any:
    """The link flow's browser step: redeem the portal's ticket, then off to ESIA."""
    return respond(flow.open_link(request.args.get("state"), request.args.get("ticket"), current_browser(REFUSAL_COOKIE)))


@bp.post("/esia/logout")
def esia_logout() -> Any:
    """The link flow met another person at ESIA: sign out of Gosuslugi, then back to the diary."""
    browser = current_browser()
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    result = flow.leave_esia(browser)
    if isinstance(result, flow.LeaveEsia):
        session[pages.AFTER_LOGOUT] = result.return_to  # /oidc/logged-out goes on there
        return redirect(result.url, 303)
    return respond(result)


@bp.route("/choose", methods=["GET", "POST"])
def choose() -> Any:
    browser = current_browser()
    if request.method == "GET":
        return respond(flow.accounts_to_choose(browser))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.choose(flow.Choice(browser, request.form.get("account_id"))))


@bp.route("/invite", methods=["GET", "POST"])
def invite() -> Any:
    """A child's first link in a region that asks for the school's one-time invite code."""
    browser = current_browser()
    if request.method == "GET":
        return respond(flow.invite_page(browser))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.invite(flow.InviteCode(browser, request.form.get("code", ""))))


@bp.route("/confirm", methods=["GET", "POST"])
def confirm() -> Any:
    """The first link: show the diary's name and birth date, ask for a mobile phone and e-mail."""
    browser = current_browser()
    sent = flow.Contacts(browser, request.form.get("phone"), request.form.get("email"))
    if request.method == "GET":
        return respond(flow.contacts(sent))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.confirm(sent))


@bp.post("/not-me")
def not_me() -> Any:
    """«Это не я» on the chooser, the invite code page or the first link's page: sign out of Gosuslugi and start over."""
    browser = current_browser()
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return start_over(flow.not_me(flow.NotMe(browser, cookies.read(sessions.COOKIE))))


def _csrf_sent(browser: flow.Browser) -> bool:
    """Whether the form carries this browser's CSRF token (one made under a fallback key too)."""
    if browser.binding is None:
        return False
    return services.current().keyring.login_csrf.verify(browser.binding, request.form.get("csrf_token", ""))
