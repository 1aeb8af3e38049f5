"""ESIA person data as the engine's person, and the tier rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from matching import Gender, Tier
from providers import InvalidUpstreamResponseError, person_from_esia, tier_of


def prns(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "stateFacts": ["EntityRoot"],
        "oid": 1000100001,
        "lastName": "Тестов",
        "firstName": "Пётр",
        "middleName": "Сергеевич",
        "birthDate": "14.07.1990",
        "gender": "M",
        "snils": "112-233-445 95",
        "trusted": False,
        "rIdDoc": 555001,
        "documents": {
            "stateFacts": ["hasSize"],
            "size": 1,
            "elements": [{"stateFacts": ["EntityRoot"], "id": 555001, "type": "RF_PASSPORT", "vrfStu": "VERIFIED"}],
        },
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("overrides", "tier"),
    [
        ({"trusted": True}, Tier.VERIFIED),
        ({}, Tier.STANDARD),  # SNILS + the current identity document verified
        ({"snils": None}, Tier.SIMPLIFIED),
        ({"rIdDoc": None}, Tier.SIMPLIFIED),
        ({"rIdDoc": 999}, Tier.SIMPLIFIED),  # points at no embedded document
        ({"documents": {"size": 1, "elements": [{"id": 555001, "vrfStu": "NOT_VERIFIED"}]}}, Tier.SIMPLIFIED),
        ({"documents": {"size": 1, "elements": ["https://esia.test/rs/prns/1/docs/555001"]}}, Tier.SIMPLIFIED),
        ({"trusted": False, "snils": None, "rIdDoc": None, "documents": None}, Tier.SIMPLIFIED),
    ],
)
def test_tier_follows_trusted_then_snils_and_a_verified_identity_document(overrides: dict[str, Any], tier: Tier) -> None:
    assert tier_of(prns(**overrides)) == tier


def test_tier_reads_documents_passed_apart_from_the_person() -> None:
    data = prns(documents=None)
    assert tier_of(data, [{"id": 555001, "vrfStu": "VERIFIED"}]) is Tier.STANDARD


def test_maps_names_dates_gender_and_snils() -> None:
    person = person_from_esia(prns(trusted=True))
    assert (person.oid, person.tier, person.last_name, person.birth_date, person.gender, person.snils) == (
        "1000100001", Tier.VERIFIED, "Тестов", date(1990, 7, 14), Gender.MALE, "112-233-445 95",
    )  # fmt: skip


def test_missing_fields_become_unknowns_for_the_engine_to_judge() -> None:
    person = person_from_esia({"oid": "1000100001", "firstName": "Анна", "trusted": False})
    assert (person.birth_date, person.gender, person.snils, person.middle_name) == (None, None, None, "")


def test_takes_the_oid_from_the_tokens_and_refuses_a_different_one_in_the_data() -> None:
    assert person_from_esia(prns(oid=None), oid="1000100001").oid == "1000100001"
    with pytest.raises(InvalidUpstreamResponseError) as info:
        person_from_esia(prns(oid=1000100002), oid="1000100001")
    assert info.value.field == "oid"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"oid": None}, "oid"),
        ({"oid": "abc"}, "oid"),
        ({"birthDate": "1990-07-14"}, "birthDate"),
        ({"birthDate": "31.02.1990"}, "birthDate"),
        ({"gender": "X"}, "gender"),
        ({"gender": 1}, "gender"),
        ({"snils": 11223344595}, "snils"),
        ({"lastName": ["Тестов"]}, "lastName"),
        ({"trusted": "yes"}, "trusted"),
        ({"documents": ["not", "a", "collection"]}, "documents"),
    ],
)
def test_unusable_data_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidUpstreamResponseError) as info:
        person_from_esia(prns(**overrides))
    assert info.value.field == field
