"""The refusal table: every reason has its words, and the words are the person's language."""

from __future__ import annotations

import re

import pytest

from matching import REFUSALS, Fixer, Reason

PUBLIC_VOCABULARY = {
    "region_disabled", "esia_denied", "esia_unavailable", "esia_error", "esia_data_incomplete",
    "tier_insufficient", "no_account", "account_blocked", "not_attached", "name_mismatch",
    "birthdate_mismatch", "gender_mismatch", "snils_mismatch", "snils_missing_in_diary",
    "ambiguous", "linked_elsewhere",
    "link_required",  # a region's policy override (issue 5): under 14, the first link by password only
    "invite_code_required", "invite_code_invalid",  # a region's policy override: the school's code
    "reauthentication_required",  # the portal asked for a fresh login; ESIA answered from an older one
}  # fmt: skip


def test_the_reason_codes_are_exactly_the_public_vocabulary() -> None:
    assert {str(r) for r in Reason} == PUBLIC_VOCABULARY


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_russian_message_a_next_step_a_fixer_and_english_text(reason: Reason) -> None:
    refusal = REFUSALS[reason]
    cyrillic = re.compile("[а-яА-ЯёЁ]")
    assert cyrillic.search(refusal.message_ru) and cyrillic.search(refusal.next_step_ru)
    assert refusal.text_en and not cyrillic.search(refusal.text_en)
    assert refusal.fixer in Fixer and cyrillic.search(refusal.fixer_ru)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (Reason.REGION_DISABLED, "регионе"),
        (Reason.ESIA_DENIED, "согласие"),
        (Reason.ESIA_UNAVAILABLE, "не отвечают"),
        (Reason.ESIA_ERROR, "проверить ответ"),
        (Reason.ESIA_DATA_INCOMPLETE, "СНИЛС"),
        (Reason.TIER_INSUFFICIENT, "упрощённая"),
        (Reason.NO_ACCOUNT, "Не найден аккаунт"),
        (Reason.ACCOUNT_BLOCKED, "заблокирован"),
        (Reason.NOT_ATTACHED, "не привязан к учебному заведению"),
        (Reason.NAME_MISMATCH, "Фамилия, имя или отчество"),
        (Reason.BIRTHDATE_MISMATCH, "Дата рождения"),
        (Reason.GENDER_MISMATCH, "Пол"),
        (Reason.SNILS_MISMATCH, "СНИЛС"),
        (Reason.SNILS_MISSING_IN_DIARY, "не указан СНИЛС"),
        (Reason.AMBIGUOUS, "разных людей"),
        (Reason.LINKED_ELSEWHERE, "уже привязан"),
        (Reason.LINK_REQUIRED, "младше 14 лет"),
    ],
)
def test_each_message_names_its_cause(reason: Reason, words: str) -> None:
    assert words in REFUSALS[reason].message_ru


def test_the_link_flow_is_offered_where_it_fixes_the_cause() -> None:
    for reason in (Reason.SNILS_MISSING_IN_DIARY, Reason.AMBIGUOUS, Reason.LINK_REQUIRED):
        assert "Привязать аккаунт портала Госуслуги" in REFUSALS[reason].next_step_ru


def test_link_required_is_fixed_by_the_person_in_the_diary_not_on_gosuslugi() -> None:
    refusal = REFUSALS[Reason.LINK_REQUIRED]
    assert refusal.fixer is Fixer.PERSON
    assert "в электронном дневнике" in refusal.fixer_ru and "Госуслугах" not in refusal.fixer_ru
    assert "логину и паролю" in refusal.next_step_ru and "родител" in refusal.next_step_ru
    assert REFUSALS[Reason.TIER_INSUFFICIENT].fixer_ru == "Вы сами — в личном кабинете на Госуслугах"
