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


#: Per reason: who fixes it, words the "who can fix it" line must hold, and words it must not.
WHO_FIXES = [
    (Reason.REGION_DISABLED, Fixer.REGIONAL_OPERATOR, ("Региональный оператор",), ()),
    # Declining consent is undone by agreeing next time: nothing to fix, no support to call.
    (Reason.ESIA_DENIED, Fixer.PERSON, ("ничего не нужно", "согласитесь"), ("поддержк", "кабинете", "профил")),
    (Reason.ESIA_UNAVAILABLE, Fixer.NOBODY, ("временный сбой", "техническая поддержка электронного дневника"), ()),
    # Validation can fail on the broker's own configuration (a wrong issuer, key or secret).
    (Reason.ESIA_ERROR, Fixer.REGIONAL_OPERATOR, ("Техническая поддержка электронного дневника", "настройке", "временный"), ("Никто",)),
    # Without a birth date the age is unknown: the words name the parent of a child too.
    (Reason.ESIA_DATA_INCOMPLETE, Fixer.PERSON, ("Вы сами", "законный представитель", "Госуслугах"), ()),
    (Reason.TIER_INSUFFICIENT, Fixer.PERSON, ("Вы сами — в личном кабинете на Госуслугах",), ("представитель",)),
    (Reason.NO_ACCOUNT, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.ACCOUNT_BLOCKED, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.NOT_ATTACHED, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.NAME_MISMATCH, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.BIRTHDATE_MISMATCH, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.GENDER_MISMATCH, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.SNILS_MISMATCH, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.SNILS_MISSING_IN_DIARY, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.AMBIGUOUS, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.LINKED_ELSEWHERE, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.LINK_REQUIRED, Fixer.PERSON, ("родитель", "в электронном дневнике"), ("Госуслугах",)),
    (Reason.INVITE_CODE_REQUIRED, Fixer.SCHOOL_ADMIN, ("выдаёт код приглашения",), ()),
    (Reason.INVITE_CODE_INVALID, Fixer.SCHOOL_ADMIN, ("Администратор электронного дневника",), ()),
    (Reason.REAUTHENTICATION_REQUIRED, Fixer.PERSON, ("выйдя из Госуслуг",), ()),
]  # fmt: skip


def test_who_fixes_it_is_listed_for_every_reason() -> None:
    assert [row[0] for row in WHO_FIXES] == list(Reason)


@pytest.mark.parametrize(("reason", "fixer", "says", "never_says"), WHO_FIXES)
def test_each_reason_names_who_can_really_fix_it(reason: Reason, fixer: Fixer, says: tuple[str, ...], never_says: tuple[str, ...]) -> None:
    refusal = REFUSALS[reason]
    assert refusal.fixer is fixer
    assert [w for w in says if w not in refusal.fixer_ru] == []
    assert [w for w in never_says if w in refusal.fixer_ru] == []


def test_a_filled_but_wrong_snils_is_to_be_checked_and_corrected_not_filled_in() -> None:
    # From ESIA a SNILS with a bad checksum refuses esia_data_incomplete; in the diary, snils_mismatch.
    from_esia, in_diary = REFUSALS[Reason.ESIA_DATA_INCOMPLETE], REFUSALS[Reason.SNILS_MISMATCH]
    assert "Заполните" not in from_esia.next_step_ru and "исправьте" in from_esia.next_step_ru
    assert "с ошибкой" in from_esia.message_ru
    assert "Заполните" not in in_diary.next_step_ru and "исправить СНИЛС в дневнике" in in_diary.next_step_ru
    assert "в дневнике записан с ошибкой" in in_diary.message_ru


def test_the_technical_support_asked_for_is_the_diarys_not_gosuslugis() -> None:
    assert "техническую поддержку электронного дневника" in REFUSALS[Reason.ESIA_ERROR].next_step_ru
