"""A synthetic diary registry and the ESIA persons of its accounts, for the benchmarks.

Deterministic (seeded), with realistic shapes: students, parents, teachers and staff in ten
regions; unique valid SNILS for everybody over 14 and most children; Russian names drawn so
that namesakes are rare, as in a real registry.

With ``problems=True`` (the pre-flight benchmark) the registry also has the data errors a real
one has, at the rates in ``PROBLEM_RATES``: people of 14 and over without SNILS, SNILS with a
bad checksum, a parent's SNILS copied into a child's record, namesake children born the same
day without SNILS, accounts that are blocked or not attached to a school, ``-``/``нет`` as a
patronymic, Latin letters in Cyrillic surnames; and, which is *not* an error, people who hold
two accounts (a teacher who is also a parent). Without it the rows are exactly as before, so
``bench/import.py`` and ``bench/matching.py`` measure what they always did.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import matching

MALE_FIRST = "Александр Алексей Андрей Антон Артём Борис Вадим Василий Виктор Владимир Георгий Глеб Григорий Даниил Денис Дмитрий Евгений Егор Иван Игорь Илья Кирилл Константин Лев Максим Матвей Михаил Никита Николай Олег Павел Пётр Роман Семён Сергей Степан Тимофей Фёдор Юрий Ярослав".split()
FEMALE_FIRST = "Алёна Алина Алиса Анастасия Анна Арина Валентина Валерия Вера Вероника Виктория Галина Дарья Ева Екатерина Елена Елизавета Жанна Зоя Ирина Кира Ксения Лариса Любовь Людмила Маргарита Марина Мария Надежда Наталья Нина Оксана Ольга Полина Светлана София Таисия Татьяна Ульяна Юлия".split()
SURNAMES = "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов Родионов Коновалов Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов Кондратьев Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин Белоусов Нестеров Симонов Прохоров Харитонов Агафонов Муравьёв Ларионов Федосеев Зимин Пахомов Шубин Игнатьев Филимонов Шаров Лапин Сафонов Рыбаков Суворов Блинов Кулагин Сазонов Морозов Ершов Кононов Субботин Гордеев Зуев Носков Рожков Дьячков Горшков Бобров Виноградов Шестаков Дорофеев Евдокимов Сафронов Кабанов Ситников Мухин Фадеев Мишин Третьяков Бобылёв Воронцов Тетерин Савин Кудряшов Лыткин Шилов Гурьев Одинцов Лукин Зыков Зубов Носов Хохлов Ефимов Лобанов".split()
REGIONS = ("77", "50", "78", "16", "66", "54", "39", "41", "25", "23")
ROLES = (("student", 45), ("parent", 40), ("teacher", 10), ("staff", 5))
SNILS_BASE = 100_000_000
OID_BASE = 1_000_000_000


def _female(surname: str) -> str:
    return surname + "а" if surname.endswith(("ов", "ев", "ёв", "ин", "ын")) else surname


def _patronymic(father: str, female: bool) -> str:
    stem = {"Пётр": "Петр", "Лев": "Льв", "Павел": "Павл", "Фёдор": "Фёдор"}.get(father, father)
    if stem.endswith(("й", "ь")):
        base = stem[:-1] + "е"
    elif stem.endswith("а"):
        base = stem[:-1] + "и"
        return base + ("чна" if female else "ч")
    else:
        base = stem + "о"
    return base + ("вна" if female else "вич")


# Shares of the registry with each data problem (problems=True). Pair problems involve two
# accounts of one region: account i and account i + len(regions) form a pair.
PROBLEM_RATES = {
    "same_person_two_accounts": 0.004,  # pairs: a teacher who is also a parent (not an error)
    "snils_shared": 0.001,  # pairs: a parent's SNILS copied into the child's record
    "namesakes": 0.0005,  # pairs: two children, same full name and birth date, no SNILS
    "snils_missing_14_plus": 0.06,  # of the people aged 14 and over
    "snils_checksum": 0.003,  # of the SNILS present
    "blocked": 0.015,
    "not_attached": 0.01,
    "placeholder_patronymic": 0.005,
    "latin_lookalike": 0.003,  # a Latin letter drawn like the Cyrillic one, in the surname
    "latin_other": 0.0002,  # a keyboard-layout slip: Latin "d" for "в" (no look-alike)
}
_LOOKALIKES = str.maketrans("аеосрх", "aeocpx")  # Cyrillic -> Latin look-alikes


def _person(rnd: random.Random, role: str, today: date) -> dict[str, str]:
    """The names, birth date and gender of a new person drawn from ``rnd``."""
    female = rnd.random() < 0.5
    surname = rnd.choice(SURNAMES)
    father = rnd.choice(MALE_FIRST)
    if role == "student":
        born = today - timedelta(days=rnd.randint(7 * 365, 17 * 365))
    else:
        born = today - timedelta(days=rnd.randint(25 * 365, 65 * 365))
    return {
        "last_name": _female(surname) if female else surname,
        "first_name": rnd.choice(FEMALE_FIRST if female else MALE_FIRST),
        "middle_name": _patronymic(father, female),
        "birth_date": born.isoformat(),
        "gender": "F" if female else "M",
    }


def _snils(number: int) -> str:
    digits = f"{number:09d}"
    return matching.format_snils(digits + matching.snils_checksum(digits))


def account_row(i: int, today: date, *, problems: bool = False, regions: Sequence[str] = REGIONS) -> dict[str, str]:
    """The registry row of account ``i`` (stable for a given ``i``, ``today`` and options)."""
    rnd = random.Random(i * 7919 + 17)
    role = rnd.choices([r for r, _ in ROLES], [w for _, w in ROLES])[0]
    female = rnd.random() < 0.5
    surname = rnd.choice(SURNAMES)
    father = rnd.choice(MALE_FIRST)
    if role == "student":
        born = today - timedelta(days=rnd.randint(7 * 365, 17 * 365))
    else:
        born = today - timedelta(days=rnd.randint(25 * 365, 65 * 365))
    adult = matching.age_on(born, today) >= 14
    has_snils = adult or rnd.random() < 0.7
    row = {
        "id": f"acc-{i}",
        "login": f"user{i}",
        "role": role,
        "region": regions[i % len(regions)],
        "school_id": f"school-{i % 20000}",
        "last_name": _female(surname) if female else surname,
        "first_name": rnd.choice(FEMALE_FIRST if female else MALE_FIRST),
        "middle_name": _patronymic(father, female),
        "birth_date": born.isoformat(),
        "gender": "F" if female else "M",
        "snils": _snils(SNILS_BASE + i) if has_snils else "",
        "status": "active",
        # Every fifth person has logged in before: their next login goes through the link.
        "esia_oid": str(OID_BASE + i) if i % 5 == 0 else "",
    }
    if problems:
        _add_problems(row, i, today, len(regions))
    return row


def _add_problems(row: dict[str, str], i: int, today: date, width: int) -> None:
    """Give row ``i`` its share of data problems (a second random stream: the rest is unchanged)."""
    rates = PROBLEM_RATES
    block, slot = divmod(i, width)
    first = block % 2 == 0  # account i and account i + width form a pair
    pair = random.Random(((block // 2) * width + slot) * 104729 + 7)
    draw = pair.random()
    if draw < rates["same_person_two_accounts"]:
        owner = _person(pair, "parent", today)
        row.update(
            owner, role="teacher" if first else "parent", esia_oid="", snils=_snils(SNILS_BASE + i if first else SNILS_BASE + i - width)
        )
        return
    draw -= rates["same_person_two_accounts"]
    if draw < rates["snils_shared"]:
        parent = _person(pair, "parent", today)
        parent_snils = _snils(SNILS_BASE + (i if first else i - width))
        if first:
            row.update(parent, role="parent", snils=parent_snils, esia_oid="")
        else:
            child = _person(pair, "student", today)
            row.update(child, role="student", last_name=parent["last_name"], snils=parent_snils, esia_oid="")
        return
    draw -= rates["snils_shared"]
    if draw < rates["namesakes"]:
        born = today - timedelta(days=pair.randint(7 * 365, 13 * 365))
        row.update(_person(pair, "student", today), role="student", birth_date=born.isoformat(), snils="", esia_oid="")
        return

    rnd = random.Random(i * 104723 + 11)
    adult = matching.age_on(date.fromisoformat(row["birth_date"]), today) >= 14
    if adult and row["snils"] and rnd.random() < rates["snils_missing_14_plus"]:
        row["snils"] = ""
    if row["snils"] and rnd.random() < rates["snils_checksum"]:
        digits = row["snils"].replace("-", "").replace(" ", "")
        wrong = f"{(int(digits[9:]) + 1 + rnd.randrange(98)) % 100:02d}"  # never the right one
        row["snils"] = matching.format_snils(digits[:9] + wrong)
    if rnd.random() < rates["blocked"]:
        row["status"] = "blocked"
    if rnd.random() < rates["not_attached"]:
        row["school_id"] = ""
    if rnd.random() < rates["placeholder_patronymic"]:
        row["middle_name"] = rnd.choice(("-", "нет", "Нет"))
    draw = rnd.random()
    if draw < rates["latin_lookalike"]:
        surname = row["last_name"]
        at = next((n for n, ch in enumerate(surname) if ch in "аеосрх"), None)
        if at is not None:
            row["last_name"] = surname[:at] + surname[at].translate(_LOOKALIKES) + surname[at + 1 :]
    elif draw < rates["latin_lookalike"] + rates["latin_other"] and "в" in row["last_name"]:
        row["last_name"] = row["last_name"].replace("в", "d", 1)


def rows(count: int, today: date, *, problems: bool = False, regions: Sequence[str] = REGIONS) -> Iterator[dict[str, str]]:
    for i in range(count):
        yield account_row(i, today, problems=problems, regions=regions)


def write_csv(path: Path, count: int, today: date) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(account_row(0, today)))
        writer.writeheader()
        for row in rows(count, today):
            writer.writerow(row)
    return path


def person_for(row: dict[str, str], today: date, variant: int) -> matching.Person:
    """The ESIA person of an account row, spelled as ESIA might (ё, capitals)."""
    born = date.fromisoformat(row["birth_date"])
    adult = matching.age_on(born, today) >= 14
    last = row["last_name"].upper() if variant % 3 == 0 else row["last_name"]
    return matching.Person(
        oid=matching.EsiaOid(str(OID_BASE + int(row["id"].split("-")[1]))),
        tier=matching.Tier.VERIFIED if adult else matching.Tier.SIMPLIFIED,
        last_name=last,
        first_name=row["first_name"],
        middle_name=row["middle_name"],
        birth_date=born,
        gender=matching.Gender(row["gender"]),
        snils=row["snils"] or None,
    )
