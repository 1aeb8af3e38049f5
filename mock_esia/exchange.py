"""The token request, ``POST /aas/oauth2/te`` (v1) and ``POST /aas/oauth2/v3/te`` (v3).

Both grant types, ``authorization_code`` and ``refresh_token``, in two steps: :func:`prepare`
checks everything without changing state (so that a fault bound to the login can still
interrupt), :func:`complete` uses the code or refresh token up and issues the tokens. Every
error is a JSON 400 with ``error``, ``error_description`` and the request's ``state``.

Parameters are read from the form body only, as ESIA does: a JSON body has none of them
(ekapusta/oauth2-esia#23).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from mock_esia import protocol
from mock_esia.clients import ClientSystem
from mock_esia.errors import EsiaError
from mock_esia.grants import GrantError, Login
from mock_esia.scopes import parse_scope
from mock_esia.services import Services
from mock_esia.tokens import token_faults

PARAMETERS = (
    "client_id",
    "code",
    "grant_type",
    "client_secret",
    "client_certificate_hash",
    "state",
    "redirect_uri",
    "scope",
    "scope_org",
    "timestamp",
    "token_type",
    "refresh_token",
    "code_verifier",
)


@dataclass(frozen=True, slots=True)
class Exchange:
    """A checked token request, ready to be completed."""

    client: ClientSystem
    grant_type: str
    login: Login
    scopes: tuple[str, ...]
    credential: str
    state: str


def mandatory(flow: str, grant_type: str) -> tuple[str, ...]:
    names = ["client_id", "grant_type"]
    if grant_type == "refresh_token":
        names.append("refresh_token")
    else:
        names.append("code")
        if flow == "v3":
            names.append("client_certificate_hash")
    names += ["client_secret", "state", "scope", "timestamp"]
    if grant_type != "refresh_token":
        names.append("redirect_uri")
    return tuple(names)


def prepare(form: protocol.Parameters, flow: str, services: Services) -> Exchange:
    values = {name: form.get(name, "") for name in PARAMETERS}
    grant_type = values["grant_type"] or "authorization_code"
    protocol.require(values, mandatory(flow, grant_type))
    protocol.single_values(form, PARAMETERS)
    if grant_type not in ("authorization_code", "refresh_token"):
        raise EsiaError("ESIA-007009")
    client = services.clients.get(values["client_id"])
    if client is None:
        raise EsiaError("ESIA-007002")
    now = services.clock()
    protocol.check_timestamp(values["timestamp"], now, services.timestamp_window)
    if values["token_type"] and values["token_type"] != "Bearer":
        raise EsiaError("ESIA-007003", detail="token_type must be Bearer.")
    protocol.check_state(values["state"])
    messages = protocol.token_messages(flow, values)
    if flow == "v1":
        protocol.verify_cms_secret(client, values["client_secret"], messages, now)
    else:
        protocol.verify_raw_secret(client, values["client_certificate_hash"] or None, values["client_secret"], messages, now)

    requested = parse_scope(values["scope"])
    if grant_type == "refresh_token":
        try:
            grant = services.grants.peek_refresh_token(values["refresh_token"])
        except GrantError:
            raise EsiaError("ESIA-007011") from None
        if grant.login.request.client_id != client.mnemonic or not set(requested) <= set(grant.scopes):
            raise EsiaError("ESIA-007011")
        return Exchange(client, grant_type, grant.login, grant.scopes, values["refresh_token"], values["state"])

    try:
        login = services.grants.peek_code(values["code"])
    except GrantError:
        raise EsiaError("ESIA-007011") from None
    request = login.request
    # Some clients send only "openid" here (ekapusta/oauth2-esia); more than was authorized is refused.
    if request.client_id != client.mnemonic or request.redirect_uri != values["redirect_uri"] or not set(requested) <= set(request.scopes):
        raise EsiaError("ESIA-007011")
    protocol.check_code_verifier(request.code_challenge, values["code_verifier"] or None)
    return Exchange(client, grant_type, login, request.scopes, values["code"], values["state"])


def complete(exchange: Exchange, services: Services, flags: frozenset[str]) -> dict[str, Any]:
    """Use up the code or refresh token and return the token response body."""
    try:
        if exchange.grant_type == "refresh_token":
            login = services.grants.redeem_refresh_token(exchange.credential).login
        else:
            login = services.grants.redeem_code(exchange.credential)
    except GrantError:
        raise EsiaError("ESIA-007011") from None
    person = services.persons_by_oid[login.oid]
    faults = token_faults(flags)
    alg = exchange.client.jwt_alg
    body: dict[str, Any] = {
        "access_token": services.tokens.access_token(
            person=person,
            client_id=exchange.client.mnemonic,
            scopes=exchange.scopes,
            sid=login.sid,
            alg=alg,
            faults=faults,
        )
    }
    if "openid" in exchange.scopes:
        body["id_token"] = services.tokens.id_token(
            person=person,
            client_id=exchange.client.mnemonic,
            sid=login.sid,
            auth_time=login.auth_time,
            alg=alg,
            other_oid=services.other_person(person.oid),
            faults=faults,
        )
    if login.request.access_type == "offline":
        body["refresh_token"] = services.grants.issue_refresh_token(login, exchange.scopes)
    body["state"] = str(uuid.uuid4()) if "wrong_state" in flags else exchange.state
    body["token_type"] = "Bearer"
    body["expires_in"] = services.tokens.access_ttl
    return body
