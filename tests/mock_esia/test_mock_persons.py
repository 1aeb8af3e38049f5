"""The test persons fixture: every tier and age band, and the awkward names and numbers."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata

import pytest

from mock_esia.errors import ConfigError
from mock_esia.identities import DEFAULT_PERSONS_FILE, load_persons

PERSONS = {person.login: person for person in load_persons()}
RAW = {entry["login"]: entry for entry in json.loads(DEFAULT_PERSONS_FILE.read_text(encoding="utf-8"))["persons"]}
# Every band must hold on each of these days: the test persons' ages must stay true for years.
CHECK_DAYS = [dt.date(2026, 2, 6), dt.date(2026, 11, 28), dt.date(2028, 6, 1), dt.date(2029, 12, 31)]


def snils_is_valid(snils: str) -> bool:
    digits = re.sub(r"\D", "", snils)
    number, checksum = digits[:9], int(digits[9:])
    if int(number) <= 1001998:
        return True
    total = sum(int(d) * w for d, w in zip(number, range(9, 0, -1), strict=True))
    expected = total if total < 100 else 0 if total in (100, 101) else total % 101 % 100
    return expected == checksum


def tier_by_our_rule(entry: dict) -> str:
    """The tier rule (docs/esia.md, 'Person data'), written independently of the mock."""
    if entry["trusted"]:
        return "verified"
    documents = {doc["id"]: doc for doc in entry.get("documents", [])}
    document = documents.get(entry.get("rIdDoc"))
    if entry.get("snils") and document and document["vrfStu"] == "VERIFIED":
        return "standard"
    return "simplified"


def age(birth: str, day: dt.date) -> int:
    born = dt.datetime.strptime(birth, "%d.%m.%Y").date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@pytest.mark.parametrize("login", sorted(RAW))
def test_each_persons_declared_tier_follows_the_tier_rule(login):
    assert RAW[login]["tier"] == tier_by_our_rule(RAW[login])


@pytest.mark.parametrize(
    ("login", "band", "tier"),
    [
        ("kid", "under14", "simplified"),
        ("teen-standard", "14-17", "standard"),
        ("teen-simple", "14-17", "simplified"),
        ("teen-verified", "14-17", "verified"),
        ("adult-verified", "adult", "verified"),
        ("adult-standard", "adult", "standard"),
        ("adult-simple", "adult", "simplified"),
        ("teacher", "adult", "verified"),
    ],
)
def test_every_age_band_and_tier_is_covered_until_2030(login, band, tier):
    entry = RAW[login]
    for day in CHECK_DAYS:
        years = age(entry["birthDate"], day)
        assert {"under14": years < 14, "14-17": 14 <= years <= 17, "adult": years >= 18}[band], (login, day, years)
    assert tier_by_our_rule(entry) == tier


def test_only_the_child_has_a_child_account_and_its_parent_lists_it():
    assert [login for login, p in PERSONS.items() if p.level == "KD"] == ["kid"]
    kid = RAW["kid"]
    assert any(
        (k["lastName"], k["firstName"], k["birthDate"]) == (kid["lastName"], kid["firstName"], kid["birthDate"])
        for k in RAW["teacher"]["kids"]
    )


def test_snils_checksums_are_valid_except_the_deliberately_bad_one():
    invalid = sorted(login for login, entry in RAW.items() if entry.get("snils") and not snils_is_valid(entry["snils"]))

    assert invalid == ["bad-snils"]
    assert all(re.fullmatch(r"\d{3}-\d{3}-\d{3} \d{2}", e["snils"]) for e in RAW.values() if e.get("snils"))


def test_awkward_names_are_present():
    assert "ё" in RAW["yo"]["lastName"] + RAW["yo"]["firstName"] + RAW["yo"]["middleName"]
    assert "-" in RAW["double-surname"]["lastName"]
    assert "middleName" not in RAW["no-patronymic"]
    latin = RAW["latin-letters"]["lastName"] + RAW["latin-letters"]["firstName"]
    scripts = {unicodedata.name(ch).split()[0] for ch in latin}
    assert scripts == {"CYRILLIC", "LATIN"}


def test_namesakes_share_name_and_birth_date_but_not_snils_or_oid():
    one, two = RAW["namesake-1"], RAW["namesake-2"]

    assert [one[k] for k in ("lastName", "firstName", "middleName", "birthDate")] == [
        two[k] for k in ("lastName", "firstName", "middleName", "birthDate")
    ]
    assert one["snils"] != two["snils"] and one["oid"] != two["oid"]


def test_exactly_one_person_declines_consent_and_one_has_no_birth_date():
    assert [login for login, p in PERSONS.items() if p.declines_consent] == ["decline"]
    assert [login for login, p in PERSONS.items() if p.birth_date is None] == ["no-birthdate"]


def test_a_persons_file_with_duplicate_oids_is_refused(tmp_path):
    entries = [RAW["yo"], {**RAW["kid"], "oid": RAW["yo"]["oid"]}]
    path = tmp_path / "persons.json"
    path.write_text(json.dumps({"persons": entries}, ensure_ascii=False), encoding="utf-8")

    with pytest.raises(ConfigError, match="duplicate oid"):
        load_persons(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"snils": "12345678901"}, "NNN-NNN-NNN CC"), ({"rIdDoc": 1}, "rIdDoc"), ({"gender": "X"}, "gender")],
)
def test_a_malformed_person_is_refused_with_a_clear_message(tmp_path, change, message):
    path = tmp_path / "persons.json"
    path.write_text(json.dumps({"persons": [{**RAW["yo"], **change}]}, ensure_ascii=False), encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_persons(path)
