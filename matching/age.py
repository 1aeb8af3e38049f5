"""Age on a date, and the date at an instant in a region's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def local_date(at: datetime, timezone: str) -> date:
    """The calendar date at the instant ``at`` (timezone-aware) in ``timezone``."""
    if at.tzinfo is None:
        raise ValueError("the login instant must be timezone-aware")
    return at.astimezone(ZoneInfo(timezone)).date()


def age_on(birth_date: date, today: date) -> int:
    """Full years on ``today``.

    A person born on 29 February has a birthday on 1 March in common years (Russian practice
    counts the anniversary as the day after 28 February).
    """
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
