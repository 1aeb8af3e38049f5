"""The HTTP status of every refusal: what happened, in terms monitoring and clients understand.

The page is the same Russian refusal page whatever the status; the status says whose side the
failure is on. One table, one row per :class:`matching.Reason` (a reason without a status is a
programming error, caught at import):

* 403: a decision against the person (the registry, the region's policy, the person's account
  at ESIA, or the person declining at ESIA);
* 502: ESIA answered, but its answer failed validation (``esia_error``);
* 503 with ``Retry-After``: ESIA did not answer or said it could not (``esia_unavailable``).

A callback whose state matches no pending login (bad, expired or replayed) is 400, with the
"start again" page, and is not a refusal: it is answered before any attempt exists.
"""

from __future__ import annotations

from matching import Reason

#: Statuses whose answer carries ``Retry-After`` (seconds from ``RETRY_AFTER_SECONDS``).
RETRY_LATER = frozenset({503})


def _table(statuses: dict[Reason, int]) -> dict[Reason, int]:
    missing = set(Reason) - set(statuses)
    if missing:
        raise ValueError(f"no HTTP status for {sorted(missing)}")
    return statuses


REFUSAL_STATUS: dict[Reason, int] = _table(
    {
        Reason.REGION_DISABLED: 403,
        Reason.ESIA_DENIED: 403,
        Reason.ESIA_UNAVAILABLE: 503,
        Reason.ESIA_ERROR: 502,
        Reason.ESIA_DATA_INCOMPLETE: 403,
        Reason.TIER_INSUFFICIENT: 403,
        Reason.NO_ACCOUNT: 403,
        Reason.ACCOUNT_BLOCKED: 403,
        Reason.NOT_ATTACHED: 403,
        Reason.NAME_MISMATCH: 403,
        Reason.BIRTHDATE_MISMATCH: 403,
        Reason.GENDER_MISMATCH: 403,
        Reason.SNILS_MISMATCH: 403,
        Reason.SNILS_MISSING_IN_DIARY: 403,
        Reason.AMBIGUOUS: 403,
        Reason.LINKED_ELSEWHERE: 403,
        Reason.LINK_REQUIRED: 403,
        Reason.INVITE_CODE_REQUIRED: 403,
        Reason.INVITE_CODE_INVALID: 403,
        Reason.REAUTHENTICATION_REQUIRED: 403,
    }
)


def status_of(reason: Reason) -> int:
    """The HTTP status of a refusal page for ``reason``."""
    return REFUSAL_STATUS[reason]
