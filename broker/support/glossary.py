"""The staff's words: Russian labels and texts for outcomes, reasons, trace fields, rules, fixers and re-checks.

One place for them, as ``matching/refusals.py`` is for the words the person reads. The support
pages, the region pages and the re-check all use these, so a reason reads alike everywhere; the
re-check's logic holds no words of its own and asks :func:`recheck_ru` for them.
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
    matching.Reason.ESIA_ERROR: "Тот, кто настраивает вход через Госуслуги (оператор брокера): ответ Госуслуг не прошёл "
    "проверку — сверьте по журналу с кодом обращения адреса ЕСИА, издателя (ESIA_ISSUER), сертификаты подписи токенов "
    "и ключ клиента; если настройка верна, это временный сбой на стороне Госуслуг.",
}
TIER_RU = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}

#: What re-checking an attempt now concludes (``broker.support.recheck.Verdict``), said to staff.
VERDICT_RU = {
    "still_refused": "Если человек войдёт сейчас, вход снова не получится.",
    "cause_removed": "Причина отказа, записанная при попытке, устранена: пусть человек войдёт снова. "
    "Окончательно решит новый вход — он заново сравнит данные Госуслуг с дневником.",
    "cannot_tell": "По тому, что хранит брокер, повтор отказа предсказать нельзя: причина в данных "
    "Госуслуг, а их брокер не хранит. Узнать можно только новым входом.",
    "still_allowed": "Аккаунт, в который человек вошёл, по-прежнему доступен для входа через Госуслуги.",
    "no_longer_allowed": "Войти так, как при этой попытке, сейчас не получится.",
}
#: The re-check's names for what it checks again, by topic (most are the trace's field names).
RECHECK_LABEL_RU = {
    "region": FIELD_RU["region"],
    "esia": "Данные и ответ Госуслуг",
    "lookup_by_snils": "Аккаунт со СНИЛС человека",
    "lookup": "Поиск аккаунта",
    "account": "Аккаунт",
    "account_region": FIELD_RU["account_region"],
    "status": FIELD_RU["status"],
    "school": FIELD_RU["school"],
    "link": FIELD_RU["link"],
    "age": "Возраст сегодня (по дате рождения в дневнике)",
    "policy": FIELD_RU["policy"],
    "snils": "СНИЛС в дневнике",
    "identity": "ФИО, дата рождения, пол",
}
#: What the re-check finds now, by topic and case; :func:`recheck_ru` fills in the ``{names}``.
RECHECK_RU = {
    "attempt_not_found": "Попытки входа {attempt}{scope} нет.",
    "esia.unknown": "Брокер не хранит данные человека с Госуслуг (уровень учётной записи, дату рождения, "
    "СНИЛС): проверить их можно только новым входом.",
    "region.enabled": "Вход через Госуслуги в регионе {region} включён.",
    "region.disabled": "Вход через Госуслуги в регионе {region} выключен.",
    "lookup_by_snils.adult": "В дневнике по-прежнему нет аккаунта с СНИЛС, который передали Госуслуги.",
    "lookup_by_snils.child": "В дневнике по-прежнему нет аккаунта с СНИЛС, который передали Госуслуги. "
    "До 14 лет аккаунт ищут по ФИО и дате рождения, а их брокер не хранит.",
    "lookup.unknown": "Аккаунт искали по ФИО и дате рождения; брокер их не хранит, поэтому повторить поиск нельзя.",
    "account.gone": "Аккаунта {account_id} в реестре дневника больше нет.",
    "account_region.enabled": "Вход через Госуслуги в регионе аккаунта ({region}) включён.",
    "account_region.disabled": "Вход через Госуслуги в регионе аккаунта ({region}) выключен.",
    "status.active": "Аккаунт активен.",
    "status.blocked": "Аккаунт заблокирован.",
    "school.attached": "Аккаунт прикреплён к школе.",
    "school.not_attached": "Аккаунт не прикреплён к школе.",
    "link.none": "Аккаунт ни с кем не связан: при входе его найдут заново.",
    "link.own": "Аккаунт связан с учётной записью Госуслуг этого человека.",
    "link.unknown": "Аккаунт связан с учётной записью Госуслуг; с чьей — по этой попытке не узнать (Госуслуги не назвали человека).",
    "link.elsewhere": "Аккаунт связан с другой учётной записью Госуслуг.",
    "age.tier_insufficient": "{age} — человеку исполнилось 14 после попытки: теперь нужна стандартная или "
    "подтверждённая учётная запись Госуслуг, а при попытке была упрощённая.",
    "age.turned_14": "{age} — исполнилось 14 после попытки: теперь действует правило 14+ (ФИО и СНИЛС).",
    "age.same_rule": "{age}.",
    "policy.auto_link": "В регионе аккаунта ({region}) аккаунт ребёнка младше 14 лет связывается с Госуслугами при первом входе.",
    "policy.link_required": "В регионе аккаунта ({region}) аккаунт ребёнка младше 14 лет связывают с Госуслугами "
    "только из дневника, войдя по логину и паролю («Привязать аккаунт портала Госуслуги»).",
    "snils.missing_in_diary.adult": "В аккаунте дневника нет СНИЛС. С 14 лет без него найти аккаунт по данным Госуслуг нельзя.",
    "snils.missing_in_diary.child": "В аккаунте дневника нет СНИЛС. До 14 лет СНИЛС не обязателен.",
    "snils.bad_checksum": "СНИЛС в дневнике ({snils}) с неверным контрольным числом.",
    "snils.not_compared": "СНИЛС в дневнике есть ({snils}); Госуслуги при попытке СНИЛС не передали — сравнить не с чем.",
    "snils.equal": "СНИЛС в дневнике ({snils}) совпадает с переданным Госуслугами.",
    "snils.different": "СНИЛС в дневнике ({snils}) не совпадает с переданным Госуслугами.",
    "identity.changed": "Не совпадали: {fields}. Запись в дневнике обновлялась после попытки: сравнить её с "
    "данными Госуслуг сможет только новый вход.",
    "identity.unchanged": "Не совпадали: {fields}. Запись в дневнике не менялась после попытки: если человек "
    "не исправил данные на Госуслугах, отказ повторится.",
}


def recheck_ru(key: str, **values: object) -> str:
    """The re-check's words for ``key`` (see :data:`RECHECK_RU`), with ``values`` filled in."""
    return RECHECK_RU[key].format(**values)
