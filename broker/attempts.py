"""Login attempts as staff find and explain them: search, the readable trace, and "decide again".

The support pages and the JSON API share these functions, so nothing here touches the Flask
request: callers pass the criteria and the staff member's region scope
(:func:`broker.access.visible_regions`: ``None`` for every region, else a set of codes). An
attempt whose region is unknown (refused before a region was known) is visible to whole-country
scope only (admins and support), never to an operator.

Personal data (152-FZ): a SNILS or an ESIA oid typed into a search is turned into its keyed
digest at once (the attempts table holds nothing else) and is never kept, logged or returned;
the trace rows are shown as the decision recorded them, masked already.

**Deciding again.** A decision needs what ESIA said about the person (full name, birth date,
gender, SNILS, tier), and the broker does not keep it: an attempt holds the outcome, the masked
trace, the tier and age at the time, and keyed digests of the ESIA oid and SNILS. So the
decision itself cannot honestly be re-run, and :func:`decide_again` does not pretend to. It
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

Search limits: an account's attempts are found through the account entered and through its
SNILS and ESIA link; a refusal that named no account and matched it by name only (a diary
account without SNILS and without a link) is found by reference code, SNILS, oid or region and
time, not by the account (the attempt keeps the compared account ids only inside its trace).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select, union

import matching
from broker import regions as regions_module
from broker import services
from broker.errors import InputError
from broker.extensions import db
from broker import login
from broker.login import keyed
from broker.models import Account, EsiaLink, LoginAttempt
from broker.sessions import as_utc

_ATTEMPTS = LoginAttempt.__table__
_ACCOUNTS = Account.__table__
_LINKS = EsiaLink.__table__

# The characters broker.login draws reference codes from (Crockford's base32 without I, L, O, U).
REFERENCE_ALPHABET = frozenset(login.REFERENCE_ALPHABET)
# What people read aloud or type for a reference character: Crockford's confusables, every dash,
# and Cyrillic capitals typed with the Russian keyboard layout that look like Latin ones.
_REFERENCE_TYPOS = str.maketrans(
    {
        "O": "0", "I": "1", "L": "1",
        "А": "A", "В": "B", "Е": "E", "З": "3", "К": "K", "М": "M", "Н": "H", "О": "0",
        "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X",
        "-": None, "\u2010": None, "\u2011": None, "\u2012": None, "\u2013": None, "\u2014": None, "\u2212": None,
    }
)  # fmt: skip
_DIGEST = re.compile(r"[0-9a-f]{64}")
_OID = re.compile(r"[0-9A-Za-z_.:-]{1,32}")
MAX_LIMIT = 200
#: At most this many accounts are re-checked for one attempt.
MAX_RECHECKED_ACCOUNTS = 5

# --- the words of the pages (one place, as matching/refusals.py does for the person) ----------

OUTCOME_RU = {
    matching.Outcome.SIGNED_IN: "вход по связи",
    matching.Outcome.LINKED: "первый вход: связь с Госуслугами",
    matching.Outcome.CHOOSE_ACCOUNT: "выбор аккаунта",
    matching.Outcome.REFUSED: "отказ",
}
#: Short staff labels of the refusal reasons (the person's words are in ``matching.REFUSALS``).
REASON_RU = {
    matching.Reason.REGION_DISABLED: "вход в регионе не включён",
    matching.Reason.ESIA_DENIED: "отказ на Госуслугах (нет согласия)",
    matching.Reason.ESIA_UNAVAILABLE: "Госуслуги не ответили",
    matching.Reason.ESIA_ERROR: "ответ Госуслуг не прошёл проверку",
    matching.Reason.ESIA_DATA_INCOMPLETE: "Госуслуги не передали нужные данные",
    matching.Reason.TIER_INSUFFICIENT: "с 14 лет упрощённой учётной записи мало",
    matching.Reason.NO_ACCOUNT: "аккаунт не найден",
    matching.Reason.ACCOUNT_BLOCKED: "аккаунт заблокирован",
    matching.Reason.NOT_ATTACHED: "аккаунт не прикреплён к школе",
    matching.Reason.NAME_MISMATCH: "не совпадает ФИО",
    matching.Reason.BIRTHDATE_MISMATCH: "не совпадает дата рождения",
    matching.Reason.GENDER_MISMATCH: "не совпадает пол",
    matching.Reason.SNILS_MISMATCH: "не совпадает СНИЛС",
    matching.Reason.SNILS_MISSING_IN_DIARY: "в дневнике нет СНИЛС",
    matching.Reason.AMBIGUOUS: "подходят аккаунты разных людей",
    matching.Reason.LINKED_ELSEWHERE: "аккаунт связан с другой учётной записью Госуслуг",
    matching.Reason.LINK_REQUIRED: "до 14 лет первая привязка только из дневника (настройка региона)",
}
FIELD_RU = {
    "region": "Регион входа",
    "esia_birth_date": "Дата рождения на Госуслугах",
    "age": "Возраст на день входа",
    "rule": "Правило",
    "tier": "Уровень учётной записи Госуслуг",
    "esia_snils": "СНИЛС с Госуслуг",
    "lookup": "Поиск в дневнике",
    "last_name": "Фамилия",
    "first_name": "Имя",
    "middle_name": "Отчество",
    "birth_date": "Дата рождения",
    "gender": "Пол",
    "snils": "СНИЛС",
    "account_region": "Регион аккаунта",
    "status": "Состояние аккаунта",
    "school": "Прикрепление к школе",
    "link": "Связь с Госуслугами",
    "identity": "Один человек или разные",
    "policy": "Настройка региона",
}
RESULT_RU = {"pass": "пройдена", "fail": "не пройдена", "info": "сведения"}
RULE_RU = {
    "nfc": "Юникод приведён к одной форме",
    "invisible": "убраны невидимые символы",
    "latin_lookalike": "латинские буквы заменены похожими кириллическими",
    "yo": "«ё» прочитана как «е»",
    "dash": "тире и дефисы приведены к «-»",
    "whitespace": "лишние пробелы убраны",
    "placeholder": "заглушка («-», «нет») прочитана как пусто",
}
RULE_SIDE_RU = {"esia": "Госуслуги", "diary": "дневник"}
#: Who can fix it, said to a member of staff (the person's page says it to the person).
FIXER_STAFF_RU = {
    matching.Fixer.PERSON: "Сам человек — в своём профиле на Госуслугах; затем пусть войдёт снова.",
    matching.Fixer.SCHOOL_ADMIN: "Администратор электронного дневника в школе человека: только он исправляет записи дневника.",
    matching.Fixer.REGIONAL_OPERATOR: "Региональный оператор: вход через Госуслуги включается по регионам.",
    matching.Fixer.NOBODY: "Исправлять нечего: это временный сбой, пусть человек повторит вход позже.",
}
#: Reasons whose fixer does the fix somewhere else than the fixer's usual place.
FIXER_STAFF_BY_REASON_RU = {
    matching.Reason.LINK_REQUIRED: "Сам человек или его родитель — в электронном дневнике: войти по логину и паролю "
    "и выбрать «Привязать аккаунт портала Госуслуги»; затем вход через Госуслуги пройдёт.",
}
TIER_RU = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}


# --- errors --------------------------------------------------------------------------------------


class CriteriaError(InputError):
    """Search fields that cannot be used; ``errors`` maps each field to its Russian explanation.

    Nothing was searched. A message never repeats a SNILS or an oid that was typed.
    """

    code = "invalid_criteria"

    def __init__(self, errors: Mapping[str, tuple[str, str]]) -> None:
        field_name, (why, _) = next(iter(errors.items()))
        super().__init__(field_name, why)
        self.errors = {name: ru for name, (_, ru) in errors.items()}
        self.errors_en = {name: en for name, (en, _) in errors.items()}


class AttemptNotFoundError(InputError):
    """No attempt with this reference code in the caller's scope."""

    code = "attempt_not_found"
    status = 404

    def __init__(self, why: str, why_ru: str) -> None:
        super().__init__("reference", why)
        self.why_ru = why_ru


# --- criteria ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criteria:
    """What to look for; every given field must hold (AND). Empty strings count as not given.

    ``account`` is a diary account id or login: the account's attempts are those where it was
    the account entered, or where the person carried its SNILS or its linked ESIA account.
    ``snils`` and ``oid`` are looked up by their keyed digests; ``snils_digest`` and
    ``oid_digest`` take the digests themselves (the next page of a search carries those, never
    the typed values). ``started_from`` is inclusive, ``started_to`` exclusive; both aware.
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
            for name in self.__slots__  # type: ignore[attr-defined]
            if (value := getattr(self, name)) not in (None, "")
        }
        return f"Criteria({shown})"

    @property
    def is_reference_only(self) -> bool:
        given = {name for name in self.__slots__ if getattr(self, name) not in (None, "")}  # type: ignore[attr-defined]
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


def normalise_reference(text: str) -> str:
    """A reference code as typed (any case, without the dash, ``O`` for ``0``, Cyrillic look-alikes)
    in its printed form ``XXXX-XXXX``; raises :class:`CriteriaError` if it cannot be one."""
    cleaned = "".join(text.split()).upper().translate(_REFERENCE_TYPOS)
    if len(cleaned) != 8 or not set(cleaned) <= REFERENCE_ALPHABET:
        raise CriteriaError(
            {
                "reference": (
                    "a reference code is 8 characters such as 7K3M-Q9XZ (digits and Latin letters)",
                    "Код обращения — 8 знаков, например 7K3M-Q9XZ: цифры и латинские буквы.",
                )
            }
        )
    return f"{cleaned[:4]}-{cleaned[4:]}"


def _scope_phrase(regions: frozenset[str] | None) -> str:
    return "" if regions is None else " в ваших регионах"


@dataclass(frozen=True, slots=True)
class _Resolved:
    """Criteria turned into column conditions (digests, account keys), checked."""

    conditions: list[Any]
    account_keys: tuple[str | None, str | None, str | None] | None  # (account id, SNILS digest, oid digest)
    snils_digest: str | None
    oid_digest: str | None


def _resolve(criteria: Criteria, regions: frozenset[str] | None) -> _Resolved:
    errors: dict[str, tuple[str, str]] = {}
    c = _ATTEMPTS.c
    conditions: list[Any] = []
    account_keys = None
    snils_digest = oid_digest = None

    if criteria.reference:
        try:
            conditions.append(c.reference == normalise_reference(criteria.reference))
        except CriteriaError as exc:
            errors.update((name, (exc.errors_en[name], ru)) for name, ru in exc.errors.items())

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
            account_keys = (row.id, row.snils_digest if row.snils_valid else None, keyed(link_oid) if link_oid else None)

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
            oid_digest = keyed(criteria.oid)
        else:
            errors["oid"] = (
                "an ESIA oid is up to 32 digits or letters",
                "Идентификатор (oid) Госуслуг — до 32 цифр или латинских букв.",
            )
    elif criteria.oid_digest:
        if _DIGEST.fullmatch(criteria.oid_digest):
            oid_digest = criteria.oid_digest
        else:
            errors["oid"] = ("oid_digest must be 64 hexadecimal digits", "Повторите поиск по oid Госуслуг.")
    if oid_digest:
        conditions.append(c.oid_digest == oid_digest)

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
        conditions.append(c.started_at >= _utc(criteria.started_from))
    if criteria.started_to is not None:
        conditions.append(c.started_at < _utc(criteria.started_to))
    if criteria.started_from and criteria.started_to and criteria.started_from >= criteria.started_to:
        errors["to"] = ("the end of the time range must be after its start", "Конец периода должен быть позже начала.")
    if errors:
        raise CriteriaError(errors)
    return _Resolved(conditions, account_keys, snils_digest, oid_digest)


def _find_account(text: str) -> Any:
    columns = (_ACCOUNTS.c.id, _ACCOUNTS.c.region, _ACCOUNTS.c.snils_digest, _ACCOUNTS.c.snils_valid)
    row = db.session.execute(select(*columns).where(_ACCOUNTS.c.id == text)).first()
    if row is None:
        row = db.session.execute(select(*columns).where(_ACCOUNTS.c.login == text)).first()
    return row


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("search times must be timezone-aware")
    moment = value.astimezone(timezone.utc)
    # SQLite keeps these columns as naive UTC text; PostgreSQL compares aware values.
    return moment.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else moment


# --- search --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt as a search lists it (no trace, no digests)."""

    id: int
    reference: str
    started_at: datetime  # aware, UTC
    finished_at: datetime | None
    client_id: str
    flow: str
    region: str | None
    outcome: str
    reason: str | None
    account_id: str | None
    candidate_ids: tuple[str, ...]
    tier: str | None
    age: int | None
    detail: str | None

    @property
    def reason_ru(self) -> str | None:
        """The refusal's short staff label in Russian."""
        return REASON_RU.get(self.reason, self.reason) if self.reason else None  # type: ignore[call-overload]

    @property
    def outcome_ru(self) -> str:
        return OUTCOME_RU.get(self.outcome, self.outcome)  # type: ignore[call-overload]


_ROW_NAMES: tuple[str, ...] = AttemptRow.__slots__  # type: ignore[attr-defined]
_ROW_COLUMNS = tuple(_ATTEMPTS.c[name] for name in _ROW_NAMES)


def _row(row: Any) -> AttemptRow:
    values = {name: row._mapping[name] for name in _ROW_NAMES}
    values["started_at"] = as_utc(values["started_at"])
    values["finished_at"] = as_utc(values["finished_at"]) if values["finished_at"] else None
    values["candidate_ids"] = tuple(values["candidate_ids"] or ())
    return AttemptRow(**values)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Attempts newest first; ``next_before_id`` asks for the next (older) page, or is None."""

    attempts: list[AttemptRow]
    next_before_id: int | None
    # The digests the criteria were turned into, so that a next page can repeat the search
    # without the typed SNILS or oid (never shown; hidden form fields carry them).
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
        anchor = db.session.execute(select(c.started_at).where(c.id == before_id)).scalar()
        if anchor is None:
            raise CriteriaError({"before_id": ("no such attempt", "Список устарел: повторите поиск.")})
        conditions.append(and_(c.started_at <= anchor, or_(c.started_at < anchor, c.id < before_id)))

    if criteria.reference and not resolved.account_keys:
        found = db.session.execute(select(*_ROW_COLUMNS).where(*conditions).limit(1)).first()
        if found is None and before_id is None:
            _explain_missing_reference(criteria.reference, regions)
        rows = [found] if found is not None else []
    else:
        rows = list(db.session.execute(_ordered(conditions, regions, criteria, resolved, limit + 1)))
    attempts = [_row(row) for row in rows[:limit]]
    return SearchPage(
        attempts=attempts,
        next_before_id=attempts[-1].id if len(rows) > limit else None,
        snils_digest=resolved.snils_digest,
        oid_digest=resolved.oid_digest,
    )


def _explain_missing_reference(reference: str, regions: frozenset[str] | None) -> None:
    code = normalise_reference(reference)
    raise CriteriaError(
        {
            "reference": (
                f"no attempt with reference {code}" + (" in your regions" if regions is not None else ""),
                f"Попытки входа с кодом {code}{_scope_phrase(regions)} нет (или она подходит не ко всем условиям "
                "поиска). Проверьте код: его показывают человеку на странице отказа.",
            )
        }
    )


def _account_attempt_ids(account_id: str | None, snils_digest: str | None, oid_digest: str | None) -> Any:
    """Ids of the attempts of an account: entered, or by a person carrying its SNILS or its link."""
    c = _ATTEMPTS.c
    parts = [select(c.id).where(c.account_id == account_id)]
    if snils_digest:
        parts.append(select(c.id).where(c.snils_digest == snils_digest))
    if oid_digest:
        parts.append(select(c.id).where(c.oid_digest == oid_digest))
    return union(*parts) if len(parts) > 1 else parts[0]


def _region_column(criteria: Criteria) -> Any:
    """The region column as a search compares it.

    With a reason, ``region || ''``: the database then reads the reason's attempts through the
    (reason, started_at) index and checks their region, rather than read a whole region through
    (region, started_at) to find a rare reason (SQLite has no statistics to choose by itself).
    """
    column = _ATTEMPTS.c.region
    return column.concat("") if criteria.reason else column


def _ordered(
    conditions: list[Any], regions: frozenset[str] | None, criteria: Criteria, resolved: _Resolved, limit: int
) -> Select[Any]:
    """The newest ``limit`` attempts under ``conditions``.

    An operator's scope without a more selective key (region, reason, account, SNILS, oid) is
    read region by region through the (region, started_at) index and merged: one ``IN`` over
    several regions would read every attempt of those regions and sort them all.
    """
    c = _ATTEMPTS.c
    order = (c.started_at.desc(), c.id.desc())
    selective = (
        criteria.region or criteria.reason or resolved.account_keys or resolved.snils_digest or resolved.oid_digest
    )
    if regions and len(regions) > 1 and not selective:
        per_region = [
            select(c.id).where(*conditions, c.region == code).order_by(*order).limit(limit).subquery().select()
            for code in sorted(regions)
        ]
        ids = union(*per_region).subquery()
        return select(*_ROW_COLUMNS).where(c.id.in_(select(ids.c.id))).order_by(*order).limit(limit)
    return select(*_ROW_COLUMNS).where(*conditions).order_by(*order).limit(limit)


# --- one attempt, explained ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One check of the decision, as recorded (masked), with Russian labels."""

    field: str
    field_ru: str
    result: str  # pass, fail or info
    result_ru: str
    detail: str  # the engine's words (English, for staff), values masked
    rules: tuple[str, ...] = ()
    rules_ru: tuple[str, ...] = ()
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptDetail:
    """An attempt with its trace made readable and the words the person saw."""

    attempt: AttemptRow
    region_name: str | None
    timezone: str | None  # the region's time zone (None: show UTC)
    trace: tuple[TraceRow, ...]
    message_ru: str  # what the person read
    next_step_ru: str | None  # refusals: what the person was told to do
    fixer: str | None
    fixer_ru: str | None  # as the person read it
    fixer_staff_ru: str | None  # the same, said to staff
    text_en: str | None
    account_ids: tuple[str, ...]  # every account the attempt concerns, entered first
    has_snils: bool  # ESIA gave a usable SNILS (only its keyed digest is kept)
    has_oid: bool  # ESIA named the person (only the oid's keyed digest is kept)


def get(reference: str, *, regions: frozenset[str] | None) -> AttemptDetail:
    """The attempt with this reference code, explained; raises :class:`AttemptNotFoundError`
    when there is none in ``regions`` and :class:`CriteriaError` for a malformed code."""
    row = _load(normalise_reference(reference), regions)
    return _detail(row)


def _load(code: str, regions: frozenset[str] | None) -> Any:
    c = _ATTEMPTS.c
    row = db.session.execute(select(_ATTEMPTS).where(c.reference == code)).first()
    if row is None or not is_visible(row.region, regions):
        raise AttemptNotFoundError(
            f"no attempt with reference {code}" + (" in your regions" if regions is not None else ""),
            f"Попытки входа с кодом {code}{_scope_phrase(regions)} нет.",
        )
    return row


def is_visible(region: str | None, regions: frozenset[str] | None) -> bool:
    """Whether an attempt of ``region`` is within ``regions`` (None: every region)."""
    return regions is None or (region is not None and region in regions)


def _detail(row: Any) -> AttemptDetail:
    attempt = _row(row)
    policy = regions_module.policies().get(row.region) if row.region else None
    trace = tuple(_trace_row(check) for check in row.trace or [])
    refusal = matching.REFUSALS[matching.Reason(row.reason)] if row.reason else None
    if refusal is not None:
        message = refusal.message_ru
    else:
        message = matching.message_ru(matching.Decision(matching.Outcome(row.outcome)))
    return AttemptDetail(
        attempt=attempt,
        region_name=policy.name if policy else None,
        timezone=policy.timezone if policy else None,
        trace=trace,
        message_ru=message,
        next_step_ru=refusal.next_step_ru if refusal else None,
        fixer=str(refusal.fixer) if refusal else None,
        fixer_ru=refusal.fixer_ru if refusal else None,
        fixer_staff_ru=(FIXER_STAFF_BY_REASON_RU.get(refusal.reason) or FIXER_STAFF_RU[refusal.fixer]) if refusal else None,
        text_en=refusal.text_en if refusal else None,
        account_ids=_involved(row),
        has_snils=row.snils_digest is not None,
        has_oid=row.oid_digest is not None,
    )


def _trace_row(check: Mapping[str, Any]) -> TraceRow:
    name = str(check.get("field", ""))
    result = str(check.get("result", ""))
    rules = tuple(str(rule) for rule in check.get("rules") or ())
    return TraceRow(
        field=name,
        field_ru=FIELD_RU.get(name, name),
        result=result,
        result_ru=RESULT_RU.get(result, result),
        detail=str(check.get("detail", "")),
        rules=rules,
        rules_ru=tuple(_rule_ru(rule) for rule in rules),
        account_id=check.get("account_id"),
    )


def _rule_ru(rule: str) -> str:
    side, _, name = rule.partition(":")
    if not name:
        side, name = "", side
    label = RULE_RU.get(name, name)
    return f"{RULE_SIDE_RU[side]}: {label}" if side in RULE_SIDE_RU else label


def _involved(row: Any) -> tuple[str, ...]:
    ids = [row.account_id, *(row.candidate_ids or ()), *(check.get("account_id") for check in row.trace or [])]
    return tuple(dict.fromkeys(str(account_id) for account_id in ids if account_id))


# --- decide again, now -----------------------------------------------------------------------


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

    Reads only: no row is added, changed or deleted. Raises :class:`AttemptNotFoundError`
    outside ``regions``. See the module docstring for what can and cannot be re-checked.
    """
    if isinstance(attempt, int):
        row = db.session.execute(select(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt)).first()
        if row is None or not is_visible(row.region, regions):
            raise AttemptNotFoundError(f"no attempt {attempt}", f"Попытки входа {attempt}{_scope_phrase(regions)} нет.")
    else:
        row = _load(normalise_reference(attempt), regions)
    now = at or datetime.now(timezone.utc)
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

    involved = list(_involved(row))
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
        attempt=_row(row),
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
    if then is None and row.reason == matching.Reason.REGION_DISABLED and not _involved(row):
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
    account = services.current().registry.get(matching.AccountId(account_id))
    if account is None:
        then, detail = _then(trace, "status", account_id)
        return [
            Fact("account", "Аккаунт", "fail", f"Аккаунта {account_id} в реестре дневника больше нет.",
                 then, detail, str(matching.Reason.NO_ACCOUNT), account_id)
        ]  # fmt: skip
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
        changed = _updated_since(account_id, row.started_at)
        fields = ", ".join(FIELD_RU[str(c["field"])].lower() for c in failed)
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
    return oid is not None and oid_digest is not None and hmac.compare_digest(keyed(oid), oid_digest)


def _age_now(born: date | None, row: Any, policies: Mapping[str, matching.RegionPolicy], now: datetime) -> int | None:
    if born is None:
        return None
    policy = policies.get(row.region) if row.region else None
    today = matching.local_date(now, policy.timezone) if policy else now.astimezone(timezone.utc).date()
    return matching.age_on(born, today)


def _updated_since(account_id: str, started_at: datetime) -> bool:
    updated = db.session.execute(select(_ACCOUNTS.c.updated_at).where(_ACCOUNTS.c.id == account_id)).scalar()
    return updated is not None and as_utc(updated) > as_utc(started_at)


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
