"""The decision trace said in Russian (``broker.support.glossary.trace_detail_ru``).

The engine and the login flow write each check's line in English (the attempt row and the API keep
it); the support pages read it back in Russian. Every phrase those modules can write has an example
here, so a new or reworded line fails this test until the glossary knows it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from broker.support import glossary
from broker.support.glossary import TRACE_UNREAD_RU, trace_detail_ru

ROOT = Path(__file__).resolve().parents[2]

#: Every line the engine (matching/engine.py) and the login flow (broker/login) write, and its Russian.
EXAMPLES = {
    "ESIA login is not enabled in region 39": "Вход через Госуслуги в регионе 39 не включён",
    "ESIA login is enabled in region 77": "Вход через Госуслуги в регионе 77 включён",
    "ESIA supplied no birth date": "Госуслуги не передали дату рождения",
    "birth date 2030-**-** is after 2026-12-07": "Дата рождения 2030-**-** позже дня входа (07.12.2026)",
    "15 on 2026-12-07 in Asia/Yekaterinburg": "15 (на 07.12.2026 по времени региона)",
    "14 and over: standard or verified account; full name, SNILS, birth date and gender":
        "С 14 лет: стандартная или подтверждённая учётная запись; сравниваются ФИО, СНИЛС, дата рождения и пол",
    "under 14: any account tier; full name and birth date": "До 14 лет: учётная запись любого уровня; сравниваются ФИО и дата рождения",
    "simplified account; standard or verified required from 14":
        "Учётная запись упрощённая; с 14 лет нужна стандартная или подтверждённая",
    "verified account is enough at 36": "Учётной записи уровня «подтверждённая» достаточно в возрасте 36",
    "ESIA supplied no SNILS": "Госуслуги не передали СНИЛС",
    "ESIA supplied no usable SNILS": "Госуслуги не передали пригодный СНИЛС",
    "ESIA SNILS is unusable (snils_checksum)": "СНИЛС с Госуслуг непригоден: неверное контрольное число",
    "ESIA SNILS is unusable (snils_format)": "СНИЛС с Госуслуг непригоден: не 11 цифр",
    "ESIA SNILS ***-***-*45 67 is well-formed": "СНИЛС с Госуслуг ***-***-*45 67 записан верно",
    "through links: 2 account(s); names are not compared again": "По связям с Госуслугами: аккаунтов — 2; ФИО повторно не сравниваются",
    "by SNILS: 1 account(s)": "Поиск по СНИЛС: аккаунтов — 1",
    "by full name and birth date: 0 account(s)": "Поиск по ФИО и дате рождения: аккаунтов — 0",
    "by surname, given name and birth date: 1 account(s)": "Поиск по фамилии, имени и дате рождения: аккаунтов — 1",
    "by full name on another birth date: 3 account(s)": "Поиск по ФИО с другой датой рождения: аккаунтов — 3",
    "by SNILS, not linked yet: 1 account(s)": "Поиск по СНИЛС среди ещё не связанных: аккаунтов — 1",
    "the account to link does not exist": "Аккаунта, который привязывают, нет в реестре",
    "link flow: the person's signed-in account only": "Привязка из дневника: проверяется только аккаунт, в который человек вошёл по паролю",
    "Т***** = Т*****": "Госуслуги: Т*****; дневник: Т***** — совпадает",
    "(empty) vs П*******: absent in ESIA": "Госуслуги: пусто; дневник: П******* — нет на Госуслугах",
    "П******* vs (empty): absent in the diary": "Госуслуги: П*******; дневник: пусто — нет в дневнике",
    "Т***** vs Т******: differ": "Госуслуги: Т*****; дневник: Т****** — различаются",
    "1990-**-** equal": "1990-**-** — совпадает",
    "absent in the diary": "В дневнике не указана",
    "1990-**-** vs 1991-**-**: year and day differ": "Госуслуги: 1990-**-**; дневник: 1991-**-** — различаются: год, день",
    "1990-**-** vs 1990-**-**: month differ": "Госуслуги: 1990-**-**; дневник: 1990-**-** — различаются: месяц",
    "not compared: unknown in ESIA": "Не сравнивался: не указан на Госуслугах",
    "not compared: unknown in the diary": "Не сравнивался: не указан в дневнике",
    "equal": "Совпадает",
    "M vs F: not part of the under-14 rule": "Госуслуги: мужской; дневник: женский — до 14 лет пол не сравнивается",
    "F vs M": "Госуслуги: женский; дневник: мужской — различаются",
    "the diary account has no SNILS": "В аккаунте дневника нет СНИЛС",
    "the diary's SNILS ***-***-*45 67 has a bad checksum": "СНИЛС в дневнике ***-***-*45 67 с неверным контрольным числом",
    "***-***-*45 67 equal": "***-***-*45 67 — совпадает",
    "***-***-*45 67 vs ***-***-*11 22": "Госуслуги: ***-***-*45 67; дневник: ***-***-*11 22 — различаются",
    "not compared: the diary account has no SNILS": "Не сравнивался. В аккаунте дневника нет СНИЛС",
    "not compared: ESIA supplied no usable SNILS": "Не сравнивался. Госуслуги не передали пригодный СНИЛС",
    "not compared: the diary's SNILS ***-***-*45 67 has a bad checksum":
        "Не сравнивался. СНИЛС в дневнике ***-***-*45 67 с неверным контрольным числом",
    "account is active": "Аккаунт активен",
    "account is blocked": "Аккаунт заблокирован",
    "account is attached to a school": "Аккаунт прикреплён к школе",
    "account is not attached to a school": "Аккаунт не прикреплён к школе",
    "account is linked to another ESIA person": "Аккаунт связан с другой учётной записью Госуслуг",
    "account is linked to this ESIA person": "Аккаунт связан с учётной записью Госуслуг этого человека",
    "account is not linked yet": "Аккаунт ещё ни с кем не связан",
    "region 50: under 14 the first link is made in the diary's link flow (auto_link_under_14 off)":
        "Регион 50: до 14 лет первую связь делают только из дневника, войдя по логину и паролю",
    "region 50: under 14 the first link needs the school's invite code (under_14_first_link invite_code)":
        "Регион 50: до 14 лет для первой связи нужен код приглашения от школы",
    "region 50 links under-14 accounts on the first ESIA login (with its invite code)":
        "Регион 50 связывает аккаунты детей до 14 лет при первом входе через Госуслуги (по коду приглашения от школы)",
    "region 77 links under-14 accounts on the first ESIA login (by name and birth date)":
        "Регион 77 связывает аккаунты детей до 14 лет при первом входе через Госуслуги (по ФИО и дате рождения)",
    "2 different people match; not guessing": "Подходят аккаунты разных людей (2): брокер не выбирает наугад",
    "one person owns 2 accounts": "У одного человека аккаунтов — 2",
    "no valid invite code was entered (invite_code_wrong)": "Верный код приглашения не введён: неверный код, попытки кончились",
    "no valid invite code was entered (invite_code_locked)":
        "Верный код приглашения не введён: ввод кода для аккаунта закрыт на время после многих неверных попыток",
    "no valid invite code was entered (invite_code_used_meanwhile)": "Верный код приглашения не введён: код тем временем уже использовали",
    "the school's invite code for this account was entered": "Введён код приглашения от школы для этого аккаунта",
    "ESIA answered from an authentication older than the portal's prompt=login or max_age allows":
        "Портал просил войти заново, а Госуслуги пустили по прежнему входу, без пароля",
    "another ESIA person linked the account meanwhile": "Пока шёл вход, аккаунт связали с другой учётной записью Госуслуг",
    "the person said the ESIA account is not theirs: the login ended, nothing was linked, and they signed out of ESIA":
        "Человек нажал «Это не я»: вход прерван, ничего не привязано, выполнен выход из Госуслуг.",
    "the person said the ESIA account is not theirs and signed out of ESIA":  # as attempts recorded it before
        "Человек нажал «Это не я»: вход прерван, ничего не привязано, выполнен выход из Госуслуг.",
}  # fmt: skip


@pytest.mark.parametrize(("english", "russian"), EXAMPLES.items())
def test_every_trace_line_reads_in_russian(english: str, russian: str) -> None:
    said = trace_detail_ru(english)
    assert said == russian
    assert not re.search(r"[A-Za-z]", said), said  # no English word, and no setting's code either


@pytest.mark.parametrize(
    "line",
    ["", "a line a newer engine writes", "by telepathy: 2 account(s)", "quantum account; standard or verified required from 14",
     "account is frozen", "not compared: something new"],
)  # fmt: skip
def test_a_line_no_pattern_knows_is_never_shown_as_it_is(line: str) -> None:
    assert trace_detail_ru(line) == TRACE_UNREAD_RU


def _phrases(path: Path, *, calls: tuple[str, ...] | None = None) -> set[str]:
    """The string constants of a module that are not docstrings; with ``calls``, only those inside
    the third argument of a call to one of them (``matching.Check(field, result, detail)``)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(first.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and ast.get_docstring(node) is not None
        if isinstance(first := node.body[0], ast.Expr)
    }
    roots: list[ast.AST] = [tree]
    if calls is not None:
        roots = [
            node.args[2]
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and len(node.args) >= 3 and getattr(node.func, "attr", getattr(node.func, "id", None)) in calls
        ]
    return {
        node.value
        for root in roots
        for node in ast.walk(root)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


# Constants of the engine that are no words of a trace line: field names and the rules' sides.
_NOT_WORDS = {*glossary.FIELD_RU, "esia:", "diary:", "|"}


def test_every_phrase_the_engine_writes_has_an_example() -> None:
    phrases = _phrases(ROOT / "matching" / "engine.py") - _NOT_WORDS
    assert len(phrases) > 60  # the engine's words were found
    missing = sorted(phrase for phrase in phrases if not any(phrase in english for english in EXAMPLES))
    assert missing == []


def test_every_phrase_the_login_flow_adds_to_a_trace_has_an_example() -> None:
    phrases = set().union(*(_phrases(path, calls=("Check",)) for path in (ROOT / "broker" / "login").glob("*.py")))
    assert len(phrases) >= 4
    missing = sorted(phrase for phrase in phrases if not any(phrase in english for english in EXAMPLES))
    assert missing == []
