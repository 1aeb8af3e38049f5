"""Deciding again: an attempt re-checked against the registry and regions as they are now.

A decision needs what ESIA said about the person (full name, birth date, gender, SNILS, tier),
and the broker does not keep it: an attempt holds the outcome, the masked trace, the tier and age
at the time, and keyed digests of the ESIA oid and SNILS. So the decision itself cannot honestly
be re-run, and :func:`decide_again` does not pretend to. It
re-checks *now* everything the broker does hold, for the accounts the attempt concerned (the
account entered, the candidates and the accounts its trace compared; when there are none, or
the refusal was ``no_account``, also the accounts that carry the person's SNILS today): the
login's region and the account's region switched on, the account still there, active,
attached to a school, linked to nobody, to this ESIA person or to another, the diary's SNILS
missing, equal to or different from the one ESIA gave, the age today by the diary's birth date
(a person who has turned 14 now falls under the 14+ rule), and, for a name, birth date or
gender mismatch, whether the diary record changed since. Each fact is shown next to what the
trace said then, and a :class:`Verdict` says what follows: the refusal would repeat, its cause
is gone (only a new login confirms it), or it lies in ESIA's data, which only a new login can
show; for a granted attempt, whether its account can still be entered. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

import matching
from broker import services
from broker.db.models import Account, LoginAttempt
from broker.extensions import db
from broker.regions import policies as regions_module
from broker.registry import sql
from broker.support import attempts, glossary
from broker.support.attempts import AttemptRow

_ATTEMPTS = LoginAttempt.__table__
_ACCOUNTS = Account.__table__
#: At most this many accounts are re-checked for one attempt.
MAX_RECHECKED_ACCOUNTS = 5


class Verdict(StrEnum):
    """What re-checking an attempt now says (see the module docstring)."""

    STILL_REFUSED = "still_refused"  # a cause that refuses is there now
    CAUSE_REMOVED = "cause_removed"  # the recorded cause is gone; a new login will decide
    CANNOT_TELL = "cannot_tell"  # the cause lies in ESIA's data, which the broker does not keep
    STILL_ALLOWED = "still_allowed"  # a granted attempt whose account can still be entered
    NO_LONGER_ALLOWED = "no_longer_allowed"  # a granted attempt whose accounts now all fail


# Refusals whose cause lies wholly in what the broker holds (the registry, regions, links).
_RECHECKABLE = frozenset(
    {
        matching.Reason.REGION_DISABLED,
        matching.Reason.ACCOUNT_BLOCKED,
        matching.Reason.NOT_ATTACHED,
        matching.Reason.LINKED_ELSEWHERE,
        matching.Reason.SNILS_MISSING_IN_DIARY,
        matching.Reason.SNILS_MISMATCH,
        matching.Reason.NO_ACCOUNT,
        matching.Reason.LINK_REQUIRED,
    }
)
_ESIA_SIDE = frozenset(
    {
        matching.Reason.ESIA_DENIED,
        matching.Reason.REAUTHENTICATION_REQUIRED,
        matching.Reason.ESIA_UNAVAILABLE,
        matching.Reason.ESIA_ERROR,
        matching.Reason.ESIA_DATA_INCOMPLETE,
        matching.Reason.TIER_INSUFFICIENT,
    }
)
#: The identity checks of a trace, and the refusal each points to.
_FIELD_REASONS = {
    "last_name": matching.Reason.NAME_MISMATCH,
    "first_name": matching.Reason.NAME_MISMATCH,
    "middle_name": matching.Reason.NAME_MISMATCH,
    "birth_date": matching.Reason.BIRTHDATE_MISMATCH,
    "gender": matching.Reason.GENDER_MISMATCH,
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing checked now, next to what the attempt's trace recorded about it."""

    topic: str  # a trace field name (region, account_region, status, school, link, snils, age, ...)
    label_ru: str  # the glossary's name for the topic
    now: str  # pass, fail, info or unknown
    now_ru: str  # what holds now, in the glossary's words
    then: str | None = None  # the trace's result then (pass/fail/info), None if it was not checked
    then_detail: str | None = None  # the trace's words then (masked), in Russian
    reason: str | None = None  # the refusal this fact would cause now (when ``now`` is fail)
    account_id: str | None = None

    @property
    def changed(self) -> bool | None:
        """Whether the check's result differs from the attempt's; None when one side is unknown."""
        if self.then is None or self.now in ("unknown", "info") or self.then == "info":
            return None
        return self.then != self.now


@dataclass(frozen=True, slots=True)
class Recheck:
    """The attempt's facts as they stand now (nothing was written to get them)."""

    attempt: AttemptRow
    at: datetime
    facts: tuple[Fact, ...]
    verdict: Verdict
    reason_now: str | None  # the refusal a failing fact points to (STILL_REFUSED, NO_LONGER_ALLOWED)
    accounts_found_by_snils: tuple[str, ...]  # accounts carrying the person's SNILS today, not in the trace

    @property
    def verdict_ru(self) -> str:
        entered = self.attempt.outcome != matching.Outcome.REFUSED and self.attempt.completed_at is not None
        return glossary.verdict_ru(str(self.verdict), outcome=self.attempt.outcome, entered=entered)


def decide_again(attempt: int | str, *, regions: frozenset[str] | None, at: datetime | None = None) -> Recheck:
    """Re-check attempt ``attempt`` (its id or reference code) against the registry and regions now.

    Reads only: no row is added, changed or deleted. Raises :class:`broker.support.attempts.AttemptNotFoundError`
    outside ``regions``. See the module docstring for what can and cannot be re-checked.
    """
    if isinstance(attempt, int):
        row = db.session.execute(select(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt)).first()
        if row is None or not attempts.is_visible(row.region, regions):
            raise attempts.AttemptNotFoundError(
                f"no attempt {attempt}",
                glossary.recheck_ru("attempt_not_found", attempt=attempt, scope=attempts.scope_phrase(regions)),
            )
    else:
        row = attempts.load(attempts.normalise_reference(attempt), regions)
    now = at or services.current().clock()
    policies = regions_module.policies()
    trace = [dict(check) for check in row.trace or []]
    reason = matching.Reason(row.reason) if row.reason else None
    facts: list[Fact] = []

    login_region = _login_region_fact(row, trace, policies)
    if login_region is not None:
        facts.append(login_region)
    if reason in _ESIA_SIDE:
        facts.append(
            Fact(
                topic="esia",
                label_ru=glossary.RECHECK_LABEL_RU["esia"],
                now="unknown",
                now_ru=glossary.recheck_ru("esia.unknown"),
                then="fail",
                then_detail=glossary.recheck_ru("esia.then", reason=glossary.REASON_RU[reason]),
                reason=str(reason),
            )
        )

    involved = list(attempts.involved_accounts(row))
    by_snils: list[str] = []
    if row.snils_digest and (not involved or reason is matching.Reason.NO_ACCOUNT):
        found = [a.id for a in services.current().registry.find_by_snils(row.snils_digest)]
        by_snils = [account_id for account_id in found if account_id not in involved]
        involved += by_snils
    if regions is not None and involved:  # an operator re-checks only their regions' accounts
        in_scope = set(db.session.scalars(select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.id.in_(involved), _ACCOUNTS.c.region.in_(regions))))
        involved = [account_id for account_id in involved if account_id in in_scope]
        by_snils = [account_id for account_id in by_snils if account_id in in_scope]
    accounts = involved[:MAX_RECHECKED_ACCOUNTS]
    account_facts = {account_id: _account_facts(account_id, row, trace, policies, now) for account_id in accounts}
    for account_id in accounts:
        facts.extend(account_facts[account_id])
    if reason is matching.Reason.NO_ACCOUNT and not accounts:
        facts.append(_no_account_fact(row))

    verdict, reason_now = _verdict(row, reason, facts, account_facts)
    return Recheck(
        attempt=attempts.to_row(row),
        at=now,
        facts=tuple(facts),
        verdict=verdict,
        reason_now=reason_now,
        accounts_found_by_snils=tuple(by_snils),
    )


def _then(trace: Sequence[Mapping[str, Any]], topic: str, account_id: str | None) -> tuple[str | None, str | None]:
    """The trace's result and words for ``topic`` (of ``account_id``), the failing one first."""
    checks = [check for check in trace if check.get("field") == topic and check.get("account_id") == account_id]
    if not checks:
        return None, None
    chosen = next((check for check in checks if check.get("result") == "fail"), checks[-1])
    return str(chosen.get("result")), glossary.trace_detail_ru(str(chosen.get("detail", "")))


def _login_region_fact(row: Any, trace: Sequence[Mapping[str, Any]], policies: Mapping[str, matching.RegionPolicy]) -> Fact | None:
    if not row.region:
        return None
    then, detail = _then(trace, "region", None)
    if then is None and row.reason == matching.Reason.REGION_DISABLED and not attempts.involved_accounts(row):
        then, detail = "fail", glossary.recheck_ru("region.then_disabled")
    policy = policies.get(row.region)
    enabled = policy is not None and policy.enabled
    name = f"{row.region} {policy.name}" if policy else row.region
    return Fact(
        topic="region",
        label_ru=glossary.RECHECK_LABEL_RU["region"],
        now="pass" if enabled else "fail",
        now_ru=glossary.recheck_ru("region.enabled" if enabled else "region.disabled", region=name),
        then=then,
        then_detail=detail,
        reason=None if enabled else str(matching.Reason.REGION_DISABLED),
    )


def _no_account_fact(row: Any) -> Fact:
    then, detail = _then(_as_list(row.trace), "lookup", None)
    if row.snils_digest:
        is_adult = row.age is not None and matching.is_adult(row.age)
        return Fact(
            topic="lookup",
            label_ru=glossary.RECHECK_LABEL_RU["lookup_by_snils"],
            now="fail" if is_adult else "unknown",
            now_ru=glossary.recheck_ru("lookup_by_snils.adult" if is_adult else "lookup_by_snils.child"),
            then="fail",
            then_detail=detail,
            reason=str(matching.Reason.NO_ACCOUNT) if is_adult else None,
        )
    return Fact(
        topic="lookup",
        label_ru=glossary.RECHECK_LABEL_RU["lookup"],
        now="unknown",
        now_ru=glossary.recheck_ru("lookup.unknown"),
        then="fail",
        then_detail=detail,
    )


def _as_list(trace: Any) -> list[Mapping[str, Any]]:
    return list(trace or [])


def _account_facts(
    account_id: str,
    row: Any,
    trace: Sequence[Mapping[str, Any]],
    policies: Mapping[str, matching.RegionPolicy],
    now: datetime,
) -> list[Fact]:
    """The engine's account checks (and its tier and SNILS rules), applied to the account as it is now."""
    found = sql.get_dated(db.session.connection(), matching.AccountId(account_id))
    if found is None:
        then, detail = _then(trace, "status", account_id)
        return [
            Fact("account", glossary.RECHECK_LABEL_RU["account"], "fail",
                 glossary.recheck_ru("account.gone", account_id=account_id),
                 then, detail, str(matching.Reason.NO_ACCOUNT), account_id)
        ]  # fmt: skip
    account, updated_at = found
    facts: list[Fact] = []

    def add(topic: str, said: str, failure: matching.Reason | None, *, known: bool = True) -> None:
        then, detail = _then(trace, topic, account_id)
        state = "unknown" if not known else ("fail" if failure else "pass")
        reason = str(failure) if state == "fail" and failure else None
        facts.append(Fact(topic, glossary.RECHECK_LABEL_RU[topic], state, said, then, detail, reason, account_id))

    words = glossary.recheck_ru
    policy = policies.get(account.region)
    region_name = f"{account.region} {policy.name}" if policy else account.region
    failure = matching.check_account_region(account, policies)
    add("account_region", words("account_region.disabled" if failure else "account_region.enabled", region=region_name),
        failure)  # fmt: skip
    failure = matching.check_status(account)
    add("status", words("status.blocked" if failure else "status.active"), failure)
    failure = matching.check_school(account)
    add("school", words("school.not_attached" if failure else "school.attached"), failure)

    failure = matching.check_link(account, lambda oid: _is_this_person(oid, row.oid_digest))
    linked_here = account.esia_oid is not None and failure is None
    if failure is not None and row.oid_digest is None:
        add("link", words("link.unknown"), None, known=False)  # ESIA named nobody: whose link, untold
    else:
        add("link", words("link.elsewhere" if failure else "link.own" if linked_here else "link.none"), failure)

    age_now = _age_now(account.birth_date, row, policies, now)
    age_then = row.age
    adult = matching.is_adult(age_now if age_now is not None else (age_then or 0))
    if age_now is not None:
        turned_14 = age_then is not None and not matching.is_adult(age_then) and matching.is_adult(age_now)
        tier = _tier(row.tier)
        # The attempt passed the tier check under 14; from 14 the engine's tier rule applies.
        failure = matching.check_tier(tier, age_now) if turned_14 and tier is not None else None
        if failure is not None:
            add("age", words("age.tier_insufficient", age=age_now), failure)
        else:
            facts.append(Fact("age", glossary.RECHECK_LABEL_RU["age"], "info",
                              words("age.turned_14" if turned_14 else "age.same_rule", age=age_now),
                              "info" if age_then is not None else None,
                              words("age.then", age=age_then) if age_then is not None else None, None, account_id))  # fmt: skip

    if matching.is_first_link_ruled(account, adult=adult, link_flow=row.flow == "link"):
        # Of the region's first-link rules only auto_link_under_14 is re-checked: whether the person
        # has the school's invite code (matching.check_invite_code) is nothing the registry holds.
        failure = matching.check_auto_link(account, policies)
        add("policy", words("policy.link_required" if failure else "policy.auto_link", region=region_name), failure)

    if not linked_here:  # through a link the SNILS is not compared again
        facts.append(_snils_fact(account, row, trace, adult))

    identity = [c for c in trace if c.get("account_id") == account_id and c.get("field") in _FIELD_REASONS]
    failed = [c for c in identity if c.get("result") == "fail"]
    if failed:
        changed = updated_at is not None and updated_at > row.started_at
        fields = ", ".join(glossary.FIELD_RU[str(c["field"])].lower() for c in failed)
        facts.append(
            Fact("identity", glossary.RECHECK_LABEL_RU["identity"], "unknown" if changed else "fail",
                 words("identity.changed" if changed else "identity.unchanged", fields=fields), "fail",
                 "; ".join(glossary.trace_detail_ru(str(c.get("detail", ""))) for c in failed),
                 None if changed else str(_identity_reason(failed)), account_id)
        )  # fmt: skip
    return facts


def _snils_fact(account: matching.Account, row: Any, trace: Sequence[Mapping[str, Any]], adult: bool) -> Fact:
    """The engine's SNILS rule on the account now, against the digest of the SNILS ESIA gave at the attempt."""
    then, detail = _then(trace, "snils", account.id)
    comparison = matching.compare_snils(account, row.snils_digest)
    failure = matching.snils_refusal(comparison, snils_required=adult)
    if failure is not None:
        state = "fail"
    elif comparison is matching.SnilsComparison.EQUAL:
        state = "pass"
    else:
        state = "unknown" if comparison is matching.SnilsComparison.NOT_COMPARED else "info"
    key = f"snils.{comparison}"
    if comparison is matching.SnilsComparison.MISSING_IN_DIARY:
        key += ".adult" if adult else ".child"
    said = glossary.recheck_ru(key, snils=account.snils_masked)
    return Fact("snils", glossary.RECHECK_LABEL_RU["snils"], state, said, then, detail,
                str(failure) if failure else None, account.id)  # fmt: skip


def _tier(value: str | None) -> matching.Tier | None:
    """The attempt's recorded ESIA tier (None when none was recorded)."""
    return next((tier for tier in matching.Tier if tier == value), None)


def _identity_reason(failed: Sequence[Mapping[str, Any]]) -> matching.Reason:
    """The refusal the engine gives first of those the failed identity checks point to."""
    return min((_FIELD_REASONS[str(c["field"])] for c in failed), key=matching.IDENTITY_REASONS.index)


def _is_this_person(oid: str | None, oid_digest: str | None) -> bool:
    return oid is not None and services.current().keyring.oid.verify(oid, oid_digest)


def _age_now(born: date | None, row: Any, policies: Mapping[str, matching.RegionPolicy], now: datetime) -> int | None:
    if born is None:
        return None
    policy = policies.get(row.region) if row.region else None
    today = matching.local_date(now, policy.timezone) if policy else now.astimezone(UTC).date()
    return matching.age_on(born, today)


def _verdict(
    row: Any, reason: matching.Reason | None, facts: Sequence[Fact], by_account: Mapping[str, Sequence[Fact]]
) -> tuple[Verdict, str | None]:
    general = [fact for fact in facts if fact.account_id is None]
    general_fail = next((fact for fact in general if fact.now == "fail"), None)

    def state(account_facts: Iterable[Fact]) -> str:
        states = {fact.now for fact in account_facts}
        return "fail" if "fail" in states else ("unknown" if "unknown" in states else "pass")

    states = {account_id: state(found) for account_id, found in by_account.items()}
    first_fail = next((fact for found in by_account.values() for fact in found if fact.now == "fail" and fact.reason), None)
    if row.outcome != matching.Outcome.REFUSED:
        granted = [a for a in (row.account_id, *(row.candidate_ids or ())) if a and a in states] or list(states)
        if general_fail is not None:
            return Verdict.NO_LONGER_ALLOWED, general_fail.reason
        if granted and all(states[a] == "fail" for a in granted):
            failing = next(fact for a in granted for fact in by_account[a] if fact.now == "fail")
            return Verdict.NO_LONGER_ALLOWED, failing.reason
        return Verdict.STILL_ALLOWED, None
    if general_fail is not None:
        return Verdict.STILL_REFUSED, general_fail.reason
    if states and all(value == "fail" for value in states.values()) and first_fail is not None:
        return Verdict.STILL_REFUSED, first_fail.reason
    if any(fact.now == "unknown" for fact in general):
        return Verdict.CANNOT_TELL, None
    if reason in _RECHECKABLE and (not states or "pass" in states.values()):
        return Verdict.CAUSE_REMOVED, None
    return Verdict.CANNOT_TELL, None
