"""What reaches a support page in words: the English left over, and the times shown.

Used by the page tests (tests/broker/test_support_words.py) and the browser tests
(tests/broker/test_support_browser.py) alike, on the page's HTML.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: The English the support pages used to show: the engine's trace lines, the refusal's English
#: text, the re-check's own words.
OLD_ENGLISH = (
    "not guessing", "differ", "account(s)", "by SNILS", "by full name", "ESIA", "equal", " vs ", "absent in",
    "is enabled", "not enabled", "account is", "not compared", "well-formed", "at the attempt", "required from 14",
    "under 14", "14 and over", "linked to", "(empty)", "Europe/",
)  # fmt: skip
#: Latin words a support page shows on purpose outside a code element: the ESIA term «oid», «API»
#: in the staff's words, and «SHA» of a registry file's SHA-256.
DELIBERATE = {"oid", "API", "SHA"}
#: Elements that hold codes shown on purpose (reference, reason and error codes, ids, logins,
#: settings): their text is not words.
_CODE_CLASSES = {"code", "ref"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_REFERENCE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b")
#: A time on the staff pages: Moscow time to the minute, the zone named.
TIME = re.compile(r"\d\d\.\d\d\.\d{4} \d\d:\d\d( МСК)?")


class _Words(HTMLParser):
    """The text of ``<main>`` without the staff navigation, the style, and code elements."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: whether its text is skipped
        self.in_main = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.in_main = True
        if tag in _VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipped = tag in ("style", "nav", "script", "title") or bool(classes & _CODE_CLASSES)
        self.stack.append(skipped or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.in_main and not (self.stack and self.stack[-1]):
            self.text.append(data)


def words_of(html: str) -> str:
    """The page's words as a person reads them, codes left out."""
    parser = _Words()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split())


def english_on(html: str) -> list[str]:
    """Every English phrase of :data:`OLD_ENGLISH` and every Latin word (other than :data:`DELIBERATE`) on the page."""
    words = _REFERENCE.sub(" ", words_of(html))  # a sample reference code in a hint is a code too
    old = [phrase for phrase in OLD_ENGLISH if phrase in words]
    latin = [word for word in re.findall(r"[A-Za-z][A-Za-z_]*", words) if word not in DELIBERATE]
    return old + latin


def times_on(html: str) -> list[str]:
    """Every date and time shown on the page, as written."""
    return [found.group(0) for found in TIME.finditer(words_of(html))]
