"""The engine's rules as others apply them too: the tier, SNILS and account checks, and the reasons' order.

:func:`matching.decide` applies every rule here. The support's re-check applies the checks to an
account as the registry holds it today, and the pre-flight ranks its predicted refusals by
:data:`REASON_ORDER`. Each rule has this one home, so a change here reaches all three. The
checks return the refusal that fires (``None`` when the check passes) and write no trace: the
engine describes each result in its trace, and each caller in its own words.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from enum import StrEnum

from matching.model import Account, AccountId, AccountStatus, EsiaOid, FirstLink, RegionPolicy, Tier
from matching.refusals import Reason

ADULT_AGE = 14  # from this age: standard/verified tier and SNILS (the diary's rule)
ADULT_MIN_TIER = Tier.STANDARD

#: The identity checks' refusals in the order the engine compares the fields (names, birth
#: date, gender, SNILS); when every candidate fails, ties between them go to the earlier one.
IDENTITY_REASONS: tuple[Reason, ...] = (
    Reason.NAME_MISMATCH,
    Reason.BIRTHDATE_MISMATCH,
    Reason.GENDER_MISMATCH,
    Reason.SNILS_MISSING_IN_DIARY,
    Reason.SNILS_MISMATCH,
)
#: The account checks' refusals in the order the engine runs the checks (the first to fire
#: refuses): :func:`check_account_region`, :func:`check_status`, :func:`check_school`,
#: :func:`check_link`, :func:`check_auto_link`, :func:`check_invite_code`.
ACCOUNT_REASONS: tuple[Reason, ...] = (
    Reason.REGION_DISABLED,
    Reason.ACCOUNT_BLOCKED,
    Reason.NOT_ATTACHED,
    Reason.LINKED_ELSEWHERE,
    Reason.LINK_REQUIRED,
    Reason.INVITE_CODE_REQUIRED,
)
#: The order in which the engine gives the refusals that concern one account: the identity
#: checks first, then ambiguity (several people match), then the account checks.
REASON_ORDER: tuple[Reason, ...] = (*IDENTITY_REASONS, Reason.AMBIGUOUS, *ACCOUNT_REASONS)


class SnilsComparison(StrEnum):
    """How the diary account's SNILS compares with the one ESIA gave."""

    MISSING_IN_DIARY = "missing_in_diary"
    BAD_CHECKSUM = "bad_checksum"  # the diary's SNILS is kept for reports, never matched
    NOT_COMPARED = "not_compared"  # ESIA gave no usable SNILS
    EQUAL = "equal"
    DIFFERENT = "different"


def is_adult(age: int) -> bool:
    """Whether a person of ``age`` falls under the 14+ rule."""
    return age >= ADULT_AGE


def check_tier(tier: Tier, age: int) -> Reason | None:
    """From 14 a standard or verified ESIA account is required (``tier_insufficient``)."""
    return Reason.TIER_INSUFFICIENT if is_adult(age) and tier.rank < ADULT_MIN_TIER.rank else None


def compare_snils(account: Account, esia_digest: str | None) -> SnilsComparison:
    """Compare ``account``'s SNILS with the digest of the one ESIA gave (``None``: none usable)."""
    if account.snils_digest is None:
        return SnilsComparison.MISSING_IN_DIARY
    if not account.snils_valid:
        return SnilsComparison.BAD_CHECKSUM
    if esia_digest is None:
        return SnilsComparison.NOT_COMPARED
    if hmac.compare_digest(account.snils_digest.encode(), esia_digest.encode()):
        return SnilsComparison.EQUAL
    return SnilsComparison.DIFFERENT


def snils_refusal(comparison: SnilsComparison, *, snils_required: bool) -> Reason | None:
    """The refusal a SNILS comparison gives.

    ``snils_required``: the diary account must hold a usable SNILS (from 14, unless the person
    proved the account with its password in the link flow). Two valid SNILS that differ are
    another person's, whatever the age.
    """
    if comparison is SnilsComparison.MISSING_IN_DIARY:
        return Reason.SNILS_MISSING_IN_DIARY if snils_required else None
    if comparison is SnilsComparison.BAD_CHECKSUM:
        return Reason.SNILS_MISMATCH if snils_required else None
    if comparison is SnilsComparison.DIFFERENT:
        return Reason.SNILS_MISMATCH
    return None


def check_account_region(account: Account, regions: Mapping[str, RegionPolicy]) -> Reason | None:
    """ESIA login must be enabled in the account's region (a region missing from ``regions`` is not)."""
    policy = regions.get(account.region)
    return None if policy is not None and policy.enabled else Reason.REGION_DISABLED


def check_status(account: Account) -> Reason | None:
    """The account must be active."""
    return None if account.status is AccountStatus.ACTIVE else Reason.ACCOUNT_BLOCKED


def check_school(account: Account) -> Reason | None:
    """The account must be attached to a school."""
    return None if account.is_attached else Reason.NOT_ATTACHED


def check_link(account: Account, is_own: Callable[[EsiaOid], bool]) -> Reason | None:
    """The account must be unlinked or linked to this ESIA person (``is_own`` tells an oid is theirs)."""
    return Reason.LINKED_ELSEWHERE if account.esia_oid is not None and not is_own(account.esia_oid) else None


def is_first_link_ruled(account: Account, *, adult: bool, link_flow: bool = False) -> bool:
    """Whether the region's rules for an under-14 first link apply (:func:`check_auto_link`, :func:`check_invite_code`).

    They do when the account is not linked yet and the person is under 14, except in the link
    flow, where the person proved the account with its password.
    """
    return account.esia_oid is None and not adult and not link_flow


def check_auto_link(account: Account, regions: Mapping[str, RegionPolicy]) -> Reason | None:
    """With ``auto_link_under_14`` off in the account's region, the first link is made in the link flow.

    The *account's* region decides, not the login's: its operator owns the account and set the
    rule for it, and a person must not get round the rule by logging in through another
    region's entry point. Apply only where :func:`is_first_link_ruled`.
    """
    policy = regions.get(account.region)
    return Reason.LINK_REQUIRED if policy is not None and not policy.auto_link_under_14 else None


def check_invite_code(account: Account, regions: Mapping[str, RegionPolicy], invited: AccountId | None) -> Reason | None:
    """With ``under_14_first_link`` ``invite_code``, the first link needs that account's invite code.

    ``invited`` is the account whose code the person entered. Apply only where
    :func:`is_first_link_ruled`, after :func:`check_auto_link` (which is stricter and wins).
    """
    policy = regions.get(account.region)
    if policy is not None and policy.under_14_first_link is FirstLink.INVITE_CODE and account.id != invited:
        return Reason.INVITE_CODE_REQUIRED
    return None
