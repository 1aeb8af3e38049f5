"""Gender as the registry and ESIA spell it."""

from __future__ import annotations

from matching.model import Gender

_SPELLINGS = {
    "m": Gender.MALE,
    "м": Gender.MALE,  # Cyrillic
    "male": Gender.MALE,
    "муж": Gender.MALE,
    "мужской": Gender.MALE,
    "f": Gender.FEMALE,
    "ж": Gender.FEMALE,
    "female": Gender.FEMALE,
    "жен": Gender.FEMALE,
    "женский": Gender.FEMALE,
}


def parse_gender(raw: str | None) -> Gender | None:
    """Read ``M/F``, ``М/Ж`` or ``male/female``; ``None`` or blank is unknown.

    Raises ``ValueError`` for anything else.
    """
    if raw is None or not raw.strip():
        return None
    try:
        return _SPELLINGS[raw.strip().casefold()]
    except KeyError:
        raise ValueError("gender must be M or F (also М/Ж, male/female)") from None
