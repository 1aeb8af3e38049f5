"""Login attempts as staff read them: the reference code as typed, the row, one attempt explained.

The support pages, the JSON API, the search (:mod:`broker.support.search`) and the re-check
(:mod:`broker.support.recheck`) share these, so nothing here touches the Flask request: callers pass the
staff member's region scope (:func:`broker.staff.access.visible_regions`: ``None`` for every region,
else a set of codes). An attempt whose region is unknown (refused before a region was known) is
visible to whole-country scope only (admins and support), never to an operator.

Personal data (152-FZ): an attempt holds the ESIA oid and the SNILS only as keyed digests, and an
explained attempt says only whether it has them; the trace rows are shown as the decision
recorded them, masked already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

import matching
from broker.db.models import LoginAttempt
from broker.errors import BadField, InputError, InvalidFieldsError
from broker.extensions import db
from broker.login import attempts as login_attempts
from broker.regions import policies as regions_module
from broker.support import glossary

_ATTEMPTS = LoginAttempt.__table__

# The characters broker.login.attempts draws reference codes from (Crockford's base32 without I, L, O, U).
REFERENCE_ALPHABET = frozenset(login_attempts.REFERENCE_ALPHABET)
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


# --- errors --------------------------------------------------------------------------------------


# CriteriaError is raised by the search (broker.support.search) for every unusable field, and here
# for a reference code that cannot be one, which get() and the re-check read too.
class CriteriaError(InvalidFieldsError):
    """Search fields that cannot be used, each with its English and Russian explanation.

    Nothing was searched. A message never repeats a SNILS or an oid that was typed.
    """

    code = "invalid_criteria"

    def __init__(self, errors: Mapping[str, tuple[str, str]]) -> None:
        super().__init__([BadField(name, en, ru) for name, (en, ru) in errors.items()])


class AttemptNotFoundError(InputError):
    """No attempt with this reference code in the caller's scope."""

    code = "attempt_not_found"
    status = 404
    why_ru: str  # always given

    def __init__(self, why: str, why_ru: str) -> None:
        super().__init__("reference", why, why_ru)


# --- reference codes -----------------------------------------------------------------------------


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


def scope_phrase(regions: frozenset[str] | None) -> str:
    """The words that narrow a "not found" to the caller's regions (empty for every region)."""
    return "" if regions is None else " в ваших регионах"


# --- the row -------------------------------------------------------------------------------------


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
    completed_at: datetime | None  # when the person got in; None: refused, or never finished

    @property
    def reason_ru(self) -> str | None:
        """The refusal's short staff label in Russian."""
        return glossary.REASON_RU.get(self.reason, self.reason) if self.reason else None  # type: ignore[call-overload]

    @property
    def outcome_ru(self) -> str:
        return glossary.OUTCOME_RU.get(self.outcome, self.outcome)  # type: ignore[call-overload]


_ROW_NAMES: tuple[str, ...] = AttemptRow.__slots__
#: The columns an :class:`AttemptRow` is read from (what :func:`to_row` needs).
ROW_COLUMNS = tuple(_ATTEMPTS.c[name] for name in _ROW_NAMES)


def to_row(row: Any) -> AttemptRow:
    """The :class:`AttemptRow` of a database row holding :data:`ROW_COLUMNS` (times made aware)."""
    values = {name: row._mapping[name] for name in _ROW_NAMES}
    values["started_at"] = values["started_at"]
    values["finished_at"] = values["finished_at"] if values["finished_at"] else None
    values["completed_at"] = values["completed_at"] if values["completed_at"] else None
    values["candidate_ids"] = tuple(values["candidate_ids"] or ())
    return AttemptRow(**values)


# --- one attempt, explained ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One check of the decision, as recorded (masked), with Russian labels."""

    field: str
    field_ru: str
    result: str  # pass, fail or info
    result_ru: str
    detail: str  # the engine's words as recorded (English, for the API), values masked
    detail_ru: str  # the same said in Russian (glossary.trace_detail_ru), for the pages
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
    text_en: str | None  # the refusal in English, for the API only (pages say message_ru)
    account_ids: tuple[str, ...]  # every account the attempt concerns, entered first
    has_snils: bool  # ESIA gave a usable SNILS (only its keyed digest is kept)
    has_oid: bool  # ESIA named the person (only the oid's keyed digest is kept)
    ended_ru: str | None = None  # how it ended, when the outcome alone would mislead («Это не я», unfinished)

    @property
    def by_link(self) -> bool:
        """A sign-in through the link the person already had: a lean row, with no trace, candidates
        or SNILS digest kept (``broker.login.attempts.BY_LINK``, docs/adr/0023)."""
        return self.attempt.detail == login_attempts.BY_LINK

    @property
    def entered_account(self) -> str | None:
        """The account the person entered: a completed attempt's, never a refusal's (a refusal's
        ``account_id`` is the one account its checks were about), nor one the person never got
        into (a first link not confirmed, «Это не я»)."""
        entered = self.attempt.outcome != matching.Outcome.REFUSED and self.attempt.completed_at is not None
        return self.attempt.account_id if entered else None


def get(reference: str, *, regions: frozenset[str] | None) -> AttemptDetail:
    """The attempt with this reference code, explained; raises :class:`AttemptNotFoundError`
    when there is none in ``regions`` and :class:`CriteriaError` for a malformed code."""
    row = load(normalise_reference(reference), regions)
    return _detail(row)


def load(code: str, regions: frozenset[str] | None) -> Any:
    """The database row of the attempt with reference ``code`` (normalised), if in ``regions``.

    Raises :class:`AttemptNotFoundError` when there is none there.
    """
    c = _ATTEMPTS.c
    row = db.session.execute(select(_ATTEMPTS).where(c.reference == code)).first()
    if row is None or not is_visible(row.region, regions):
        raise AttemptNotFoundError(
            f"no attempt with reference {code}" + (" in your regions" if regions is not None else ""),
            f"Попытки входа с кодом {code}{scope_phrase(regions)} нет.",
        )
    return row


def is_visible(region: str | None, regions: frozenset[str] | None) -> bool:
    """Whether an attempt of ``region`` is within ``regions`` (None: every region)."""
    return regions is None or (region is not None and region in regions)


def _detail(row: Any) -> AttemptDetail:
    attempt = to_row(row)
    policy = regions_module.policies().get(row.region) if row.region else None
    trace = tuple(_trace_row(check) for check in row.trace or [])
    refusal = matching.REFUSALS[matching.Reason(row.reason)] if row.reason else None
    fixer_staff: str | None = None  # the fixer said to staff
    if refusal is not None:
        message = refusal.message_ru
        fixer_staff = glossary.FIXER_STAFF_BY_REASON_RU.get(refusal.reason) or glossary.FIXER_STAFF_RU[refusal.fixer]
    else:
        message = matching.message_ru(matching.Decision(matching.Outcome(row.outcome)))
    if row.detail == login_attempts.ANOTHER_PERSON and refusal is not None:  # the page's other variant, as the person read it
        return _detail_of(row, attempt, policy, trace, message=glossary.OTHER_PERSON_MESSAGE_RU,
                          next_step=glossary.OTHER_PERSON_NEXT_STEP_RU, fixer=str(matching.Fixer.PERSON),
                          fixer_ru=glossary.OTHER_PERSON_FIXER_RU, fixer_staff=glossary.OTHER_PERSON_FIXER_STAFF_RU,
                          text_en=refusal.text_en, ended=glossary.OTHER_PERSON_ENDED_RU)  # fmt: skip
    return _detail_of(row, attempt, policy, trace, message=message, next_step=refusal.next_step_ru if refusal else None,
                      fixer=str(refusal.fixer) if refusal else None, fixer_ru=refusal.fixer_ru if refusal else None,
                      fixer_staff=fixer_staff, text_en=refusal.text_en if refusal else None, ended=_ended_ru(attempt))  # fmt: skip


def _ended_ru(attempt: AttemptRow) -> str | None:
    """How the attempt ended, when its outcome alone would mislead: «Это не я», or a granted
    attempt in which nobody got in (a first link not confirmed, a chooser not answered)."""
    if attempt.detail == login_attempts.NOT_ME:
        return glossary.NOT_ME_RU
    if attempt.detail == login_attempts.BY_LINK:
        return glossary.BY_LINK_ENDED_RU
    if attempt.outcome != matching.Outcome.REFUSED and attempt.completed_at is None:
        return glossary.NOT_COMPLETED_RU.get(attempt.outcome, glossary.NOT_COMPLETED_DEFAULT_RU)
    return None


def _detail_of(
    row: Any,
    attempt: AttemptRow,
    policy: matching.RegionPolicy | None,
    trace: tuple[TraceRow, ...],
    *,
    message: str,
    next_step: str | None,
    fixer: str | None,
    fixer_ru: str | None,
    fixer_staff: str | None,
    text_en: str | None,
    ended: str | None,
) -> AttemptDetail:
    return AttemptDetail(
        attempt=attempt,
        region_name=policy.name if policy else None,
        timezone=policy.timezone if policy else None,
        trace=trace,
        message_ru=message,
        next_step_ru=next_step,
        fixer=fixer,
        fixer_ru=fixer_ru,
        fixer_staff_ru=fixer_staff,
        text_en=text_en,
        account_ids=involved_accounts(row),
        has_snils=row.snils_digest is not None,
        has_oid=row.oid_digest is not None,
        ended_ru=ended,
    )


def _trace_row(check: Mapping[str, Any]) -> TraceRow:
    name = str(check.get("field", ""))
    result = str(check.get("result", ""))
    rules = tuple(str(rule) for rule in check.get("rules") or ())
    return TraceRow(
        field=name,
        field_ru=glossary.FIELD_RU.get(name, name),
        result=result,
        result_ru=glossary.RESULT_RU.get(result, result),
        detail=str(check.get("detail", "")),
        detail_ru=glossary.trace_detail_ru(str(check.get("detail", ""))),
        rules=rules,
        rules_ru=tuple(_rule_ru(rule) for rule in rules),
        account_id=check.get("account_id"),
    )


def _rule_ru(rule: str) -> str:
    side, _, name = rule.partition(":")
    if not name:
        side, name = "", side
    label = glossary.RULE_RU.get(name, name)
    return f"{glossary.RULE_SIDE_RU[side]}: {label}" if side in glossary.RULE_SIDE_RU else label


def involved_accounts(row: Any) -> tuple[str, ...]:
    """Every account the attempt concerns: the one entered first, then candidates and the trace's."""
    ids = [row.account_id, *(row.candidate_ids or ()), *(check.get("account_id") for check in row.trace or [])]
    return tuple(dict.fromkeys(str(account_id) for account_id in ids if account_id))
