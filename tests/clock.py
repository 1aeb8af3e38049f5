"""A clock the test moves by hand, for the ESIA client and the mock ESIA (both take a ``clock``)."""

from __future__ import annotations

import time


class FakeClock:
    """A clock the test moves by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
