"""The OpenAPI 3 document of the JSON API, generated from :mod:`broker.api.schemas` with apispec.

Each path is described once here, next to the others, so the document reads as the API's
table of contents; the request and response bodies come from the marshmallow schemas, so
the document and the validation cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from broker import errors
from broker.api import schemas

TITLE = "Diary ESIA broker API"
VERSION = "1"

_BEARER: list[dict[str, list[str]]] = [{"apiToken": []}]  # OpenAPI security requirement: scheme -> scopes


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


#: What each error status means, and the codes it comes with (``error``: the exception's own code).
ERRORS = {
    400: "The body is not a JSON object (invalid_request).",
    401: "No live API token: missing, expired, revoked, or its owner is disabled (invalid_token).",
    403: "The token's owner may not do this: its role (insufficient_scope) or its regions (forbidden).",
    404: "No such region (not_found).",
    422: "Some fields are not valid, one entry per field in errors (invalid_request); nothing was written.",
}


def _errors(*statuses: int, texts: dict[int, str] | None = None) -> dict[str, Any]:
    """The error answers of an operation; ``texts`` replace a status's words where it differs."""
    words = {**ERRORS, **(texts or {})}
    return {str(status): {"description": words[status], "content": _json("Error")} for status in statuses}


PATHS: dict[str, dict[str, Any]] = {
    "/registry/accounts": {
        "post": {
            "summary": "Insert or update diary accounts (the diary's sync job); all or nothing",
            "description": (
                "Up to 1000 accounts per request, validated by the same rules as `broker registry import`. "
                "An operator's token may write accounts of its regions only. SNILS is stored as a keyed hash "
                "and a masked tail; an esia_oid links the account only with allow_links, and never moves a link its owner made at login."
            ),
            "security": _BEARER,
            "requestBody": {"required": True, "content": _json("RegistryUpsert")},
            "responses": {
                "200": {"description": "Written.", "content": _json("RegistryUpsertResult")},
                **_errors(400, 401, 403, 422),
            },
        }
    },
    "/regions/{code}/preflight": {
        "get": {
            "summary": "Pre-flight of a region's registry: who ESIA login would refuse, and why",
            "description": (
                "The same as `broker preflight --region NN`; reads only. JSON summary (totals, counts by "
                "predicted refusal and by finding, the schools with most refusals), or with format=csv the "
                "accounts to fix (ids, logins, schools, findings, masked SNILS)."
            ),
            "security": _BEARER,
            "parameters": [
                {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}, "description": "e.g. 77"},
                {"in": "query", "schema": schemas.PreflightQuerySchema},
            ],
            "responses": {
                "200": {
                    "description": "The pre-flight.",
                    "content": {"application/json": {"schema": "PreflightSummary"}, "text/csv": {"schema": {"type": "string"}}},
                },
                **_errors(401, 403, 404, 422, texts={422: "A query parameter is not valid (invalid_request)."}),
            },
        }
    },
    "/regions": {
        "get": {
            "summary": "The regions the token's owner may see: ESIA login on or off, policy overrides",
            "security": _BEARER,
            "responses": {"200": {"description": "The regions.", "content": _json("RegionList")}, **_errors(401)},
        }
    },
    "/regions/{code}": {
        "patch": {
            "summary": "Switch ESIA login and/or replace the policy overrides of a region (audited)",
            "description": "Operators change their own regions only, admins any. The comment is mandatory.",
            "security": _BEARER,
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": _json("RegionChange")},
            "responses": {
                "200": {"description": "The region now.", "content": _json("RegionChangeResult")},
                **_errors(400, 401, 403, 404, 422),
            },
        }
    },
    "/regions/{code}/figures": {
        "get": {
            "summary": "Login attempts in the region over the last 24 hours and 7 days, by outcome and reason",
            "security": _BEARER,
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The figures.", "content": _json("Figures")}, **_errors(401, 403, 404)},
        }
    },
    "/attempts/search": {
        "post": {
            "summary": "Find login attempts (newest first) within the token's regions",
            "description": (
                "A POST, so that a SNILS, an oid or a login never lands in a URL. SNILS and oid are looked up "
                "by their keyed hashes and never echoed. Page with next_before_id."
            ),
            "security": _BEARER,
            "requestBody": {"required": True, "content": _json("AttemptSearch")},
            "responses": {
                "200": {"description": "A page of attempts.", "content": _json("AttemptPage")},
                **_errors(
                    400,
                    401,
                    422,
                    texts={
                        422: (
                            "A field is not valid: by its shape (invalid_request) or as a criterion, e.g. a SNILS with "
                            "a bad checksum or a region outside the token's (invalid_criteria); one entry per field."
                        )
                    },
                ),  # fmt: skip
            },
        }
    },
    "/attempts/{reference}": {
        "get": {
            "summary": "One attempt: the masked decision trace and the words the person read",
            "security": _BEARER,
            "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The attempt.", "content": _json("AttemptDetail")},
                **_errors(
                    401,
                    404,
                    422,
                    texts={
                        404: "No such attempt within the token's regions (attempt_not_found).",
                        422: "The reference code cannot be one (invalid_criteria).",
                    },
                ),  # fmt: skip
            },
        }
    },
    "/invites": {
        "post": {
            "summary": "Issue a one-time invite code for a child's first ESIA link (audited; the code is shown once)",
            "description": (
                "For regions whose policy has under_14_first_link = invite_code: the family types the code once, "
                "at the child's first ESIA login. Operators of the account's region and admins. Earlier live codes "
                "of the account are revoked. Only an HMAC of the code is kept."
            ),
            "security": _BEARER,
            "requestBody": {"required": True, "content": _json("InviteIssue")},
            "responses": {
                "201": {"description": "The new code.", "content": _json("InviteIssued")},
                **_errors(
                    400,
                    401,
                    403,
                    404,
                    422,
                    texts={
                        400: "The body is not a JSON object (invalid_request), or days is outside 1..INVITE_CODE_MAX_DAYS (invalid_input).",
                        404: "No such diary account (not_found).",
                    },
                ),  # fmt: skip
            },
        },
        "get": {
            "summary": "One account's or one school's invite codes, newest first (never the codes)",
            "description": "Every staff role, within the regions it sees (support reads).",
            "security": _BEARER,
            "parameters": [{"in": "query", "schema": schemas.InviteQuerySchema}],
            "responses": {
                "200": {"description": "The codes.", "content": _json("InviteList")},
                **_errors(400, 401, 422, texts={400: "Neither account_id nor school_id was given (invalid_input)."}),
            },
        },
    },
    "/invites/{invite_id}": {
        "delete": {
            "summary": "Revoke an invite code for good (audited)",
            "security": _BEARER,
            "parameters": [{"name": "invite_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {
                "200": {"description": "The code now.", "content": _json("Invite")},
                **_errors(401, 403, 404, texts={404: "No such invite code (not_found)."}),
            },
        }
    },
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("apiToken", {"type": "http", "scheme": "bearer", "description": "A staff API token: brk_…"})
    for name, schema in (
        ("Error", errors.ErrorSchema),
        ("RegistryAccount", schemas.RegistryAccountSchema),
        ("RegistryUpsert", schemas.RegistryUpsertSchema),
        ("RegistryUpsertResult", schemas.RegistryUpsertResultSchema),
        ("PreflightSummary", schemas.PreflightSummarySchema),
        ("Region", schemas.RegionSchema),
        ("RegionList", schemas.RegionListSchema),
        ("RegionChange", schemas.RegionChangeSchema),
        ("RegionChangeResult", schemas.RegionChangeResultSchema),
        ("Figures", schemas.FiguresSchema),
        ("AttemptSearch", schemas.AttemptSearchSchema),
        ("Attempt", schemas.AttemptSchema),
        ("AttemptPage", schemas.AttemptPageSchema),
        ("AttemptDetail", schemas.AttemptDetailSchema),
        ("InviteIssue", schemas.InviteIssueSchema),
        ("Invite", schemas.InviteSchema),
        ("InviteIssued", schemas.InviteIssuedSchema),
        ("InviteList", schemas.InviteListSchema),
    ):
        spec.components.schema(name, schema=schema)
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    result = spec.to_dict()
    result["servers"] = [{"url": "/api/v1"}]
    return result
