"""SNILS parsing, checksums and the unchecked low range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import InvalidSnilsError, format_snils, mask_snils, parse_snils, snils_checksum


@pytest.mark.parametrize(
    ("number", "check"),
    [
        ("112233445", "95"),  # the textbook example: sum 95, below 100
        ("123456789", "64"),  # sum 165 -> 165 mod 101
        ("001326679", "00"),  # sum exactly 100
        ("001508816", "00"),  # sum exactly 101
        ("017996174", "00"),  # sum 201 -> 201 mod 101 = 100 -> 00
        ("087654303", "00"),  # sum 202 -> 202 mod 101 = 0
        ("999999999", "01"),  # sum 405 -> 405 mod 101 = 1
    ],
)
def test_checksum_follows_the_pension_fund_rule(number: str, check: str) -> None:
    assert snils_checksum(number) == check


@pytest.mark.parametrize(
    "spelling",
    ["112-233-445 95", "11223344595", " 112 233 445 95 ", "112-233-445-95", "112\u2013233\u2013445 95"],
)
def test_parses_every_usual_spelling(spelling: str) -> None:
    assert parse_snils(spelling).digits == "11223344595"


@pytest.mark.parametrize("spelling", ["112-233-445 96", "123-456-789 00", "999-999-999 00"])
def test_refuses_a_bad_checksum(spelling: str) -> None:
    with pytest.raises(InvalidSnilsError) as info:
        parse_snils(spelling)
    assert info.value.code == "snils_checksum"


@pytest.mark.parametrize("spelling", ["", "112-233-445", "112-233-445 955", "abc-def-ghi jk", "١١٢٢٣٣٤٤٥٩٥"])
def test_refuses_anything_but_eleven_digits(spelling: str) -> None:
    with pytest.raises(InvalidSnilsError) as info:
        parse_snils(spelling)
    assert info.value.code == "snils_format"


@pytest.mark.parametrize("spelling", ["000-000-600 06", "000-000-600 99", "001-001-998 00", "001-001-998 77"])
def test_does_not_check_numbers_up_to_001_001_998(spelling: str) -> None:
    assert parse_snils(spelling).digits == spelling.replace("-", "").replace(" ", "")


def test_checks_numbers_from_001_001_999() -> None:
    with pytest.raises(InvalidSnilsError):
        parse_snils("001-001-999 " + ("00" if snils_checksum("001001999") != "00" else "01"))
    assert parse_snils("001-001-999 " + snils_checksum("001001999"))


def test_formats_and_masks_without_leaking_the_number() -> None:
    snils = parse_snils("11223344595")
    assert snils.formatted == format_snils("11223344595") == "112-233-445 95"
    assert str(snils) == "***-***-*45 95"
    assert mask_snils(snils.digits) == "***-***-*45 95"
    assert "112" not in repr(snils)


@given(st.integers(min_value=1001999, max_value=999_999_999))
def test_any_number_with_its_checksum_parses_in_both_spellings(number: int) -> None:
    digits = f"{number:09d}"
    full = digits + snils_checksum(digits)
    assert parse_snils(full).digits == full
    assert parse_snils(format_snils(full)).digits == full


@given(st.integers(min_value=1001999, max_value=999_999_999), st.integers(min_value=0, max_value=99))
def test_any_other_check_digits_are_refused(number: int, check: int) -> None:
    digits = f"{number:09d}"
    if f"{check:02d}" == snils_checksum(digits):
        return
    with pytest.raises(InvalidSnilsError):
        parse_snils(digits + f"{check:02d}")


@given(st.text(max_size=30))
def test_parser_raises_only_its_own_error_on_arbitrary_text(text: str) -> None:
    try:
        snils = parse_snils(text)
    except InvalidSnilsError:
        return
    assert len(snils.digits) == 11 and snils.digits.isdigit()
