"""The mobile app's session lifetimes are checked at start, each problem said in one line."""

from __future__ import annotations

from typing import Any

import pytest

from broker import config
from broker.errors import ConfigError


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"REFRESH_TOKEN_DAYS": 0}, "REFRESH_TOKEN_DAYS must be a whole number of days from 1 to 365, not 0."),
        ({"REFRESH_TOKEN_DAYS": 366}, "REFRESH_TOKEN_DAYS must be a whole number of days from 1 to 365, not 366."),
        ({"REFRESH_TOKEN_DAYS": "30"}, "REFRESH_TOKEN_DAYS must be a whole number of days from 1 to 365, not '30'."),
        ({"REFRESH_TOKEN_IDLE_DAYS": 1.5}, "REFRESH_TOKEN_IDLE_DAYS must be a whole number of days from 1 to 365, not 1.5."),
        ({"REFRESH_TOKEN_IDLE_DAYS": True}, "REFRESH_TOKEN_IDLE_DAYS must be a whole number of days from 1 to 365, not True."),
        (
            {"REFRESH_TOKEN_DAYS": 7, "REFRESH_TOKEN_IDLE_DAYS": 14},
            "REFRESH_TOKEN_IDLE_DAYS (14) is longer than REFRESH_TOKEN_DAYS (7): the session ends at "
            "REFRESH_TOKEN_DAYS anyway; make it at most that.",
        ),
    ],
)
def test_a_bad_refresh_token_lifetime_is_refused_in_one_line(settings: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.validate({"TESTING": True, **settings})
    assert str(caught.value) == said and "\n" not in said


def test_the_defaults_and_an_idle_lifetime_equal_to_the_whole_are_accepted() -> None:
    config.validate({"TESTING": True})
    config.validate({"TESTING": True, "REFRESH_TOKEN_DAYS": 90, "REFRESH_TOKEN_IDLE_DAYS": 90})
