"""The staff's words (``broker.support.glossary``): every reason, outcome, fixer and re-check verdict has them."""

from __future__ import annotations

import re

from flask import Flask

import matching
from broker.support import glossary
from broker.support.recheck import Verdict


def test_every_reason_and_outcome_has_its_staff_words(app: Flask) -> None:
    assert set(glossary.REASON_RU) == set(matching.Reason)
    assert set(glossary.OUTCOME_RU) == set(matching.Outcome)
    assert set(glossary.FIXER_STAFF_RU) == set(matching.Fixer)


def test_every_verdict_of_the_recheck_has_its_staff_words() -> None:
    assert set(glossary.VERDICT_RU) == set(Verdict)


def test_the_recheck_words_fill_in_their_values() -> None:
    assert glossary.recheck_ru("account_region.disabled", region="39 Калининградская область") == (
        "Вход через Госуслуги в регионе аккаунта (39 Калининградская область) выключен."
    )
    assert "{" not in glossary.recheck_ru("status.blocked")


def test_staff_are_told_that_a_technical_error_may_be_the_logins_configuration() -> None:
    """Not «Региональный оператор: вход включается по регионам»: a wrong issuer or key is whoever set the login up."""
    words = glossary.FIXER_STAFF_BY_REASON_RU[matching.Reason.ESIA_ERROR]
    assert "издателя токенов" in words and "ключ клиента" in words and "временный сбой" in words


def test_no_staff_words_carry_markdown_backticks_or_a_settings_key() -> None:
    """The glossary's words are shown as they are on HTML pages: no `code` marks, no UPPER_SNAKE setting names."""
    texts = [text for value in vars(glossary).values() if isinstance(value, dict) for text in value.values() if isinstance(text, str)]
    assert len(texts) > 20
    assert [text for text in texts if "`" in text or re.search(r"\b[A-Z]+(?:_[A-Z]+)+\b", text)] == []
