"""Regions: which federal subjects have ESIA login switched on, their time zones, and the policy
overrides the matching engine supports (read from ``matching.RegionPolicy`` itself)."""

from __future__ import annotations

import dataclasses
import functools
import time
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

from flask import current_app
from sqlalchemy import select

import matching
from broker import services
from broker.db.models import Region
from broker.errors import InputError
from broker.extensions import db

MAX_TEXT_VALUE_LENGTH = 200  # a text override's longest value
#: RegionPolicy fields that are not overrides: the subject's identity and time zone are facts of
#: the regions table, and ``enabled`` has its own switch.
NOT_OVERRIDES = frozenset({"code", "name", "timezone", "enabled"})
#: The value types an override may have (what a form and JSON can carry unambiguously), besides
#: a ``StrEnum`` (a choice among its values, e.g. ``under_14_first_link``: ``auto`` or ``invite_code``).
OVERRIDE_TYPES: tuple[type, ...] = (bool, int, str)


def is_choice(kind: type) -> TypeGuard[type[StrEnum]]:
    """Whether an override of type ``kind`` is a choice among a ``StrEnum``'s values."""
    return isinstance(kind, type) and issubclass(kind, StrEnum)


@dataclass(frozen=True, slots=True)
class PolicyField:
    """A region policy override the matching engine supports: a field of ``RegionPolicy``."""

    name: str
    type: type
    default: Any

    @property
    def kind(self) -> str:
        """``bool``, ``int``, ``str`` or ``choice``: how a form shows it."""
        return "choice" if is_choice(self.type) else self.type.__name__

    @property
    def choices(self) -> tuple[str, ...]:
        """A choice's values, in the engine's order (empty for the other kinds)."""
        return tuple(str(member) for member in self.type) if is_choice(self.type) else ()


@functools.lru_cache(maxsize=8)
def policy_fields(policy_class: type = matching.RegionPolicy) -> tuple[PolicyField, ...]:
    """The overrides the matching engine supports: every ``RegionPolicy`` field but its identity.

    Read from the engine's dataclass itself, so a field added there is accepted here (and shown
    on the region page) without another list to keep in step.
    """
    hints = typing.get_type_hints(policy_class)
    found = []
    for item in dataclasses.fields(policy_class):
        if item.name in NOT_OVERRIDES:
            continue
        kind = hints[item.name]
        if kind not in OVERRIDE_TYPES and not is_choice(kind):
            raise TypeError(f"RegionPolicy.{item.name}: an override must be bool, int, str or a StrEnum, not {kind}")
        default = item.default if item.default is not dataclasses.MISSING else None
        found.append(PolicyField(item.name, kind, default))
    return tuple(found)


def fits_override(value: Any, kind: type) -> bool:
    """Whether ``value`` is a valid override value of type ``kind`` (bool, int, str or a StrEnum)."""
    if is_choice(kind):
        return isinstance(value, str) and value in {str(member) for member in kind}
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT_VALUE_LENGTH and value.isprintable()


def to_policy(region: Region) -> matching.RegionPolicy:
    """The region as the matching engine sees it, with its stored policy overrides applied.

    Only overrides the engine knows, of the right type, are applied; anything else in the stored
    JSON (an override a newer or older broker wrote, a hand edit) is ignored, so that one odd
    row can never stop logins in every region.
    """
    return matching.RegionPolicy(
        code=region.code,
        name=region.name,
        timezone=region.timezone,
        enabled=bool(region.enabled),
        **overrides_of(region.policy),
    )


def overrides_of(stored: Any) -> dict[str, Any]:
    """The usable overrides in a region's stored ``policy`` JSON (see :func:`to_policy`)."""
    if not isinstance(stored, dict):
        return {}
    found = {}
    for item in policy_fields():
        if item.name in stored and fits_override(stored[item.name], item.type):
            value = stored[item.name]
            found[item.name] = item.type(value) if is_choice(item.type) else value
    return found


@dataclass(slots=True)
class RegionCache:
    """Every region's policy, kept for ``REGION_CACHE_SECONDS`` (one per app: ``services.current().region_cache``)."""

    value: dict[str, matching.RegionPolicy] | None = None
    expires: float = 0.0

    def clear(self) -> None:
        self.value = None


def all_regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.code)))


def policies() -> dict[str, matching.RegionPolicy]:
    """Every region's policy by code, read through a short-lived per-process cache.

    A login needs them all (the login's region and the account's); 89 rows read per login
    would cost more than the decision itself. Changes made here clear the cache at once;
    changes made by another broker process are seen within ``REGION_CACHE_SECONDS``.
    """
    cache = services.current().region_cache
    now = time.monotonic()
    if cache.value is None or now >= cache.expires:
        cache.value = {region.code: to_policy(region) for region in all_regions()}
        cache.expires = now + current_app.config["REGION_CACHE_SECONDS"]
    return cache.value


def get_region(code: str) -> Region:
    region = db.session.get(Region, code) if isinstance(code, str) else None
    if region is None:
        raise InputError("region", f"{code!r} is not a federal subject code (see `broker regions list`)")
    return region
