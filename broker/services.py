"""The collaborators each app uses, built once in ``create_app`` (svcs' idea, by hand)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app

from broker.extensions import db
from broker.registry import SqlRegistry
from matching import RegionPolicy


@dataclass(slots=True)
class RegionCache:
    value: dict[str, RegionPolicy] | None = None
    expires: float = 0.0

    def clear(self) -> None:
        self.value = None


@dataclass(slots=True)
class Services:
    registry: SqlRegistry
    snils_key: bytes
    region_cache: RegionCache = field(default_factory=RegionCache)


def init_app(app: Flask) -> None:
    # str(): BROKER_* values are JSON-decoded, so a key of digits would arrive as a number.
    key = str(app.config["SNILS_HASH_KEY"] or "testing-only-snils-key").encode()
    app.extensions["broker"] = Services(
        registry=SqlRegistry(lambda: db.session.connection(), key),
        snils_key=key,
    )


def current() -> Services:
    return current_app.extensions["broker"]
