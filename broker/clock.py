"""The broker's one clock: a callable returning the current instant as an aware UTC datetime.

Code that runs in a request reads it as ``services.current().clock()``; code that runs outside
one (commands, scripts) is handed the instant or the clock. Tests freeze or move time by putting
another callable in its place. Monotonic timers for durations (``time.monotonic``) are not clocks
in this sense and stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, from the operating system, as an aware UTC datetime."""
    return datetime.now(UTC)
