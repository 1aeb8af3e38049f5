"""The JSON API for automation (the blueprint ``api``, under ``/api/v1``).

Every call carries a staff API token (``Authorization: Bearer brk_…``, see
:mod:`broker.apitokens`) and acts with its owner's role and regions. Bad input is answered
``422`` with one entry per bad field (``accounts.3.birth_date``) and writes nothing. The
OpenAPI document at ``/api/v1/openapi.json`` is generated from the marshmallow schemas in
:mod:`broker.schemas`.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError

from broker import access, attempts, csrf, openapi, preflight, regionadmin, schemas, sync
from broker.errors import InputError
from broker.extensions import db
from broker.staff import Role

bp = csrf.exempt(Blueprint("api", __name__, url_prefix="/api/v1"))


@bp.after_request
def no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


def problem(status: int, error: str, description: str, errors: list[dict[str, Any]] | None = None) -> Any:
    body: dict[str, Any] = {"error": error, "error_description": description}
    if errors is not None:
        body["errors"] = errors
    return jsonify(body), status


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """marshmallow's nested messages as a flat list: ``{"field": "accounts.3.gender", "why": …}``."""
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            found.extend(field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return found
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return [{"field": prefix or "(body)", "why": " ".join(messages)}]
    return [{"field": prefix or "(body)", "why": str(messages)}]


def json_body() -> Any:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.get("/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3 description of this API (no token needed: it holds no data)."""
    return jsonify(openapi.document())


@bp.post("/registry/accounts")
@access.token_required(Role.OPERATOR)
def upsert_accounts() -> Any:
    """Insert or update diary accounts (the diary's sync job); all or nothing."""
    body = json_body()
    if body is None:
        return problem(400, "invalid_request", "The body must be a JSON object.")
    try:
        loaded = schemas.RegistryUpsertSchema().load(body)
    except ValidationError as exc:
        return problem(422, "invalid_request", "Some fields are not valid; nothing was written.", field_errors(exc.messages))
    member = access.current_staff()
    assert member is not None
    try:
        done = sync.upsert_batch(loaded["accounts"], may_manage=lambda region: access.can_manage_region(member, region))
    except sync.BatchError as exc:
        problems = [item.as_dict() for item in exc.problems]
        return problem(422, "invalid_request", "Some fields are not valid; nothing was written.", problems)
    db.session.commit()
    result = {"written": done.written, "links": done.links, "warnings": [w.as_dict() for w in done.warnings]}
    return jsonify(schemas.RegistryUpsertResultSchema().dump(result))


@bp.get("/regions/<code>/preflight")
@access.token_required()
def region_preflight(code: str) -> Any:
    """The pre-flight of a region's registry (as ``broker preflight``): JSON, or CSV with ``format=csv``."""
    access.require_region(code, manage=False)
    try:
        found = preflight.run_preflight(code)
    except InputError as exc:
        return problem(404, "not_found", exc.why)
    if request.args.get("format") == "csv":
        buffer = io.StringIO()
        preflight.write_csv(found, buffer)
        return Response(buffer.getvalue(), mimetype="text/csv")
    schools = request.args.get("schools", "10")
    if not schools.isdigit():
        return problem(422, "invalid_request", "schools: a whole number", [{"field": "schools", "why": "must be a whole number"}])
    return jsonify(found.as_dict(schools=int(schools)))


# --- regions ------------------------------------------------------------------------------------


@bp.get("/regions")
@access.token_required()
def list_regions() -> Any:
    """The regions the token's owner may see, with ESIA login on or off and the policy overrides."""
    member = access.current_staff()
    assert member is not None
    views = [dataclasses.asdict(view) for view in regionadmin.list_regions(member)]
    return jsonify(schemas.RegionListSchema().dump({"regions": views}))


@bp.patch("/regions/<code>")
@access.token_required(Role.OPERATOR)
def change_region(code: str) -> Any:
    """Switch ESIA login and/or replace the policy overrides of one region; audited."""
    body = json_body()
    if body is None:
        return problem(400, "invalid_request", "The body must be a JSON object.")
    try:
        loaded = schemas.RegionChangeSchema().load(body)
    except ValidationError as exc:
        return problem(422, "invalid_request", "Some fields are not valid; nothing was written.", field_errors(exc.messages))
    try:
        change = regionadmin.change_region(
            code, enabled=loaded.get("enabled"), policy=loaded.get("policy"), comment=loaded["comment"],
            actor_staff=access.current_staff(),
        )  # fmt: skip
    except regionadmin.RegionNotFoundError as exc:
        return problem(404, "not_found", exc.why)
    except regionadmin.RegionAccessError as exc:
        return problem(403, "forbidden", exc.description)
    except regionadmin.RegionInputError as exc:
        errors = [{"field": name, "why": why} for name, why in exc.errors.items()]
        return problem(422, "invalid_request", "Some fields are not valid; nothing was written.", errors)
    result = {"region": dataclasses.asdict(change.region), "changed": change.changed}
    return jsonify(schemas.RegionChangeResultSchema().dump(result))


@bp.get("/regions/<code>/figures")
@access.token_required()
def region_figures(code: str) -> Any:
    """Login attempts in the region over the last 24 hours and 7 days, by outcome and reason."""
    access.require_region(code, manage=False)
    try:
        found = regionadmin.figures(code, now=datetime.now(timezone.utc))
    except regionadmin.RegionNotFoundError as exc:
        return problem(404, "not_found", exc.why)
    return jsonify(schemas.FiguresSchema().dump(dataclasses.asdict(found)))


# --- attempts -------------------------------------------------------------------------------------


@bp.post("/attempts/search")
@access.token_required()
def search_attempts() -> Any:
    """Login attempts matching every given field, newest first, within the token's regions."""
    body = json_body()
    if body is None:
        return problem(400, "invalid_request", "The body must be a JSON object.")
    try:
        loaded = schemas.AttemptSearchSchema().load(body)
    except ValidationError as exc:
        return problem(422, "invalid_request", "Some fields are not valid.", field_errors(exc.messages))
    values = {name: loaded.get(name) or "" for name in ("reference", "account", "snils", "oid", "outcome", "reason", "region")}
    values.update({"from": loaded.get("started_from") or "", "to": loaded.get("started_to") or ""})
    member = access.current_staff()
    assert member is not None
    try:
        page = attempts.search(
            attempts.parse_criteria(values), regions=access.visible_regions(member),
            limit=loaded["limit"], before_id=loaded["before_id"],
        )  # fmt: skip
    except attempts.CriteriaError as exc:
        errors = [{"field": name, "why": why} for name, why in exc.errors_en.items()]
        return problem(422, "invalid_request", "Some fields are not valid.", errors)
    found = {"attempts": [dataclasses.asdict(row) for row in page.attempts], "next_before_id": page.next_before_id}
    return jsonify(schemas.AttemptPageSchema().dump(found))


@bp.get("/attempts/<reference>")
@access.token_required()
def get_attempt(reference: str) -> Any:
    """One attempt by its reference code: the masked trace and the words the person read."""
    member = access.current_staff()
    assert member is not None
    try:
        detail = attempts.get(reference, regions=access.visible_regions(member))
    except attempts.CriteriaError as exc:
        return problem(422, "invalid_request", "The reference code is not valid.",
                       [{"field": name, "why": why} for name, why in exc.errors_en.items()])  # fmt: skip
    except attempts.AttemptNotFoundError as exc:
        return problem(404, "not_found", exc.why)
    return jsonify(schemas.AttemptDetailSchema().dump(dataclasses.asdict(detail)))
