"""The staff's words: Russian labels and texts for outcomes, reasons, trace fields and lines, rules,
fixers, re-checks, the account card and unlink.

One place for them, as ``matching/refusals.py`` is for the words the person reads. The support
pages, the region pages and the re-check all use these, so a reason reads alike everywhere; the
re-check's logic holds no words of its own and asks :func:`recheck_ru` for them, and the trace
lines the engine records in English are said in Russian by :func:`trace_detail_ru`.
"""

from __future__ import annotations

import re

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
    "not_me": "«Это не я»",
    "person": "«Это не я»",  # how attempts recorded it before it had a field of its own
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
    "(через API /api/v1/invites или командой broker invites issue) и передаёт его семье; код вводят один раз при первом входе.",
    matching.Reason.INVITE_CODE_INVALID: "Школа человека: выпустить новый код приглашения для этого аккаунта; "
    "после многих неверных попыток ввод кода для аккаунта закрыт на время, заданное в настройках брокера.",
    matching.Reason.ESIA_ERROR: "Тот, кто настраивает вход через Госуслуги (оператор брокера): ответ Госуслуг не прошёл "
    "проверку — сверьте по журналу с кодом обращения адреса ЕСИА, издателя токенов, сертификаты подписи токенов "
    "и ключ клиента; если настройка верна, это временный сбой на стороне Госуслуг.",
}

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
#: ``still_allowed`` of an attempt in which nobody entered an account (see :func:`verdict_ru`).
STILL_ALLOWED_NOT_ENTERED_RU = {
    str(matching.Outcome.CHOOSE_ACCOUNT): "Аккаунты, из которых человек выбирал, по-прежнему доступны для входа через Госуслуги.",
    str(matching.Outcome.LINKED): "Аккаунт, найденный при попытке, по-прежнему доступен для первого входа через Госуслуги.",
}
STILL_ALLOWED_NOT_ENTERED_DEFAULT_RU = "Аккаунт, найденный при попытке, по-прежнему доступен для входа через Госуслуги."


def verdict_ru(verdict: str, *, outcome: str, entered: bool) -> str:
    """What the re-check concludes, in words that fit the attempt: «вошёл» only if someone did."""
    if verdict == "still_allowed" and not entered:
        return STILL_ALLOWED_NOT_ENTERED_RU.get(outcome, STILL_ALLOWED_NOT_ENTERED_DEFAULT_RU)
    return VERDICT_RU[verdict]


#: How an attempt ended when its outcome alone would mislead (the attempt's page, «Чем закончилось»).
NOT_ME_RU = "Человек нажал «Это не я»: вход прерван, ничего не привязано, выполнен выход из Госуслуг."
#: A granted attempt in which nobody got in (no ``completed_at``), by outcome.
NOT_COMPLETED_RU = {
    str(matching.Outcome.LINKED): "Вход не завершён: человек не подтвердил телефон и почту на странице первого входа, ничего не привязано.",
    str(matching.Outcome.CHOOSE_ACCOUNT): "Вход не завершён: человек не выбрал аккаунт.",
}
NOT_COMPLETED_DEFAULT_RU = "Вход не завершён: человек не дошёл до конца."
#: A sign-in through the link the person already had (a lean row, docs/adr/0023): how it ended,
#: why the page shows no checks, and what it says of SNILS (not kept, rather than "not received").
BY_LINK_ENDED_RU = "Вошёл сразу по уже существующей привязке к Госуслугам."
BY_LINK_TRACE_RU = (
    "Вход по существующей привязке: все проверки пройдены, и по отдельности они не сохраняются — "
    "хранятся только итог, время, портал, регион, аккаунт и ключевой хэш идентификатора человека на Госуслугах. "
    "Подробную запись проверок хранят первая привязка, выбор аккаунта и каждый отказ."
)
BY_LINK_SNILS_RU = "СНИЛС при входе по привязке не сохраняется"
#: The link flow met another person at ESIA than the account's owner (a parent linking a child's
#: account while signed in to Gosuslugi as themselves): how it ended, and what the person read,
#: word for word as the refusal page (broker/templates/refusal.html) says it.
OTHER_PERSON_ENDED_RU = (
    "Привязку начали из дневника, а на Госуслугах был выполнен вход под учётной записью другого человека "
    "(например, родителя): ничего не привязано."
)
OTHER_PERSON_MESSAGE_RU = (
    "На Госуслугах сейчас выполнен вход в учётную запись другого человека, а не владельца этого дневника. "
    "Так бывает, когда родитель привязывает аккаунт ребёнка, а на Госуслугах вошёл под своей учётной записью."
)
OTHER_PERSON_NEXT_STEP_RU = (
    "Выйдите из Госуслуг, затем снова нажмите в дневнике «Привязать аккаунт портала Госуслуги» и войдите на Госуслуги "
    "под учётной записью владельца дневника. Или привяжите аккаунт из дневника самого ребёнка, на его устройстве, "
    "где на Госуслугах выполнен вход под его учётной записью."
)
OTHER_PERSON_FIXER_RU = "Вы сами. Данные в дневнике исправлять не нужно."
OTHER_PERSON_FIXER_STAFF_RU = (
    "Сам человек: выйти из Госуслуг и привязать аккаунт под учётной записью владельца дневника. Записи дневника исправлять не нужно."
)
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
    "esia.then": "Отказ при попытке: {reason}.",
    "region.then_disabled": "Вход через Госуслуги в регионе входа не был включён.",
    "age.then": "Возраст при попытке — {age}.",
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


#: An account card's words (``broker.support.links``).
ROLE_RU = {"student": "ученик", "parent": "родитель", "teacher": "учитель", "staff": "сотрудник школы"}
SOURCE_RU = {"import": "из реестра дневника", "login": "при первом входе через Госуслуги", "link": "привязка из дневника"}
#: Unlink: why it was not done, and what it will do (the confirmation page).
UNLINK_RU = {
    "no_reason": "Укажите причину: она попадёт в журнал действий.",
    "long_reason": "Причина — не длиннее {most} знаков.",
    "no_link": "Этот аккаунт не связан с Госуслугами.",
    "changed": "Связь только что изменилась: откройте аккаунт заново и проверьте, что снимаете.",
    "link_required": "Это аккаунт ребёнка младше 14 лет, а в регионе {region} первую связь делают только из дневника: "
    "войти через Госуслуги ребёнок сможет, лишь когда взрослый снова привяжет аккаунт в дневнике "
    "(«Привязать аккаунт портала Госуслуги»).",
    "invite_code": "Это аккаунт ребёнка младше 14 лет, а в регионе {region} первую связь делают по коду приглашения "
    "от школы: для следующего входа через Госуслуги семье понадобится новый код.",
}


# --- the decision trace, said in Russian -----------------------------------------------------------
#
# The engine (``matching.engine``) and the login flow (``broker.login``) record each check of a
# decision with a short English line for the API and the logs' readers (masked values only), and
# the attempt row keeps it so. Staff read it in Russian: :func:`trace_detail_ru` reads the line
# back by the patterns below and says it again with the values it carries (masked names, SNILS
# tails, the birth year, counts, region codes). A line no pattern knows is never shown as it is:
# the page says it could not be read (tests/broker/test_tracewords.py checks that every line the
# engine and the login flow can write has its pattern).

TIER_RU = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}
GENDER_RU = {"M": "мужской", "F": "женский"}
STATUS_RU = {"active": "активен", "blocked": "заблокирован"}
#: The trace's names for the sides of a comparison.
SIDE_RU = {"ESIA": "на Госуслугах", "the diary": "в дневнике"}
#: How the engine looked for accounts (``matching.engine._lookup`` labels).
LOOKUP_RU = {
    "by SNILS": "по СНИЛС",
    "by full name and birth date": "по ФИО и дате рождения",
    "by surname, given name and birth date": "по фамилии, имени и дате рождения",
    "by full name on another birth date": "по ФИО с другой датой рождения",
    "by SNILS, not linked yet": "по СНИЛС среди ещё не связанных",
}
#: How a region links under-14 accounts on the first ESIA login.
FIRST_LINK_HOW_RU = {"with its invite code": "по коду приглашения от школы", "by name and birth date": "по ФИО и дате рождения"}
#: The parts of a birth date that can differ.
DATE_PART_RU = {"year": "год", "month": "месяц", "day": "день"}
#: Why a SNILS ESIA gave is unusable (``matching.InvalidSnilsError.code``).
SNILS_ERROR_RU = {"snils_format": "не 11 цифр", "snils_checksum": "неверное контрольное число"}
#: Why no invite code was accepted (the login flow's codes).
INVITE_DETAIL_RU = {
    "invite_code_wrong": "неверный код, попытки кончились",
    "invite_code_locked": "ввод кода для аккаунта закрыт на время после многих неверных попыток",
    "invite_code_used_meanwhile": "код тем временем уже использовали",
}
#: What a page says for a trace line no pattern knows (a newer engine's, say).
TRACE_UNREAD_RU = "подробности записаны в виде, который эта страница не умеет прочитать"


def _value_ru(value: str) -> str:
    """A masked value as the trace wrote it: ``(empty)`` is said as «пусто»."""
    return "пусто" if value == "(empty)" else value


def _iso_date_ru(value: str) -> str:
    year, month, day = value.split("-")
    return f"{day}.{month}.{year}"


def _compared(esia: str, diary: str) -> str:
    return f"Госуслуги: {_value_ru(esia)}; дневник: {_value_ru(diary)}"


def _not_compared_ru(rest: str) -> str:
    inner = trace_detail_ru(rest)
    if inner == TRACE_UNREAD_RU:
        raise ValueError(rest)  # unread as a whole
    return f"Не сравнивался. {inner}"


_N = r"(\d+)"
_TRACE_PATTERNS: tuple[tuple[str, object], ...] = (
    # region, account_region
    (r"ESIA login is not enabled in region (\S+)", lambda r: f"Вход через Госуслуги в регионе {r} не включён"),
    (r"ESIA login is enabled in region (\S+)", lambda r: f"Вход через Госуслуги в регионе {r} включён"),
    # ESIA's data
    (r"ESIA supplied no birth date", lambda: "Госуслуги не передали дату рождения"),
    (r"birth date (\S+) is after (\d{4}-\d\d-\d\d)", lambda d, t: f"Дата рождения {d} позже дня входа ({_iso_date_ru(t)})"),
    (_N + r" on (\d{4}-\d\d-\d\d) in \S+", lambda n, t: f"{n} (на {_iso_date_ru(t)} по времени региона)"),
    (r"14 and over: standard or verified account; full name, SNILS, birth date and gender",
     lambda: "С 14 лет: стандартная или подтверждённая учётная запись; сравниваются ФИО, СНИЛС, дата рождения и пол"),
    (r"under 14: any account tier; full name and birth date",
     lambda: "До 14 лет: учётная запись любого уровня; сравниваются ФИО и дата рождения"),
    (r"(\w+) account; (\w+) or verified required from 14",
     lambda t, m: f"Учётная запись {TIER_RU[t]}; с 14 лет нужна {TIER_RU[m]} или подтверждённая"),
    (r"(\w+) account is enough at " + _N, lambda t, n: f"Учётной записи уровня «{TIER_RU[t]}» достаточно в возрасте {n}"),
    (r"ESIA supplied no SNILS", lambda: "Госуслуги не передали СНИЛС"),
    (r"ESIA supplied no usable SNILS", lambda: "Госуслуги не передали пригодный СНИЛС"),
    (r"ESIA SNILS is unusable \((\w+)\)", lambda c: f"СНИЛС с Госуслуг непригоден: {SNILS_ERROR_RU.get(c, 'ошибка в номере')}"),
    (r"ESIA SNILS (.+) is well-formed", lambda s: f"СНИЛС с Госуслуг {s} записан верно"),
    # looking for accounts
    (r"through links: " + _N + r" account\(s\); names are not compared again",
     lambda n: f"По связям с Госуслугами: аккаунтов — {n}; ФИО повторно не сравниваются"),
    (r"(by [\w ,]+): " + _N + r" account\(s\)", lambda how, n: f"Поиск {LOOKUP_RU[how]}: аккаунтов — {n}"),
    (r"the account to link does not exist", lambda: "Аккаунта, который привязывают, нет в реестре"),
    (r"link flow: the person's signed-in account only",
     lambda: "Привязка из дневника: проверяется только аккаунт, в который человек вошёл по паролю"),
    # comparing with an account
    (r"(.+) = (.+)", lambda a, b: f"{_compared(a, b)} — совпадает"),
    (r"(.+) vs (.+): absent in (ESIA|the diary)", lambda a, b, s: f"{_compared(a, b)} — нет {SIDE_RU[s]}"),
    (r"(.+) vs (.+): differ", lambda a, b: f"{_compared(a, b)} — различаются"),
    (r"(\S+) vs (\S+): ((?:year|month|day)(?: and (?:year|month|day))*) differ",
     lambda a, b, parts: f"{_compared(a, b)} — различаются: " + ", ".join(DATE_PART_RU[p] for p in parts.split(" and "))),
    (r"absent in the diary", lambda: "В дневнике не указана"),
    (r"not compared: unknown in (ESIA|the diary)", lambda s: f"Не сравнивался: не указан {SIDE_RU[s]}"),
    (r"([MF]) vs ([MF]): not part of the under-14 rule",
     lambda a, b: f"{_compared(GENDER_RU[a], GENDER_RU[b])} — до 14 лет пол не сравнивается"),
    (r"([MF]) vs ([MF])", lambda a, b: f"{_compared(GENDER_RU[a], GENDER_RU[b])} — различаются"),
    (r"equal", lambda: "Совпадает"),
    (r"(.+) equal", lambda v: f"{v} — совпадает"),
    (r"the diary account has no SNILS", lambda: "В аккаунте дневника нет СНИЛС"),
    (r"the diary's SNILS (.+) has a bad checksum", lambda s: f"СНИЛС в дневнике {s} с неверным контрольным числом"),
    (r"not compared: (.+)", _not_compared_ru),
    (r"(\*\*\*-\*\*\*-\*\d\d \d\d) vs (\*\*\*-\*\*\*-\*\d\d \d\d)", lambda a, b: f"{_compared(a, b)} — различаются"),
    # the account's state
    (r"account is active", lambda: "Аккаунт активен"),
    (r"account is not attached to a school", lambda: "Аккаунт не прикреплён к школе"),
    (r"account is attached to a school", lambda: "Аккаунт прикреплён к школе"),
    (r"account is linked to another ESIA person", lambda: "Аккаунт связан с другой учётной записью Госуслуг"),
    (r"account is linked to this ESIA person", lambda: "Аккаунт связан с учётной записью Госуслуг этого человека"),
    (r"account is not linked yet", lambda: "Аккаунт ещё ни с кем не связан"),
    (r"account is (\w+)", lambda s: f"Аккаунт {STATUS_RU[s]}"),
    (r"another ESIA person linked the account meanwhile", lambda: "Пока шёл вход, аккаунт связали с другой учётной записью Госуслуг"),
    # the region's rules for an under-14 first link
    (r"region (\S+): under 14 the first link is made in the diary's link flow \(auto_link_under_14 off\)",
     lambda r: f"Регион {r}: до 14 лет первую связь делают только из дневника, войдя по логину и паролю"),
    (r"region (\S+): under 14 the first link needs the school's invite code \(under_14_first_link invite_code\)",
     lambda r: f"Регион {r}: до 14 лет для первой связи нужен код приглашения от школы"),
    (r"region (\S+) links under-14 accounts on the first ESIA login \((with its invite code|by name and birth date)\)",
     lambda r, how: f"Регион {r} связывает аккаунты детей до 14 лет при первом входе через Госуслуги ({FIRST_LINK_HOW_RU[how]})"),
    (r"no valid invite code was entered \((\w+)\)",
     lambda c: f"Верный код приглашения не введён: {INVITE_DETAIL_RU.get(c, 'код не принят')}"),
    (r"the school's invite code for this account was entered", lambda: "Введён код приглашения от школы для этого аккаунта"),
    # one person or several
    (_N + r" different people match; not guessing", lambda n: f"Подходят аккаунты разных людей ({n}): брокер не выбирает наугад"),
    (r"one person owns " + _N + r" accounts", lambda n: f"У одного человека аккаунтов — {n}"),
    # the login flow
    (r"the person said the ESIA account is not theirs: the login ended, nothing was linked, and they signed out of ESIA",
     lambda: NOT_ME_RU),
    (r"the person said the ESIA account is not theirs and signed out of ESIA", lambda: NOT_ME_RU),  # as recorded before
    (r"ESIA answered from an authentication older than the portal's prompt=login or max_age allows",
     lambda: "Портал просил войти заново, а Госуслуги пустили по прежнему входу, без пароля"),
)  # fmt: skip
_TRACE_COMPILED = tuple((re.compile(pattern), say) for pattern, say in _TRACE_PATTERNS)


def trace_detail_ru(detail: str) -> str:
    """A trace line (``matching.Check.detail``) in Russian, or :data:`TRACE_UNREAD_RU` if no pattern knows it."""
    for pattern, say in _TRACE_COMPILED:
        found = pattern.fullmatch(detail)
        if found is not None:
            try:
                return str(say(*found.groups()))  # type: ignore[operator]
            except (KeyError, ValueError):
                continue
    return TRACE_UNREAD_RU
