"""The domain's value types: the ESIA person, the diary account, a region's policy, a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NewType

from matching.refusals import Reason

AccountId = NewType("AccountId", str)
EsiaOid = NewType("EsiaOid", str)


class Tier(StrEnum):
    """ESIA account tier (уровень учётной записи), weakest first."""

    SIMPLIFIED = "simplified"  # упрощённая
    STANDARD = "standard"  # стандартная
    VERIFIED = "verified"  # подтверждённая

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]


_TIER_RANK = {Tier.SIMPLIFIED: 0, Tier.STANDARD: 1, Tier.VERIFIED: 2}


class Gender(StrEnum):
    MALE = "M"
    FEMALE = "F"


class Role(StrEnum):
    STUDENT = "student"
    PARENT = "parent"
    TEACHER = "teacher"
    STAFF = "staff"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class FirstLink(StrEnum):
    """How a region lets an under-14 account be linked on its first ESIA login."""

    AUTO = "auto"  # by full name and birth date, as the rule says
    #: Also a one-time code the school handed to the family, entered once, for that account only
    #: (simplified ESIA accounts carry self-declared names and birth dates).
    INVITE_CODE = "invite_code"


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"  # through an existing link
    LINKED = "linked"  # first login (or the link flow): a link is to be created
    CHOOSE_ACCOUNT = "choose_account"  # one person, several accounts: the person picks
    REFUSED = "refused"


class CheckResult(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INFO = "info"  # a fact the decision used (age, rule, lookup), neither pass nor fail


@dataclass(frozen=True, slots=True)
class Person:
    """What ESIA says about the person who logged in. Names are as ESIA gave them."""

    oid: EsiaOid
    tier: Tier
    # Personal data stays out of repr(), so that no log line or traceback carries it.
    last_name: str = field(default="", repr=False)
    first_name: str = field(default="", repr=False)
    middle_name: str = field(default="", repr=False)
    birth_date: date | None = field(default=None, repr=False)
    gender: Gender | None = None
    snils: str | None = field(default=None, repr=False)  # as ESIA gave it; checked by the engine


@dataclass(frozen=True, slots=True)
class Account:
    """A diary account as the registry holds it. SNILS is known only by digest and masked tail."""

    id: AccountId
    login: str
    role: Role
    region: str
    school_id: str | None
    last_name: str = field(repr=False)
    first_name: str = field(repr=False)
    middle_name: str = field(repr=False)
    birth_date: date | None = field(repr=False)
    gender: Gender | None
    snils_digest: str | None
    snils_masked: str | None
    status: AccountStatus
    esia_oid: EsiaOid | None = None
    # False when the registry's SNILS has a bad checksum: kept for reports, never matched.
    snils_valid: bool = True

    @property
    def is_attached(self) -> bool:
        return bool(self.school_id)


@dataclass(frozen=True, slots=True)
class RegionPolicy:
    """One federal subject as the matching rules see it."""

    code: str
    name: str
    timezone: str
    enabled: bool = False
    # Policy overrides (issue 5): every field below is one, set per region by its operators.
    #: A person under 14 is linked on their first ESIA login by full name and birth date; when
    #: False, that first link must be made in the diary's link flow («Привязать аккаунт портала
    #: Госуслуги») by someone signed in to the account with its password (``link_required``).
    auto_link_under_14: bool = True
    #: With ``auto_link_under_14`` on, how that first link is made: ``auto`` by full name and birth
    #: date alone, ``invite_code`` only once the person also enters the one-time code the school
    #: issued for that very account (``invite_code_required`` until then). ``auto_link_under_14``
    #: off is stricter and wins: the first link is then made in the link flow only.
    under_14_first_link: FirstLink = FirstLink.AUTO


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison or fact in a decision's trace. Values in ``detail`` are masked."""

    field: str
    result: CheckResult
    detail: str
    rules: tuple[str, ...] = ()
    account_id: AccountId | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"field": self.field, "result": str(self.result), "detail": self.detail}
        if self.rules:
            out["rules"] = list(self.rules)
        if self.account_id is not None:
            out["account_id"] = self.account_id
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer: an outcome, one primary reason when refused, and the full trace.

    ``account_ids`` are the accounts granted; a refusal has none, except ``invite_code_required``,
    which names the accounts that would be linked once their invite code is entered.
    """

    outcome: Outcome
    reason: Reason | None = None
    account_ids: tuple[AccountId, ...] = ()
    checks: tuple[Check, ...] = field(default=())
    age: int | None = None
