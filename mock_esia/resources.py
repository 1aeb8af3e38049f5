"""The person API's documents: a person, its collections and their elements (docs/esia.md, 'Person data').

Every entity carries ``stateFacts`` and a 40-hex ``eTag``. A collection lists its elements as
absolute URLs (with the explicit port ESIA writes, ``https://host:443/rs/prns/…``) unless
``embed=(elements)`` asks for them inline; a person embeds collections on request with
``embed=(contacts.elements,documents.elements)``. Fields appear only for granted scopes; a
collection no granted scope opens is left out of an embed and is 403 on its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mock_esia.identities import Element, Person
from mock_esia.scopes import ADDRESS_SCOPES, KID_SCOPES, contact_types, document_types

#: Path segment, relation name and schema of each person collection.
COLLECTIONS: dict[str, tuple[str, str]] = {
    "ctts": ("contacts", "rs/model/ctts/Contacts-1"),
    "addrs": ("addresses", "rs/model/addrs/Addresses-1"),
    "docs": ("documents", "rs/model/docs/Documents-1"),
    "kids": ("kids", "rs/model/kids/Kids-1"),
    "vhls": ("vehicles", "rs/model/vhls/Vehicles-1"),
}
PERSON_SCHEMA = "rs/model/prn/Person-3"
_SEGMENT_BY_RELATION = {relation: segment for segment, (relation, _) in COLLECTIONS.items()}

# Person fields by the scope that reveals them; the rest are always present.
_FIELD_SCOPES = {
    "firstName": "fullname",
    "lastName": "fullname",
    "middleName": "fullname",
    "birthDate": "birthdate",
    "birthPlace": "birthplace",
    "gender": "gender",
    "snils": "snils",
    "inn": "inn",
    "citizenship": "id_doc",
}
_PERSON_ORDER = (
    "firstName",
    "lastName",
    "middleName",
    "birthDate",
    "birthPlace",
    "gender",
    "trusted",
    "citizenship",
    "snils",
    "inn",
    "updatedOn",
    "status",
    "verifying",
    "rIdDoc",
    "containsUpCfmCode",
    "kidAccCreatedByParent",
)
_PERSON_DEFAULTS = {"updatedOn": 1767225600, "status": "REGISTERED", "verifying": False, "containsUpCfmCode": False}
_EMBED = re.compile(r"^\((?P<items>[A-Za-z.,\s]*)\)$")


def etag(document: Mapping[str, Any]) -> str:
    """ESIA-style entity tag: 40 uppercase hex digits (here a SHA-1 of the content)."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha1(canonical).hexdigest().upper()


def parse_embed(value: str | None) -> frozenset[str]:
    """Read ``embed=(a,b.elements)``; anything else embeds nothing."""
    if not value:
        return frozenset()
    match = _EMBED.match(value.strip())
    if not match:
        return frozenset()
    return frozenset(item.strip() for item in match["items"].split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class View:
    """Who looks at the data: the granted scopes and the base of absolute URLs."""

    scopes: frozenset[str]
    base_url: str

    def person_url(self, oid: int) -> str:
        return f"{self.base_url}rs/prns/{oid}"


def visible_elements(person: Person, segment: str, view: View) -> tuple[Element, ...] | None:
    """The collection's elements the scopes reveal; None when no granted scope opens it."""
    if segment == "ctts":
        types = contact_types(view.scopes)
        return tuple(e for e in person.contacts if e.type in types) if types else None
    if segment == "docs":
        types = document_types(view.scopes)
        return tuple(e for e in person.documents if e.type in types) if types else None
    if segment == "addrs":
        return person.addresses if view.scopes & ADDRESS_SCOPES else None
    if segment == "kids":
        return person.kids if view.scopes & set(KID_SCOPES) else None
    if segment == "vhls":
        return () if "vehicles" in view.scopes else None
    return None


def element_document(element: Element, segment: str, view: View) -> dict[str, Any]:
    if segment == "kids":
        allowed = {"id"} | {name for scope in view.scopes & set(KID_SCOPES) for name in KID_SCOPES[scope]}
        body = {key: value for key, value in element.attributes.items() if key in allowed}
        facts = ["Identifiable"]
    else:
        body = dict(element.attributes)
        facts = ["EntityRoot"] if segment == "docs" else ["Identifiable"]
    document = {"stateFacts": facts, **body}
    document["eTag"] = etag(document)
    return document


def collection_document(person: Person, segment: str, elements: Iterable[Element], view: View, *, embedded: bool) -> dict[str, Any]:
    items = list(elements)
    document: dict[str, Any] = {"stateFacts": ["hasSize"], "size": len(items)}
    if items:
        if embedded:
            document["elements"] = [element_document(item, segment, view) for item in items]
        else:
            document["elements"] = [f"{view.person_url(person.oid)}/{segment}/{item.id}" for item in items]
    document["eTag"] = etag(document)
    return document


def person_document(person: Person, view: View, embed: frozenset[str]) -> dict[str, Any]:
    fields = {**_PERSON_DEFAULTS, **person.fields}
    document: dict[str, Any] = {"stateFacts": ["EntityRoot"]}
    for name in _PERSON_ORDER:
        if name not in fields:
            continue
        scope = _FIELD_SCOPES.get(name)
        if scope is None or scope in view.scopes:
            document[name] = fields[name]
    for item in sorted(embed):
        relation, _, elements = item.partition(".")
        segment = _SEGMENT_BY_RELATION.get(relation)
        if segment is None:
            continue
        visible = visible_elements(person, segment, view)
        if visible is not None:
            document[relation] = collection_document(person, segment, visible, view, embedded=elements == "elements")
    document["eTag"] = etag(document)
    return document


def person_links(oid: int, view: View) -> list[str]:
    """``Link`` header values naming the person's collections."""
    return [
        f'<{view.person_url(oid)}/{segment}>;rel={relation};schema="{view.base_url}{schema}"'
        for segment, (relation, schema) in COLLECTIONS.items()
    ]
