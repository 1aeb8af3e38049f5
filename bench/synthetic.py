"""A synthetic diary registry and the ESIA persons of its accounts, for the benchmarks.

Deterministic (seeded), with realistic shapes: students, parents, teachers and staff in ten
regions; unique valid SNILS for everybody over 14 and most children; Russian names drawn so
that namesakes are rare, as in a real registry.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
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


def account_row(i: int, today: date) -> dict[str, str]:
    """The registry row of account ``i`` (stable for a given ``i``)."""
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
    number = f"{SNILS_BASE + i:09d}"
    has_snils = adult or rnd.random() < 0.7
    return {
        "id": f"acc-{i}",
        "login": f"user{i}",
        "role": role,
        "region": REGIONS[i % len(REGIONS)],
        "school_id": f"school-{i % 20000}",
        "last_name": _female(surname) if female else surname,
        "first_name": rnd.choice(FEMALE_FIRST if female else MALE_FIRST),
        "middle_name": _patronymic(father, female),
        "birth_date": born.isoformat(),
        "gender": "F" if female else "M",
        "snils": matching.format_snils(number + matching.snils_checksum(number)) if has_snils else "",
        "status": "active",
        # Every fifth person has logged in before: their next login goes through the link.
        "esia_oid": str(OID_BASE + i) if i % 5 == 0 else "",
    }


def rows(count: int, today: date) -> Iterator[dict[str, str]]:
    for i in range(count):
        yield account_row(i, today)


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
