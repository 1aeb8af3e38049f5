"""Region administration: what staff see of the regions, how a region is changed, its figures.

The staff pages, the CLI and the JSON API share these functions, so the rules hold whichever
door is used: a change needs a comment, stays within the operator's regions, accepts only the
policy overrides the matching engine knows, is audited with before and after in the same
transaction, and reaches this process's next decision at once (other broker processes see it
within ``REGION_CACHE_SECONDS``). A page may ask for switching a region off to be confirmed
(``confirm_switch_off=False``): the change is then refused with what it would affect, and
nothing is written. Nothing here reads the Flask request: callers pass the staff member (or,
from the CLI, an actor string).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

import matching
from broker import services
from broker.db.models import Account, AuditEvent, EsiaLink, LoginAttempt, Region, Staff
from broker.errors import BadField, BrokerError, InputError, InvalidFieldsError
from broker.extensions import db
from broker.regions import trends
from broker.regions.policies import MAX_TEXT_VALUE_LENGTH, PolicyField, fits_override, is_choice, policy_fields
from broker.staff import access, audit
from broker.staff.audit import Action

MAX_COMMENT_LENGTH = 1000  # the audit log's comment column
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


class RegionAccessError(BrokerError):
    """The staff member may not change (or see) this region."""

    code = "forbidden"
    description = "Your role or regions do not allow changing this region."
    status = 403


class RegionNotFoundError(InputError):
    code = "not_found"
    status = 404

    def __init__(self, code: str) -> None:
        super().__init__(
            "region", f"{code!r} is not a federal subject code (see `broker regions list`)",
            f"Региона с кодом «{str(code)[:8]}» нет. Код региона — две цифры, например 77.",
        )  # fmt: skip


class SwitchOffUnconfirmedError(BrokerError):
    """Switching an enabled region off was asked without its confirmation: nothing was written.

    ``before`` and ``after`` are the region as it is and as the change would leave it.
    """

    code = "confirmation_required"
    description = "Switching ESIA login off in a region needs a confirmation."
    status = 409

    def __init__(self, code: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        super().__init__(f"switching region {code} off needs a confirmation")
        self.region = code
        self.before = before
        self.after = after


class RegionInputError(InvalidFieldsError):
    """One or more bad fields of a region change (``enabled``, ``comment``, ``policy.<name>``),
    each with its English and Russian explanation; nothing was written. The API answers 422."""


@dataclass(frozen=True, slots=True)
class RegionView:
    """A region as staff see it, with whether this staff member may change it."""

    code: str
    name: str
    timezone: str
    enabled: bool
    policy: dict[str, Any]
    changed_by: str | None
    changed_at: datetime | None
    can_manage: bool


@dataclass(frozen=True, slots=True)
class RegionChange:
    """The result of :func:`change_region`: the region now, and whether anything changed."""

    region: RegionView
    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FigureLine:
    """Attempts of one outcome (and, for refusals, one reason) in the last day and week."""

    outcome: str
    reason: str | None
    day: int
    week: int
    day_completed: int = 0  # of ``day``, the attempts in which the person got in (``completed_at``)
    week_completed: int = 0


@dataclass(frozen=True, slots=True)
class Figures:
    """A region's login attempts over two rolling windows ending at ``until``.

    The windows are rolling (the last 24 hours, the last 7 days), not calendar days in the
    region's time zone: the same numbers whoever looks, and no midnight jump.
    """

    region: str
    until: datetime
    day_since: datetime
    week_since: datetime
    lines: tuple[FigureLine, ...]  # outcomes in the engine's order, refusals by weekly count

    @property
    def day_total(self) -> int:
        return sum(line.day for line in self.lines)

    @property
    def week_total(self) -> int:
        return sum(line.week for line in self.lines)

    def by_outcome(self) -> list[FigureLine]:
        """One line per outcome (refusals summed over their reasons), every outcome present."""
        lines = []
        for outcome in matching.Outcome:
            mine = [line for line in self.lines if line.outcome == outcome]
            lines.append(FigureLine(str(outcome), None, sum(x.day for x in mine), sum(x.week for x in mine),
                                    sum(x.day_completed for x in mine), sum(x.week_completed for x in mine)))  # fmt: skip
        known = {str(outcome) for outcome in matching.Outcome}
        lines.extend(line for line in self.lines if line.outcome not in known)
        return lines

    def refusals(self) -> list[FigureLine]:
        """The refusals by reason, most frequent in the week first."""
        return [line for line in self.lines if line.outcome == matching.Outcome.REFUSED]

    def successes(self, period: str) -> int:
        """Attempts of ``period`` (``"day"``, ``"week"``) in which the person got into the diary
        (signed in, or linked in the link flow), whatever the broker first decided."""
        return sum(getattr(line, f"{period}_completed") for line in self.lines)

    def success_rate(self, period: str) -> int | None:
        """Successes among all attempts of ``period``, in whole percent; None without attempts."""
        return trends.success_rate(self.successes(period), getattr(self, f"{period}_total"))


@dataclass(frozen=True, slots=True)
class SwitchOffImpact:
    """What switching a region off affects: its logins lately, and the accounts that use ESIA."""

    region: str
    logins_day: int  # successful logins in the last 24 hours
    logins_week: int  # and in the last 7 days
    linked_accounts: int  # the region's accounts linked to an ESIA person
    accounts: int

    @property
    def logins_per_day(self) -> int:
        """Successful logins per day, on average over the last 7 days (rounded to the nearest)."""
        return (self.logins_week + 3) // 7


# --- reading -----------------------------------------------------------------------------------


def to_view(region: Region, member: Staff | None) -> RegionView:
    return RegionView(
        code=region.code,
        name=region.name,
        timezone=region.timezone,
        enabled=bool(region.enabled),
        policy=dict(region.policy or {}),
        changed_by=region.changed_by,
        changed_at=region.changed_at if region.changed_at else None,
        can_manage=member is not None and _may_manage(member, region.code),
    )


def list_regions(staff: Staff) -> list[RegionView]:
    """The regions ``staff`` may see, by code: every region for admins and support."""
    query = select(Region).order_by(Region.code)
    scope = access.visible_regions(staff)
    if scope is not None:
        query = query.where(Region.code.in_(sorted(scope)))
    return [to_view(region, staff) for region in db.session.scalars(query)]


def region_view(code: str, staff: Staff) -> RegionView:
    """Region ``code`` as ``staff`` sees it; RegionAccessError outside their regions."""
    if not access.can_view_region(staff, code):
        raise RegionAccessError("this region is outside your regions")
    return to_view(_get(code), staff)


def history(code: str, *, limit: int = 10) -> list[AuditEvent]:
    """The region's last changes from the audit log, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.action == Action.REGION_CHANGED.value, AuditEvent.target == f"region:{code}")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


# --- checking ----------------------------------------------------------------------------------


def check_policy(overrides: Any, fields: tuple[PolicyField, ...] | None = None) -> dict[str, Any]:
    """``overrides`` checked against the engine's fields; RegionInputError names every bad one."""
    fields = policy_fields() if fields is None else fields
    if not isinstance(overrides, dict):
        raise RegionInputError("policy", "must be an object of overrides", "Настройки политики заданы неверно.")
    known = {item.name: item for item in fields}
    bad: list[BadField] = []
    checked: dict[str, Any] = {}
    for name, value in overrides.items():
        key = f"policy.{name}"
        item = known.get(name) if isinstance(name, str) else None
        if item is None:
            supported = ", ".join(sorted(known)) or "none yet"
            bad.append(BadField(
                key, f"unknown override (the matching engine supports: {supported})",
                f"Настройки «{str(name)[:64]}» нет: движок сопоставления её не поддерживает.",
            ))  # fmt: skip
        elif not fits_override(value, item.type) and is_choice(item.type):
            shown = ", ".join(item.choices)
            bad.append(BadField(key, f"must be one of: {shown}", f"Выберите одно из значений: {shown}."))
        elif not fits_override(value, item.type):
            bad.append(BadField(key, f"must be {_TYPE_EN[item.type]}", f"Значение должно быть {_TYPE_RU[item.type]}."))
        else:
            checked[name] = value
    if bad:
        raise RegionInputError(bad)
    return checked


_TYPE_EN = {bool: "true or false", int: "a whole number", str: f"text of at most {MAX_TEXT_VALUE_LENGTH} characters"}
_TYPE_RU = {bool: "«да» или «нет»", int: "целым числом", str: f"текстом не длиннее {MAX_TEXT_VALUE_LENGTH} знаков"}


def check_comment(comment: Any) -> str:
    """The change's comment, trimmed: required, at most 1000 characters."""
    text = comment.strip() if isinstance(comment, str) else ""
    if not text:
        raise RegionInputError(
            "comment", "is required: say why (it is kept in the audit log)",
            "Напишите, почему вы меняете регион: комментарий обязателен.",
        )  # fmt: skip
    if len(text) > MAX_COMMENT_LENGTH or any(not (ch.isprintable() or ch in "\r\n\t") for ch in text):
        raise RegionInputError(
            "comment", f"at most {MAX_COMMENT_LENGTH} printable characters",
            f"Комментарий — не более {MAX_COMMENT_LENGTH} знаков, без управляющих символов.",
        )  # fmt: skip
    return text


# --- changing ----------------------------------------------------------------------------------


def change_region(
    code: str,
    *,
    enabled: object,
    policy: dict[str, Any] | None,
    comment: str,
    actor_staff: Staff | None,
    actor: str | None = None,
    confirm_switch_off: bool = True,
) -> RegionChange:
    """Switch ESIA login in region ``code`` and/or replace its policy overrides, audited.

    ``enabled`` or ``policy`` None leaves that part as it is (an ``enabled`` other than a bool is
    a field error); ``policy`` replaces the overrides
    as a whole (``{}`` clears them). ``actor_staff`` is the staff member acting (their scope is
    enforced: RegionAccessError); the CLI passes None and ``actor="cli:<user>"``. The audit
    event names ``actor``, by default the request's principal (a staff login or
    ``token:<prefix>``) or the member's login. Every field is checked before anything is
    written (RegionInputError lists all bad fields). A change that changes nothing writes nothing.
    With ``confirm_switch_off`` False, a valid change that would switch an enabled region off
    writes nothing either and raises SwitchOffUnconfirmedError (the pages ask first).
    """
    if actor_staff is not None and not _may_manage(actor_staff, code):
        raise RegionAccessError(f"region {code} is outside your regions")
    actor = actor or audit.request_actor() or (actor_staff.login if actor_staff is not None else None)
    if not actor:
        raise ValueError("change_region needs actor_staff or an actor")
    region = _get(code, lock=True)
    bad: list[BadField] = []
    if enabled is not None and not isinstance(enabled, bool):
        bad.append(BadField("enabled", "must be true or false", "Выберите, включён ли вход через Госуслуги."))
    new_policy = dict(region.policy or {})
    if policy is not None:
        try:
            new_policy = check_policy(policy)
        except RegionInputError as exc:
            bad.extend(exc.bad_fields)
    try:
        comment = check_comment(comment)
    except RegionInputError as exc:
        bad.extend(exc.bad_fields)
    if bad:
        db.session.rollback()  # end the locking read
        raise RegionInputError(bad)

    before = _snapshot(region)
    if isinstance(enabled, bool) and enabled != region.enabled:
        region.enabled = enabled
    if new_policy != before["policy"]:
        region.policy = new_policy
    after = _snapshot(region)
    if before["enabled"] and not after["enabled"] and not confirm_switch_off:
        db.session.rollback()  # end the locking read; nothing was written
        raise SwitchOffUnconfirmedError(code, before, after)
    if after == before:
        db.session.rollback()
        return RegionChange(to_view(_get(code), actor_staff), False, before, after)
    region.changed_by = actor[:128]
    region.changed_at = services.current().clock()
    audit.record(Action.REGION_CHANGED, f"region:{code}", before=before, after=after, comment=comment, actor=actor)
    db.session.commit()
    # This process's next decision sees the change; other processes within REGION_CACHE_SECONDS.
    services.current().region_cache.clear()
    return RegionChange(to_view(region, actor_staff), True, before, after)


def _snapshot(region: Region) -> dict[str, Any]:
    return {"enabled": bool(region.enabled), "policy": dict(region.policy or {})}


def _may_manage(member: Staff, code: str) -> bool:
    return member.disabled_at is None and access.can_manage_region(member, code)


def _get(code: str, *, lock: bool = False) -> Region:
    region = None
    if isinstance(code, str):
        # Locked (PostgreSQL) so that two changes at once are audited with true before values.
        options: dict[str, Any] = {"with_for_update": True, "populate_existing": True} if lock else {}
        region = db.session.get(Region, code, **options)
    if region is None:
        raise RegionNotFoundError(str(code))
    return region


# --- figures -----------------------------------------------------------------------------------


def figures(code: str, *, now: datetime) -> Figures:
    """Region ``code``'s login attempts by outcome and reason in the 24 hours and 7 days to ``now``.

    One query over the (region, started_at) index. Attempts without a region (a portal that
    named none and an ESIA error before one was known) belong to no region's figures.
    """
    _get(code)  # an unknown region is RegionNotFoundError, not empty figures
    until = now.astimezone(UTC)
    day_since, week_since = until - DAY, until - WEEK
    in_day = func.sum(case((LoginAttempt.started_at >= day_since, 1), else_=0))
    done = trends.completed()
    done_in_day = func.sum(case((LoginAttempt.started_at >= day_since, done), else_=0))
    query = (
        select(LoginAttempt.outcome, LoginAttempt.reason, func.count(), in_day, func.sum(done), done_in_day)
        .where(LoginAttempt.region == code, LoginAttempt.started_at >= week_since, LoginAttempt.started_at <= until)
        .group_by(LoginAttempt.outcome, LoginAttempt.reason)
    )
    found = [
        FigureLine(outcome, reason, int(day or 0), int(week), int(day_done or 0), int(week_done or 0))
        for outcome, reason, week, day, week_done, day_done in db.session.execute(query)
    ]
    order = {str(outcome): index for index, outcome in enumerate(matching.Outcome)}
    found.sort(key=lambda line: (order.get(line.outcome, len(order)), -line.week, line.reason or ""))
    return Figures(code, until, day_since, week_since, tuple(found))


def switch_off_impact(code: str, *, now: datetime) -> SwitchOffImpact:
    """What switching region ``code`` off would affect, as of ``now``."""
    found = figures(code, now=now)
    linked, accounts = db.session.execute(
        select(func.count(EsiaLink.account_id), func.count(Account.id))
        .select_from(Account)
        .outerjoin(EsiaLink, EsiaLink.account_id == Account.id)
        .where(Account.region == code)
    ).one()
    return SwitchOffImpact(code, found.successes("day"), found.successes("week"), int(linked), int(accounts))
