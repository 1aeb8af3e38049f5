"""The authorization request, ``GET /aas/oauth2/ac`` (v1) and ``GET /aas/oauth2/v2/ac`` (v2).

Checked in two steps. :func:`identify_client` establishes the system and a redirect URI it
registered; until then an error cannot be redirected (RFC 6749 §4.1.2.1) and is shown as a
page. :func:`validate` checks the rest; its errors go back to ``redirect_uri`` with ``error``,
``error_description`` and ``state`` (docs/esia.md). Order: mandatory parameters (007014),
repeats (007003), ``response_type`` (007012), ``timestamp`` (007014/007015), ``state``,
``client_secret`` (007053), ``scope`` (007006/007019), ``access_type``, ``person_filter`` and PKCE.
"""

from __future__ import annotations

import secrets

from mock_esia import protocol
from mock_esia.clients import ClientSystem
from mock_esia.errors import EsiaError
from mock_esia.grants import AuthorizationRequest
from mock_esia.services import Services

PARAMETERS = (
    "client_id",
    "client_secret",
    "client_certificate_hash",
    "redirect_uri",
    "scope",
    "scope_org",
    "response_type",
    "state",
    "timestamp",
    "access_type",
    "person_filter",
    "code_challenge",
    "code_challenge_method",
)
MANDATORY = {
    "v1": ("client_id", "client_secret", "redirect_uri", "scope", "response_type", "state", "timestamp"),
    "v2": (
        "client_id",
        "client_secret",
        "client_certificate_hash",
        "redirect_uri",
        "scope",
        "response_type",
        "state",
        "timestamp",
    ),
}


def identify_client(params: protocol.Parameters, flow: str, services: Services) -> ClientSystem:
    """Find the client system and check its ``redirect_uri``; errors here are shown, not redirected."""
    values = protocol.single_values(params, ("client_id", "redirect_uri"))
    if not values.get("client_id") or not values.get("redirect_uri"):
        protocol.require({name: params.get(name, "") for name in MANDATORY[flow]}, MANDATORY[flow])
    client = services.clients.get(values["client_id"])
    if client is None:
        raise EsiaError("ESIA-007002")
    if not client.allows_redirect(values["redirect_uri"]):
        raise EsiaError("ESIA-007023")
    return client


def validate(params: protocol.Parameters, flow: str, client: ClientSystem, services: Services) -> AuthorizationRequest:
    """Check an authorization request of an identified client; errors go to ``redirect_uri``."""
    values = {name: params.get(name, "") for name in PARAMETERS}
    protocol.require(values, MANDATORY[flow])
    protocol.single_values(params, PARAMETERS)
    if values["response_type"] != "code":
        raise EsiaError("ESIA-007012")
    now = services.clock()
    protocol.check_timestamp(values["timestamp"], now, services.timestamp_window)
    protocol.check_state(values["state"])
    messages = protocol.authorization_messages(flow, values)
    if flow == "v1":
        protocol.verify_cms_secret(client, values["client_secret"], messages, now)
    else:
        protocol.verify_raw_secret(client, values["client_certificate_hash"], values["client_secret"], messages, now)
    scopes = protocol.parse_scopes(values["scope"], client)
    access_type = values["access_type"] or "online"
    if access_type not in ("online", "offline"):
        raise EsiaError("ESIA-007003", detail="access_type must be online or offline.")
    person_filter = protocol.parse_person_filter(values["person_filter"])
    challenge = None
    if flow == "v2":
        challenge = protocol.check_code_challenge(values["code_challenge"], values["code_challenge_method"])
    return AuthorizationRequest(
        id=secrets.token_urlsafe(24),
        flow=flow,
        client_id=client.mnemonic,
        redirect_uri=values["redirect_uri"],
        scopes=scopes,
        state=values["state"],
        access_type=access_type,
        person_filter=person_filter,
        code_challenge=challenge,
        expires_at=now + services.login_ttl,
    )
