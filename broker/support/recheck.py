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

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import select

import matching
from broker import services
from broker.support import attempts
from broker.support import glossary
from broker.regions import policies as regions_module
from broker.registry import sql
from broker.support.attempts import AttemptRow
from broker.extensions import db
from broker.db.models import Account, LoginAttempt

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


VERDICT_RU = {
    Verdict.STILL_REFUSED: "Если человек войдёт сейчас, вход снова не получится.",
    Verdict.CAUSE_REMOVED: "Причина отказа, записанная при попытке, устранена: пусть человек войдёт снова. "
    "Окончательно решит новый вход — он заново сравнит данные Госуслуг с дневником.",
    Verdict.CANNOT_TELL: "По тому, что хранит брокер, повтор отказа предсказать нельзя: причина в данных "
    "Госуслуг, а их брокер не хранит. Узнать можно только новым входом.",
    Verdict.STILL_ALLOWED: "Аккаунт, в который человек вошёл, по-прежнему доступен для входа через Госуслуги.",
    Verdict.NO_LONGER_ALLOWED: "Войти так, как при этой попытке, сейчас не получится.",
}
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
_IDENTITY_FIELDS = ("last_name", "first_name", "middle_name", "birth_date", "gender")


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing checked now, next to what the attempt's trace recorded about it."""

    topic: str  # a trace field name (region, account_region, status, school, link, snils, age, ...)
    label_ru: str
    now: str  # pass, fail, info or unknown
    now_ru: str  # what holds now, in Russian
    then: str | None = None  # the trace's result then (pass/fail/info), None if it was not checked
    then_detail: str | None = None  # the trace's words then (masked)
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
        return VERDICT_RU[self.verdict]


def decide_again(attempt: int | str, *, regions: frozenset[str] | None, at: datetime | None = None) -> Recheck:
    """Re-check attempt ``attempt`` (its id or reference code) against the registry and regions now.

    Reads only: no row is added, changed or deleted. Raises :class:`broker.support.attempts.AttemptNotFoundError`
    outside ``regions``. See the module docstring for what can and cannot be re-checked.
    """
    if isinstance(attempt, int):
        row = db.session.execute(select(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt)).first()
        if row is None or not attempts.is_visible(row.region, regions):
            raise attempts.AttemptNotFoundError(
                f"no attempt {attempt}", f"Попытки входа {attempt}{attempts.scope_phrase(regions)} нет."
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
                label_ru="Данные и ответ Госуслуг",
                now="unknown",
                now_ru="Брокер не хранит данные человека с Госуслуг (уровень учётной записи, дату рождения, "
                "СНИЛС): проверить их можно только новым входом.",
                then="fail",
                then_detail=matching.REFUSALS[reason].text_en + (f" ({row.detail})" if row.detail else ""),
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
        in_scope = set(
            db.session.scalars(select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.id.in_(involved), _ACCOUNTS.c.region.in_(regions)))
        )
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
    return str(chosen.get("result")), str(chosen.get("detail", ""))


def _login_region_fact(row: Any, trace: Sequence[Mapping[str, Any]], policies: Mapping[str, matching.RegionPolicy]) -> Fact | None:
    if not row.region:
        return None
    then, detail = _then(trace, "region", None)
    if then is None and row.reason == matching.Reason.REGION_DISABLED and not attempts.involved_accounts(row):
        then, detail = "fail", "ESIA login was not enabled in the login's region"
    policy = policies.get(row.region)
    enabled = policy is not None and policy.enabled
    name = f"{row.region} {policy.name}" if policy else row.region
    return Fact(
        topic="region",
        label_ru="Регион входа",
        now="pass" if enabled else "fail",
        now_ru=f"Вход через Госуслуги в регионе {name} {'включён' if enabled else 'выключен'}.",
        then=then,
        then_detail=detail,
        reason=None if enabled else str(matching.Reason.REGION_DISABLED),
    )


def _no_account_fact(row: Any) -> Fact:
    then, detail = _then(_as_list(row.trace), "lookup", None)
    if row.snils_digest:
        is_adult = row.age is not None and row.age >= matching.ADULT_AGE
        return Fact(
            topic="lookup",
            label_ru="Аккаунт со СНИЛС человека",
            now="fail" if is_adult else "unknown",
            now_ru="В дневнике по-прежнему нет аккаунта с СНИЛС, который передали Госуслуги."
            + ("" if is_adult else " До 14 лет аккаунт ищут по ФИО и дате рождения, а их брокер не хранит."),
            then="fail",
            then_detail=detail,
            reason=str(matching.Reason.NO_ACCOUNT) if is_adult else None,
        )
    return Fact(
        topic="lookup",
        label_ru="Поиск аккаунта",
        now="unknown",
        now_ru="Аккаунт искали по ФИО и дате рождения; брокер их не хранит, поэтому повторить поиск нельзя.",
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
    """The account checks of the engine, re-done on the account as it is now."""
    found = sql.get_dated(db.session.connection(), matching.AccountId(account_id))
    if found is None:
        then, detail = _then(trace, "status", account_id)
        return [
            Fact("account", "Аккаунт", "fail", f"Аккаунта {account_id} в реестре дневника больше нет.",
                 then, detail, str(matching.Reason.NO_ACCOUNT), account_id)
        ]  # fmt: skip
    account, updated_at = found
    facts: list[Fact] = []

    def add(topic: str, label: str, ok: bool | None, said: str, reason: matching.Reason | None = None) -> None:
        then, detail = _then(trace, topic, account_id)
        state = "unknown" if ok is None else ("pass" if ok else "fail")
        facts.append(Fact(topic, label, state, said, then, detail, str(reason) if state == "fail" and reason else None, account_id))

    policy = policies.get(account.region)
    enabled = policy is not None and policy.enabled
    region_name = f"{account.region} {policy.name}" if policy else account.region
    add("account_region", "Регион аккаунта", enabled,
        f"Вход через Госуслуги в регионе аккаунта ({region_name}) {'включён' if enabled else 'выключен'}.",
        matching.Reason.REGION_DISABLED)  # fmt: skip
    active = account.status is matching.AccountStatus.ACTIVE
    add("status", "Состояние аккаунта", active, "Аккаунт активен." if active else "Аккаунт заблокирован.",
        matching.Reason.ACCOUNT_BLOCKED)  # fmt: skip
    add("school", "Прикрепление к школе", account.is_attached,
        "Аккаунт прикреплён к школе." if account.is_attached else "Аккаунт не прикреплён к школе.",
        matching.Reason.NOT_ATTACHED)  # fmt: skip

    linked_here = _is_this_person(account.esia_oid, row.oid_digest)
    if account.esia_oid is None:
        add("link", "Связь с Госуслугами", True, "Аккаунт ни с кем не связан: при входе его найдут заново.")
    elif linked_here:
        add("link", "Связь с Госуслугами", True, "Аккаунт связан с учётной записью Госуслуг этого человека.")
    elif row.oid_digest is None:
        add("link", "Связь с Госуслугами", None,
            "Аккаунт связан с учётной записью Госуслуг; с чьей — по этой попытке не узнать (Госуслуги не назвали человека).")  # fmt: skip
    else:
        add("link", "Связь с Госуслугами", False, "Аккаунт связан с другой учётной записью Госуслуг.",
            matching.Reason.LINKED_ELSEWHERE)  # fmt: skip

    age_now = _age_now(account.birth_date, row, policies, now)
    age_then = row.age
    is_adult = (age_now if age_now is not None else (age_then or 0)) >= matching.ADULT_AGE
    if age_now is not None:
        turned_14 = age_then is not None and age_then < matching.ADULT_AGE <= age_now
        simplified = row.tier == matching.Tier.SIMPLIFIED
        if turned_14 and simplified:
            add("age", "Возраст сегодня (по дате рождения в дневнике)", False,
                f"{age_now} — человеку исполнилось 14 после попытки: теперь нужна стандартная или подтверждённая "
                "учётная запись Госуслуг, а при попытке была упрощённая.", matching.Reason.TIER_INSUFFICIENT)  # fmt: skip
        else:
            note = " — исполнилось 14 после попытки: теперь действует правило 14+ (ФИО и СНИЛС)." if turned_14 else "."
            facts.append(Fact("age", "Возраст сегодня (по дате рождения в дневнике)", "info", f"{age_now}{note}",
                              "info" if age_then is not None else None,
                              f"{age_then} at the attempt" if age_then is not None else None, None, account_id))  # fmt: skip

    if account.esia_oid is None and not is_adult and row.flow != "link":
        # The engine's last account check: the account's region may require the link flow.
        auto = policy is None or policy.auto_link_under_14
        add("policy", "Настройка региона", auto,
            f"В регионе аккаунта ({region_name}) аккаунт ребёнка младше 14 лет "
            + ("связывается с Госуслугами при первом входе." if auto else
               "связывают с Госуслугами только из дневника, войдя по логину и паролю "
               "(«Привязать аккаунт портала Госуслуги»)."),
            matching.Reason.LINK_REQUIRED)  # fmt: skip

    if not linked_here:  # through a link the SNILS is not compared again
        facts.append(_snils_fact(account, row, trace, is_adult))

    identity = [c for c in trace if c.get("account_id") == account_id and c.get("field") in _IDENTITY_FIELDS]
    failed = [c for c in identity if c.get("result") == "fail"]
    if failed:
        changed = updated_at is not None and updated_at > row.started_at
        fields = ", ".join(glossary.FIELD_RU[str(c["field"])].lower() for c in failed)
        said = (
            f"Не совпадали: {fields}. Запись в дневнике обновлялась после попытки: сравнить её с данными "
            "Госуслуг сможет только новый вход."
            if changed
            else f"Не совпадали: {fields}. Запись в дневнике не менялась после попытки: если человек не исправил "
            "данные на Госуслугах, отказ повторится."
        )
        facts.append(
            Fact("identity", "ФИО, дата рождения, пол", "unknown" if changed else "fail", said, "fail",
                 "; ".join(str(c.get("detail", "")) for c in failed),
                 None if changed else str(_identity_reason(failed)), account_id)
        )  # fmt: skip
    return facts


def _snils_fact(account: matching.Account, row: Any, trace: Sequence[Mapping[str, Any]], is_adult: bool) -> Fact:
    then, detail = _then(trace, "snils", account.id)
    label = "СНИЛС в дневнике"
    if account.snils_digest is None:
        said = "В аккаунте дневника нет СНИЛС."
        if is_adult:
            return Fact("snils", label, "fail", said + " С 14 лет без него найти аккаунт по данным Госуслуг нельзя.",
                        then, detail, str(matching.Reason.SNILS_MISSING_IN_DIARY), account.id)  # fmt: skip
        return Fact("snils", label, "info", said + " До 14 лет СНИЛС не обязателен.", then, detail, None, account.id)
    if not account.snils_valid:
        said = f"СНИЛС в дневнике ({account.snils_masked}) с неверным контрольным числом."
        return Fact("snils", label, "fail" if is_adult else "info", said, then, detail,
                    str(matching.Reason.SNILS_MISMATCH) if is_adult else None, account.id)  # fmt: skip
    if row.snils_digest is None:
        return Fact("snils", label, "unknown",
                    f"СНИЛС в дневнике есть ({account.snils_masked}); Госуслуги при попытке СНИЛС не передали — сравнить не с чем.",
                    then, detail, None, account.id)  # fmt: skip
    if hmac.compare_digest(account.snils_digest, row.snils_digest):
        return Fact("snils", label, "pass", f"СНИЛС в дневнике ({account.snils_masked}) совпадает с переданным Госуслугами.",
                    then, detail, None, account.id)  # fmt: skip
    return Fact("snils", label, "fail", f"СНИЛС в дневнике ({account.snils_masked}) не совпадает с переданным Госуслугами.",
                then, detail, str(matching.Reason.SNILS_MISMATCH), account.id)  # fmt: skip


def _identity_reason(failed: Sequence[Mapping[str, Any]]) -> matching.Reason:
    fields = {c.get("field") for c in failed}
    if fields & {"last_name", "first_name", "middle_name"}:
        return matching.Reason.NAME_MISMATCH
    return matching.Reason.BIRTHDATE_MISMATCH if "birth_date" in fields else matching.Reason.GENDER_MISMATCH


def _is_this_person(oid: str | None, oid_digest: str | None) -> bool:
    return oid is not None and services.current().keyring.oid.verify(oid, oid_digest)


def _age_now(born: date | None, row: Any, policies: Mapping[str, matching.RegionPolicy], now: datetime) -> int | None:
    if born is None:
        return None
    policy = policies.get(row.region) if row.region else None
    today = matching.local_date(now, policy.timezone) if policy else now.astimezone(timezone.utc).date()
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
    first_fail = next(
        (fact for found in by_account.values() for fact in found if fact.now == "fail" and fact.reason), None
    )
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
