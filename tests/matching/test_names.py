"""Name normalisation rules, each reported by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import is_latin_mixed, is_placeholder, name_key, normalise_name


@pytest.mark.parametrize(
    ("raw", "value", "rules"),
    [
        ("Иванов", "иванов", ()),
        ("ИВАНОВ", "иванов", ()),
        ("Сёмина", "семина", ("yo",)),
        ("СЁМИНА", "семина", ("yo",)),
        ("Се\u0308мина", "семина", ("nfc", "yo")),  # decomposed ё
        ("Ии\u0306саков", "иисаков".replace("иис", "ийс"), ("nfc",)),  # decomposed й
        ("Иванова-Петрова", "иванова-петрова", ()),
        ("Иванова – Петрова", "иванова-петрова", ("dash",)),
        ("Иванова\u2014Петрова", "иванова-петрова", ("dash",)),
        ("Иванова\u2010Петрова", "иванова-петрова", ("dash",)),
        ("  Анна   Мария ", "анна мария", ("whitespace",)),
        ("Иванoв", "иванов", ("latin_lookalike",)),  # Latin o
        ("Cидоров", "сидоров", ("latin_lookalike",)),  # Latin C
        ("Smith", "smith", ()),  # a Latin word is left alone
        ("-", "", ("placeholder",)),
        ("нет", "", ("placeholder",)),
        ("Нет", "", ("placeholder",)),
        ("отсутствует", "", ("placeholder",)),
        ("—", "", ("dash", "placeholder")),
        ("", "", ()),
        (None, "", ()),
    ],
)
def test_normalises_and_reports_the_rules_that_fired(raw: str | None, value: str, rules: tuple[str, ...]) -> None:
    normalised = normalise_name(raw)
    assert normalised.value == value
    assert normalised.rules == rules


def test_a_full_name_key_ignores_spelling_variants() -> None:
    assert name_key("Сёмина", "Алёна", "Игоревна") == name_key("СЕМИНА ", "алена", "Игоревна")
    assert name_key("Тестов", "Пётр", "-") == name_key("Тестов", "Петр", "") == "тестов|петр|"


@pytest.mark.parametrize(("raw", "expected"), [("-", True), ("нет", True), ("", False), (None, False), ("Ли", False)])
def test_recognises_placeholders(raw: str | None, expected: bool) -> None:
    assert is_placeholder(raw) is expected


@pytest.mark.parametrize(("raw", "expected"), [("Иванoв", True), ("Иванов", False), ("Smith", False), ("Анна Smith", False)])
def test_recognises_latin_mixed_words(raw: str, expected: bool) -> None:
    assert is_latin_mixed(raw) is expected


_NAMEISH = st.text(
    alphabet=st.sampled_from(list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЕЙaceopxyABCEHKMOPTXY -–—\u0306\u0308.")),
    max_size=24,
)


@given(_NAMEISH)
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalise_name(raw)
    twice = normalise_name(once.value)
    assert twice.value == once.value
    assert twice.rules == ()


@given(_NAMEISH)
def test_normalised_names_have_no_yo_no_capitals_and_no_loose_spaces(raw: str) -> None:
    value = normalise_name(raw).value
    assert "ё" not in value
    assert value == value.casefold()
    assert value == value.strip()
    assert "  " not in value
    assert " -" not in value and "- " not in value


_CYRILLIC_NAMEISH = st.text(alphabet=st.sampled_from(list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЕЙ -–—")), max_size=24)


@given(_CYRILLIC_NAMEISH)
def test_case_and_yo_never_change_the_key(raw: str) -> None:
    assert normalise_name(raw.upper()).value == normalise_name(raw.lower().replace("ё", "е")).value


@given(_CYRILLIC_NAMEISH, st.data())
def test_a_latin_lookalike_inside_a_cyrillic_word_never_changes_the_key(raw: str, data: st.DataObject) -> None:
    cyrillic_to_latin = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "О": "O", "С": "C"}
    positions = [i for i, ch in enumerate(raw) if ch in cyrillic_to_latin]
    if not positions:
        return
    i = data.draw(st.sampled_from(positions))
    word_has_other_cyrillic = any(ch.isalpha() for ch in raw[:i].split(" ")[-1].split("-")[-1] + raw[i + 1 :].split(" ")[0].split("-")[0])
    if not word_has_other_cyrillic:
        return  # a one-letter Latin word is Latin, not a slip
    slipped = raw[:i] + cyrillic_to_latin[raw[i]] + raw[i + 1 :]
    assert normalise_name(slipped).value == normalise_name(raw).value
