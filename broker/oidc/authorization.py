"""Answering a portal's authorization request: a code for a session, ``login_required``, or the
error response of a refused login (OIDC Core §3.1.2.6) that the person's «Вернуться на сайт» carries.

The portal's request is validated by Authlib when it arrives (``/oidc/authorize``) and kept with
the pending login while the person is at ESIA; a code for it is issued without validating it again
(:func:`issue_code`), and its error responses rebuild its grant from the kept arguments. They
write into the caller's transaction (the login flow commits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, UnauthorizedClientError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Response, current_app, url_for

from broker import services
from broker.extensions import db
from broker.oidc import provider as oidc

if TYPE_CHECKING:
    from collections.abc import Mapping

    from authlib.integrations.flask_oauth2 import AuthorizationServer

    from broker.oidc.clients import PortalClient
    from broker.oidc.sessions import LiveSession

log = logging.getLogger(__name__)


def external(endpoint: str, **values: Any) -> str:
    """An absolute URL under the configured issuer (not the Host header a proxy passed on)."""
    return current_app.config["OIDC_ISSUER"] + url_for(endpoint, **values)


@dataclass(frozen=True, slots=True)
class Asked:
    """A portal's authorization request, validated: its grant and how fresh a login it asks for."""

    grant: Any  # Authlib's authorization code grant for the request
    freshness: oidc.Freshness

    @property
    def client(self) -> PortalClient:
        return self.grant.request.client

    def error(self, error: type[OAuth2Error], description: str) -> Response:
        """Answer the portal's request with ``error`` (a redirect back to it)."""
        server = _server()
        found = error(description, redirect_uri=self.grant.redirect_uri, state=self.grant.request.payload.state)
        return oidc.error_response(server, found)


def read_request(signed: oidc.SignedIn | None) -> Asked:
    """Validate the portal's authorization request in ``flask.request`` (raises ``OAuth2Error``).

    ``signed``: the live session's person, if any; with none, Authlib answers ``prompt=none``
    with ``login_required`` itself.
    """
    grant = _server().get_consent_grant(end_user=signed)
    return Asked(grant, oidc.Freshness.of(grant))


def error_response(error: OAuth2Error) -> Response:
    """An error Authlib raised while reading the request, sent back to the portal."""
    return oidc.error_response(_server(), error)


def complete_authorization(
    client: PortalClient, portal_request: dict[str, str], live: LiveSession, login_started: datetime | None = None
) -> Response:
    """Issue the portal's authorization code for session ``live`` and send the browser back.

    ``login_started``: when the broker sent the person to ESIA for this request (None when the
    live session answered it, or when the caller has just checked the login's freshness itself).
    If ESIA's single sign-on answered without asking the person,
    and the portal asked for a new authentication (``prompt=login``, ``max_age``), the portal
    gets ``login_required`` instead of a code: OIDC Core §3.1.2.1, "If it cannot
    reauthenticate the End-User, it MUST return an error, typically login_required", and a
    code whose ``auth_time`` breaks ``max_age`` is one a conforming portal must reject anyway.
    The code is written in the caller's transaction: the caller commits.
    """
    if login_started is not None and not is_fresh_enough(portal_request, oidc.auth_time(live), login_started):
        return login_required(client, portal_request)
    return issue_code(client, portal_request, live)


def issue_code(client: PortalClient, portal_request: Mapping[str, str], live: LiveSession) -> Response:
    """The authorization response to a request Authlib validated when it arrived: a code, ``state`` and ``iss``.

    What Authlib's ``create_authorization_response`` would do, without validating the request a
    second time (docs/adr/0023): the request is the one ``/oidc/authorize`` validated (in this
    request, or kept server-side with the pending login since, where nobody else can change it).
    What may have changed meanwhile is the portal's registration, which is read again: the
    redirect URI and the response type must still be registered (a rolling restart may bring a
    new registration). The scope is the one the client may have (RFC 6749 §3.3), as Authlib
    narrows it; the code's row is written as Authlib's grant writes it (``oidc.save_code``).
    """
    state = portal_request.get("state")
    redirect_uri = portal_request.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        error: OAuth2Error = InvalidRequestError("The redirect URI is no longer registered for this client.", state=state)
        return oidc.error_response(_server(), error)
    if not client.check_response_type(portal_request.get("response_type", "")):
        error = UnauthorizedClientError("The client may no longer use this response_type.", redirect_uri=redirect_uri, state=state)
        return oidc.error_response(_server(), error)
    code = oidc.random_token()
    oidc.save_code(code, client.client_id, portal_request, client.get_allowed_scope(portal_request.get("scope", "")), live)
    params = [("code", code)]
    if state:
        params.append(("state", state))
    params.append(("iss", current_app.config["OIDC_ISSUER"]))  # RFC 9207 §2
    if "?" in redirect_uri or "#" in redirect_uri:  # its own query kept, as Authlib keeps it
        location = add_params_to_uri(redirect_uri, params)
    else:
        location = redirect_uri + "?" + urlencode(params)
    return Response("", status=302, headers={"Location": location})


def is_fresh_enough(portal_request: Mapping[str, str], authenticated: float, login_started: datetime) -> bool:
    """Whether an ESIA login begun at ``login_started``, in which ESIA last asked the person at
    ``authenticated`` (Unix time), gives the portal's request the login it asked for."""
    asked = oidc.Freshness.asked(portal_request)
    return asked.met_by(authenticated, login_started, services.current().clock())


def login_required(client: PortalClient, portal_request: dict[str, str]) -> Response:
    """Answer the portal's request with ``login_required``: ESIA let the person in from an older
    authentication than the request allows (it documents no way to make it ask again)."""
    log.info("client %s: ESIA answered a login asked to be fresh from an older authentication: login_required", client.client_id)
    server, stored, grant = stored_grant(portal_request)
    error = LoginRequiredError(
        "ESIA signed the person in without asking them again, from an authentication older than this request allows.",
        redirect_uri=grant.validate_authorization_request(),
        state=stored.payload.state,
    )
    return oidc.error_response(server, error)


class TemporarilyUnavailableError(OAuth2Error):
    """RFC 6749 §4.1.2.1 ``temporarily_unavailable``: the server cannot handle the request now."""

    error = "temporarily_unavailable"


def refusal_url(portal_request: dict[str, str], reason: str, *, reference: str | None = None, unavailable: bool = False) -> str | None:
    """Where «Вернуться на сайт» sends the browser: the portal's request answered with an error
    (``access_denied``, or ``temporarily_unavailable`` when ESIA could not be reached), its
    ``state`` and the refusal's reason code as ``error_description``, never personal data; and
    ``reference``, the attempt's reference code, as an extension parameter (RFC 6749 §4.1.2.1:
    clients ignore parameters they do not know), so that the portal can show the code its
    support finds the attempt by.

    Only to the redirect URI the request named and the client registered (Authlib checks the kept
    request again): None when it no longer validates (the portal changed its registration).
    """
    try:
        server, stored, grant = stored_grant(portal_request)
        redirect_uri = grant.validate_authorization_request()
    except OAuth2Error:
        return None
    kind = TemporarilyUnavailableError if unavailable else AccessDeniedError
    error = kind(reason, redirect_uri=redirect_uri, state=stored.payload.state)
    location = str(oidc.error_response(server, error).location)
    return with_reference(location, reference)


def with_reference(url: str, reference: str | None) -> str:
    """``url`` (an error response to a portal) with the attempt's reference code as ``reference``."""
    return add_params_to_uri(url, [("reference", reference)]) if reference else url


def stored_grant(portal_request: dict[str, str]) -> tuple[Any, oidc.StoredAuthorizationRequest, Any]:
    """The authorization server, the portal's request as kept with the pending login, and its grant."""
    server = _server()
    uri = external("oidc.authorize") + "?" + urlencode(portal_request)
    stored = oidc.StoredAuthorizationRequest(uri, portal_request)
    return server, stored, server.get_authorization_grant(stored)


def token_response() -> Response:
    """Answer the token endpoint's request; the code is spent whatever the answer (committed)."""
    response = _server().create_token_response()
    db.session.commit()  # the code is spent whatever the answer; the access token is kept
    # Authlib's stubs give the framework-neutral server's (status, body, headers); the Flask
    # integration's handle_response turns them into a Flask Response.
    return response  # type: ignore[return-value]


def _server() -> AuthorizationServer:
    return services.current().oidc
