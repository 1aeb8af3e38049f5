"""Name normalisation: the rules that make two spellings of one name compare equal.

Each rule that changes a value is reported by name, so a decision's trace can say why two names
did or did not match:

- ``nfc``: Unicode NFC composition (a decomposed ``й`` or ``ё`` becomes one code point);
- ``invisible``: soft hyphens and zero-width characters are dropped;
- ``latin_lookalike``: Latin letters that look Cyrillic inside a word with Cyrillic letters
  (``Иванoв`` with a Latin ``o``) become Cyrillic;
- case is always ignored (not reported: every name is capitalised somewhere);
- ``yo``: ``ё`` reads as ``е``;
- ``dash``: every dash or hyphen variant becomes ``-``, without spaces around it;
- ``whitespace``: leading and trailing spaces are dropped and inner runs collapse to one;
- ``placeholder``: stand-ins for "none" (``-``, ``нет``, ``отсутствует``…) read as empty.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Latin capitals and small letters that are drawn like Cyrillic ones (the usual OCR/keyboard slips).
_LATIN_TO_CYRILLIC = str.maketrans(
    "ABCEHKMOPTXYaceopxykËë",
    "АВСЕНКМОРТХУасеорхукЁё",
)
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_DASH = r"[\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]"
_DASHES = re.compile(rf"(?:\s*{_DASH})+\s*")
_SPACES = re.compile(r"\s+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-zËë]")
_WORD = re.compile(r"[^\s\-]+")

# Values that registries and forms use for "no value" (compared after the other rules).
PLACEHOLDERS = frozenset(
    {
        "",
        "-",
        ".",
        "нет",
        "не имеет",
        "не указано",
        "не указан",
        "отсутствует",
        "без отчества",
        "нет отчества",
        "none",
        "null",
        "n/a",
    }
)


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name part after normalisation, with the rules that changed it."""

    value: str
    rules: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.value


def _fix_lookalikes(word: re.Match[str]) -> str:
    text = word.group(0)
    if _CYRILLIC.search(text) and _LATIN.search(text):
        return text.translate(_LATIN_TO_CYRILLIC)
    return text


_PLAIN = re.compile(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)*")
_EMPTY = NormalisedName("")
_YO = ("yo",)


@lru_cache(maxsize=65536)
def normalise_name(raw: str | None) -> NormalisedName:
    """Normalise one name part (a surname, a given name or a patronymic).

    Cached: a registry repeats the same surnames, given names and patronymics millions of times.
    """
    if raw is None:
        return _EMPTY
    if _PLAIN.fullmatch(raw):  # the common case: plain Cyrillic letters, maybe a double surname
        folded = raw.casefold()
        if "ё" in folded:
            return NormalisedName(folded.replace("ё", "е"), _YO)
        return NormalisedName(folded) if folded not in PLACEHOLDERS else NormalisedName("", ("placeholder",))
    rules: list[str] = []
    text = unicodedata.normalize("NFC", raw)
    if text != raw:
        rules.append("nfc")
    visible = _INVISIBLE.sub("", text)
    if visible != text:
        rules.append("invisible")
        text = visible
    fixed = _WORD.sub(_fix_lookalikes, text)
    if fixed != text:
        rules.append("latin_lookalike")
        text = unicodedata.normalize("NFC", fixed)  # a mapped letter may take a combining mark
    text = text.casefold()  # always applied; ordinary capitalisation is not worth reporting
    if "ё" in text:
        rules.append("yo")
        while "ё" in text:
            # Re-compose: an е left by ё may take a stray combining mark that follows it.
            text = unicodedata.normalize("NFC", text.replace("ё", "е"))
    dashed = _DASHES.sub("-", text)
    if dashed != text:
        # A plain hyphen with no spaces around it is not a change worth reporting.
        rules.append("dash")
        text = dashed
    spaced = _SPACES.sub(" ", text).strip()
    if spaced != text:
        rules.append("whitespace")
        text = spaced
    stripped = text.strip("-")
    if stripped != text and stripped and not _placeholder(text):
        rules.append("dash")
        text = stripped
    if _placeholder(text):
        if text:
            rules.append("placeholder")
        text = ""
    return NormalisedName(text, tuple(dict.fromkeys(rules)))


def _placeholder(text: str) -> bool:
    return text in PLACEHOLDERS or (bool(text) and set(text) <= {"-", ".", " "})


def is_placeholder(raw: str | None) -> bool:
    """Whether ``raw`` is a stand-in for "no value" (``-``, ``нет``...) rather than a name."""
    return bool(raw and raw.strip()) and normalise_name(raw).is_empty


def is_latin_mixed(raw: str | None) -> bool:
    """Whether a word of ``raw`` mixes Latin and Cyrillic letters (a data-quality problem)."""
    if not raw:
        return False
    return any(_CYRILLIC.search(w) and _LATIN.search(w) for w in _WORD.findall(raw))


def short_name_key(last_name: str | None, first_name: str | None) -> str:
    """The lookup key for a surname and given name, whatever the patronymic."""
    return f"{normalise_name(last_name).value}|{normalise_name(first_name).value}"


def name_key(last_name: str | None, first_name: str | None, middle_name: str | None) -> str:
    """The lookup key for a full name: the three normalised parts joined by ``|``."""
    return "|".join(
        (
            normalise_name(last_name).value,
            normalise_name(first_name).value,
            normalise_name(middle_name).value,
        )
    )
