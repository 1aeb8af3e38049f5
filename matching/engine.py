"""The decision: may this ESIA person enter a diary account, and if not, why.

The rules (ARCHITECTURE.md §2, from the diary's own guide):

1. The login's region must have ESIA login enabled, and so must the account's region.
2. ESIA must supply a birth date; the age on the login date in the region's time zone picks
   the rule. From 14 a standard or verified ESIA account and a SNILS are required.
3. An ESIA person with links goes through them: names are not compared again, but the region,
   the tier x age gate and the account's status still apply.
4. Otherwise candidates are looked up: from 14 by SNILS (full name, birth date and gender must
   agree), under 14 by full name and birth date. A candidate that agrees on the person's
   identity is an *identity match*; it must then be active, attached to a school, unlinked or
   linked to this person, and in an enabled region.
5. Several identity matches that are provably one person (one SNILS) give an account chooser;
   several people give ``ambiguous``. The engine never guesses.

``decide`` performs no I/O besides the registry port and reads no clock: callers pass ``at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from matching.age import age_on, local_date
from matching.mask import mask_birth_date, mask_name
from matching.model import (
    Account,
    AccountId,
    AccountStatus,
    Check,
    CheckResult,
    Decision,
    Outcome,
    Person,
    RegionPolicy,
    Tier,
)
from matching.names import normalise_name
from matching.ports import Registry
from matching.refusals import Reason
from matching.snils import InvalidSnilsError, Snils, mask_tail, parse_snils

ADULT_AGE = 14  # from this age: standard/verified tier and SNILS (the diary's rule)
ADULT_MIN_TIER = Tier.STANDARD

PASS, FAIL, INFO = CheckResult.PASS, CheckResult.FAIL, CheckResult.INFO

_NAME_FIELDS = (
    ("last_name", "last_name"),
    ("first_name", "first_name"),
    ("middle_name", "middle_name"),
)


@dataclass(slots=True)
class _Trace:
    checks: list[Check] = field(default_factory=list)
    age: int | None = None

    def add(
        self,
        name: str,
        result: CheckResult,
        detail: str,
        rules: tuple[str, ...] = (),
        account_id: AccountId | None = None,
    ) -> None:
        self.checks.append(Check(name, result, detail, rules, account_id))

    def refuse(self, reason: Reason) -> Decision:
        return Decision(Outcome.REFUSED, reason, (), tuple(self.checks), self.age)

    def grant(self, outcome: Outcome, accounts: Sequence[Account]) -> Decision:
        ids = tuple(account.id for account in accounts)
        return Decision(outcome, None, ids, tuple(self.checks), self.age)


@dataclass(frozen=True, slots=True)
class _Subject:
    """The person with the values every comparison needs, computed once."""

    person: Person
    names: tuple[tuple[str, tuple[str, ...]], ...]  # (normalised value, rules) per name part
    snils: Snils | None
    digest: str | None
    is_adult: bool


def decide(
    person: Person,
    *,
    registry: Registry,
    region: RegionPolicy,
    at: datetime,
    regions: Mapping[str, RegionPolicy] | None = None,
    link_account: AccountId | None = None,
) -> Decision:
    """Decide whether ``person`` may enter a diary account.

    ``region`` is the region the login came through, ``at`` the login instant (aware).
    ``regions`` maps region codes to policies, for accounts in another region than the login's.
    ``link_account`` is set in the link flow: the account the person is signed in to with a
    password and wants to link; only that account is considered.
    """
    trace = _Trace()
    if not region.enabled:
        trace.add("region", FAIL, f"ESIA login is not enabled in region {region.code}")
        return trace.refuse(Reason.REGION_DISABLED)
    trace.add("region", PASS, f"ESIA login is enabled in region {region.code}")

    if person.birth_date is None:
        trace.add("esia_birth_date", FAIL, "ESIA supplied no birth date")
        return trace.refuse(Reason.ESIA_DATA_INCOMPLETE)
    today = local_date(at, region.timezone)
    age = age_on(person.birth_date, today)
    if age < 0:
        trace.add("esia_birth_date", FAIL, f"birth date {mask_birth_date(person.birth_date)} is after {today}")
        return trace.refuse(Reason.ESIA_DATA_INCOMPLETE)
    trace.age = age
    is_adult = age >= ADULT_AGE
    trace.add("age", INFO, f"{age} on {today.isoformat()} in {region.timezone}")
    trace.add(
        "rule",
        INFO,
        "14 and over: standard or verified account; full name, SNILS, birth date and gender"
        if is_adult
        else "under 14: any account tier; full name and birth date",
    )

    if is_adult and person.tier.rank < ADULT_MIN_TIER.rank:
        trace.add("tier", FAIL, f"{person.tier} account; {ADULT_MIN_TIER} or verified required from 14")
        return trace.refuse(Reason.TIER_INSUFFICIENT)
    trace.add("tier", PASS, f"{person.tier} account is enough at {age}")

    snils = _esia_snils(person, is_adult, trace)
    if is_adult and snils is None:
        return trace.refuse(Reason.ESIA_DATA_INCOMPLETE)
    subject = _Subject(
        person=person,
        names=tuple(
            (n.value, n.rules)
            for n in (
                normalise_name(person.last_name),
                normalise_name(person.first_name),
                normalise_name(person.middle_name),
            )
        ),
        snils=snils,
        digest=registry.snils_digest(snils) if snils else None,
        is_adult=is_adult,
    )
    policies = regions or {region.code: region}

    if link_account is not None:
        return _decide_link(subject, registry, link_account, region, policies, trace)

    linked = registry.find_by_oid(person.oid)
    if linked:
        return _decide_through_links(subject, linked, region, policies, trace)

    candidates = _find_candidates(subject, registry, trace)
    if not candidates:
        return trace.refuse(Reason.NO_ACCOUNT)
    return _resolve(subject, candidates, region, policies, trace)


def _esia_snils(person: Person, is_adult: bool, trace: _Trace) -> Snils | None:
    if not person.snils:
        if is_adult:
            trace.add("esia_snils", FAIL, "ESIA supplied no SNILS")
        return None
    try:
        snils = parse_snils(person.snils)
    except InvalidSnilsError as exc:
        # A bad checksum is a data error: reported, never matched.
        trace.add("esia_snils", FAIL, f"ESIA SNILS is unusable ({exc.code})")
        return None
    trace.add("esia_snils", PASS, f"ESIA SNILS {mask_tail(snils.digits)} is well-formed")
    return snils


def _find_candidates(subject: _Subject, registry: Registry, trace: _Trace) -> list[Account]:
    person = subject.person
    key = "|".join(value for value, _ in subject.names)
    if subject.is_adult:
        assert subject.digest is not None
        found = list(registry.find_by_snils(subject.digest))
        trace.add("lookup", INFO, f"by SNILS: {len(found)} account(s)")
        if found:
            return found
        # Nobody has this SNILS: look for the person by name to explain why (no SNILS in the
        # diary, or another SNILS there).
        found = list(registry.find_by_name(key, person.birth_date))
        trace.add("lookup", INFO, f"by full name and birth date: {len(found)} account(s)")
        return found
    found = list(registry.find_by_name(key, person.birth_date))
    trace.add("lookup", INFO, f"by full name and birth date: {len(found)} account(s)")
    if found:
        return found
    if subject.digest is not None:
        found = list(registry.find_by_snils(subject.digest))
        trace.add("lookup", INFO, f"by SNILS: {len(found)} account(s)")
        if found:
            return found
    found = list(registry.find_by_name(key, None))
    trace.add("lookup", INFO, f"by full name only: {len(found)} account(s)")
    return found


def _identity_failures(
    subject: _Subject, account: Account, trace: _Trace, *, snils_required: bool
) -> list[Reason]:
    """Compare the person with ``account`` field by field; return the reasons that fired."""
    failures: list[Reason] = []
    for (esia_value, esia_rules), attr in zip(subject.names, ("last_name", "first_name", "middle_name")):
        diary = normalise_name(getattr(account, attr))
        rules = tuple(f"esia:{r}" for r in esia_rules) + tuple(f"diary:{r}" for r in diary.rules)
        if esia_value == diary.value:
            trace.add(attr, PASS, f"{_masked(esia_value)} = {_masked(diary.value)}", rules, account.id)
            continue
        if not esia_value or not diary.value:
            side = "ESIA" if not esia_value else "the diary"
            detail = f"{_masked(esia_value)} vs {_masked(diary.value)}: absent in {side}"
        else:
            detail = f"{_masked(esia_value)} vs {_masked(diary.value)}: differ"
        trace.add(attr, FAIL, detail, rules, account.id)
        if Reason.NAME_MISMATCH not in failures:
            failures.append(Reason.NAME_MISMATCH)

    person = subject.person
    if account.birth_date == person.birth_date:
        trace.add("birth_date", PASS, f"{mask_birth_date(account.birth_date)} equal", (), account.id)
    else:
        trace.add("birth_date", FAIL, _date_difference(person.birth_date, account.birth_date), (), account.id)
        failures.append(Reason.BIRTHDATE_MISMATCH)

    if person.gender is None or account.gender is None:
        side = "ESIA" if person.gender is None else "the diary"
        trace.add("gender", INFO, f"not compared: unknown in {side}", (), account.id)
    elif person.gender == account.gender:
        trace.add("gender", PASS, "equal", (), account.id)
    else:
        trace.add("gender", FAIL, f"{person.gender} vs {account.gender}", (), account.id)
        failures.append(Reason.GENDER_MISMATCH)

    if account.snils_digest is None:
        if snils_required:
            trace.add("snils", FAIL, "the diary account has no SNILS", (), account.id)
            failures.append(Reason.SNILS_MISSING_IN_DIARY)
        else:
            trace.add("snils", INFO, "not compared: the diary account has no SNILS", (), account.id)
    elif not account.snils_valid:
        trace.add("snils", FAIL, f"the diary's SNILS {account.snils_masked} has a bad checksum", (), account.id)
        failures.append(Reason.SNILS_MISMATCH)
    elif subject.digest is None:
        trace.add("snils", INFO, "not compared: ESIA supplied no usable SNILS", (), account.id)
    elif account.snils_digest == subject.digest:
        trace.add("snils", PASS, f"{account.snils_masked} equal", (), account.id)
    else:
        trace.add("snils", FAIL, f"{mask_tail(subject.snils.digits) if subject.snils else ''} vs {account.snils_masked}", (), account.id)
        failures.append(Reason.SNILS_MISMATCH)
    return failures


def _account_failure(
    subject: _Subject,
    account: Account,
    policies: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Reason | None:
    """Check that ``account`` may be entered at all; return the first reason that fired."""
    if account.status is not AccountStatus.ACTIVE:
        trace.add("status", FAIL, f"account is {account.status}", (), account.id)
        return Reason.ACCOUNT_BLOCKED
    trace.add("status", PASS, "account is active", (), account.id)
    if not account.is_attached:
        trace.add("school", FAIL, "account is not attached to a school", (), account.id)
        return Reason.NOT_ATTACHED
    trace.add("school", PASS, "account is attached to a school", (), account.id)
    if account.esia_oid is not None and account.esia_oid != subject.person.oid:
        trace.add("link", FAIL, "account is linked to another ESIA person", (), account.id)
        return Reason.LINKED_ELSEWHERE
    policy = policies.get(account.region)
    if policy is not None and not policy.enabled:
        trace.add("account_region", FAIL, f"ESIA login is not enabled in region {account.region}", (), account.id)
        return Reason.REGION_DISABLED
    return None


def _decide_link(
    subject: _Subject,
    registry: Registry,
    account_id: AccountId,
    region: RegionPolicy,
    policies: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    account = registry.get(account_id)
    if account is None:
        trace.add("lookup", FAIL, "the account to link does not exist")
        return trace.refuse(Reason.NO_ACCOUNT)
    trace.add("lookup", INFO, "link flow: the person's signed-in account only", (), account.id)
    # In the link flow the diary password proved the account, so a missing SNILS in the diary
    # is no obstacle; a different SNILS still is.
    failures = _identity_failures(subject, account, trace, snils_required=False)
    if failures:
        return trace.refuse(failures[0])
    reason = _account_failure(subject, account, _with(policies, region), trace)
    if reason is not None:
        return trace.refuse(reason)
    if account.esia_oid == subject.person.oid:
        trace.add("link", PASS, "already linked to this ESIA person", (), account.id)
        return trace.grant(Outcome.SIGNED_IN, [account])
    return trace.grant(Outcome.LINKED, [account])


def _decide_through_links(
    subject: _Subject,
    linked: Sequence[Account],
    region: RegionPolicy,
    policies: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    trace.add("link", INFO, f"{len(linked)} linked account(s); names are not compared again")
    usable: list[Account] = []
    first_reason: Reason | None = None
    for account in linked:
        reason = _account_failure(subject, account, _with(policies, region), trace)
        if reason is None:
            usable.append(account)
        elif first_reason is None:
            first_reason = reason
    if not usable:
        assert first_reason is not None
        return trace.refuse(first_reason)
    return trace.grant(Outcome.SIGNED_IN if len(usable) == 1 else Outcome.CHOOSE_ACCOUNT, usable)


def _resolve(
    subject: _Subject,
    candidates: Sequence[Account],
    region: RegionPolicy,
    policies: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    matches: list[Account] = []
    best: list[Reason] | None = None
    for account in candidates:
        failures = _identity_failures(subject, account, trace, snils_required=subject.is_adult)
        if not failures:
            matches.append(account)
        elif best is None or len(failures) < len(best):
            best = failures
    if not matches:
        assert best is not None
        return trace.refuse(best[0])

    if subject.digest is not None:
        # A SNILS match is certain; keep it over name-only matches (namesakes may lack SNILS).
        certain = [a for a in matches if a.snils_digest == subject.digest]
        matches = certain or matches
    if len(matches) > 1 and not _one_person(subject, matches):
        trace.add("identity", FAIL, f"{len(matches)} different people match; not guessing")
        return trace.refuse(Reason.AMBIGUOUS)

    usable: list[Account] = []
    first_reason: Reason | None = None
    for account in matches:
        reason = _account_failure(subject, account, _with(policies, region), trace)
        if reason is None:
            usable.append(account)
        elif first_reason is None:
            first_reason = reason
    if not usable:
        assert first_reason is not None
        return trace.refuse(first_reason)
    if len(usable) > 1:
        trace.add("identity", INFO, f"one person owns {len(usable)} accounts")
        return trace.grant(Outcome.CHOOSE_ACCOUNT, usable)
    return trace.grant(Outcome.LINKED, usable)


def _one_person(subject: _Subject, accounts: Sequence[Account]) -> bool:
    """Several accounts are one person's only when each carries the person's SNILS."""
    return subject.digest is not None and all(a.snils_digest == subject.digest for a in accounts)


def _with(policies: Mapping[str, RegionPolicy], region: RegionPolicy) -> Mapping[str, RegionPolicy]:
    if policies.get(region.code) is region:
        return policies
    return {**policies, region.code: region}


def _masked(value: str) -> str:
    return mask_name(value) if value else "(empty)"


def _date_difference(esia: date | None, diary: date | None) -> str:
    if diary is None:
        return "absent in the diary"
    assert esia is not None
    parts = [
        name
        for name, a, b in (("year", esia.year, diary.year), ("month", esia.month, diary.month), ("day", esia.day, diary.day))
        if a != b
    ]
    return f"{mask_birth_date(esia)} vs {mask_birth_date(diary)}: {' and '.join(parts)} differ"
