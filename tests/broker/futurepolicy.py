"""A region policy as it may grow, for the tests that the overrides follow the engine's dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from broker.regions import admin as regionadmin


@dataclass(frozen=True, slots=True)
class FuturePolicy:
    """RegionPolicy as it may grow: the overrides are read from the engine's dataclass."""

    code: str
    name: str
    timezone: str
    enabled: bool = False
    auto_link_under_14: bool = True
    max_candidates: int = 3
    note: str = ""


FUTURE = regionadmin.policy_fields(FuturePolicy)
