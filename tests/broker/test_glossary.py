"""The staff's words (``broker.support.glossary``): every reason, outcome and fixer has them."""

from __future__ import annotations

from flask import Flask

import matching
from broker.support import glossary


def test_every_reason_and_outcome_has_its_staff_words(app: Flask) -> None:
    assert set(glossary.REASON_RU) == set(matching.Reason)
    assert set(glossary.OUTCOME_RU) == set(matching.Outcome)
    assert set(glossary.FIXER_STAFF_RU) == set(matching.Fixer)
