"""The decision: may this ESIA person enter a diary account, and if not, why.

The rules (docs/architecture.md, 'The rules, in brief'):

1. The login's region must have ESIA login enabled, and so must the account's region.
2. ESIA must supply a birth date; the age on the login date in the region's time zone picks
   the rule. From 14 a standard or verified ESIA account and a SNILS are required.
3. An ESIA person with links goes through them: names are not compared again, but the region,
   the tier x age gate and the account's status still apply. Accounts that carry the person's
   SNILS but are not linked yet join them (a parent who is also a teacher).
4. Otherwise candidates are looked up: from 14 by SNILS (full name, birth date and gender must
   agree), under 14 by full name and birth date (and by SNILS when ESIA gives one). A candidate
   that agrees on the person's identity is an *identity match*; it must then be in an enabled
   region, active, attached to a school, and unlinked or linked to this person. A region whose
   policy has ``auto_link_under_14`` off lets no account of a person under 14 be linked on an
   ESIA login: that first link is made in the link flow (``link_required``). A region whose
   policy has ``under_14_first_link`` set to ``invite_code`` links such an account only when the
   caller says the person entered that account's one-time invite code (``invited_account``);
   until then the refusal ``invite_code_required`` names the accounts waiting for a code.
5. An account carrying the person's SNILS outranks name-only matches. Several identity matches
   that are provably one person (one SNILS) give an account chooser; several people give
   ``ambiguous``. The engine never guesses.
6. When nothing matches, the lookups widen (same surname, given name and birth date; same full
   name on another date) only to explain the refusal, and only when exactly one account is
   found, so that a namesake's record is never blamed.

``decide`` performs no I/O besides the registry port and reads no clock: callers pass ``at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from matching.age import age_on, local_date
from matching.mask import mask_birth_date, mask_name, mask_snils
from matching.model import (
    Account,
    AccountId,
    Check,
    CheckResult,
    Decision,
    EsiaOid,
    FirstLink,
    Gender,
    Outcome,
    Person,
    RegionPolicy,
)
from matching.names import normalise_name
from matching.refusals import Reason
from matching.rules import (
    ADULT_MIN_TIER,
    IDENTITY_REASONS,
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
from matching.snils import InvalidSnilsError, Snils, parse_snils

if TYPE_CHECKING:
    from matching.ports import Registry

PASS, FAIL, INFO = CheckResult.PASS, CheckResult.FAIL, CheckResult.INFO


@dataclass(slots=True)
class _Trace:
    checks: list[Check] = field(default_factory=list)
    age: int | None = None
    #: Accounts the person's identity matched whose first link waits for an invite code.
    awaiting_code: list[AccountId] = field(default_factory=list)

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
        # invite_code_required names the accounts a code would open: the broker asks for it.
        ids = tuple(dict.fromkeys(self.awaiting_code)) if reason is Reason.INVITE_CODE_REQUIRED else ()
        return Decision(Outcome.REFUSED, reason, ids, tuple(self.checks), self.age)

    def grant(self, outcome: Outcome, accounts: Sequence[Account]) -> Decision:
        ids = tuple(account.id for account in accounts)
        return Decision(outcome, None, ids, tuple(self.checks), self.age)


@dataclass(frozen=True, slots=True)
class _Compared:
    """What every comparison needs of the person, computed once."""

    oid: EsiaOid
    birth_date: date
    gender: Gender | None
    names: tuple[tuple[str, tuple[str, ...]], ...]  # (normalised value, rules) per name part
    snils: Snils | None
    digest: str | None
    is_adult: bool
    invited: AccountId | None = None  # the account whose invite code the person entered

    @property
    def key(self) -> str:
        return "|".join(value for value, _ in self.names)

    @property
    def short_key(self) -> str:
        return "|".join(value for value, _ in self.names[:2])


def decide(
    person: Person,
    *,
    registry: Registry,
    region: RegionPolicy,
    regions: Mapping[str, RegionPolicy],
    at: datetime,
    link_account: AccountId | None = None,
    invited_account: AccountId | None = None,
) -> Decision:
    """Decide whether ``person`` may enter a diary account.

    ``region`` is the region the login came through and ``at`` the login instant (aware).
    ``regions`` holds every region's policy: an account in a region missing from it is refused.
    ``link_account`` is set in the link flow: the account the person is signed in to with a
    password and wants to link; only that account is considered.
    ``invited_account`` is set once the person entered a valid invite code for that account:
    a region's ``invite_code`` rule then lets that account (and no other) be linked.
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
    adult = is_adult(age)
    trace.add("age", INFO, f"{age} on {today.isoformat()} in {region.timezone}")
    trace.add(
        "rule",
        INFO,
        "14 and over: standard or verified account; full name, SNILS, birth date and gender"
        if adult
        else "under 14: any account tier; full name and birth date",
    )

    tier_failure = check_tier(person.tier, age)
    if tier_failure is not None:
        trace.add("tier", FAIL, f"{person.tier} account; {ADULT_MIN_TIER} or verified required from 14")
        return trace.refuse(tier_failure)
    trace.add("tier", PASS, f"{person.tier} account is enough at {age}")

    snils = _esia_snils(person, adult, trace)
    if adult and snils is None:
        return trace.refuse(Reason.ESIA_DATA_INCOMPLETE)
    names = tuple((n.value, n.rules) for n in map(normalise_name, (person.last_name, person.first_name, person.middle_name)))
    subject = _Compared(
        oid=person.oid,
        birth_date=person.birth_date,
        gender=person.gender,
        names=names,
        snils=snils,
        digest=registry.snils_digest(snils) if snils else None,
        is_adult=adult,
        invited=invited_account,
    )

    if link_account is not None:
        return _decide_link(subject, registry, link_account, regions, trace)
    linked = registry.find_by_oid(person.oid)
    if linked:
        return _decide_through_links(subject, registry, linked, regions, trace)
    candidates = _find_candidates(subject, registry, trace)
    if not candidates:
        return trace.refuse(Reason.NO_ACCOUNT)
    return _resolve(subject, candidates, regions, trace)


def _esia_snils(person: Person, is_adult: bool, trace: _Trace) -> Snils | None:
    if not person.snils:
        if is_adult:
            trace.add("esia_snils", FAIL, "ESIA supplied no SNILS")
        return None
    try:
        snils = parse_snils(person.snils)
    except InvalidSnilsError as exc:
        # A bad checksum is a data error: reported, never matched. Under 14 SNILS is not part
        # of the rule, so there it is only noted.
        trace.add("esia_snils", FAIL if is_adult else INFO, f"ESIA SNILS is unusable ({exc.code})")
        return None
    trace.add("esia_snils", PASS, f"ESIA SNILS {mask_snils(snils.digits)} is well-formed")
    return snils


def _find_candidates(subject: _Compared, registry: Registry, trace: _Trace) -> list[Account]:
    found: list[Account] = []
    if subject.is_adult:
        assert subject.digest is not None  # checked by decide(): adults without SNILS stop there
        found = _lookup(trace, "by SNILS", registry.find_by_snils(subject.digest))
        if not found:
            # Nobody has this SNILS: look for the person by name to explain why (no SNILS in
            # the diary, or another SNILS there).
            found = _lookup(trace, "by full name and birth date", registry.find_by_name(subject.key, subject.birth_date))
    else:
        found = _lookup(trace, "by full name and birth date", registry.find_by_name(subject.key, subject.birth_date))
        if subject.digest is not None:
            by_snils = _lookup(trace, "by SNILS", registry.find_by_snils(subject.digest))
            known = {account.id for account in found}
            found += [account for account in by_snils if account.id not in known]
    if found:
        return found
    # Only to explain a refusal, and only when exactly one account answers.
    wider: tuple[tuple[str, Callable[[], Sequence[Account]]], ...] = (
        ("by surname, given name and birth date", lambda: registry.find_by_short_name(subject.short_key, subject.birth_date)),
        ("by full name on another birth date", lambda: registry.find_by_name(subject.key, None)),
    )
    for label, accounts in wider:
        found = _lookup(trace, label, accounts())
        if len(found) == 1:
            return found
    return []


def _lookup(trace: _Trace, label: str, accounts: Sequence[Account]) -> list[Account]:
    trace.add("lookup", INFO, f"{label}: {len(accounts)} account(s)")
    return list(accounts)


def _identity_failures(subject: _Compared, account: Account, trace: _Trace, *, snils_required: bool) -> list[Reason]:
    """Compare the person with ``account`` field by field; return the reasons that fired."""
    failures: list[Reason] = []
    for (esia_value, esia_rules), attr in zip(subject.names, ("last_name", "first_name", "middle_name"), strict=True):
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

    if account.birth_date == subject.birth_date:
        trace.add("birth_date", PASS, f"{mask_birth_date(account.birth_date)} equal", (), account.id)
    else:
        trace.add("birth_date", FAIL, _date_difference(subject.birth_date, account.birth_date), (), account.id)
        failures.append(Reason.BIRTHDATE_MISMATCH)

    if subject.gender is None or account.gender is None:
        side = "ESIA" if subject.gender is None else "the diary"
        trace.add("gender", INFO, f"not compared: unknown in {side}", (), account.id)
    elif subject.gender == account.gender:
        trace.add("gender", PASS, "equal", (), account.id)
    elif not subject.is_adult:
        trace.add("gender", INFO, f"{subject.gender} vs {account.gender}: not part of the under-14 rule", (), account.id)
    else:
        trace.add("gender", FAIL, f"{subject.gender} vs {account.gender}", (), account.id)
        failures.append(Reason.GENDER_MISMATCH)

    failure = _snils_failure(subject, account, trace, snils_required=snils_required)
    if failure is not None:
        failures.append(failure)
    return failures


def _snils_failure(subject: _Compared, account: Account, trace: _Trace, *, snils_required: bool) -> Reason | None:
    comparison = compare_snils(account, subject.digest)
    reason = snils_refusal(comparison, snils_required=snils_required)
    if comparison is SnilsComparison.MISSING_IN_DIARY:
        detail = "the diary account has no SNILS"
    elif comparison is SnilsComparison.BAD_CHECKSUM:
        detail = f"the diary's SNILS {account.snils_masked} has a bad checksum"
    elif comparison is SnilsComparison.NOT_COMPARED:
        detail = "ESIA supplied no usable SNILS"
    elif comparison is SnilsComparison.EQUAL:
        detail = f"{account.snils_masked} equal"
    else:
        assert subject.snils is not None  # compared: ESIA gave a usable SNILS
        detail = f"{mask_snils(subject.snils.digits)} vs {account.snils_masked}"
    if reason is not None:
        trace.add("snils", FAIL, detail, (), account.id)
    elif comparison is SnilsComparison.EQUAL:
        trace.add("snils", PASS, detail, (), account.id)
    else:
        trace.add("snils", INFO, f"not compared: {detail}", (), account.id)
    return reason


def _account_failure(
    subject: _Compared,
    account: Account,
    regions: Mapping[str, RegionPolicy],
    trace: _Trace,
    *,
    link_flow: bool = False,
) -> Reason | None:
    """Run the account checks on ``account`` in the engine's order; return the first reason that fired.

    ``link_flow``: the person proved the account with its password, so a region's rule against
    linking under-14 accounts automatically does not apply.
    """
    reason = check_account_region(account, regions)
    if reason is not None:
        trace.add("account_region", FAIL, f"ESIA login is not enabled in region {account.region}", (), account.id)
        return reason
    trace.add("account_region", PASS, f"ESIA login is enabled in region {account.region}", (), account.id)
    reason = check_status(account)
    if reason is not None:
        trace.add("status", FAIL, f"account is {account.status}", (), account.id)
        return reason
    trace.add("status", PASS, "account is active", (), account.id)
    reason = check_school(account)
    if reason is not None:
        trace.add("school", FAIL, "account is not attached to a school", (), account.id)
        return reason
    trace.add("school", PASS, "account is attached to a school", (), account.id)
    reason = check_link(account, lambda oid: oid == subject.oid)
    if reason is not None:
        trace.add("link", FAIL, "account is linked to another ESIA person", (), account.id)
        return reason
    linked = "linked to this ESIA person" if account.esia_oid else "not linked yet"
    trace.add("link", PASS, f"account is {linked}", (), account.id)
    if is_first_link_ruled(account, adult=subject.is_adult, link_flow=link_flow):
        # Checked last, once the account is known to be this person's and usable, so that every
        # other refusal keeps its own reason.
        reason = check_auto_link(account, regions)
        if reason is not None:
            trace.add(
                "policy",
                FAIL,
                f"region {account.region}: under 14 the first link is made in the diary's link flow (auto_link_under_14 off)",
                (),
                account.id,
            )
            return reason
        reason = check_invite_code(account, regions, subject.invited)
        if reason is not None:
            trace.add(
                "policy",
                FAIL,
                f"region {account.region}: under 14 the first link needs the school's invite code (under_14_first_link invite_code)",
                (),
                account.id,
            )
            trace.awaiting_code.append(account.id)
            return reason
        policy = regions[account.region]  # check_account_region passed: the region is known
        how = "with its invite code" if policy.under_14_first_link is FirstLink.INVITE_CODE else "by name and birth date"
        trace.add("policy", PASS, f"region {account.region} links under-14 accounts on the first ESIA login ({how})",
                  (), account.id)  # fmt: skip
    return None


def _usable(
    subject: _Compared, accounts: Sequence[Account], regions: Mapping[str, RegionPolicy], trace: _Trace
) -> tuple[list[Account], Reason | None]:
    """The accounts that pass the account checks, and the first reason of those that did not."""
    usable: list[Account] = []
    first: Reason | None = None
    for account in accounts:
        reason = _account_failure(subject, account, regions, trace)
        if reason is None:
            usable.append(account)
        elif first is None:
            first = reason
    return usable, first


def _decide_link(
    subject: _Compared,
    registry: Registry,
    account_id: AccountId,
    regions: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    account = registry.get(account_id)
    if account is None:
        trace.add("lookup", FAIL, "the account to link does not exist")
        return trace.refuse(Reason.NO_ACCOUNT)
    trace.add("lookup", INFO, "link flow: the person's signed-in account only", (), account.id)
    # In the link flow the diary password proved the account, so a missing (or unusable) SNILS
    # in the diary is no obstacle; a different one still is.
    failures = _identity_failures(subject, account, trace, snils_required=False)
    if failures:
        return trace.refuse(failures[0])
    reason = _account_failure(subject, account, regions, trace, link_flow=True)
    if reason is not None:
        return trace.refuse(reason)
    if account.esia_oid == subject.oid:
        return trace.grant(Outcome.SIGNED_IN, [account])
    return trace.grant(Outcome.LINKED, [account])


def _decide_through_links(
    subject: _Compared,
    registry: Registry,
    linked: Sequence[Account],
    regions: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    trace.add("lookup", INFO, f"through links: {len(linked)} account(s); names are not compared again")
    usable, first_reason = _usable(subject, linked, regions, trace)
    if subject.digest is not None:
        # The person's other accounts, proven by SNILS, join the linked ones.
        known = {account.id for account in linked}
        others = [a for a in registry.find_by_snils(subject.digest) if a.id not in known]
        if others:
            trace.add("lookup", INFO, f"by SNILS, not linked yet: {len(others)} account(s)")
        matches = [
            a
            for a in others
            if not _identity_failures(subject, a, trace, snils_required=True) and (a.esia_oid is None or a.esia_oid == subject.oid)
        ]
        more, reason = _usable(subject, matches, regions, trace)
        usable += more
        first_reason = first_reason or reason
    if not usable:
        return trace.refuse(_refusal_of_unusable(trace, first_reason))
    if len(usable) > 1:
        return trace.grant(Outcome.CHOOSE_ACCOUNT, usable)
    return trace.grant(Outcome.SIGNED_IN if usable[0].esia_oid == subject.oid else Outcome.LINKED, usable)


def _resolve(
    subject: _Compared,
    candidates: Sequence[Account],
    regions: Mapping[str, RegionPolicy],
    trace: _Trace,
) -> Decision:
    if subject.digest is not None:
        # An account carrying the person's SNILS is theirs for certain: it outranks any match
        # by name alone (a namesake's account without SNILS must never win over it).
        holders = [a for a in candidates if a.snils_valid and a.snils_digest == subject.digest]
        candidates = holders or candidates
    matches: list[Account] = []
    failed: list[tuple[int, int, str, Reason]] = []
    # When every candidate fails, the one with the fewest failures explains the refusal; ties go
    # to the earlier reason in IDENTITY_REASONS, then to the smaller account id, so the answer
    # never depends on the order the registry returns rows in.
    for account in candidates:
        failures = _identity_failures(subject, account, trace, snils_required=subject.is_adult)
        if failures:
            failed.append((len(failures), IDENTITY_REASONS.index(failures[0]), account.id, failures[0]))
        else:
            matches.append(account)
    if not matches:
        return trace.refuse(min(failed)[3])

    # Accounts linked to another ESIA person are provably someone else's: they do not make a
    # match ambiguous, and they are refused as such only when nothing else matched.
    own = [a for a in matches if a.esia_oid is None or a.esia_oid == subject.oid]
    if not own:
        _, reason = _usable(subject, matches[:1], regions, trace)
        return trace.refuse(reason or Reason.LINKED_ELSEWHERE)
    if len(own) > 1 and not _is_one_person(subject, own):
        trace.add("identity", FAIL, f"{len(own)} different people match; not guessing")
        return trace.refuse(Reason.AMBIGUOUS)
    usable, first_reason = _usable(subject, own, regions, trace)
    if not usable:
        return trace.refuse(_refusal_of_unusable(trace, first_reason))
    if len(usable) > 1:
        trace.add("identity", INFO, f"one person owns {len(usable)} accounts")
        return trace.grant(Outcome.CHOOSE_ACCOUNT, usable)
    return trace.grant(Outcome.LINKED, usable)


def _refusal_of_unusable(trace: _Trace, first: Reason | None) -> Reason:
    """Why no account may be entered: an account a code would open outranks the others' reasons,
    since the person can remove that one cause themselves (with the code the school gives)."""
    if trace.awaiting_code:
        return Reason.INVITE_CODE_REQUIRED
    return first or Reason.NO_ACCOUNT


def _is_one_person(subject: _Compared, accounts: Sequence[Account]) -> bool:
    """Several accounts are one person's only when each carries the person's SNILS."""
    return subject.digest is not None and all(a.snils_digest == subject.digest for a in accounts)


def _masked(value: str) -> str:
    return mask_name(value) if value else "(empty)"


def _date_difference(esia: date, diary: date | None) -> str:
    if diary is None:
        return "absent in the diary"
    parts = [
        name for name, a, b in (("year", esia.year, diary.year), ("month", esia.month, diary.month), ("day", esia.day, diary.day)) if a != b
    ]
    return f"{mask_birth_date(esia)} vs {mask_birth_date(diary)}: {' and '.join(parts)} differ"
