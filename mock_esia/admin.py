"""The mock's own endpoints under ``/__mock__``: certificates, persons and run-time faults.

Real ESIA publishes its certificates in an archive (``esia.zip``); the mock serves them here:

* ``GET /__mock__/esia.cer`` — RSA certificate (PEM) for ``RS256`` tokens;
* ``GET /__mock__/esia-gost.cer`` — GOST R 34.10-2012 certificate (PEM) for ``GOST3410_2012_256``;
* ``GET /__mock__/jwks.json`` — the RSA key as a JWK Set;
* ``GET /__mock__/persons`` — the test persons, with their logins and passwords;
* ``GET|POST|DELETE /__mock__/faults`` — run-time faults (see :mod:`mock_esia.scenarios`);
* ``GET /__mock__/healthz``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from mock_esia.answers import json_answer
from mock_esia.identities import Person
from mock_esia.scenarios import GROUPS, FaultSpecError
from mock_esia.services import current

bp = Blueprint("admin", __name__)


@bp.get("/")
def index() -> Response:
    services = current()
    return Response(
        render_template("index.html", clients=services.clients.values(), issuer=current_app.config["ISSUER"]),
        mimetype="text/html",
    )


@bp.get("/__mock__/healthz")
def healthz() -> Response:
    return json_answer({"status": "ok"})


@bp.get("/__mock__/esia.cer")
def rsa_certificate() -> Response:
    return Response(current().keys.rsa_certificate_pem, mimetype="application/x-pem-file")


@bp.get("/__mock__/esia-gost.cer")
def gost_certificate() -> Response:
    return Response(current().keys.gost_certificate_pem, mimetype="application/x-pem-file")


@bp.get("/__mock__/jwks.json")
def jwks() -> Response:
    return json_answer(current().keys.jwks())


@bp.get("/__mock__/persons")
def persons() -> Response:
    return json_answer({"persons": [_person_summary(person) for person in current().persons]})


@bp.get("/__mock__/faults")
def list_faults() -> Response:
    return json_answer({"faults": current().faults.entries(), "endpoints": list(GROUPS)})


@bp.post("/__mock__/faults")
def add_fault() -> Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("fault"), str):
        return json_answer({"error": 'Send JSON {"fault": "status=503", "endpoints": ["te"], "count": 1}.'}, 400)
    count = payload.get("count")
    endpoints = payload.get("endpoints", [])
    if (count is not None and not isinstance(count, int)) or not isinstance(endpoints, list):
        return json_answer({"error": "count must be an integer and endpoints a list of endpoint groups."}, 400)
    try:
        entry = current().faults.add(payload["fault"], endpoints, count, default_timeout=float(current_app.config["FAULT_TIMEOUT"]))
    except FaultSpecError as exc:
        return json_answer({"error": str(exc)}, 400)
    return json_answer(entry, 201)


@bp.delete("/__mock__/faults")
def clear_faults() -> Response:
    current().faults.clear()
    return Response(status=204)


def _person_summary(person: Person) -> dict[str, Any]:
    return {
        "oid": person.oid,
        "login": person.login,
        "password": person.password,
        "lastName": person.last_name,
        "firstName": person.first_name,
        "middleName": person.middle_name,
        "birthDate": person.birth_date.strftime("%d.%m.%Y") if person.birth_date else None,
        "gender": person.gender,
        "snils": person.snils,
        "trusted": person.trusted,
        "tier": person.tier,
        "level": person.level,
        "declinesConsent": person.declines_consent,
        "description": person.description,
    }
