"""The person's side of a login: ESIA's callback, the link flow, the account chooser, the invite
code and the first-link confirmation (the blueprint ``auth``).

Each view reads the request, calls one step of ``broker.login.flow`` and renders its result.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

from broker import services
from broker.login import flow
from broker.login import pending as login
from broker.login.pending import Step
from broker.oidc import sessions
from broker.web import cookies
from broker.web import pages

bp = Blueprint("auth", __name__, url_prefix="/auth")

ROLES_RU = {"student": "Ученик", "parent": "Родитель", "teacher": "Учитель", "staff": "Сотрудник"}
#: The page each step waits on.
PAGES = {Step.CHOOSE_ACCOUNT: "auth.choose", Step.INVITE_CODE: "auth.invite", Step.CONFIRM: "auth.confirm"}


@bp.get("/esia/callback")
def esia_callback() -> Any:
    """ESIA sends the browser back here with a code (or an error) and the state."""
    return respond(flow.callback(flow.Callback(_browser(), request.args.to_dict())))


@bp.get("/link")
def link() -> Any:
    """The link flow's browser step: redeem the portal's ticket, then off to ESIA."""
    return respond(flow.open_link(request.args.get("state"), request.args.get("ticket")))


@bp.route("/choose", methods=["GET", "POST"])
def choose() -> Any:
    browser = _browser()
    if request.method == "GET":
        return respond(flow.accounts_to_choose(browser))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.choose(flow.Choice(browser, request.form.get("account_id"))))


@bp.route("/invite", methods=["GET", "POST"])
def invite() -> Any:
    """A child's first link in a region that asks for the school's one-time invite code."""
    browser = _browser()
    if request.method == "GET":
        return respond(flow.invite_page(browser))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.invite(flow.InviteCode(browser, request.form.get("code", ""))))


@bp.route("/confirm", methods=["GET", "POST"])
def confirm() -> Any:
    """The first link: show the diary's name and birth date, ask for a mobile phone and e-mail."""
    browser = _browser()
    sent = flow.Contacts(browser, request.form.get("phone"), request.form.get("email"))
    if request.method == "GET":
        return respond(flow.contacts(sent))
    if not _csrf_sent(browser):
        return respond(flow.EXPIRED)
    return respond(flow.confirm(sent))


def respond(result: flow.Result) -> Any:
    """Render what a step of the login answered."""
    match result:
        case flow.ErrorPage(title, message, code, status):
            return pages.render_error(title, message, code, status)
        case flow.Refused(reason, reference, login_url, ends_login):
            refusal = make_response(pages.render_refusal(reason, reference, login_url))
            if ends_login:
                cookies.forget(refusal, login.BINDING_COOKIE)
            return refusal
        case flow.ToEsia(url, binding_cookie):
            to_esia = redirect(url)
            cookies.put(to_esia, login.BINDING_COOKIE, binding_cookie, current_app.config["PENDING_LOGIN_SECONDS"])
            return to_esia
        case flow.ToPortal(to_portal, ends_login):
            if ends_login:
                cookies.forget(to_portal, login.BINDING_COOKIE)
            return to_portal
        case flow.ChooseRegion(portal_request, regions, problem):
            return render_template("auth/region.html", action=url_for("oidc.authorize"),
                                   carried=sorted(portal_request.items()), regions=regions, problem=problem)  # fmt: skip
        case flow.Next(step):
            return redirect(url_for(PAGES[step]))
        case flow.ChooseAccount(accounts, invalid):
            chooser = render_template("auth/choose.html", accounts=accounts, roles=ROLES_RU, csrf_token=_csrf(),
                                      action=url_for("auth.choose"))  # fmt: skip
            return (chooser, 400) if invalid else chooser
        case flow.AskInviteCode(problem):
            form = {"csrf_token": _csrf(), "action": url_for("auth.invite")}
            if problem is None:
                return render_template("auth/invite.html", **form)
            return render_template("auth/invite.html", problem=problem, **form), 400
        case flow.ConfirmContacts(account, phone, email, problem):
            shown = {"account": account, "phone": phone, "email": email, "csrf_token": _csrf(), "action": url_for("auth.confirm")}
            if problem is None:
                return render_template("auth/confirm.html", **shown)
            return render_template("auth/confirm.html", problem=problem, **shown), 400
        case flow.SignedIn(signed_in, token):
            cookies.put(signed_in, sessions.COOKIE, token, int(current_app.config["SESSION_SECONDS"]))
            cookies.forget(signed_in, login.BINDING_COOKIE)
            return signed_in
        case flow.Linked(return_to):
            linked = redirect(return_to)
            cookies.forget(linked, login.BINDING_COOKIE)
            return linked
    raise TypeError(f"no page for {result!r}")


def _browser() -> flow.Browser:
    """The pending login's state and the browser's secret, from the binding cookie."""
    value = cookies.read(login.BINDING_COOKIE) or ""
    state, _, binding = value.partition(".")
    return flow.Browser(state or None, binding or None)


def _csrf() -> str:
    """The login pages' CSRF token: tied to the browser's binding, under a key of its own purpose."""
    binding = _browser().binding
    assert binding is not None  # a page is shown only to the browser its login is bound to
    return services.current().keyring.login_csrf.digest(binding)


def _csrf_sent(browser: flow.Browser) -> bool:
    """Whether the form carries this browser's CSRF token (one made under a fallback key too)."""
    if browser.binding is None:
        return False
    return services.current().keyring.login_csrf.verify(browser.binding, request.form.get("csrf_token", ""))
