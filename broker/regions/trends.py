"""A region's login trend: attempts by outcome per hour for the last 24 hours and per day for
the last 30 days, counted by the database.

Buckets are whole hours and calendar days in Moscow time, the time of every staff page; the
last bucket is the current hour (day), counted up to ``now``. The bucket of an attempt is a
``CASE`` over the buckets' start times, passed as parameters: the same SQL on SQLite and
PostgreSQL, with no date function of either, one read of the (region, started_at) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select

import matching
from broker.db.models import LoginAttempt
from broker.extensions import db

#: The time of the staff pages (their ``staff_time``): buckets start at its whole hours and midnights.
STAFF_ZONE = ZoneInfo("Europe/Moscow")
HOURS = 24
DAYS = 30
#: The success rate is the attempts in which the person got into the diary (``completed_at``: signed
#: in, or the link flow's link written) among all attempts. An outcome the broker decided
#: (``linked``, ``choose_account``) is no success by itself: the person may never confirm the first
#: link, never answer the chooser, or say «Это не я».
#: The decided outcomes through which a person can get in (the region page names them).
SUCCESSES = (matching.Outcome.SIGNED_IN, matching.Outcome.LINKED, matching.Outcome.CHOOSE_ACCOUNT)
OUTCOMES = tuple(str(outcome) for outcome in matching.Outcome)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One hour or day: when it starts (UTC), and its attempts by outcome."""

    start: datetime
    counts: dict[str, int]
    completed: int = 0  # of these, the attempts in which the person got in

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def successes(self) -> int:
        return self.completed


@dataclass(frozen=True, slots=True)
class Trend:
    """Consecutive buckets of one ``step`` (``"hour"`` or ``"day"``), oldest first, the last up to ``until``."""

    step: str
    until: datetime
    buckets: tuple[Bucket, ...]

    @property
    def total(self) -> int:
        return sum(bucket.total for bucket in self.buckets)

    @property
    def successes(self) -> int:
        return sum(bucket.successes for bucket in self.buckets)

    def by_outcome(self) -> dict[str, int]:
        return {outcome: sum(bucket.counts.get(outcome, 0) for bucket in self.buckets) for outcome in OUTCOMES}

    def peak(self) -> Bucket | None:
        """The bucket with the most attempts (the latest of equals); None without attempts."""
        busiest = max(self.buckets, key=lambda bucket: (bucket.total, bucket.start), default=None)
        return busiest if busiest is not None and busiest.total else None


def success_rate(successes: int, total: int) -> int | None:
    """Successes among ``total`` attempts, in whole percent (rounded down, so 99 of 100 never
    reads as 100); None without attempts."""
    return successes * 100 // total if total else None


def hour_starts(now: datetime, count: int = HOURS) -> list[datetime]:
    """The starts (UTC) of the last ``count`` whole hours in Moscow time, the last being ``now``'s."""
    local = now.astimezone(STAFF_ZONE).replace(minute=0, second=0, microsecond=0)
    last = local.astimezone(UTC)
    return [last - timedelta(hours=back) for back in range(count - 1, -1, -1)]


def day_starts(now: datetime, count: int = DAYS) -> list[datetime]:
    """The starts (UTC) of the last ``count`` calendar days in Moscow time, the last being ``now``'s."""
    today = now.astimezone(STAFF_ZONE).date()
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    return [datetime(day.year, day.month, day.day, tzinfo=STAFF_ZONE).astimezone(UTC) for day in days]


def completed() -> ColumnElement[Any]:
    """1 for an attempt in which the person got in, else 0: summed, the successes (both databases)."""
    return case((LoginAttempt.completed_at.is_not(None), 1), else_=0)


def _bucket_of(starts: list[datetime]) -> ColumnElement[Any]:
    """``CASE``: the index of the last start at or before the attempt's start; NULL before the first."""
    whens = [(LoginAttempt.started_at >= start, index) for index, start in reversed(list(enumerate(starts)))]
    return case(*whens, else_=None)


def trends(code: str, *, now: datetime) -> tuple[Trend, Trend]:
    """Region ``code``'s attempts per hour (24) and per day (30) up to ``now``, by outcome.

    Attempts without a region belong to no region's trend, as in the figures.
    """
    until = now.astimezone(UTC)
    hours, days = hour_starts(until), day_starts(until)
    # The buckets are computed in a subquery and grouped outside it: PostgreSQL cannot tell that
    # a CASE with parameters in the select list equals the same CASE in GROUP BY.
    inner = (
        select(
            _bucket_of(days).label("day"),
            _bucket_of(hours).label("hour"),
            LoginAttempt.outcome.label("outcome"),
            completed().label("completed"),
        )
        .where(LoginAttempt.region == code, LoginAttempt.started_at >= min(days[0], hours[0]))
        .where(LoginAttempt.started_at <= until)
        .subquery()
    )
    query = select(inner.c.day, inner.c.hour, inner.c.outcome, func.count(), func.sum(inner.c.completed)).group_by(
        inner.c.day, inner.c.hour, inner.c.outcome
    )
    by_day: list[dict[str, int]] = [{} for _ in days]
    by_hour: list[dict[str, int]] = [{} for _ in hours]
    done_day, done_hour = [0] * len(days), [0] * len(hours)
    for day, hour, outcome, count, done in db.session.execute(query):
        for index, buckets, finished in ((day, by_day, done_day), (hour, by_hour, done_hour)):
            if index is not None:
                buckets[int(index)][outcome] = buckets[int(index)].get(outcome, 0) + int(count)
                finished[int(index)] += int(done or 0)
    return (
        Trend("hour", until, tuple(Bucket(*bucket) for bucket in zip(hours, by_hour, done_hour, strict=True))),
        Trend("day", until, tuple(Bucket(*bucket) for bucket in zip(days, by_day, done_day, strict=True))),
    )
