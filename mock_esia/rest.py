"""ESIA's REST person API: ``/rs/prns/{oid}``, its collections and their elements.

``Authorization: Bearer <access token>`` is required: a missing, malformed, forged, expired or
revoked token is 401; a token of another person is 403, and so is a collection that no
granted scope opens. Answers carry ``Content-Type: application/json; schema="…"``,
``ETag``, and for a person ``Location`` and one ``Link`` per collection (docs/esia.md, 'The mock').
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from mock_esia import scenarios
from mock_esia.answers import json_answer
from mock_esia.identities import Person
from mock_esia.resources import (
    COLLECTIONS,
    PERSON_SCHEMA,
    View,
    collection_document,
    element_document,
    parse_embed,
    person_document,
    person_links,
    visible_elements,
)
from mock_esia.services import Services, current
from mock_esia.tokens import AccessClaims

bp = Blueprint("rest", __name__, url_prefix="/rs")


@bp.get("/prns/<oid>")
def person(oid: str) -> Response:
    services, claims, subject = _authorize(oid)
    view = _view(claims)
    document = person_document(subject, view, parse_embed(request.args.get("embed")))
    response = _answer(document, view, PERSON_SCHEMA)
    response.headers["Location"] = view.person_url(subject.oid)
    for link in person_links(subject.oid, view):
        response.headers.add("Link", link)
    return response


@bp.get("/prns/<oid>/<segment>")
def collection(oid: str, segment: str) -> Response:
    if segment not in COLLECTIONS:
        return _problem(404, "not_found", "No such collection.")
    services, claims, subject = _authorize(oid)
    view = _view(claims)
    elements = visible_elements(subject, segment, view)
    if elements is None:
        return _problem(403, "insufficient_scope", f"No granted scope opens {segment}.")
    embedded = "elements" in parse_embed(request.args.get("embed"))
    document = collection_document(subject, segment, elements, view, embedded=embedded)
    response = _answer(document, view, COLLECTIONS[segment][1])
    response.headers["Location"] = f"{view.person_url(subject.oid)}/{segment}"
    return response


@bp.get("/prns/<oid>/<segment>/<int:element_id>")
def element(oid: str, segment: str, element_id: int) -> Response:
    if segment not in COLLECTIONS:
        return _problem(404, "not_found", "No such collection.")
    services, claims, subject = _authorize(oid)
    view = _view(claims)
    everything = subject.collection(COLLECTIONS[segment][0]) if segment != "vhls" else ()
    if not any(item.id == element_id for item in everything):
        return _problem(404, "not_found", "No such element.")
    visible = visible_elements(subject, segment, view) or ()
    found = [item for item in visible if item.id == element_id]
    if not found:
        return _problem(403, "insufficient_scope", f"No granted scope opens this element of {segment}.")
    response = _answer(element_document(found[0], segment, view), view, COLLECTIONS[segment][1])
    response.headers["Location"] = f"{view.person_url(subject.oid)}/{segment}/{element_id}"
    return response


def _authorize(oid: str) -> tuple[Services, AccessClaims, Person]:
    """Check the bearer token against the path's oid; return whose data to show."""
    services = current()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(_problem(401, "invalid_request", "Authorization: Bearer <access token> is required."))
    claims = services.tokens.read_access_token(token.strip())
    if claims is None or services.grants.is_revoked(claims.sid):
        abort(_problem(401, "invalid_token", "The access token is invalid, expired or revoked."))
    if str(claims.oid) != oid:
        abort(_problem(403, "forbidden", "The access token was issued for another person."))
    scenarios.apply(scenarios.for_subject(claims.oid, services.grants.session_faults(claims.sid)))
    subject = services.persons_by_oid.get(claims.oid)
    if subject is None:
        abort(_problem(404, "not_found", "No such person."))
    if "person_mismatch" in scenarios.current().flags:
        subject = services.persons_by_oid[services.other_person(subject.oid)]
    return services, claims, subject


def _view(claims: AccessClaims) -> View:
    configured = current().public_url
    if configured:
        base = configured if configured.endswith("/") else configured + "/"
    else:
        # ESIA writes the port even when it is the default one (https://host:443/rs/prns/…).
        host = request.host
        if not host.rsplit(":", 1)[-1].isdigit():
            host = f"{host}:{443 if request.scheme == 'https' else 80}"
        base = f"{request.scheme}://{host}/"
    return View(frozenset(claims.scopes), base)


def _answer(document: dict[str, object], view: View, schema: str) -> Response:
    response = json_answer(document)
    response.headers["Content-Type"] = f'application/json; schema="{view.base_url}{schema}"'
    response.headers["ETag"] = str(document["eTag"])
    return response


def _problem(status: int, error: str, description: str) -> Response:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return json_answer({"error": error, "error_description": description}, status=status, headers=headers)
