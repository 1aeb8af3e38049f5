"""Regions: which federal subjects have ESIA login switched on, and their time zones."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from flask import current_app

from sqlalchemy import select

import matching
from broker import regionadmin, services
from broker.errors import InputError
from broker.extensions import db
from broker.models import Region


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
    for item in regionadmin.policy_fields():
        if item.name in stored and regionadmin.fits_override(stored[item.name], item.type):
            found[item.name] = stored[item.name]
    return found


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


def set_enabled(code: str, enabled: bool, actor: str) -> Region:
    """Switch ESIA login on or off in a region, recording who did it and when."""
    region = get_region(code)
    region.enabled = enabled
    region.changed_by = actor
    region.changed_at = datetime.now(timezone.utc)
    db.session.commit()
    services.current().region_cache.clear()
    return region
