"""Age on the login date, in the region's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from matching import age_on, local_date


@pytest.mark.parametrize(
    ("today", "age"),
    [
        (date(2026, 2, 27), 13),
        (date(2026, 2, 28), 13),  # common year: not yet
        (date(2026, 3, 1), 14),  # a 29 February birthday comes of age on 1 March
        (date(2024, 2, 28), 11),
        (date(2024, 2, 29), 12),  # leap year: on the day itself
    ],
)
def test_a_29_february_birthday_counts_from_1_march_in_common_years(today: date, age: int) -> None:
    assert age_on(date(2012, 2, 29), today) == age


@pytest.mark.parametrize(
    ("timezone_name", "instant", "expected_date"),
    [
        ("Europe/Kaliningrad", datetime(2026, 11, 27, 21, 59, 59, tzinfo=UTC), date(2026, 11, 27)),
        ("Europe/Kaliningrad", datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC), date(2026, 11, 28)),
        ("Asia/Kamchatka", datetime(2026, 11, 27, 11, 59, 59, tzinfo=UTC), date(2026, 11, 27)),
        ("Asia/Kamchatka", datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC), date(2026, 11, 28)),
    ],
)
def test_the_login_date_is_the_regions_local_date(timezone_name: str, instant: datetime, expected_date: date) -> None:
    assert local_date(instant, timezone_name) == expected_date


def test_a_naive_instant_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        local_date(datetime(2026, 1, 1), "Europe/Moscow")
