"""The public vocabulary of refusals: one table, one row per reason.

Each reason has the message the person reads (Russian), the next step, who can fix it and an
English text for logs and staff. Pages, logs, docs and tests all take their words from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    REGION_DISABLED = "region_disabled"
    ESIA_DENIED = "esia_denied"
    ESIA_UNAVAILABLE = "esia_unavailable"
    ESIA_ERROR = "esia_error"
    ESIA_DATA_INCOMPLETE = "esia_data_incomplete"
    TIER_INSUFFICIENT = "tier_insufficient"
    NO_ACCOUNT = "no_account"
    ACCOUNT_BLOCKED = "account_blocked"
    NOT_ATTACHED = "not_attached"
    NAME_MISMATCH = "name_mismatch"
    BIRTHDATE_MISMATCH = "birthdate_mismatch"
    GENDER_MISMATCH = "gender_mismatch"
    SNILS_MISMATCH = "snils_mismatch"
    SNILS_MISSING_IN_DIARY = "snils_missing_in_diary"
    AMBIGUOUS = "ambiguous"
    LINKED_ELSEWHERE = "linked_elsewhere"
    LINK_REQUIRED = "link_required"  # a region override: under 14, the first link only by password
    INVITE_CODE_REQUIRED = "invite_code_required"  # a region override: under 14, the first link needs the school's code
    INVITE_CODE_INVALID = "invite_code_invalid"  # the code was wrong too often (or is used, expired, revoked)
    # The portal asked for a fresh login (prompt=login, max_age) and ESIA let the person in from an
    # older authentication without asking again: the portal is answered login_required.
    REAUTHENTICATION_REQUIRED = "reauthentication_required"


class Fixer(StrEnum):
    """Who can remove the cause of a refusal."""

    PERSON = "person"  # the person (under 14, a parent), in their Gosuslugi profile
    SCHOOL_ADMIN = "school_admin"  # the school's diary administrator
    REGIONAL_OPERATOR = "regional_operator"  # who runs the diary and its Gosuslugi login in the region
    NOBODY = "nobody"  # nothing to fix: try again later


FIXER_RU = {
    # The age is not known to every refusal (no birth date from ESIA), so the words fit both.
    Fixer.PERSON: "Вы сами или, если вам нет 14 лет, родитель (законный представитель) — в личном кабинете на Госуслугах",
    Fixer.SCHOOL_ADMIN: "Администратор электронного дневника в вашей школе",
    Fixer.REGIONAL_OPERATOR: "Региональный оператор электронного дневника",
    Fixer.NOBODY: "Никто: это временный сбой, повторите попытку позже",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    message_ru: str
    next_step_ru: str
    fixer: Fixer
    text_en: str
    #: Who fixes it, in the person's words, where the fixer's usual words do not fit (the person
    #: fixes ``link_required`` in the diary, not in their Gosuslugi profile). The words are the
    #: same whatever the person's age: where a child may read them, they name the parent too.
    fixer_note_ru: str | None = None

    @property
    def fixer_ru(self) -> str:
        return self.fixer_note_ru or FIXER_RU[self.fixer]


def _table(*rows: Refusal) -> dict[Reason, Refusal]:
    table = {row.reason: row for row in rows}
    missing = set(Reason) - set(table)
    if missing:  # a new reason without its words is a programming error, caught at import
        raise ValueError(f"no refusal text for {sorted(missing)}")
    return table


REFUSALS: dict[Reason, Refusal] = _table(
    Refusal(
        Reason.REGION_DISABLED,
        "Вход через Госуслуги в вашем регионе пока не подключён.",
        "Войдите в дневник по логину и паролю.",
        Fixer.REGIONAL_OPERATOR,
        "ESIA login is not enabled for this region.",
    ),
    Refusal(
        Reason.ESIA_DENIED,
        "Вход отменён: на Госуслугах не было дано согласие на передачу данных.",
        "Попробуйте войти ещё раз и подтвердите передачу данных на Госуслугах или войдите по логину и паролю.",
        Fixer.PERSON,
        "The person declined or cancelled at ESIA.",
        "Вы сами: исправлять ничего не нужно, войдите ещё раз и согласитесь на передачу данных",
    ),
    Refusal(
        Reason.ESIA_UNAVAILABLE,
        "Госуслуги сейчас не отвечают.",
        "Повторите попытку через несколько минут или войдите по логину и паролю.",
        Fixer.NOBODY,
        "ESIA did not answer in time or answered with a server error.",
        "Обычно никто: это временный сбой. Если он не проходит, — техническая поддержка электронного дневника",
    ),
    Refusal(
        Reason.ESIA_ERROR,
        "Не удалось проверить ответ Госуслуг.",
        "Повторите вход с начала. Если ошибка повторяется, сообщите код обращения в техническую поддержку электронного дневника.",
        # A wrong issuer, key or client secret is the configuration of whoever runs the login.
        Fixer.REGIONAL_OPERATOR,
        "The ESIA response failed protocol or token validation.",
        "Техническая поддержка электронного дневника: причина может быть в настройке входа через Госуслуги. Возможно, это временный сбой",
    ),
    Refusal(
        Reason.ESIA_DATA_INCOMPLETE,
        # Also a SNILS with a bad checksum or a birth date in the future: filled in, but wrong.
        "Госуслуги не передали данные, нужные для входа, или передали их с ошибкой (дата рождения, а с 14 лет — СНИЛС).",
        "Проверьте дату рождения и СНИЛС в профиле на Госуслугах: добавьте недостающее или исправьте "
        "ошибку, дождитесь проверки и повторите вход.",
        Fixer.PERSON,
        "ESIA did not supply the data the rule needs, or supplied it unusable (birth date; SNILS from age 14).",
    ),
    Refusal(
        Reason.TIER_INSUFFICIENT,
        "С 14 лет для входа нужна стандартная или подтверждённая учётная запись Госуслуг, а ваша — упрощённая.",
        "Заполните в профиле на Госуслугах паспорт и СНИЛС и дождитесь проверки (от 15 минут до 5 дней) или подтвердите учётную запись.",
        Fixer.PERSON,
        "From age 14 a standard or verified ESIA account is required; this one is simplified.",
        "Вы сами — в личном кабинете на Госуслугах",  # only from 14: no parent needed
    ),
    Refusal(
        Reason.NO_ACCOUNT,
        "Не найден аккаунт в электронном дневнике с вашими данными.",
        "Обратитесь к администратору электронного дневника в школе: он создаст аккаунт или исправит ваши данные.",
        Fixer.SCHOOL_ADMIN,
        "No diary account matches this person.",
    ),
    Refusal(
        Reason.ACCOUNT_BLOCKED,
        "Ваш аккаунт в электронном дневнике заблокирован.",
        "Обратитесь к администратору электронного дневника в школе.",
        Fixer.SCHOOL_ADMIN,
        "The matching diary account is blocked.",
    ),
    Refusal(
        Reason.NOT_ATTACHED,
        "Ваш аккаунт в электронном дневнике не привязан к учебному заведению.",
        "Обратитесь к администратору электронного дневника в школе, чтобы он прикрепил аккаунт к школе.",
        Fixer.SCHOOL_ADMIN,
        "The matching diary account is not attached to a school.",
    ),
    Refusal(
        Reason.NAME_MISMATCH,
        "Фамилия, имя или отчество на Госуслугах и в электронном дневнике не совпадают.",
        "Проверьте ФИО в профиле на Госуслугах. Если там всё верно, попросите администратора дневника в школе исправить ФИО в дневнике.",
        Fixer.SCHOOL_ADMIN,
        "The full name differs between ESIA and the diary.",
    ),
    Refusal(
        Reason.BIRTHDATE_MISMATCH,
        "Дата рождения на Госуслугах и в электронном дневнике не совпадает.",
        "Проверьте дату рождения в профиле на Госуслугах. Если там всё верно, попросите "
        "администратора дневника в школе исправить её в дневнике.",
        Fixer.SCHOOL_ADMIN,
        "The birth date differs between ESIA and the diary.",
    ),
    Refusal(
        Reason.GENDER_MISMATCH,
        "Пол на Госуслугах и в электронном дневнике не совпадает.",
        "Проверьте профиль на Госуслугах. Если там всё верно, попросите администратора дневника в школе исправить данные в дневнике.",
        Fixer.SCHOOL_ADMIN,
        "The gender differs between ESIA and the diary.",
    ),
    Refusal(
        Reason.SNILS_MISMATCH,
        # Also a SNILS with a bad checksum in the diary: filled in, but wrong there.
        "СНИЛС на Госуслугах и в электронном дневнике не совпадает или в дневнике записан с ошибкой.",
        "Проверьте СНИЛС в профиле на Госуслугах. Если там всё верно, попросите "
        "администратора дневника в школе проверить и исправить СНИЛС в дневнике.",
        Fixer.SCHOOL_ADMIN,
        "The SNILS differs between ESIA and the diary, or the diary's has a bad checksum.",
    ),
    Refusal(
        Reason.SNILS_MISSING_IN_DIARY,
        "В электронном дневнике у вашего аккаунта не указан СНИЛС, поэтому найти его по данным Госуслуг нельзя.",
        "Войдите в дневник по логину и паролю и выберите «Привязать аккаунт портала "
        "Госуслуги» или попросите администратора дневника в школе внести СНИЛС.",
        Fixer.SCHOOL_ADMIN,
        "The diary account of a person aged 14+ has no SNILS; use the link flow.",
    ),
    Refusal(
        Reason.AMBIGUOUS,
        "Ваши данные подходят к аккаунтам разных людей в электронном дневнике, поэтому выбрать аккаунт автоматически нельзя.",
        "Войдите в дневник по логину и паролю и выберите «Привязать аккаунт портала "
        "Госуслуги» или обратитесь к администратору дневника в школе.",
        Fixer.SCHOOL_ADMIN,
        "Several different people in the diary match this person.",
    ),
    Refusal(
        Reason.LINKED_ELSEWHERE,
        "Этот аккаунт электронного дневника уже привязан к другой учётной записи Госуслуг.",
        "Войдите через ту учётную запись Госуслуг, к которой привязан аккаунт, или обратитесь к администратору дневника в школе.",
        Fixer.SCHOOL_ADMIN,
        "The diary account is linked to a different ESIA person.",
    ),
    Refusal(
        Reason.LINK_REQUIRED,
        "В вашем регионе аккаунт ребёнка младше 14 лет связывают с Госуслугами только "
        "из электронного дневника, поэтому в первый раз войти через Госуслуги нельзя.",
        "Войдите в дневник по логину и паролю и выберите в настройках «Привязать аккаунт "
        "портала Госуслуги» или попросите об этом родителя. После этого вход через Госуслуги "
        "будет работать.",
        Fixer.PERSON,
        "Under 14, the region links an account to ESIA only in the link flow (password first).",
        "Вы сами или ваш родитель — в электронном дневнике, войдя по логину и паролю",
    ),
    Refusal(
        Reason.INVITE_CODE_REQUIRED,
        "В вашем регионе аккаунт ребёнка младше 14 лет в первый раз связывают с Госуслугами "
        "только по коду приглашения, который выдаёт школа.",
        "Попросите код приглашения у администратора электронного дневника в школе и войдите "
        "через Госуслуги ещё раз: код нужно ввести один раз, при первом входе.",
        Fixer.SCHOOL_ADMIN,
        "Under 14, the region links an account on its first ESIA login only with the school's invite code.",
        "Администратор электронного дневника в школе: он выдаёт код приглашения",
    ),
    Refusal(
        Reason.REAUTHENTICATION_REQUIRED,
        "Портал попросил войти заново, а Госуслуги пропустили без пароля: на этом устройстве "
        "уже выполнен вход в Госуслуги, возможно, другим человеком.",
        "Выйдите из Госуслуг на этом устройстве (gosuslugi.ru, «Выйти») и войдите через Госуслуги ещё раз.",
        Fixer.PERSON,
        "The portal asked for a fresh login; ESIA answered from an older authentication without asking the person.",
        "Вы сами — выйдя из Госуслуг на этом устройстве",
    ),
    Refusal(
        Reason.INVITE_CODE_INVALID,
        "Код приглашения не подошёл: он введён с ошибкой слишком много раз, уже использован, отозван или срок его действия истёк.",
        "Попросите у администратора электронного дневника в школе новый код приглашения и войдите через Госуслуги ещё раз.",
        Fixer.SCHOOL_ADMIN,
        "The invite code for the first link was wrong too many times, or is used, expired or revoked.",
    ),
)
