"""Clocks the test moves by hand: Unix time for the ESIA client and the mock ESIA (both take a
``clock``), and an aware UTC datetime for the broker's (``services.current().clock``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock the test moves by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FrozenClock:
    """The broker's clock stopped at ``now`` (an aware UTC datetime) until the test moves it.

    Put it in place with ``services.current().clock = FrozenClock(...)``.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
