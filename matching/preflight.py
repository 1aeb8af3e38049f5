"""Pre-flight: which accounts of a region will be refused at an ESIA login, and why, before it is on.

The prediction applies the engine's own rules (``decide``) to the registry alone, one account at
a time and across accounts, without an ESIA person to compare with:

- the age that picks the rule is :func:`age_on` the login date in the region's time zone, from
  ``ADULT_AGE`` (:func:`is_adult`); from then on the account needs a usable SNILS, unless it is
  linked already (a login through a link compares no names and no SNILS);
- a SNILS with a bad checksum is never matched: from 14 the login is refused (``snils_mismatch``);
- one SNILS held by accounts of *different* people (another normalised full name or birth date)
  lets at most one of them in; the others get ``snils_mismatch``. One person holding several
  accounts (a teacher who is also a parent) is not a finding: the engine offers a chooser;
- children (under 14) are found by full name and birth date: two or more unlinked namesakes
  born the same day with no valid SNILS to tell them apart get ``ambiguous`` (from 14 the SNILS
  decides, and a missing one is reported as such);
- a blocked account (``account_blocked``) or one not attached to a school (``not_attached``)
  is refused whatever the link;
- when the region's policy has ``auto_link_under_14`` off, an unlinked account of a child
  (under 14) cannot be linked on the first ESIA login (``link_required``): the engine checks
  this last, after identity, ambiguity and status, so it is the primary refusal only when
  nothing else is found; with it on and ``under_14_first_link`` set to ``invite_code``, such an
  account waits for the school's one-time invite code (``invite_code_required``): counted, so
  that the schools know how many codes to hand out before the policy is switched on;
- names are read by :func:`normalise_name`: a word still mixing Latin and Cyrillic letters after
  the look-alike rule can equal no ESIA name (``name_mismatch``). A Latin look-alike that the
  rule repairs stops no login; a placeholder (``-``, ``нет``) reads as empty, so it matches a
  person without that name part and fails one who has it, as an empty field would. Both are
  reported for repair, without a predicted refusal.

Findings use the public refusal codes where the finding *is* the refusal's condition; the
others name the data problem: ``snils_checksum`` (the SNILS parser's code), ``snils_shared``,
and the normaliser's rule names ``placeholder`` and ``latin_lookalike``. Each finding says which
refusal it leads to (``FINDINGS``); each flagged account carries the one primary refusal its
owner would see, chosen in the engine's order (identity first, then ambiguity, then status).

The engine's lookups by SNILS and by name cross regions, so the groups do too: the caller's
``elsewhere`` returns the accounts of other regions that hold one of the region's keys. Grouping
keeps, per SNILS digest and per (name key, birth date), the accounts of the region that may
belong to a group; for a large registry the caller passes :class:`SharedKeys` (the keys that more
than one account holds, which a database finds on its indexes), so that only those are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from matching.age import age_on, local_date
from matching.model import AccountId, AccountStatus, FirstLink, RegionPolicy
from matching.names import is_latin_mixed, normalise_name
from matching.refusals import Reason
from matching.rules import REASON_ORDER, is_adult


class Finding(StrEnum):
    """What the pre-flight found wrong with an account (stable codes: CSV, API, UI)."""

    NAME_MISMATCH = "name_mismatch"  # a word mixes Latin and Cyrillic even after normalisation
    SNILS_MISSING_IN_DIARY = "snils_missing_in_diary"  # 14+, not linked, no SNILS
    SNILS_CHECKSUM = "snils_checksum"  # the registry's SNILS has a bad checksum
    SNILS_SHARED = "snils_shared"  # one SNILS, several different people
    AMBIGUOUS = "ambiguous"  # namesake children born the same day, no SNILS to tell them apart
    ACCOUNT_BLOCKED = "account_blocked"
    NOT_ATTACHED = "not_attached"
    PLACEHOLDER = "placeholder"  # "-", "нет"... as a name part
    LATIN_LOOKALIKE = "latin_lookalike"  # Latin letters drawn like Cyrillic ones, repaired
    LINK_REQUIRED = "link_required"  # under 14, not linked, and the region's auto_link_under_14 off
    INVITE_CODE_REQUIRED = "invite_code_required"  # under 14, not linked, the region asks for an invite code


@dataclass(frozen=True, slots=True)
class FindingInfo:
    """A finding's words, and the refusal it leads to when it does (``None``: never on its own)."""

    finding: Finding
    reason: Reason | None
    text_en: str
    text_ru: str


def _table(*rows: FindingInfo) -> dict[Finding, FindingInfo]:
    table = {row.finding: row for row in rows}
    missing = set(Finding) - set(table)
    if missing:  # a new finding without its words is a programming error, caught at import
        raise ValueError(f"no text for findings {sorted(missing)}")
    return table


FINDINGS: dict[Finding, FindingInfo] = _table(
    FindingInfo(
        Finding.NAME_MISMATCH,
        Reason.NAME_MISMATCH,
        "A name mixes Latin and Cyrillic letters that normalisation cannot repair.",
        "В ФИО слово из латинских и русских букв, которое нельзя исправить автоматически.",
    ),
    FindingInfo(
        Finding.SNILS_MISSING_IN_DIARY,
        Reason.SNILS_MISSING_IN_DIARY,
        "Aged 14 or over, not linked yet, and no SNILS in the diary.",
        "Старше 14 лет, аккаунт не привязан к Госуслугам, а СНИЛС в дневнике не указан.",
    ),
    FindingInfo(
        Finding.SNILS_CHECKSUM,
        Reason.SNILS_MISMATCH,
        "The SNILS in the diary has a bad checksum (refused from age 14 unless linked).",
        "СНИЛС в дневнике с ошибкой в контрольном числе (с 14 лет вход не пройдёт).",
    ),
    FindingInfo(
        Finding.SNILS_SHARED,
        Reason.SNILS_MISMATCH,
        "One SNILS is held by accounts of different people; at most one of them can sign in.",
        "Один СНИЛС указан у аккаунтов разных людей; войти сможет только его владелец.",
    ),
    FindingInfo(
        Finding.AMBIGUOUS,
        Reason.AMBIGUOUS,
        "Namesakes under 14 born the same day, without a SNILS to tell them apart.",
        "Полные тёзки младше 14 лет с одной датой рождения, и нет СНИЛС, чтобы их различить.",
    ),
    FindingInfo(
        Finding.ACCOUNT_BLOCKED,
        Reason.ACCOUNT_BLOCKED,
        "The account is blocked.",
        "Аккаунт заблокирован.",
    ),
    FindingInfo(
        Finding.NOT_ATTACHED,
        Reason.NOT_ATTACHED,
        "The account is not attached to a school.",
        "Аккаунт не прикреплён к учебному заведению.",
    ),
    FindingInfo(
        Finding.PLACEHOLDER,
        None,
        "A name part is a placeholder such as '-' or 'нет' (read as empty).",
        "В ФИО вместо значения заглушка («-», «нет»); она читается как пустое поле.",
    ),
    FindingInfo(
        Finding.LATIN_LOOKALIKE,
        None,
        "A name has Latin letters drawn like Cyrillic ones (repaired when comparing).",
        "В ФИО латинские буквы, похожие на русские (при сравнении исправляются).",
    ),
    FindingInfo(
        Finding.LINK_REQUIRED,
        Reason.LINK_REQUIRED,
        "Under 14 and not linked yet, and the region links such accounts only in the link flow (auto_link_under_14 off).",
        "Младше 14 лет и аккаунт не привязан к Госуслугам, а в регионе такие аккаунты привязывают "
        "только из дневника («Привязать аккаунт портала Госуслуги»).",
    ),
    FindingInfo(
        Finding.INVITE_CODE_REQUIRED,
        Reason.INVITE_CODE_REQUIRED,
        "Under 14 and not linked yet, and the region links such accounts on the first ESIA login only "
        "with the school's invite code (under_14_first_link invite_code).",
        "Младше 14 лет и аккаунт не привязан к Госуслугам, а в регионе первая привязка таких аккаунтов "
        "при входе — только по коду приглашения от школы.",
    ),
)

# An account's primary refusal is the one the engine would give first (its REASON_ORDER: identity
# checks, then ambiguity, then the account checks); the pre-flight predicts a subset of them.
_REASON_ORDER = {reason: rank for rank, reason in enumerate(REASON_ORDER)}
_FINDING_ORDER = {finding: rank for rank, finding in enumerate(Finding)}
_ACTIVE = str(AccountStatus.ACTIVE)


class AccountRow(NamedTuple):
    """One account as the pre-flight reads it: the registry's columns, SNILS as digest and tail.

    A tuple in this field order will do (a database row, for instance).
    """

    id: str
    login: str
    role: str
    school_id: str | None
    last_name: str
    first_name: str
    middle_name: str
    name_key: str  # the normalised full name (:func:`matching.name_key`), as the registry stores it
    birth_date: date
    snils_digest: str | None
    snils_masked: str | None
    snils_valid: bool
    status: str
    linked: bool  # the account has an ESIA link


@dataclass(frozen=True, slots=True)
class SharedKeys:
    """Keys that two or more accounts hold, in any region; only accounts holding one are grouped.

    ``snils_digests``: SNILS digests; ``names``: (name key, birth date) pairs. A superset is
    fine (a key held once forms no group); a key left out hides its group.
    """

    snils_digests: Collection[str]
    names: Collection[tuple[str, date]]


# The accounts of other regions holding any of these SNILS digests or (name key, birth date) pairs.
Elsewhere = Callable[[Collection[str], Collection[tuple[str, date]]], Iterable[AccountRow]]


@dataclass(frozen=True, slots=True)
class FlaggedAccount:
    """An account to fix: what was found, and the refusal its owner would see (if any)."""

    id: AccountId
    login: str
    role: str
    school_id: str | None
    snils_masked: str | None  # ***-***-*45 67, never more
    findings: tuple[Finding, ...]
    reason: Reason | None


@dataclass(frozen=True, slots=True)
class SchoolSummary:
    """One school's share of the findings (``accounts``: all its accounts in the region)."""

    school_id: str | None  # None: not attached to a school
    accounts: int
    flagged: int
    refused: int
    by_finding: dict[Finding, int]


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """The pre-flight of one region at one instant."""

    region: RegionPolicy
    at: datetime
    today: date  # the login date in the region's time zone: ages are counted on it
    accounts: int
    flagged: tuple[FlaggedAccount, ...]  # by school, then account id
    by_finding: dict[Finding, int]  # accounts per finding (an account may have several)
    by_reason: dict[Reason, int]  # accounts per predicted primary refusal, most first
    accounts_by_school: dict[str | None, int] = field(repr=False)

    @property
    def refused(self) -> int:
        """Accounts whose owner is predicted to be refused."""
        return sum(self.by_reason.values())

    def schools(self) -> list[SchoolSummary]:
        """Schools with flagged accounts, most refusals first (then most flagged, then by id)."""
        found: dict[str | None, list[FlaggedAccount]] = {}
        for account in self.flagged:
            found.setdefault(account.school_id, []).append(account)
        summaries = []
        for school, accounts in found.items():
            counts: dict[Finding, int] = {}
            for account in accounts:
                for finding in account.findings:
                    counts[finding] = counts.get(finding, 0) + 1
            summaries.append(
                SchoolSummary(
                    school_id=school,
                    accounts=self.accounts_by_school.get(school, 0),
                    flagged=len(accounts),
                    refused=sum(1 for a in accounts if a.reason is not None),
                    by_finding=dict(sorted(counts.items(), key=lambda item: _FINDING_ORDER[item[0]])),
                )
            )
        summaries.sort(key=lambda s: (-s.refused, -s.flagged, s.school_id or ""))
        return summaries

    def as_dict(self, schools: int | None = 10) -> dict[str, object]:
        """The summary as plain data (for JSON): totals, counts, and the ``schools`` worst schools.

        The accounts to fix are not included; they are in ``flagged``.
        """
        return {
            "region": {"code": self.region.code, "name": self.region.name, "enabled": self.region.enabled},
            "at": self.at.isoformat(),
            "today": self.today.isoformat(),
            "accounts": self.accounts,
            "flagged": len(self.flagged),
            "refused": self.refused,
            "by_reason": {str(reason): count for reason, count in self.by_reason.items()},
            "by_finding": {str(finding): count for finding, count in self.by_finding.items()},
            "schools": [
                {
                    "school_id": school.school_id,
                    "accounts": school.accounts,
                    "flagged": school.flagged,
                    "refused": school.refused,
                    "by_finding": {str(finding): count for finding, count in school.by_finding.items()},
                }
                for school in self.schools()[:schools]
            ],
        }


class _Flags:
    """An account's findings while the scan runs (most accounts never get one)."""

    __slots__ = ("row", "found")

    def __init__(self, row: AccountRow) -> None:
        # Only what the report shows (id, login, role, school, masked SNILS) and the link: the
        # rest of the row (names, keys, digest) is not kept for the accounts held until the end.
        self.row = (*row[:4], row[10], row[13])
        self.found: dict[Finding, Reason | None] | None = None

    def add(self, finding: Finding, reason: Reason | None) -> None:
        if self.found is None:
            self.found = {}
        self.found[finding] = reason

    def result(self) -> FlaggedAccount:
        account_id, login, role, school_id, masked, _ = self.row
        found = self.found or {}
        findings = tuple(sorted(found, key=_FINDING_ORDER.__getitem__))
        reasons = [reason for reason in found.values() if reason is not None]
        return FlaggedAccount(
            id=AccountId(account_id),
            login=login,
            role=role,
            school_id=school_id,
            snils_masked=masked,
            findings=findings,
            reason=min(reasons, key=_REASON_ORDER.__getitem__) if reasons else None,
        )


def _name_findings(raw: str) -> tuple[Finding, ...]:
    name = normalise_name(raw)
    found = []
    if "placeholder" in name.rules:
        found.append(Finding.PLACEHOLDER)
    if "latin_lookalike" in name.rules:
        found.append(Finding.LATIN_LOOKALIKE)
    if is_latin_mixed(name.value):
        found.append(Finding.NAME_MISMATCH)
    return tuple(found)


def preflight_region(
    accounts: Iterable[AccountRow],
    *,
    region: RegionPolicy,
    at: datetime,
    shared: SharedKeys | None = None,
    elsewhere: Elsewhere | None = None,
) -> PreflightReport:
    """Predict which of ``region``'s ``accounts`` will be refused at a login at ``at`` (aware).

    ``accounts`` is read once, as a stream. ``elsewhere`` is called once, after it, with the keys
    of the region's groups; the accounts it returns count in the groups but are not reported.
    With ``shared`` only accounts holding one of its keys are kept for grouping.
    """
    today = local_date(at, region.timezone)
    adult_on: dict[date, bool] = {}  # birth date -> 14 or over on ``today`` (the engine's rule)
    name_cache: dict[str, tuple[Finding, ...]] = {}
    by_snils: dict[str, list[tuple[tuple[str, date], _Flags | None]]] = {}
    by_name: dict[tuple[str, date], list[_Flags | None]] = {}
    snils_keys = None if shared is None else shared.snils_digests
    name_keys = None if shared is None else shared.names
    flags: list[_Flags] = []
    schools: dict[str | None, int] = {}
    total = 0
    blocked, not_attached = Finding.ACCOUNT_BLOCKED, Finding.NOT_ATTACHED
    missing, checksum = Finding.SNILS_MISSING_IN_DIARY, Finding.SNILS_CHECKSUM
    link_required = not region.auto_link_under_14
    invite_required = not link_required and region.under_14_first_link is FirstLink.INVITE_CODE

    for row in accounts:
        (_, _, _, school, last, first, middle, key, born, digest, _, valid, status, linked) = row
        total += 1
        schools[school] = schools.get(school, 0) + 1
        adult = adult_on.get(born)
        if adult is None:
            adult = adult_on[born] = is_adult(age_on(born, today))
        found: _Flags | None = None

        if status != _ACTIVE:
            found = _Flags(row)
            found.add(blocked, Reason.ACCOUNT_BLOCKED)
        if not school:
            found = found or _Flags(row)
            found.add(not_attached, Reason.NOT_ATTACHED)
        for part in (last, first, middle):
            names = name_cache.get(part)
            if names is None:
                names = name_cache[part] = _name_findings(part)
            for finding in names:
                found = found or _Flags(row)
                # A login through a link compares no names.
                found.add(finding, None if linked else FINDINGS[finding].reason)

        if digest is None:
            if adult and not linked:
                found = found or _Flags(row)
                found.add(missing, Reason.SNILS_MISSING_IN_DIARY)
        elif not valid:
            found = found or _Flags(row)
            found.add(checksum, Reason.SNILS_MISMATCH if adult and not linked else None)
        elif snils_keys is None or digest in snils_keys:
            found = found or _Flags(row)
            by_snils.setdefault(digest, []).append(((key, born), found))
        if link_required and not adult and not linked:
            found = found or _Flags(row)
            found.add(Finding.LINK_REQUIRED, Reason.LINK_REQUIRED)
        elif invite_required and not adult and not linked:
            found = found or _Flags(row)
            found.add(Finding.INVITE_CODE_REQUIRED, Reason.INVITE_CODE_REQUIRED)
        if not adult and not linked and not (digest and valid):
            if name_keys is None or (key, born) in name_keys:
                found = found or _Flags(row)
                by_name.setdefault((key, born), []).append(found)
        if found is not None:
            flags.append(found)

    seen: set[str] = set()
    for row in elsewhere(tuple(by_snils), tuple(by_name)) if elsewhere and (by_snils or by_name) else ():
        (account_id, _, _, _, _, _, _, key, born, digest, _, valid, _, linked) = row
        if account_id in seen:  # found by SNILS and by name
            continue
        seen.add(account_id)
        if digest is not None and valid and digest in by_snils:
            by_snils[digest].append(((key, born), None))
        group = by_name.get((key, born))
        if group is not None and not linked and not (digest and valid):
            group.append(None)  # same birth date as the group's: under 14 too

    for holders in by_snils.values():
        if len(holders) > 1 and len({identity for identity, _ in holders}) > 1:
            for _, account in holders:
                if account is not None:
                    account.add(Finding.SNILS_SHARED, None if account.row[5] else Reason.SNILS_MISMATCH)
    for namesakes in by_name.values():
        if len(namesakes) > 1:
            for account in namesakes:
                if account is not None:
                    account.add(Finding.AMBIGUOUS, Reason.AMBIGUOUS)

    flagged = sorted(
        (account.result() for account in flags if account.found),
        key=lambda flagged_account: (flagged_account.school_id or "", flagged_account.id),
    )
    by_finding: dict[Finding, int] = {}
    by_reason: dict[Reason, int] = {}
    for flagged_account in flagged:
        for finding in flagged_account.findings:
            by_finding[finding] = by_finding.get(finding, 0) + 1
        if flagged_account.reason is not None:
            by_reason[flagged_account.reason] = by_reason.get(flagged_account.reason, 0) + 1
    return PreflightReport(
        region=region,
        at=at,
        today=today,
        accounts=total,
        flagged=tuple(flagged),
        by_finding=dict(sorted(by_finding.items(), key=lambda item: _FINDING_ORDER[item[0]])),
        by_reason=dict(sorted(by_reason.items(), key=lambda item: (-item[1], _REASON_ORDER[item[0]]))),
        accounts_by_school=schools,
    )
