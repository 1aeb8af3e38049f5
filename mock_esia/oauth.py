"""ESIA's authorization service: ``/aas/oauth2/{ac,v2/ac,te,v3/te}`` and ``/idp/ext/Logout``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, redirect, render_template, request, url_for

from mock_esia import authorization, exchange, scenarios
from mock_esia.answers import error_page, error_redirect, json_answer, token_error
from mock_esia.errors import EsiaError
from mock_esia.services import current

if TYPE_CHECKING:
    import werkzeug

bp = Blueprint("oauth", __name__)


@bp.get("/aas/oauth2/ac")
def authorize_v1() -> werkzeug.Response:
    return _authorize("v1")


@bp.get("/aas/oauth2/v2/ac")
def authorize_v2() -> werkzeug.Response:
    return _authorize("v2")


def _authorize(flow: str) -> werkzeug.Response:
    services = current()
    try:
        client = authorization.identify_client(request.args, flow, services)
    except EsiaError as exc:
        return error_page(exc)
    try:
        pending = authorization.validate(request.args, flow, client, services)
    except EsiaError as exc:
        return error_redirect(request.args["redirect_uri"], exc, request.args.get("state"))
    services.grants.add_request(pending)
    # A valid request answers 302 to the login form (docs/esia.md, 'Hosts and endpoints').
    return redirect(url_for("login.page", rid=pending.id), code=302)


@bp.post("/aas/oauth2/te")
def token_v1() -> Response:
    return _token("v1")


@bp.post("/aas/oauth2/v3/te")
def token_v3() -> Response:
    return _token("v3")


def _token(flow: str) -> Response:
    services = current()
    state = request.form.get("state")
    try:
        prepared = exchange.prepare(request.form, flow, services)
        scenarios.apply(scenarios.for_subject(prepared.login.oid, prepared.login.faults))
        body = exchange.complete(prepared, services, scenarios.current().flags)
    except EsiaError as exc:
        return token_error(exc, state)
    return json_answer(body)


@bp.get("/idp/ext/Logout")
def logout() -> werkzeug.Response:
    """End the ESIA session and go back to ``redirect_url`` (note: not ``redirect_uri``)."""
    services = current()
    client = services.clients.get(request.args.get("client_id", ""))
    if client is None:
        return error_page(EsiaError("ESIA-007002"))
    target = request.args.get("redirect_url")
    if target:
        if not client.allows_redirect(target):
            return error_page(EsiaError("ESIA-007023"))
        return redirect(target, code=302)
    return Response(render_template("logout.html", client=client), mimetype="text/html")
