"""The JSON API for automation (the blueprint ``api``, under ``/api/v1``).

Every call carries a staff API token (``Authorization: Bearer brk_…``, see
:mod:`broker.staff.tokens`) and acts with its owner's role and regions. The views parse, call and
serialise; failures are the broker's exceptions, which :func:`broker.errors.register_error_handlers`
answers as ``{"error": <the exception's code>, "error_description", "errors": [{"field", "why"}]}``
with the exception's status. Bad input is answered ``422`` with one entry per bad field
(``accounts.3.birth_date``) and writes nothing. The OpenAPI document at ``/api/v1/openapi.json``
is generated from the marshmallow schemas in :mod:`broker.api.schemas`, and every answer is dumped
through them.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from broker import services
from broker.api import openapi, schemas
from broker.errors import BadField, InvalidFieldsError, MalformedBodyError
from broker.login import invites
from broker.regions import admin as regionadmin
from broker.regions import preflight
from broker.registry import sync
from broker.staff import access
from broker.staff.accounts import Role
from broker.support import attempts
from broker.support import search as attemptsearch
from broker.web import csrf

if TYPE_CHECKING:
    from broker.db.models import Staff

bp = csrf.exempt(Blueprint("api", __name__, url_prefix="/api/v1"))


@bp.after_request
def no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


def json_body() -> dict[str, Any]:
    """The request's JSON object; :class:`MalformedBodyError` (400) for anything else.

    A body nested deeper than ``MAX_JSON_DEPTH`` or holding a string that is not Unicode text
    (a lone surrogate such as ``"\\ud800"``, which no database can store) is answered 422,
    naming the field, before any schema sees it.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser's own limit, far beyond MAX_JSON_DEPTH
        raise InvalidFieldsError("(body)", f"is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise MalformedBodyError()
    bad = bad_json_values(body)
    if bad:
        raise InvalidFieldsError(bad)
    return body


#: How deep a JSON body may nest (the deepest legitimate body, a policy inside a region change, is 3).
MAX_JSON_DEPTH = 32


def bad_json_values(body: Any) -> list[BadField]:
    """Every place in ``body`` that is nested too deep or holds a string that is not text, by path."""
    found: list[BadField] = []
    pending: list[tuple[Any, str, int]] = [(body, "", 0)]
    while pending:  # iterative: the body's depth must not become the stack's
        value, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            found.append(BadField(path or "(body)", f"is nested deeper than {MAX_JSON_DEPTH} levels"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if not _is_text(key):
                    found.append(BadField(path or "(body)", "has a key that is not valid Unicode text"))
                    continue
                pending.append((item, name, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}.{index}" if path else str(index), depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str) and not _is_text(value):
            found.append(BadField(path or "(body)", "is not valid Unicode text (a lone surrogate)"))
    return sorted(found, key=lambda bad: bad.field)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def token_owner() -> Staff:
    """The staff member whose token this request carries (under :func:`broker.staff.access.token_required`)."""
    found = access.current_staff()
    assert found is not None
    return found


@bp.get("/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3 description of this API (no token needed: it holds no data)."""
    return jsonify(openapi.document())


@bp.post("/registry/accounts")
@access.token_required(Role.OPERATOR)
def upsert_accounts() -> Any:
    """Insert or update diary accounts (the diary's sync job); all or nothing."""
    loaded = schemas.RegistryUpsertSchema().load(json_body())
    owner = token_owner()
    done = sync.upsert_batch(
        loaded["accounts"],
        may_manage=lambda region: access.can_manage_region(owner, region),
        allow_links=loaded["allow_links"],
    )
    return jsonify(schemas.RegistryUpsertResultSchema().dump(done))


@bp.get("/regions/<code>/preflight")
@access.token_required()
def region_preflight(code: str) -> Any:
    """The pre-flight of a region's registry (as ``broker preflight``): JSON, or CSV with ``format=csv``."""
    regionadmin.region_view(code, token_owner())  # 403 outside the token's regions, 404 for no such region
    query = schemas.PreflightQuerySchema().load(request.args)
    found = preflight.run_preflight(code)
    if query["format"] == "csv":
        buffer = io.StringIO()
        preflight.write_csv(found, buffer)
        return Response(buffer.getvalue(), mimetype="text/csv")
    summary = found.as_dict(schools=query["schools"])
    summary.update(at=found.at, today=found.today)  # as values: the schema writes them (ISO 8601)
    return jsonify(schemas.PreflightSummarySchema().dump(summary))


# --- regions ------------------------------------------------------------------------------------


@bp.get("/regions")
@access.token_required()
def list_regions() -> Any:
    """The regions the token's owner may see, with ESIA login on or off and the policy overrides."""
    return jsonify(schemas.RegionListSchema().dump({"regions": regionadmin.list_regions(token_owner())}))


@bp.patch("/regions/<code>")
@access.token_required(Role.OPERATOR)
def change_region(code: str) -> Any:
    """Switch ESIA login and/or replace the policy overrides of one region; audited."""
    loaded = schemas.RegionChangeSchema().load(json_body())
    change = regionadmin.change_region(
        code, enabled=loaded.get("enabled"), policy=loaded.get("policy"), comment=loaded["comment"], actor_staff=token_owner(),
    )  # fmt: skip
    return jsonify(schemas.RegionChangeResultSchema().dump(change))


@bp.get("/regions/<code>/figures")
@access.token_required()
def region_figures(code: str) -> Any:
    """Login attempts in the region over the last 24 hours and 7 days, by outcome and reason."""
    access.require_region(code, manage=False)
    found = regionadmin.figures(code, now=services.current().clock())
    return jsonify(schemas.FiguresSchema().dump(found))


# --- attempts -------------------------------------------------------------------------------------


@bp.post("/attempts/search")
@access.token_required()
def search_attempts() -> Any:
    """Login attempts matching every given field, newest first, within the token's regions."""
    loaded = schemas.AttemptSearchSchema().load(json_body())
    values = {name: loaded.get(name) or "" for name in ("reference", "account", "snils", "oid", "outcome", "reason", "region")}
    values.update({"from": loaded.get("started_from") or "", "to": loaded.get("started_to") or ""})
    page = attemptsearch.search(
        attemptsearch.parse_criteria(values), regions=access.visible_regions(token_owner()),
        limit=loaded["limit"], before_id=loaded["before_id"],
    )  # fmt: skip
    return jsonify(schemas.AttemptPageSchema().dump(page))


@bp.get("/attempts/<reference>")
@access.token_required()
def get_attempt(reference: str) -> Any:
    """One attempt by its reference code: the masked trace and the words the person read."""
    detail = attempts.get(reference, regions=access.visible_regions(token_owner()))
    return jsonify(schemas.AttemptDetailSchema().dump(detail))


# --- invite codes ----------------------------------------------------------------------


def _invite_view(invite: Any, code: str | None = None) -> dict[str, Any]:
    view = {name: getattr(invite, name) for name in ("id", "account_id", "issued_by", "issued_at", "expires_at",
                                                      "used_at", "revoked_at")}  # fmt: skip
    view["status"] = invites.status_of(invite)
    if code is not None:
        view["code"] = code
    return view


@bp.post("/invites")
@access.token_required(Role.OPERATOR)
def issue_invite() -> Any:
    """Issue a one-time invite code for an account of the token's regions; the code is in this answer only."""
    loaded = schemas.InviteIssueSchema().load(json_body())
    issued = invites.issue(loaded["account_id"], days=loaded["days"], actor_staff=token_owner())
    return jsonify(schemas.InviteIssuedSchema().dump(_invite_view(issued.invite, issued.code))), 201


@bp.get("/invites")
@access.token_required()
def list_invites() -> Any:
    """One account's or one school's invite codes within the token's regions (never the codes)."""
    query = schemas.InviteQuerySchema().load(request.args)
    found = invites.list_invites(staff=token_owner(), account_id=query.get("account_id"), school_id=query.get("school_id"))
    return jsonify(schemas.InviteListSchema().dump({"invites": [_invite_view(i) for i in found]}))


@bp.delete("/invites/<int:invite_id>")
@access.token_required(Role.OPERATOR)
def revoke_invite(invite_id: int) -> Any:
    """Revoke an invite code of the token's regions."""
    return jsonify(schemas.InviteSchema().dump(_invite_view(invites.revoke(invite_id, actor_staff=token_owner()))))
