"""SNILS (страховой номер индивидуального лицевого счёта): parsing, checksum, formatting."""

from __future__ import annotations

from dataclasses import dataclass
from operator import mul

# Checksums are defined only for numbers above 001-001-998; the lower range was issued before
# the checksum rule and is not checked (Pension Fund rule for insurance numbers).
_UNCHECKED_UP_TO = 1001998
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, 1)
_SEPARATORS = str.maketrans("", "", " -\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")


class InvalidSnilsError(ValueError):
    """A SNILS that is not eleven digits or whose checksum is wrong."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # "snils_format" or "snils_checksum"


@dataclass(frozen=True, slots=True)
class Snils:
    """A well-formed SNILS: eleven digits with a valid checksum (or in the unchecked range)."""

    digits: str

    def __str__(self) -> str:  # never print a full SNILS by accident
        return mask_tail(self.digits)

    def __repr__(self) -> str:
        return f"Snils({mask_tail(self.digits)!r})"

    @property
    def formatted(self) -> str:
        """The full number as ``NNN-NNN-NNN CC`` (personal data: display to its owner only)."""
        return format_snils(self.digits)


def snils_checksum(number: str) -> str:
    """Return the two check digits for the nine-digit ``number``."""
    if len(number) != 9 or not number.isdigit():
        raise ValueError("a SNILS number is nine digits")
    total = sum(map(mul, map(int, number), _WEIGHTS))
    if total > 101:
        total %= 101
    return "00" if total in (100, 101) else f"{total:02d}"


def parse_snils(raw: str) -> Snils:
    """Parse a SNILS in any usual spelling (``123-456-789 01``, ``12345678901``).

    Raises :class:`InvalidSnilsError` with code ``snils_format`` or ``snils_checksum``.
    """
    digits = raw.strip().translate(_SEPARATORS)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise InvalidSnilsError("SNILS must have 11 digits", "snils_format")
    number, check = digits[:9], digits[9:]
    if int(number) > _UNCHECKED_UP_TO and snils_checksum(number) != check:
        raise InvalidSnilsError("SNILS checksum does not match", "snils_checksum")
    return Snils(digits)


def format_snils(digits: str) -> str:
    """Format eleven digits as ``NNN-NNN-NNN CC``."""
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:11]}"


def mask_tail(digits: str) -> str:
    """Keep the last four digits: ``***-***-*45 67``."""
    return f"***-***-*{digits[7:9]} {digits[9:11]}"
