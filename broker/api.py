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
from sqlalchemy import select

from broker import access, attempts, audit, csrf, importer, openapi, preflight, regionadmin, regions, schemas, services
from broker.errors import InputError
from broker.extensions import db
from broker.models import Account
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
    parser = importer.RowParser(
        regions=frozenset(region.code for region in regions.all_regions()),
        snils_key=services.current().snils_key,
        today=datetime.now(timezone.utc).date(),
    )
    rows, errors, warnings = [], [], []
    for index, raw in enumerate(loaded["accounts"]):
        try:
            account, oid, warning = parser.parse(raw)
        except importer.RowError as exc:
            errors.append({"index": index, "field": f"accounts.{index}.{exc.field}", "why": exc.why})
            continue
        if not access.can_manage_region(member, account["region"]):
            errors.append({"index": index, "field": f"accounts.{index}.region", "why": "is outside the token's regions"})
            continue
        if warning:
            field, _, why = warning.partition(": ")
            warnings.append({"index": index, "field": f"accounts.{index}.{field}", "why": why})
        rows.append((index, account, oid))
    errors.extend(_conflicts(rows))
    errors.extend(_foreign_accounts(rows, member))
    if errors:
        return problem(422, "invalid_request", "Some fields are not valid; nothing was written.", sorted(errors, key=_order))
    written, links = _write(rows, warnings)
    audit.record(audit.Action.REGISTRY_UPSERTED, "registry", after={"written": written, "links": links})
    db.session.commit()
    return jsonify(schemas.RegistryUpsertResultSchema().dump({"written": written, "links": links, "warnings": warnings}))


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


def _order(error: dict[str, Any]) -> tuple[int, str]:
    return (error.get("index", -1), error["field"])


def _conflicts(rows: list[tuple[int, dict[str, Any], str | None]]) -> list[dict[str, Any]]:
    """Ids or logins given twice, and logins that belong to another account already."""
    errors: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    seen_logins: dict[str, int] = {}
    for index, account, _ in rows:
        for key, seen in (("id", seen_ids), ("login", seen_logins)):
            if account[key] in seen:
                errors.append({"index": index, "field": f"accounts.{index}.{key}",
                               "why": f"is given twice (also at accounts.{seen[account[key]]})"})  # fmt: skip
            seen.setdefault(account[key], index)
    if seen_logins:
        table = Account.__table__
        owners = db.session.execute(select(table.c.login, table.c.id).where(table.c.login.in_(list(seen_logins))))
        wanted = {account["login"]: (index, account["id"]) for index, account, _ in rows}
        for login, owner in owners:
            index, account_id = wanted[login]
            if owner != account_id:
                errors.append({"index": index, "field": f"accounts.{index}.login", "why": "already belongs to another account"})
    return errors


def _foreign_accounts(rows: list[tuple[int, dict[str, Any], str | None]], member: Any) -> list[dict[str, Any]]:
    """Stored accounts outside the token's regions: an operator may not take one over by sending
    its id with a region of theirs (it would move the account and could relink it)."""
    ids = {account["id"]: index for index, account, _ in rows}
    if not ids:
        return []
    table = Account.__table__
    stored = db.session.execute(select(table.c.id, table.c.region).where(table.c.id.in_(list(ids))))
    return [
        {"index": ids[account_id], "field": f"accounts.{ids[account_id]}.id", "why": "belongs to a region outside the token's regions"}
        for account_id, region in stored
        if not access.can_manage_region(member, region)
    ]


def _write(rows: list[tuple[int, dict[str, Any], str | None]], warnings: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert the accounts and their links in the request's transaction (the view commits)."""
    connection = db.session.connection()
    writer = importer.Writer(connection, bulk=False)
    now = datetime.now(timezone.utc)
    linked = [account["id"] for _, account, oid in rows if oid]
    kept = {row.account_id for row in connection.execute(writer.kept_links, {"ids": linked})} if linked else set()
    links = []
    for index, account, oid in rows:
        if oid is None:
            continue
        if account["id"] in kept:
            warnings.append({"index": index, "field": f"accounts.{index}.esia_oid",
                             "why": "the account was linked by its owner at login; that link is kept"})  # fmt: skip
            continue
        links.append({"account_id": account["id"], "oid": oid, "tier": None, "source": "import", "linked_at": now})
    writer.write([writer.shape(account, now) for _, account, _ in rows], links)
    return len(rows), len(links)
