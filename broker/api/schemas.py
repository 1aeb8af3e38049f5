"""The JSON API's shapes (marshmallow): what it accepts and answers, and the OpenAPI document's.

Schemas check shape and type only. The registry's own rules (roles, regions, names, dates,
SNILS) live in :class:`broker.registry.importer.RowParser`, the one validator the file import and the
API share, so a row the API accepts is a row ``broker registry import`` accepts.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

MAX_ACCOUNTS_PER_REQUEST = 1000


class RegistryAccountSchema(Schema):
    """One diary account as the diary's sync job sends it (the registry file's columns)."""

    id = fields.String(required=True, validate=validate.Length(1, 64))
    login = fields.String(required=True, validate=validate.Length(1, 128))
    role = fields.String(required=True, metadata={"enum": ["student", "parent", "teacher", "staff"]})
    region = fields.String(required=True, metadata={"description": "Two-digit federal subject code, e.g. 77."})
    school_id = fields.String(load_default=None, allow_none=True)
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    middle_name = fields.String(load_default="", allow_none=True)
    birth_date = fields.String(required=True, metadata={"format": "date", "description": "YYYY-MM-DD"})
    gender = fields.String(required=True, metadata={"enum": ["M", "F"]})
    snils = fields.String(load_default=None, allow_none=True, metadata={"description": "123-456-789 01; stored only as a keyed hash"})
    status = fields.String(required=True, metadata={"enum": ["active", "blocked"]})
    esia_oid = fields.String(load_default=None, allow_none=True)


class RegistryUpsertSchema(Schema):
    accounts = fields.List(
        fields.Nested(RegistryAccountSchema),
        required=True,
        validate=validate.Length(1, MAX_ACCOUNTS_PER_REQUEST),
    )
    allow_links = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Write the accounts' esia_oid links (create, or move one a registry made); each is audited. "
            "Without it esia_oid is not written and a warning names each row."
        },
    )


class RegistryWarningSchema(Schema):
    index = fields.Integer(required=True)
    field = fields.String(required=True)
    why = fields.String(required=True)


class RegistryUpsertResultSchema(Schema):
    written = fields.Integer(required=True, metadata={"description": "Accounts inserted or updated."})
    links = fields.Integer(required=True, metadata={"description": "ESIA links written from esia_oid."})
    warnings = fields.List(fields.Nested(RegistryWarningSchema), required=True)


class PreflightQuerySchema(Schema):
    """The query of ``GET /regions/{code}/preflight``; other query parameters are ignored."""

    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    schools = fields.Integer(load_default=10, validate=validate.Range(min=0), metadata={"description": "schools listed (JSON)"})


class PreflightRegionSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)


class PreflightSchoolSchema(Schema):
    school_id = fields.String(allow_none=True, metadata={"description": "null: not attached to a school"})
    accounts = fields.Integer(required=True)
    flagged = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    by_finding = fields.Dict(keys=fields.String(), values=fields.Integer())


class PreflightSummarySchema(Schema):
    """``matching.PreflightReport.as_dict()``: reason and finding codes are the public vocabulary."""

    region = fields.Nested(PreflightRegionSchema, required=True)
    at = fields.DateTime(required=True)
    today = fields.Date(required=True, metadata={"description": "the region's calendar date ages are counted on"})
    accounts = fields.Integer(required=True)
    flagged = fields.Integer(required=True, metadata={"description": "accounts with at least one finding"})
    refused = fields.Integer(required=True, metadata={"description": "accounts whose owner would be refused"})
    by_reason = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_finding = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    schools = fields.List(fields.Nested(PreflightSchoolSchema), required=True)


class RegionSchema(Schema):
    """A region as the API shows it (``can_manage``: whether this token may change it)."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    policy = fields.Dict(keys=fields.String(), required=True, metadata={"description": "policy overrides"})
    changed_by = fields.String(allow_none=True)
    changed_at = fields.DateTime(allow_none=True)
    can_manage = fields.Boolean(required=True)


class RegionListSchema(Schema):
    regions = fields.List(fields.Nested(RegionSchema), required=True)


class RegionChangeSchema(Schema):
    """A change of one region: leave a field out to keep it; ``policy`` replaces the overrides."""

    enabled = fields.Boolean()
    policy = fields.Dict(keys=fields.String(), allow_none=False)
    comment = fields.String(required=True, metadata={"description": "why (mandatory; audited)"})


class RegionChangeResultSchema(Schema):
    region = fields.Nested(RegionSchema, required=True)
    changed = fields.Boolean(required=True)


class FigureLineSchema(Schema):
    outcome = fields.String(required=True)
    reason = fields.String(allow_none=True)
    day = fields.Integer(required=True)
    week = fields.Integer(required=True)


class FiguresSchema(Schema):
    """Attempts in the last 24 hours and the last 7 days (rolling), by outcome and reason."""

    region = fields.String(required=True)
    until = fields.DateTime(required=True)
    day_since = fields.DateTime(required=True)
    week_since = fields.DateTime(required=True)
    lines = fields.List(fields.Nested(FigureLineSchema), required=True)


class AttemptSearchSchema(Schema):
    """What to look for (every given field must hold). A POST body, so that a SNILS, an oid or
    a login never lands in a URL or an access log."""

    reference = fields.String(metadata={"description": "e.g. 7K3M-Q9XZ (case, dash and look-alikes forgiven)"})
    account = fields.String(metadata={"description": "a diary account id or login"})
    snils = fields.String(metadata={"description": "looked up by its keyed hash; never echoed"})
    oid = fields.String(metadata={"description": "an ESIA oid; looked up by its keyed hash"})
    outcome = fields.String()
    reason = fields.String()
    region = fields.String()
    started_from = fields.String(data_key="from", metadata={"description": "ISO 8601 (Moscow time without an offset)"})
    started_to = fields.String(data_key="to")
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    before_id = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, 2**63 - 1),  # a row id: 64 bits in the database
        metadata={"description": "the previous page's next_before_id"},
    )


class AttemptSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    client_id = fields.String(required=True)
    flow = fields.String(required=True)
    region = fields.String(allow_none=True)
    outcome = fields.String(required=True)
    reason = fields.String(allow_none=True)
    account_id = fields.String(allow_none=True)
    candidate_ids = fields.List(fields.String(), required=True)
    tier = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)


class AttemptPageSchema(Schema):
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    next_before_id = fields.Integer(allow_none=True)


class TraceRowSchema(Schema):
    field = fields.String(required=True)
    result = fields.String(required=True)
    detail = fields.String(required=True, metadata={"description": "masked values only"})
    rules = fields.List(fields.String())
    account_id = fields.String(allow_none=True)


class AttemptDetailSchema(Schema):
    attempt = fields.Nested(AttemptSchema, required=True)
    trace = fields.List(fields.Nested(TraceRowSchema), required=True)
    message_ru = fields.String(required=True, metadata={"description": "what the person read"})
    next_step_ru = fields.String(allow_none=True)
    fixer = fields.String(allow_none=True)
    text_en = fields.String(allow_none=True)
    account_ids = fields.List(fields.String(), required=True)


# --- invite codes ----------------------------------------------------------------------


#: An id the invite routes look up: no control characters (PostgreSQL refuses NUL in text, which
#: would otherwise surface as a database error rather than a bad field).
_INVITE_LOOKUP_ID = [validate.Length(1, 64), validate.Regexp(r"[^\x00-\x1f\x7f]*\Z", error="must not contain control characters")]


class InviteIssueSchema(Schema):
    """POST /invites: a one-time code for a child's first ESIA link."""

    account_id = fields.String(required=True, validate=_INVITE_LOOKUP_ID)
    days = fields.Integer(load_default=None, allow_none=True, metadata={"description": "lifetime; default INVITE_CODE_DAYS"})


class InviteQuerySchema(Schema):
    """GET /invites: one account's or one school's codes."""

    account_id = fields.String(validate=_INVITE_LOOKUP_ID)
    school_id = fields.String(validate=_INVITE_LOOKUP_ID)


class InviteSchema(Schema):
    """An invite code as staff see it: never the code itself."""

    id = fields.Integer(required=True)
    account_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["live", "used", "revoked", "expired"]})
    issued_by = fields.String(required=True)
    issued_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class InviteIssuedSchema(InviteSchema):
    code = fields.String(required=True, metadata={"description": "shown once (XXXXX-XXXXX); only its HMAC is kept"})


class InviteListSchema(Schema):
    invites = fields.List(fields.Nested(InviteSchema), required=True)
