"""The matching engine: may this ESIA person enter that diary account, and if not, why.

Pure domain code. It normalises and compares what ESIA says about a person with the diary's
registry, applies the diary's rules (region, tier x age, SNILS, names, birth date, gender, links)
and returns a :class:`Decision` carrying its outcome, one primary reason and every check that ran.
:func:`preflight_region` applies the same rules to a region's registry alone, to predict who
will be refused before ESIA login is switched on there.

Import rule: the standard library only. No Flask, SQLAlchemy, requests, Authlib, joserfc,
cryptography or marshmallow, and nothing from ``broker``, ``providers`` or ``mock_esia``.
Callers pass the clock (``at``) and the registry (a :class:`Registry` port).
"""

from __future__ import annotations

from matching.age import age_on, local_date
from matching.engine import decide
from matching.gender import parse_gender
from matching.mask import mask_birth_date, mask_name, mask_oid, mask_snils
from matching.messages import message_ru
from matching.model import (
    Account,
    AccountId,
    AccountStatus,
    Check,
    CheckResult,
    Decision,
    EsiaOid,
    FirstLink,
    Gender,
    Outcome,
    Person,
    RegionPolicy,
    Role,
    Tier,
)
from matching.names import (
    NormalisedName,
    is_latin_mixed,
    is_placeholder,
    name_key,
    normalise_name,
    short_name_key,
)
from matching.ports import Registry
from matching.preflight import (
    FINDINGS,
    AccountRow,
    Finding,
    FindingInfo,
    FlaggedAccount,
    PreflightReport,
    SchoolSummary,
    SharedKeys,
    preflight_region,
)
from matching.refusals import REFUSALS, Fixer, Reason, Refusal
from matching.rules import (
    ACCOUNT_REASONS,
    ADULT_AGE,
    ADULT_MIN_TIER,
    IDENTITY_REASONS,
    REASON_ORDER,
    SnilsComparison,
    check_account_region,
    check_auto_link,
    check_invite_code,
    check_link,
    check_school,
    check_status,
    check_tier,
    compare_snils,
    is_adult,
    is_first_link_ruled,
    snils_refusal,
)
from matching.snils import InvalidSnilsError, Snils, format_snils, parse_snils, snils_checksum

__all__ = [
    "ACCOUNT_REASONS",
    "ADULT_AGE",
    "ADULT_MIN_TIER",
    "Account",
    "AccountId",
    "AccountRow",
    "AccountStatus",
    "Check",
    "CheckResult",
    "Decision",
    "EsiaOid",
    "FINDINGS",
    "Finding",
    "FindingInfo",
    "FirstLink",
    "Fixer",
    "FlaggedAccount",
    "Gender",
    "IDENTITY_REASONS",
    "InvalidSnilsError",
    "NormalisedName",
    "Outcome",
    "Person",
    "PreflightReport",
    "REASON_ORDER",
    "REFUSALS",
    "Reason",
    "Refusal",
    "RegionPolicy",
    "Registry",
    "Role",
    "SchoolSummary",
    "SharedKeys",
    "Snils",
    "SnilsComparison",
    "Tier",
    "age_on",
    "check_account_region",
    "check_auto_link",
    "check_invite_code",
    "check_link",
    "check_school",
    "check_status",
    "check_tier",
    "compare_snils",
    "decide",
    "format_snils",
    "is_adult",
    "is_first_link_ruled",
    "is_latin_mixed",
    "is_placeholder",
    "local_date",
    "mask_birth_date",
    "mask_name",
    "mask_oid",
    "mask_snils",
    "message_ru",
    "name_key",
    "normalise_name",
    "parse_gender",
    "parse_snils",
    "preflight_region",
    "short_name_key",
    "snils_checksum",
    "snils_refusal",
]
