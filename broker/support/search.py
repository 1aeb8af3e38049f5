"""Finding login attempts: the criteria staff type, checked and read, and the search.

The support pages and the JSON API share these, so nothing here touches the Flask request:
callers pass the criteria and the staff member's region scope (:func:`broker.staff.access.visible_regions`:
``None`` for every region, else a set of codes); an attempt whose region is unknown is found by
whole-country scope only.

Personal data (152-FZ): a SNILS or an ESIA oid typed into a search is turned into its keyed
digest at once (the attempts table holds nothing else) and is never kept, logged or returned.

Search by account: an account's attempts are found through the account entered (or the one
account a refusal was about) and through its SNILS and ESIA link, three indexed lookups. An
attempt that compared the account among several and entered none (namesakes refused together)
holds it only in ``candidate_ids``, which no index leads to: :func:`compared_among` reads those
in the account's region over the last ``NAMED_AMONG_DAYS`` days, for the account card; older
ones are found by reference code, SNILS, oid or region and time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Text, and_, cast, or_, select, union

import matching
from broker import services
from broker.db.models import Account, EsiaLink, LoginAttempt
from broker.extensions import db
from broker.regions import policies as regions_module
from broker.support import attempts
from broker.support.attempts import AttemptRow, CriteriaError

_ATTEMPTS = LoginAttempt.__table__
_ACCOUNTS = Account.__table__
_LINKS = EsiaLink.__table__

_DIGEST = re.compile(r"[0-9a-f]{64}")
# An oid is looked up under OID_HASH_KEY and each of its fallbacks: a next page carries them all.
_DIGESTS = re.compile(r"[0-9a-f]{64}(?:,[0-9a-f]{64}){0,15}")
_OID = re.compile(r"[0-9A-Za-z_.:-]{1,32}")
MAX_LIMIT = 200
#: How far back the account card reads the attempts that compared the account among several (:func:`compared_among`).
NAMED_AMONG_DAYS = 14


# --- criteria ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criteria:
    """What to look for; every given field must hold (AND). Empty strings count as not given.

    ``account`` is a diary account id or login: the account's attempts are those where it was
    the account entered, or where the person carried its SNILS or its linked ESIA account.
    ``snils`` and ``oid`` are looked up by their keyed digests; ``snils_digest`` and
    ``oid_digest`` take the digests themselves (the next page of a search carries those, never
    the typed values; ``oid_digest`` one per oid key, comma-separated). ``started_from`` is inclusive, ``started_to`` exclusive; both aware.
    """

    reference: str | None = None
    account: str | None = None
    snils: str | None = None
    oid: str | None = None
    outcome: str | None = None
    reason: str | None = None
    region: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    snils_digest: str | None = field(default=None, repr=False)
    oid_digest: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # a typed SNILS, oid or login never reaches a log line or a traceback
        shown = {
            name: ("<given>" if name in ("account", "snils", "oid", "snils_digest", "oid_digest") else value)
            for name in self.__slots__
            if (value := getattr(self, name)) not in (None, "")
        }
        return f"Criteria({shown})"

    @property
    def is_reference_only(self) -> bool:
        given = {name for name in self.__slots__ if getattr(self, name) not in (None, "")}
        return given == {"reference"}


FORM_FIELDS = ("reference", "account", "snils", "oid", "outcome", "reason", "region", "from", "to",
               "snils_digest", "oid_digest")  # fmt: skip


def parse_criteria(values: Mapping[str, str], *, timezone_name: str = "Europe/Moscow") -> Criteria:
    """Criteria from text fields (a form or a query): ``from``/``to`` as ``YYYY-MM-DDTHH:MM`` or
    ``YYYY-MM-DD`` in ``timezone_name`` (staff pages use Moscow time), or ISO 8601 with an offset.

    Raises :class:`CriteriaError` naming every field that cannot be read.
    """
    errors: dict[str, tuple[str, str]] = {}
    text = {name: (values.get(name) or "").strip() for name in FORM_FIELDS}
    times: dict[str, datetime | None] = {}
    for name in ("from", "to"):
        try:
            times[name] = _parse_time(text[name], timezone_name, end=name == "to")
        except (ValueError, OverflowError):
            times[name] = None
            errors[name] = (
                "a date and time such as 2026-11-28T10:00 (or a date)",
                "Укажите дату и время, например 28.11.2026 10:00, или только дату.",
            )
    if errors:
        raise CriteriaError(errors)
    return Criteria(
        reference=text["reference"] or None,
        account=text["account"] or None,
        snils=text["snils"] or None,
        oid=text["oid"] or None,
        outcome=text["outcome"] or None,
        reason=text["reason"] or None,
        region=text["region"] or None,
        started_from=times["from"],
        started_to=times["to"],
        snils_digest=text["snils_digest"] or None,
        oid_digest=text["oid_digest"] or None,
    )


def _parse_time(text: str, timezone_name: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    if re.fullmatch(r"\d{2}\.\d{2}\.\d{4}( \d{1,2}:\d{2})?", text):  # 28.11.2026 10:00
        day, _, clock = text.partition(" ")
        text = "-".join(reversed(day.split("."))) + (f"T{clock.zfill(5)}" if clock else "")
    parsed = datetime.fromisoformat(text)
    if len(text) == 10 and end:  # a date alone as the end of a range: up to the end of that day
        parsed += timedelta(days=1)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone_name))
    return parsed


@dataclass(frozen=True, slots=True)
class _Resolved:
    """Criteria turned into column conditions (digests, account keys), checked."""

    conditions: list[Any]
    account_keys: tuple[str, str | None, tuple[str, ...]] | None  # (account id, SNILS digest, oid digests)
    snils_digest: str | None
    oid_digests: tuple[str, ...]  # under OID_HASH_KEY and each of its fallbacks


def _resolve(criteria: Criteria, regions: frozenset[str] | None) -> _Resolved:
    errors: dict[str, tuple[str, str]] = {}
    c = _ATTEMPTS.c
    conditions: list[Any] = []
    account_keys = None
    snils_digest = None
    oid_digests: tuple[str, ...] = ()
    oid_keys = services.current().keyring.oid

    if criteria.reference:
        try:
            conditions.append(c.reference == attempts.normalise_reference(criteria.reference))
        except CriteriaError as exc:
            errors.update((bad.field, (bad.why, bad.why_ru or bad.why)) for bad in exc.bad_fields)

    if criteria.account:
        row = _find_account(criteria.account)
        if row is not None and regions is not None and row.region not in regions:
            row = None  # another region's account is not there for this caller, and says so alike
        if row is None:
            errors["account"] = (
                "no diary account with this id or login",
                "В дневнике нет аккаунта с таким идентификатором или логином.",
            )
        else:
            link_oid = db.session.execute(select(_LINKS.c.oid).where(_LINKS.c.account_id == row.id)).scalar()
            oid_digests_of_link = oid_keys.digests(link_oid) if link_oid else ()
            account_keys = (row.id, row.snils_digest if row.snils_valid else None, oid_digests_of_link)

    if criteria.snils:
        try:
            snils_digest = services.current().registry.snils_digest(matching.parse_snils(criteria.snils))
        except matching.InvalidSnilsError as exc:
            errors["snils"] = (
                ("SNILS must have 11 digits", "СНИЛС — 11 цифр (с дефисами и пробелом или без них).")
                if exc.code == "snils_format"
                else ("the SNILS checksum does not match", "Контрольное число СНИЛС не сходится: проверьте номер.")
            )
    elif criteria.snils_digest:
        if _DIGEST.fullmatch(criteria.snils_digest):
            snils_digest = criteria.snils_digest
        else:
            errors["snils"] = ("snils_digest must be 64 hexadecimal digits", "Повторите поиск по СНИЛС.")
    if snils_digest:
        conditions.append(c.snils_digest == snils_digest)

    if criteria.oid:
        if _OID.fullmatch(criteria.oid):
            oid_digests = oid_keys.digests(criteria.oid)
        else:
            errors["oid"] = (
                "an ESIA oid is up to 32 digits or letters",
                "Идентификатор (oid) Госуслуг — до 32 цифр или латинских букв.",
            )
    elif criteria.oid_digest:
        if _DIGESTS.fullmatch(criteria.oid_digest):
            oid_digests = tuple(criteria.oid_digest.split(","))
        else:
            errors["oid"] = ("oid_digest must be 64 hexadecimal digits (several: comma-separated)", "Повторите поиск по oid Госуслуг.")
    if oid_digests:
        conditions.append(c.oid_digest.in_(oid_digests))

    if criteria.outcome:
        if criteria.outcome in set(matching.Outcome):
            conditions.append(c.outcome == criteria.outcome)
        else:
            errors["outcome"] = (
                f"one of {', '.join(matching.Outcome)}",
                "Выберите итог из списка.",
            )
    if criteria.reason:
        if criteria.reason in set(matching.Reason):
            conditions.append(c.reason == criteria.reason)
        else:
            errors["reason"] = (f"one of {', '.join(matching.Reason)}", "Выберите причину отказа из списка.")
    if criteria.region:
        if criteria.region not in regions_module.policies():
            errors["region"] = (
                "not a federal subject code (see `broker regions list`)",
                "Нет региона с таким кодом. Код — две цифры, например 77.",
            )
        elif regions is not None and criteria.region not in regions:
            errors["region"] = ("not one of your regions", "Это не ваш регион: вы видите попытки только своих регионов.")
        else:
            conditions.append(_region_column(criteria) == criteria.region)
    if criteria.started_from is not None:
        conditions.append(c.started_at >= criteria.started_from)
    if criteria.started_to is not None:
        conditions.append(c.started_at < criteria.started_to)
    if criteria.started_from and criteria.started_to and criteria.started_from >= criteria.started_to:
        errors["to"] = ("the end of the time range must be after its start", "Конец периода должен быть позже начала.")
    if errors:
        raise CriteriaError(errors)
    return _Resolved(conditions, account_keys, snils_digest, oid_digests)


def _find_account(text: str) -> Any:
    columns = (_ACCOUNTS.c.id, _ACCOUNTS.c.region, _ACCOUNTS.c.snils_digest, _ACCOUNTS.c.snils_valid)
    row = db.session.execute(select(*columns).where(_ACCOUNTS.c.id == text)).first()
    if row is None:
        row = db.session.execute(select(*columns).where(_ACCOUNTS.c.login == text)).first()
    return row


# --- search --------------------------------------------------------------------------------------


#: The largest id a row can have (a signed 64-bit integer in PostgreSQL and SQLite).
MAX_ROW_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Attempts newest first; ``next_before_id`` asks for the next (older) page, or is None."""

    attempts: list[AttemptRow]
    next_before_id: int | None
    # The digests the criteria were turned into, so that a next page can repeat the search
    # without the typed SNILS or oid (never shown; hidden form fields carry them). An oid has
    # one digest per key (OID_HASH_KEY and its fallbacks), comma-separated.
    snils_digest: str | None = field(default=None, repr=False)
    oid_digest: str | None = field(default=None, repr=False)


def search(
    criteria: Criteria,
    *,
    regions: frozenset[str] | None,
    limit: int = 50,
    before_id: int | None = None,
) -> SearchPage:
    """Attempts matching ``criteria`` within ``regions`` (None: all), newest first.

    Keyset pagination: pass the page's ``next_before_id`` as ``before_id`` for the next one.
    Raises :class:`CriteriaError` naming every unusable field (a malformed SNILS, an unknown
    account or reference code, a region outside the scope); nothing is searched then.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    resolved = _resolve(criteria, regions)
    c = _ATTEMPTS.c
    conditions = list(resolved.conditions)
    if regions is not None:
        conditions.append(_region_column(criteria).in_(sorted(regions)) if regions else c.id.is_(None))
    if resolved.account_keys is not None:
        conditions.append(c.id.in_(_account_attempt_ids(*resolved.account_keys)))
    if before_id is not None:
        if not 1 <= before_id <= MAX_ROW_ID:  # a database integer has 64 bits: a larger one is no row
            raise CriteriaError({"before_id": ("must be a row id from 1 to 2**63-1", "Список устарел: повторите поиск.")})
        anchor = db.session.execute(select(c.started_at).where(c.id == before_id)).scalar()
        if anchor is None:
            raise CriteriaError({"before_id": ("no such attempt", "Список устарел: повторите поиск.")})
        conditions.append(and_(c.started_at <= anchor, or_(c.started_at < anchor, c.id < before_id)))

    if criteria.reference and not resolved.account_keys:
        found = db.session.execute(select(*attempts.ROW_COLUMNS).where(*conditions).limit(1)).first()
        if found is None and before_id is None:
            _explain_missing_reference(criteria.reference, regions)
        rows = [found] if found is not None else []
    else:
        rows = list(db.session.execute(_ordered(conditions, regions, criteria, resolved, limit + 1)))
    listed = [attempts.to_row(row) for row in rows[:limit]]
    return SearchPage(
        attempts=listed,
        next_before_id=listed[-1].id if len(rows) > limit else None,
        snils_digest=resolved.snils_digest,
        oid_digest=",".join(resolved.oid_digests) or None,
    )


def _explain_missing_reference(reference: str, regions: frozenset[str] | None) -> None:
    code = attempts.normalise_reference(reference)
    raise CriteriaError(
        {
            "reference": (
                f"no attempt with reference {code}" + (" in your regions" if regions is not None else ""),
                f"Попытки входа с кодом {code}{attempts.scope_phrase(regions)} нет (или она подходит не ко всем "
                "условиям поиска). Проверьте код: его показывают человеку на странице отказа.",
            )
        }
    )


def _account_attempt_ids(account_id: str, snils_digest: str | None, oid_digests: tuple[str, ...]) -> Any:
    """Ids of the attempts of an account: entered (or the one account a refusal was about), or by a
    person carrying its SNILS or its link; three indexed lookups."""
    c = _ATTEMPTS.c
    parts = [select(c.id).where(c.account_id == account_id)]
    if snils_digest:
        parts.append(select(c.id).where(c.snils_digest == snils_digest))
    if oid_digests:
        parts.append(select(c.id).where(c.oid_digest.in_(oid_digests)))
    return union(*parts) if len(parts) > 1 else parts[0]


def compared_among(account_id: str, region: str, *, regions: frozenset[str] | None, limit: int = 20) -> list[AttemptRow]:
    """The attempts that compared ``account_id`` among several accounts and entered none of them
    (namesakes refused together), newest first: those without one ``account_id`` whose
    ``candidate_ids`` hold it, within ``regions``.

    No index leads to an account inside ``candidate_ids``, so only the account's ``region`` over the
    last :data:`NAMED_AMONG_DAYS` days is read, through the (region, started_at) index; the account
    card adds these to :func:`search`'s, which stays three indexed lookups.
    """
    if not attempts.is_visible(region, regions):
        return []
    c = _ATTEMPTS.c
    since = services.current().clock() - timedelta(days=NAMED_AMONG_DAYS)
    among = cast(c.candidate_ids, Text).contains(json.dumps(account_id), autoescape=True)  # as the JSON list holds it
    query = (
        select(*attempts.ROW_COLUMNS)
        .where(c.region == region, c.started_at >= since, c.account_id.is_(None), among)
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(max(1, min(int(limit), MAX_LIMIT)))
    )
    return [attempts.to_row(row) for row in db.session.execute(query)]


def _region_column(criteria: Criteria) -> Any:
    """The region column as a search compares it.

    With a reason, ``region || ''``: the database then reads the reason's attempts through the
    (reason, started_at) index and checks their region, rather than read a whole region through
    (region, started_at) to find a rare reason (SQLite has no statistics to choose by itself).
    """
    column = _ATTEMPTS.c.region
    return column.concat("") if criteria.reason else column


def _ordered(conditions: list[Any], regions: frozenset[str] | None, criteria: Criteria, resolved: _Resolved, limit: int) -> Select[Any]:
    """The newest ``limit`` attempts under ``conditions``.

    An operator's scope without a more selective key (region, reason, account, SNILS, oid) is
    read region by region through the (region, started_at) index and merged: one ``IN`` over
    several regions would read every attempt of those regions and sort them all.
    """
    c = _ATTEMPTS.c
    order = (c.started_at.desc(), c.id.desc())
    selective = criteria.region or criteria.reason or resolved.account_keys or resolved.snils_digest or resolved.oid_digests
    if regions and len(regions) > 1 and not selective:
        per_region = [
            select(c.id).where(*conditions, c.region == code).order_by(*order).limit(limit).subquery().select() for code in sorted(regions)
        ]
        ids = union(*per_region).subquery()
        return select(*attempts.ROW_COLUMNS).where(c.id.in_(select(ids.c.id))).order_by(*order).limit(limit)
    return select(*attempts.ROW_COLUMNS).where(*conditions).order_by(*order).limit(limit)
