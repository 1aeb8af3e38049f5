"""ESIA person data (``/rs/prns/{oid}``) as a :class:`matching.Person`, and the tier rule.

The tier rule (docs/esia.md, 'Person data'): ESIA flags only confirmed accounts (``trusted``).
An account is **verified** when confirmed; **standard** when not confirmed but it has a SNILS
and ``rIdDoc`` points at an identity document with ``vrfStu: VERIFIED``; otherwise
**simplified**.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import matching
from providers.base import InvalidUpstreamResponseError

_ESIA_DATE = re.compile(r"\d{2}\.\d{2}\.\d{4}")


def tier_of(prns: Mapping[str, Any], documents: Sequence[Mapping[str, Any]] = ()) -> matching.Tier:
    """The account tier of ESIA person data, with its documents embedded or passed apart."""
    trusted = prns.get("trusted", False)
    if not isinstance(trusted, bool):
        raise InvalidUpstreamResponseError("trusted", "must be true or false")
    if trusted:
        return matching.Tier.VERIFIED
    if not prns.get("snils"):
        return matching.Tier.SIMPLIFIED
    current = prns.get("rIdDoc")
    docs = list(documents) or embedded_elements(prns, "documents")
    for doc in docs:
        if current is not None and str(doc.get("id")) == str(current) and doc.get("vrfStu") == "VERIFIED":
            return matching.Tier.STANDARD
    return matching.Tier.SIMPLIFIED


def embedded_elements(prns: Mapping[str, Any], collection: str) -> list[Mapping[str, Any]]:
    """The elements of an embedded collection (``embed=(documents.elements)``), else none."""
    value = prns.get(collection)
    if value is None:
        return []
    if not isinstance(value, Mapping) or not isinstance(value.get("elements", []), list):
        raise InvalidUpstreamResponseError(collection, "must be a collection with an elements list")
    return embedded_of(value)


def embedded_of(collection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A collection's embedded elements; those listed only as URLs (no ``embed``) are not read."""
    elements = collection.get("elements", [])
    if not isinstance(elements, list):
        raise InvalidUpstreamResponseError("elements", "must be a list")
    return [element for element in elements if isinstance(element, Mapping)]


def is_embedded(collection: Mapping[str, Any]) -> bool:
    """Did ESIA embed the collection's elements (not list them as URLs to read)?"""
    elements = collection.get("elements")
    return isinstance(elements, list) and all(isinstance(element, Mapping) for element in elements)


def parse_esia_date(raw: Any, field: str) -> date:
    if not isinstance(raw, str) or not _ESIA_DATE.fullmatch(raw):
        raise InvalidUpstreamResponseError(field, "must be a date as dd.MM.yyyy")
    try:
        return datetime.strptime(raw, "%d.%m.%Y").date()
    except ValueError:
        raise InvalidUpstreamResponseError(field, "is not a calendar date") from None


def person_from_esia(
    prns: Mapping[str, Any],
    *,
    oid: str | None = None,
    documents: Sequence[Mapping[str, Any]] = (),
) -> matching.Person:
    """Map ESIA person data to the engine's person.

    ``oid`` is the oid the tokens named; the data may carry it too (``oid`` in a fixture, or
    as in ESIA's ``Location``), and then the two must agree (checked by the caller for headers).
    """
    if not isinstance(prns, Mapping):
        raise InvalidUpstreamResponseError("(person)", "must be a JSON object")
    given = prns.get("oid")
    if given is not None and not isinstance(given, (str, int)):
        raise InvalidUpstreamResponseError("oid", "must be a number or a string of digits")
    if oid is not None and given is not None and str(given) != str(oid):
        raise InvalidUpstreamResponseError("oid", "differs from the oid the tokens name")
    chosen = oid if oid is not None else given
    person_oid = "" if chosen is None else str(chosen)
    if not (person_oid.isascii() and person_oid.isdigit()):
        raise InvalidUpstreamResponseError("oid", "is missing or not numeric")
    names = {}
    for key in ("lastName", "firstName", "middleName"):
        value = prns.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidUpstreamResponseError(key, "must be a string")
        names[key] = value or ""
    birth = prns.get("birthDate")
    birth_date = parse_esia_date(birth, "birthDate") if birth not in (None, "") else None
    raw_gender = prns.get("gender")
    try:
        if raw_gender is not None and not isinstance(raw_gender, str):
            raise ValueError(raw_gender)
        gender = matching.parse_gender(raw_gender)
    except ValueError:
        raise InvalidUpstreamResponseError("gender", "must be M or F") from None
    snils = prns.get("snils")
    if snils is not None and not isinstance(snils, str):
        raise InvalidUpstreamResponseError("snils", "must be a string such as 123-456-789 01")
    return matching.Person(
        oid=matching.EsiaOid(person_oid),
        tier=tier_of(prns, documents),
        last_name=names["lastName"],
        first_name=names["firstName"],
        middle_name=names["middleName"],
        birth_date=birth_date,
        gender=gender,
        snils=snils or None,
    )
