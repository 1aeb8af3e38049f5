"""The mock's test persons: ESIA accounts loaded from ``data/persons.json``.

Each person is an ESIA account with ESIA's own field names (``lastName``, ``birthDate``,
``snils``, ``trusted``, ``rIdDoc``, ``documents``, ``contacts``, ``addresses``, ``kids``) plus
the mock's: ``login``/``password`` for the login form, a Russian ``description`` for the person
picker, the ``tier`` the broker is expected to derive (documentation, checked by the tests),
``childAccount`` (ESIA's ``urn:esia:sbj:lvl = "KD"``) and ``declinesConsent``.

``load_persons()`` is public so that a demo can line its registry up with the mock's people.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mock_esia.errors import ConfigError

#: The bundled persons file.
DEFAULT_PERSONS_FILE = Path(__file__).parent / "data" / "persons.json"

_SNILS = re.compile(r"^\d{3}-\d{3}-\d{3} \d{2}$")
_TIERS = ("simplified", "standard", "verified")
_MOCK_KEYS = {"login", "password", "description", "tier", "childAccount", "declinesConsent"}
_COLLECTION_KEYS = {"documents", "contacts", "addresses", "kids"}


@dataclass(frozen=True, slots=True)
class Element:
    """One element of a person's collection (a document, contact, address or kid record)."""

    id: int
    attributes: Mapping[str, Any] = field(repr=False)

    @property
    def type(self) -> str | None:
        return self.attributes.get("type")

    @property
    def vrf_stu(self) -> str | None:
        return self.attributes.get("vrfStu")


@dataclass(frozen=True, slots=True)
class Person:
    """A test person with an ESIA account."""

    oid: int
    login: str
    password: str = field(repr=False)
    description: str
    tier: str
    child_account: bool
    declines_consent: bool
    trusted: bool
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: dt.date | None
    gender: str
    snils: str | None
    r_id_doc: int | None
    #: Every ESIA field of the person, as in the fixture, without the collections.
    fields: Mapping[str, Any] = field(repr=False)
    documents: tuple[Element, ...] = field(repr=False)
    contacts: tuple[Element, ...] = field(repr=False)
    addresses: tuple[Element, ...] = field(repr=False)
    kids: tuple[Element, ...] = field(repr=False)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.last_name, self.first_name, self.middle_name) if part)

    @property
    def level(self) -> str:
        """ESIA's ``urn:esia:sbj:lvl``: ``KD`` child, ``PR`` confirmed, ``P`` otherwise."""
        if self.child_account:
            return "KD"
        return "PR" if self.trusted else "P"

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def collection(self, name: str) -> tuple[Element, ...]:
        collections = {
            "documents": self.documents,
            "contacts": self.contacts,
            "addresses": self.addresses,
            "kids": self.kids,
        }
        return collections[name]

    def has_credentials(self, login: str, password: str) -> bool:
        """Check a login (the test login, a contact value or the SNILS) and its password."""
        if password != self.password:
            return False
        wanted = login.strip()
        if not wanted:
            return False
        if wanted.casefold() == self.login.casefold():
            return True
        if any(str(contact.attributes.get("value", "")).casefold() == wanted.casefold() for contact in self.contacts):
            return True
        digits = re.sub(r"\D", "", wanted)
        return self.snils is not None and len(digits) == 11 and digits == re.sub(r"\D", "", self.snils)


def load_persons(path: Path | str | None = None) -> tuple[Person, ...]:
    """Load and check the persons file (the bundled one by default)."""
    source = Path(path) if path is not None else DEFAULT_PERSONS_FILE
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the persons file {source}: {exc}") from exc
    persons = tuple(_person(entry, source) for entry in document["persons"])
    for attribute in ("oid", "login"):
        values = [getattr(person, attribute) for person in persons]
        duplicates = sorted({str(value) for value in values if values.count(value) > 1})
        if duplicates:
            raise ConfigError(f"{source}: duplicate {attribute} {', '.join(duplicates)}.")
    return persons


def _person(entry: Mapping[str, Any], source: Path) -> Person:
    where = f"{source}: person {entry.get('oid')!r}"
    try:
        oid = int(entry["oid"])
        birth_text = entry.get("birthDate")
        birth_date = dt.datetime.strptime(birth_text, "%d.%m.%Y").date() if birth_text else None
        snils = entry.get("snils")
        if snils is not None and not _SNILS.match(snils):
            raise ConfigError(f"{where}: snils must be written NNN-NNN-NNN CC, not {snils!r}.")
        if entry["tier"] not in _TIERS:
            raise ConfigError(f"{where}: tier must be one of {_TIERS}.")
        if entry["gender"] not in ("M", "F"):
            raise ConfigError(f"{where}: gender must be M or F.")
        collections = {name: tuple(_element(item, where) for item in entry.get(name, ())) for name in _COLLECTION_KEYS}
        r_id_doc = entry.get("rIdDoc")
        if r_id_doc is not None and r_id_doc not in {doc.id for doc in collections["documents"]}:
            raise ConfigError(f"{where}: rIdDoc {r_id_doc} names no element of documents.")
        fields = {k: v for k, v in entry.items() if k not in _MOCK_KEYS | _COLLECTION_KEYS | {"oid"}}
        return Person(
            oid=oid,
            login=str(entry["login"]),
            password=str(entry["password"]),
            description=str(entry.get("description", "")),
            tier=entry["tier"],
            child_account=bool(entry.get("childAccount", False)),
            declines_consent=bool(entry.get("declinesConsent", False)),
            trusted=bool(entry["trusted"]),
            last_name=entry["lastName"],
            first_name=entry["firstName"],
            middle_name=entry.get("middleName"),
            birth_date=birth_date,
            gender=entry["gender"],
            snils=snils,
            r_id_doc=r_id_doc,
            fields=MappingProxyType(fields),
            documents=collections["documents"],
            contacts=collections["contacts"],
            addresses=collections["addresses"],
            kids=collections["kids"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where} is malformed: {exc!r}") from exc


def _element(item: Mapping[str, Any], where: str) -> Element:
    if "id" not in item:
        raise ConfigError(f"{where}: every collection element needs an id.")
    return Element(id=int(item["id"]), attributes=MappingProxyType(dict(item)))
