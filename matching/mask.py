"""Masking of personal data for traces and support views (152-FZ: show no more than needed)."""

from __future__ import annotations

from datetime import date

from matching.snils import mask_tail


def mask_name(value: str) -> str:
    """Keep the first letter: ``Иванова`` -> ``И******``. Empty stays empty."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)


def mask_birth_date(value: date | None) -> str:
    """Keep the year only: ``2010-**-**``."""
    return f"{value.year:04d}-**-**" if value else ""


def mask_snils(digits: str) -> str:
    """Keep the last four digits: ``***-***-*45 67``."""
    return mask_tail(digits)


def mask_oid(oid: str) -> str:
    """Keep the last four characters of an ESIA person id: ``1000300015`` -> ``******0015``."""
    return "*" * max(len(oid) - 4, 2) + oid[-4:]
