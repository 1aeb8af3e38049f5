"""The collaborators one mock app uses, built once in ``create_app`` and found by ``current()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from mock_esia.clients import ClientSystem
from mock_esia.grants import GrantStore
from mock_esia.identities import Person
from mock_esia.keys import SigningKeys
from mock_esia.scenarios import FaultBoard
from mock_esia.tokens import TokenIssuer


@dataclass(slots=True)
class Services:
    """Everything a view needs; tests may replace fields."""

    clients: dict[str, ClientSystem]
    persons: tuple[Person, ...]
    persons_by_oid: dict[int, Person]
    keys: SigningKeys
    tokens: TokenIssuer
    grants: GrantStore
    faults: FaultBoard
    clock: Callable[[], float]
    timestamp_window: float
    login_ttl: float
    consent: str
    public_url: str | None

    def other_person(self, oid: int) -> int:
        """Another person's oid (the next one in the fixture), for data that must disagree."""
        oids = [person.oid for person in self.persons]
        return oids[(oids.index(oid) + 1) % len(oids)]


def current() -> Services:
    services: Services = current_app.extensions["mock_esia"]
    return services
