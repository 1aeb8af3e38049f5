"""The OpenID Connect endpoints the diary portals use: discovery, JWKS, authorize, token,
userinfo and logout (the blueprint ``oidc``)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.integrations.flask_oauth2 import current_token
from authlib.oidc.core.errors import InteractionRequiredError, LoginRequiredError
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, session, url_for

import matching
from broker import services
from broker.regions import policies as regions
from broker.login import pending as login
from broker.oidc import provider as oidc
from broker.oidc import sessions
from broker.web import cookies
from broker.web import csrf
from broker.web import statuses
from broker.oidc.clients import PortalClient
from broker.errors import retry_after
from broker.db.models import Account
from broker.extensions import db

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)


def external(endpoint: str, **values: Any) -> str:
    """An absolute URL under the configured issuer (not the Host header a proxy passed on)."""
    return current_app.config["OIDC_ISSUER"] + url_for(endpoint, **values)


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    return jsonify(oidc.discovery(current_app.config["OIDC_ISSUER"], external))


@bp.get("/oidc/jwks")
def jwks() -> Response:
    keys = services.current().signing_keys
    return jsonify(keys.jwks() if keys else {"keys": []})


@bp.get("/oidc/authorize")
def authorize() -> Any:
    """Validate the portal's request, pick the region, then SSO or off to ESIA.

    ``prompt`` and ``max_age`` decide whether the live session may answer (OIDC Core
    §3.1.2.1): ``prompt=login``, ``max_age=0`` or a session older than ``max_age`` start a new
    ESIA login; ``prompt=none`` answers with a code from the session, or with an error
    redirect (``login_required``, ``interaction_required``) and never a page.
    """
    server = services.current().oidc
    assert server is not None
    live = sessions.find_session(cookies.read(sessions.COOKIE))
    signed = oidc.signed_in(live.id) if live is not None else None
    try:
        # With no session, Authlib answers prompt=none with login_required itself.
        grant = server.get_consent_grant(end_user=signed)
        asked = oidc.Freshness.of(grant)
    except OAuth2Error as error:
        if error.redirect_uri:  # the client and its redirect URI are known: tell the portal
            return oidc.error_response(server, error)
        return render_error("Портал отправил неверный запрос на вход", error.description or error.error, error.error, 400)
    client: PortalClient = grant.request.client
    usable = (
        live is not None
        and signed is not None
        and client.may_serve(signed.account.region)
        and asked.allows(live, datetime.now(timezone.utc))
    )
    portal_request = request.args.to_dict()
    region = portal_request.pop("region", None)
    policies = regions.policies()

    def silently(error: type[OAuth2Error], description: str) -> Any:
        return oidc.error_response(
            server, error(description, redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
        )

    if asked.silent and not usable:
        return silently(LoginRequiredError, "No login of the person that this request may use.")
    if not region or region not in policies or not client.may_serve(region):
        if asked.silent:
            return silently(InteractionRequiredError, "The person has to choose a region.")
        problem = "Этот портал не обслуживает выбранный регион." if region else None
        return render_region_choice(client, portal_request, policies, problem)
    if not policies[region].enabled:
        if asked.silent:
            return silently(InteractionRequiredError, "ESIA login is switched off in this region.")
        attempt = login.refusal_attempt(client.client_id, region, matching.Reason.REGION_DISABLED, "region_disabled")
        return render_refusal(matching.Reason.REGION_DISABLED, attempt.reference, client)
    if usable:
        assert live is not None
        response = complete_authorization(client, portal_request, live)
        db.session.commit()
        return response
    started = login.start(client.client_id, portal_request, region)
    response = redirect(started.url)
    cookies.put(response, login.BINDING_COOKIE, f"{started.state}.{started.binding}", current_app.config["PENDING_LOGIN_SECONDS"])
    return response


@bp.post("/oidc/link")
def start_link() -> Any:
    """The portal asks to link the account a person is signed in to (by password) with ESIA.

    Back channel, confidential clients only (HTTP Basic with the client's secret). Answers
    ``{"url": ...}``: where the portal sends the person's browser. ``return_to`` must be on the
    portal's own origin (one of its registered redirect URIs').
    """
    client = _authenticated_client()
    if client is None:
        return jsonify(error="invalid_client"), 401
    account_id = request.form.get("account_id", "")
    return_to = request.form.get("return_to", "")
    account = db.session.get(Account, account_id) if account_id else None
    if account is None:
        return jsonify(error="invalid_request", error_description="account_id: no such diary account"), 400
    if not client.may_serve(account.region):
        return jsonify(error="invalid_request", error_description="account_id: not in this portal's regions"), 400
    if not _same_origin(return_to, client.redirect_uris):
        return jsonify(error="invalid_request", error_description="return_to: not on the portal's registered origin"), 400
    state, ticket = login.issue_link_ticket(client.client_id, account.id, account.region, return_to)
    return jsonify(url=external("auth.link") + "?" + urlencode({"state": state, "ticket": ticket}))


def _authenticated_client() -> PortalClient | None:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return None
    client = services.current().clients.get(auth.username)
    if client is None or client.is_public or not client.check_client_secret(auth.password):
        return None
    return client


def _same_origin(url: str, registered: tuple[str, ...]) -> bool:
    """Whether ``url`` is on the origin (scheme, host, port) of one of ``registered``.

    Parsed, never compared as text; user info, a fragment or an unparsable URL is refused.
    """
    target = _origin(url)
    return target is not None and any(target == _origin(uri) for uri in registered)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None  # urlsplit would drop tabs and newlines, and strip spaces, without a word
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None or parts.fragment:
        return None
    return (parts.scheme, parts.hostname, port if port is not None else (443 if parts.scheme == "https" else 80))


@bp.post("/oidc/token")
def token() -> Any:
    server = services.current().oidc
    assert server is not None
    response = server.create_token_response()
    db.session.commit()  # the code is spent whatever the answer; the access token is kept
    return response


@bp.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    protector = services.current().resource_protector
    assert protector is not None

    @protector("openid")
    def answer() -> Response:
        stored: oidc.StoredToken = current_token  # type: ignore[assignment]
        assert stored.user is not None  # a token whose session is gone is refused as revoked
        return jsonify(oidc.user_info(stored.user, stored.row.scope))

    return answer()


@bp.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout: end the broker session, then the ESIA session, then back to the portal.

    The portal names itself by ``client_id`` or by ``id_token_hint`` (an id_token we signed,
    expired or not). Without a hint for the person signed in here, the person is asked first
    (RP-Initiated Logout §2, §6): a link on any page must not end their session. The
    confirmation posts back here with a token bound to the browser's session cookie.
    """
    args = request.form if request.method == "POST" else request.args
    hint = args.get("id_token_hint")
    claims = oidc.read_id_token_hint(hint) if hint else None
    if hint and claims is None:
        return render_error("Выход не выполнен", "Портал передал недействительный id_token_hint.", "invalid_request", 400)
    client_id = args.get("client_id") or (oidc.audience(claims)[0] if claims and len(oidc.audience(claims)) == 1 else "")
    client = services.current().clients.get(client_id)
    if claims is not None and client_id not in oidc.audience(claims):
        return render_error("Выход не выполнен", "client_id не совпадает с получателем id_token_hint.", "invalid_request", 400)
    target = args.get("post_logout_redirect_uri")
    if target and (client is None or not client.check_post_logout_redirect_uri(target)):
        return render_error("Выход не выполнен", "Портал указал адрес возврата, который не зарегистрирован.", "invalid_request", 400)
    live = sessions.find_session(cookies.read(sessions.COOKIE))
    if request.method == "POST":
        # The staff pages' synchronizer token, kept in this browser's session cookie.
        if not csrf.is_valid(args.get(csrf.FIELD)):
            return render_error("Выход не выполнен", "Страница выхода устарела. Вернитесь на портал и нажмите «Выйти» ещё раз.", "logout_expired", 400)
    elif not _hint_names(claims, live):
        token = csrf.token()
        carried = {name: args[name] for name in ("client_id", "post_logout_redirect_uri", "state") if args.get(name)}
        if client is not None:
            carried["client_id"] = client.client_id
        return render_template(
            "auth/logout.html", action=url_for("oidc.logout"), carried=sorted(carried.items()), csrf_token=token,
            portal=client.name if client else None,
        )  # fmt: skip
    if live is not None:
        sessions.revoke(live)
        db.session.commit()
    state = args.get("state")
    session["after_logout"] = target + ("?" + urlencode({"state": state}) if state else "") if target else None
    response = redirect(services.current().esia.logout_url(external("oidc.logged_out")), 303)
    cookies.forget(response, sessions.COOKIE)
    return response


def _hint_names(claims: dict[str, Any] | None, live: sessions.LiveSession | None) -> bool:
    """Whether the id_token_hint speaks for the person signed in here (or no one is)."""
    if claims is None:
        return False
    return live is None or claims["sub"] == live.account_id


@bp.get("/oidc/logged-out")
def logged_out() -> Any:
    target = session.pop("after_logout", None)
    if target:
        return redirect(target)
    return render_template("auth/logged_out.html")


# --- shared by the login pages --------------------------------------------------------------


def complete_authorization(
    client: PortalClient, portal_request: dict[str, str], live: sessions.LiveSession, login_started: datetime | None = None
) -> Any:
    """Issue the portal's authorization code for session ``live`` and send the browser back.

    ``login_started``: when the broker sent the person to ESIA for this request (None when the
    live session answered it). If ESIA's single sign-on answered without asking the person,
    and the portal asked for a new authentication (``prompt=login``, ``max_age``), the portal
    gets ``login_required`` instead of a code: OIDC Core §3.1.2.1, "If it cannot
    reauthenticate the End-User, it MUST return an error, typically login_required", and a
    code whose ``auth_time`` breaks ``max_age`` is one a conforming portal must reject anyway.
    The code is written in the caller's transaction: the caller commits.
    """
    if login_started is not None and not is_fresh_enough(portal_request, oidc.auth_time(live), login_started):
        return login_required(client, portal_request)
    server, stored, grant = _stored_grant(portal_request)
    return server.create_authorization_response(request=stored, grant_user=live, grant=grant)


def is_fresh_enough(portal_request: dict[str, str], authenticated: float, login_started: datetime) -> bool:
    """Whether an ESIA login begun at ``login_started``, in which ESIA last asked the person at
    ``authenticated`` (Unix time), gives the portal's request the login it asked for."""
    _, _, grant = _stored_grant(portal_request)
    return oidc.Freshness.of(grant).met_by(authenticated, login_started, datetime.now(timezone.utc))


def login_required(client: PortalClient, portal_request: dict[str, str]) -> Any:
    """Answer the portal's request with ``login_required``: ESIA let the person in from an older
    authentication than the request allows (it documents no way to make it ask again)."""
    log.info("client %s: ESIA answered a login asked to be fresh from an older authentication: login_required", client.client_id)
    server, stored, grant = _stored_grant(portal_request)
    error = LoginRequiredError(
        "ESIA signed the person in without asking them again, from an authentication older than this request allows.",
        redirect_uri=grant.validate_authorization_request(),
        state=stored.payload.state,
    )
    return oidc.error_response(server, error)


def _stored_grant(portal_request: dict[str, str]) -> tuple[Any, oidc.StoredAuthorizationRequest, Any]:
    """The authorization server, the portal's request as kept with the pending login, and its grant."""
    server = services.current().oidc
    assert server is not None
    uri = external("oidc.authorize") + "?" + urlencode(portal_request)
    stored = oidc.StoredAuthorizationRequest(uri, portal_request)
    return server, stored, server.get_authorization_grant(stored)


def render_refusal(reason: matching.Reason, reference: str, client: PortalClient | None) -> Any:
    """The refusal page for ``reason``, with the HTTP status it means (``broker.web.statuses``)."""
    status = statuses.status_of(reason)
    page = render_template(
        "auth/refusal.html",
        refusal=matching.REFUSALS[reason],
        reference=reference,
        login_url=client.login_url if client else None,
    )
    return page, status, retry_after() if status in statuses.RETRY_LATER else {}


def render_error(title: str, message: str, code: str | None, status: int) -> Any:
    return render_template("error.html", title=title, message=message, code=code), status


def render_region_choice(
    client: PortalClient, portal_request: dict[str, str], policies: dict[str, matching.RegionPolicy], problem: str | None
) -> Any:
    served = sorted((policies[code] for code in client.regions if code in policies), key=lambda r: r.name)
    return render_template(
        "auth/region.html",
        action=url_for("oidc.authorize"),
        carried=sorted(portal_request.items()),
        regions=served,
        problem=problem,
    )
