"""How each result of the login flow is answered: the page, the redirect, and the cookies that go with it.

The person's login views (``broker.login.views``) and the portals' authorize endpoint
(``broker.oidc.views``) both answer with :func:`respond`, so a step's result looks the same
whichever door it came through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, make_response, redirect, render_template, session, url_for

from broker import config, services
from broker.login import flow, pending
from broker.login.pending import Step
from broker.oidc import sessions
from broker.web import cookies, pages

if TYPE_CHECKING:
    pass

ROLES_RU = {"student": "Ученик", "parent": "Родитель", "teacher": "Учитель", "staff": "Сотрудник"}
#: The cookie of a refusal before ESIA (a region that is off, a link whose ESIA request could not
#: be signed): ``state.binding`` as the binding cookie, but its own, so that it never replaces the
#: binding of a login under way in another tab (docs/adr/0018).
REFUSAL_COOKIE = config.REFUSAL_COOKIE
#: The page each step waits on.
PAGES = {Step.CHOOSE_ACCOUNT: "auth.choose", Step.INVITE_CODE: "auth.invite", Step.CONFIRM: "auth.confirm"}


def respond(result: flow.Result) -> Any:
    """Render what a step of the login answered."""
    match result:
        case flow.ErrorPage(title, message, code, status):
            return pages.render_error(title, message, code, status)
        case flow.Refused() as refused:
            return _refusal(refused)
        case flow.ToEsia(url, binding_cookie):
            to_esia = redirect(url)
            cookies.put(to_esia, pending.BINDING_COOKIE, binding_cookie, current_app.config["PENDING_LOGIN_SECONDS"])
            return to_esia
        case flow.ToPortal(to_portal, ends_login):
            if ends_login:
                cookies.forget(to_portal, pending.BINDING_COOKIE)
            return to_portal
        case flow.ChooseRegion(portal_request, regions, problem):
            return render_template("auth/region.html", action=url_for("oidc.authorize"),
                                   carried=sorted(portal_request.items()), regions=regions, problem=problem)  # fmt: skip
        case flow.Next(step):
            return redirect(url_for(PAGES[step]))
        case flow.ChooseAccount(accounts, invalid, portal):
            chooser = render_template("auth/choose.html", accounts=accounts, roles=ROLES_RU, csrf_token=_csrf(), portal=portal,
                                      action=url_for("auth.choose"), not_me=url_for("auth.not_me"))  # fmt: skip
            return chooser, 400 if invalid else 200, pages.showing(portal)
        case flow.AskInviteCode(problem, portal):
            form = {"csrf_token": _csrf(), "action": url_for("auth.invite"), "not_me": url_for("auth.not_me"), "portal": portal}
            return render_template("auth/invite.html", problem=problem, **form), 400 if problem else 200, pages.showing(portal)
        case flow.ConfirmContacts(account, phone, email, problems):
            shown = {"page": result, "account": account, "phone": flow.shown_phone(phone), "email": email, "csrf_token": _csrf(),
                     "action": url_for("auth.confirm"), "not_me": url_for("auth.not_me"), "portal": result.portal}  # fmt: skip
            page = render_template("auth/confirm.html", problems=problems, **shown)
            return page, 400 if problems else 200, pages.showing(result.portal)
        case flow.SignedIn(signed_in, token):
            cookies.put(signed_in, sessions.COOKIE, token, int(current_app.config["SESSION_SECONDS"]))
            cookies.forget(signed_in, pending.BINDING_COOKIE)
            return signed_in
        case flow.Linked(return_to):
            linked = redirect(return_to)
            cookies.forget(linked, pending.BINDING_COOKIE)
            return linked
    raise TypeError(f"no page for {result!r}")


def start_over(result: flow.ErrorPage | flow.StartOver) -> Any:
    """«Это не я»: off to ESIA's logout, whose way back (``/oidc/logged-out``, the one address
    registered with ESIA for it) goes on to the fresh start of the portal's login."""
    if not isinstance(result, flow.StartOver):
        return respond(result)
    session[pages.AFTER_LOGOUT] = result.restart_url
    session[pages.LOGOUT_PORTAL] = result.client_id  # without a restart: the logged-out page leads to the portal
    to_esia = redirect(result.esia_logout_url, 303)
    cookies.forget(to_esia, pending.BINDING_COOKIE)
    cookies.forget(to_esia, sessions.COOKIE)
    return to_esia


def _refusal(refused: flow.Refused) -> Any:
    """The refusal page with its ways on; a refusal replayed to its browser keeps the binding cookie
    (renewed for ``REFUSAL_KEPT_SECONDS``), so that a reload shows the same page. A refusal before
    ESIA sets its own cookie instead and leaves the binding cookie (another tab's login) alone."""
    sign_out = (url_for("auth.esia_logout"), _csrf()) if refused.other_person and current_browser().binding else None
    ways = pages.Ways(refused.portal, refused.retry_url, refused.back_url, refused.link_flow, refused.other_person, sign_out)
    page = make_response(pages.render_refusal(refused.reason, refused.reference, refused.login_url, ways))
    kept = int(current_app.config["REFUSAL_KEPT_SECONDS"])
    binding = cookies.read(pending.BINDING_COOKIE)
    if refused.ends_login:
        cookies.forget(page, pending.BINDING_COOKIE)
    elif refused.keeps_login and binding:
        cookies.put(page, pending.BINDING_COOKIE, binding, kept)
    if refused.refusal_cookie:
        cookies.put(page, REFUSAL_COOKIE, refused.refusal_cookie, kept)
    return page


def current_browser(cookie: str = pending.BINDING_COOKIE) -> flow.Browser:
    """The pending login's state and the browser's secret, from the binding cookie (or from
    ``REFUSAL_COOKIE``: a refusal before ESIA)."""
    value = cookies.read(cookie) or ""
    state, _, binding = value.partition(".")
    return flow.Browser(state or None, binding or None)


def _csrf() -> str:
    """The login pages' CSRF token: tied to the browser's binding, under a key of its own purpose."""
    binding = current_browser().binding
    assert binding is not None  # a page is shown only to the browser its login is bound to
    return services.current().keyring.login_csrf.digest(binding)
