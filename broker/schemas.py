"""The JSON API's shapes (marshmallow): what it accepts and answers, and the OpenAPI document's.

Schemas check shape and type only. The registry's own rules (roles, regions, names, dates,
SNILS) live in :class:`broker.importer.RowParser`, the one validator the file import and the
API share, so a row the API accepts is a row ``broker registry import`` accepts.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_ACCOUNTS_PER_REQUEST = 1000


class ErrorItemSchema(Schema):
    index = fields.Integer(metadata={"description": "Position of the item in the request (0-based), if any."})
    field = fields.String(required=True, metadata={"description": "The field at fault, e.g. accounts.3.birth_date."})
    why = fields.String(required=True)


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A stable code: invalid_request, not_found, …"})
    error_description = fields.String()
    errors = fields.List(fields.Nested(ErrorItemSchema), metadata={"description": "One entry per bad field."})


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


class RegistryWarningSchema(Schema):
    index = fields.Integer(required=True)
    field = fields.String(required=True)
    why = fields.String(required=True)


class RegistryUpsertResultSchema(Schema):
    written = fields.Integer(required=True, metadata={"description": "Accounts inserted or updated."})
    links = fields.Integer(required=True, metadata={"description": "ESIA links written from esia_oid."})
    warnings = fields.List(fields.Nested(RegistryWarningSchema), required=True)


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
