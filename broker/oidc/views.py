"""The OpenID Connect endpoints the diary portals use: discovery, JWKS, authorize, token,
revocation, userinfo and logout (the blueprint ``oidc``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import current_token
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, session, url_for

from broker import services
from broker.extensions import db
from broker.login import flow, responses
from broker.oidc import authorization, sessions
from broker.oidc import provider as oidc
from broker.oidc.clients import PortalClient
from broker.web import cookies, csrf, pages

bp = Blueprint("oidc", __name__)


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    return jsonify(oidc.discovery(current_app.config["OIDC_ISSUER"], authorization.external))


@bp.get("/oidc/jwks")
def jwks() -> Response:
    keys = services.current().signing_keys
    return jsonify(keys.jwks() if keys else {"keys": []})


@bp.get("/oidc/authorize")
def authorize() -> Any:
    """The portal's authorization request: single sign-on, a region to pick, a refusal, or off to ESIA."""
    refused = responses.current_browser(responses.REFUSAL_COOKIE)  # a refusal before ESIA, replayed on reload
    asked = flow.Authorize(request.args.to_dict(), cookies.read(sessions.COOKIE), refused)
    return responses.respond(flow.start(asked))


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
    asked = flow.LinkRequest(client, request.form.get("account_id", ""), request.form.get("return_to", ""))
    result = flow.start_link(asked)
    if isinstance(result, flow.LinkRejected):
        return jsonify(error="invalid_request", error_description=result.description), 400
    return jsonify(url=result.url)


def _authenticated_client() -> PortalClient | None:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return None
    client = services.current().clients.get(auth.username)
    if client is None or client.is_public or not client.check_client_secret(auth.password):
        return None
    return client


@bp.post("/oidc/token")
def token() -> Any:
    return authorization.token_response()


@bp.post("/oidc/revoke")
def revoke() -> Any:
    """RFC 7009: a client revokes one of its own tokens (``broker.oidc.provider.Revocation``); committed."""
    response = services.current().oidc.create_endpoint_response("revocation")
    db.session.commit()
    return response


@bp.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    @services.current().resource_protector("openid")
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
        return pages.render_error(
            "Выход не выполнен",
            "Портал передал неверные данные для выхода. Вернитесь на портал и нажмите «Выйти» ещё раз.",
            "invalid_request",
            400,
        )
    client_id = args.get("client_id") or (oidc.audience(claims)[0] if claims and len(oidc.audience(claims)) == 1 else "")
    client = services.current().clients.get(client_id)
    if claims is not None and client_id not in oidc.audience(claims):
        return pages.render_error(
            "Выход не выполнен",
            "Портал передал данные для выхода, которые относятся к другому порталу. Вернитесь на портал и нажмите «Выйти» ещё раз.",
            "invalid_request",
            400,
        )
    target = args.get("post_logout_redirect_uri")
    if target and (client is None or not client.check_post_logout_redirect_uri(target)):
        return pages.render_error(
            "Выход не выполнен",
            "Портал указал адрес возврата, который не зарегистрирован. Вернитесь на портал и нажмите «Выйти» ещё раз.",
            "invalid_request",
            400,
        )
    live = sessions.find_session(cookies.read(sessions.COOKIE))
    if request.method == "POST":
        # The staff pages' synchronizer token, kept in this browser's session cookie.
        if not csrf.is_valid(args.get(csrf.FIELD)):
            return pages.render_error(
                "Выход не выполнен", "Страница выхода устарела. Вернитесь на портал и нажмите «Выйти» ещё раз.", "logout_expired", 400
            )
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
        flow.sign_out(live)
    state = args.get("state")
    session[pages.LOGOUT_PORTAL] = client.client_id if client else None  # the way back from "you are logged out"
    session[pages.AFTER_LOGOUT] = target + ("?" + urlencode({"state": state}) if state else "") if target else None
    response = redirect(services.current().esia.logout_url(authorization.external("oidc.logged_out")), 303)
    cookies.forget(response, sessions.COOKIE)
    return response


def _hint_names(claims: dict[str, Any] | None, live: sessions.LiveSession | None) -> bool:
    """Whether the id_token_hint speaks for the person signed in here (or no one is)."""
    if claims is None:
        return False
    return live is None or claims["sub"] == live.account_id


@bp.get("/oidc/logged-out")
def logged_out() -> Any:
    target = session.pop(pages.AFTER_LOGOUT, None)
    if target:
        session.pop(pages.LOGOUT_PORTAL, None)
        return redirect(target)
    return pages.render_logged_out()
