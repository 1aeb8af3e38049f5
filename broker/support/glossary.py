"""The staff's words: Russian labels and texts for outcomes, reasons, trace fields, rules and fixers.

One place for them, as ``matching/refusals.py`` is for the words the person reads. The support
pages, the region pages and the re-check all use these, so a reason reads alike everywhere.
"""

from __future__ import annotations

import matching

OUTCOME_RU = {
    matching.Outcome.SIGNED_IN: "вход по связи",
    matching.Outcome.LINKED: "первый вход: связь с Госуслугами",
    matching.Outcome.CHOOSE_ACCOUNT: "выбор аккаунта",
    matching.Outcome.REFUSED: "отказ",
}
#: Short staff labels of the refusal reasons (the person's words are in ``matching.REFUSALS``).
REASON_RU = {
    matching.Reason.REGION_DISABLED: "вход в регионе не включён",
    matching.Reason.ESIA_DENIED: "отказ на Госуслугах (нет согласия)",
    matching.Reason.ESIA_UNAVAILABLE: "Госуслуги не ответили",
    matching.Reason.ESIA_ERROR: "ответ Госуслуг не прошёл проверку",
    matching.Reason.ESIA_DATA_INCOMPLETE: "Госуслуги не передали нужные данные",
    matching.Reason.TIER_INSUFFICIENT: "с 14 лет упрощённой учётной записи мало",
    matching.Reason.NO_ACCOUNT: "аккаунт не найден",
    matching.Reason.ACCOUNT_BLOCKED: "аккаунт заблокирован",
    matching.Reason.NOT_ATTACHED: "аккаунт не прикреплён к школе",
    matching.Reason.NAME_MISMATCH: "не совпадает ФИО",
    matching.Reason.BIRTHDATE_MISMATCH: "не совпадает дата рождения",
    matching.Reason.GENDER_MISMATCH: "не совпадает пол",
    matching.Reason.SNILS_MISMATCH: "не совпадает СНИЛС",
    matching.Reason.SNILS_MISSING_IN_DIARY: "в дневнике нет СНИЛС",
    matching.Reason.AMBIGUOUS: "подходят аккаунты разных людей",
    matching.Reason.LINKED_ELSEWHERE: "аккаунт связан с другой учётной записью Госуслуг",
    matching.Reason.LINK_REQUIRED: "до 14 лет первая привязка только из дневника (настройка региона)",
    matching.Reason.INVITE_CODE_REQUIRED: "до 14 лет первая привязка по коду приглашения от школы (настройка региона)",
    matching.Reason.INVITE_CODE_INVALID: "код приглашения не подошёл (ошибки, использован, отозван или истёк)",
    matching.Reason.REAUTHENTICATION_REQUIRED: "портал просил войти заново, Госуслуги пустили по прежнему входу",
}
FIELD_RU = {
    "region": "Регион входа",
    "esia_birth_date": "Дата рождения на Госуслугах",
    "age": "Возраст на день входа",
    "rule": "Правило",
    "tier": "Уровень учётной записи Госуслуг",
    "esia_snils": "СНИЛС с Госуслуг",
    "lookup": "Поиск в дневнике",
    "last_name": "Фамилия",
    "first_name": "Имя",
    "middle_name": "Отчество",
    "birth_date": "Дата рождения",
    "gender": "Пол",
    "snils": "СНИЛС",
    "account_region": "Регион аккаунта",
    "status": "Состояние аккаунта",
    "school": "Прикрепление к школе",
    "link": "Связь с Госуслугами",
    "identity": "Один человек или разные",
    "policy": "Настройка региона",
    "invite_code": "Код приглашения от школы",
    "auth_time": "Когда Госуслуги спросили пароль",
}
RESULT_RU = {"pass": "пройдена", "fail": "не пройдена", "info": "сведения"}
RULE_RU = {
    "nfc": "Юникод приведён к одной форме",
    "invisible": "убраны невидимые символы",
    "latin_lookalike": "латинские буквы заменены похожими кириллическими",
    "yo": "«ё» прочитана как «е»",
    "dash": "тире и дефисы приведены к «-»",
    "whitespace": "лишние пробелы убраны",
    "placeholder": "заглушка («-», «нет») прочитана как пусто",
}
RULE_SIDE_RU = {"esia": "Госуслуги", "diary": "дневник"}
#: Who can fix it, said to a member of staff (the person's page says it to the person).
FIXER_STAFF_RU = {
    matching.Fixer.PERSON: "Сам человек — в своём профиле на Госуслугах; затем пусть войдёт снова.",
    matching.Fixer.SCHOOL_ADMIN: "Администратор электронного дневника в школе человека: только он исправляет записи дневника.",
    matching.Fixer.REGIONAL_OPERATOR: "Региональный оператор: вход через Госуслуги включается по регионам.",
    matching.Fixer.NOBODY: "Исправлять нечего: это временный сбой, пусть человек повторит вход позже.",
}
#: Reasons whose fixer does the fix somewhere else than the fixer's usual place.
FIXER_STAFF_BY_REASON_RU = {
    matching.Reason.LINK_REQUIRED: "Сам человек или его родитель — в электронном дневнике: войти по логину и паролю "
    "и выбрать «Привязать аккаунт портала Госуслуги»; затем вход через Госуслуги пройдёт.",
    matching.Reason.INVITE_CODE_REQUIRED: "Школа человека: сотрудник выпускает код приглашения для этого аккаунта "
    "(API /api/v1/invites или `broker invites issue`) и передаёт его семье; код вводят один раз при первом входе.",
    matching.Reason.INVITE_CODE_INVALID: "Школа человека: выпустить новый код приглашения для этого аккаунта; "
    "после многих неверных попыток ввод кода для аккаунта закрыт на время (INVITE_FAILURE_WINDOW_SECONDS).",
}
TIER_RU = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}
