"""ESIA's person scopes: their names, what each one opens in the person API, and their wording.

Scopes travel space-separated (``openid fullname email``); older clients wrote them as URIs
(``http://esia.gosuslugi.ru/fullname``), which are read as the bare name. Granted scopes come
back in the access token in ESIA's per-subject form, ``fullname?oid=1000300005`` (docs/esia.md, 'The mock').
"""

from __future__ import annotations

from collections.abc import Iterable

#: Russian wording of each scope, as the consent page names it.
SCOPE_TITLES: dict[str, str] = {
    "openid": "Идентификатор пользователя",
    "fullname": "Фамилия, имя и отчество",
    "birthdate": "Дата рождения",
    "gender": "Пол",
    "snils": "СНИЛС",
    "inn": "ИНН",
    "id_doc": "Данные документа, удостоверяющего личность",
    "birthplace": "Место рождения",
    "medical_doc": "Полис ОМС",
    "military_doc": "Военный билет",
    "foreign_passport_doc": "Заграничный паспорт",
    "drivers_licence_doc": "Водительское удостоверение",
    "birth_cert_doc": "Свидетельство о рождении",
    "residence_doc": "Вид на жительство",
    "temporary_residence_doc": "Разрешение на временное проживание",
    "vehicles": "Транспортные средства",
    "email": "Адрес электронной почты",
    "mobile": "Номер мобильного телефона",
    "contacts": "Контактные данные",
    "addresses": "Адреса",
    "usr_org": "Организации, в которых работает пользователь",
    "self_employed": "Статус самозанятого",
    "kid_fullname": "ФИО детей",
    "kid_birthdate": "Даты рождения детей",
    "kid_gender": "Пол детей",
    "kid_snils": "СНИЛС детей",
    "kid_inn": "ИНН детей",
    "kid_birth_cert_doc": "Свидетельства о рождении детей",
    "kid_medical_doc": "Полисы ОМС детей",
}
KNOWN_SCOPES = frozenset(SCOPE_TITLES)
_URI_PREFIXES = ("http://esia.gosuslugi.ru/", "https://esia.gosuslugi.ru/")

#: Which scope opens which document type in ``/rs/prns/{oid}/docs``.
DOCUMENT_SCOPES: dict[str, str] = {
    "RF_PASSPORT": "id_doc",
    "USSR_PASSPORT": "id_doc",
    "FID_DOC": "id_doc",
    "FRGN_PASS": "foreign_passport_doc",
    "RF_DRIVING_LICENSE": "drivers_licence_doc",
    "MLTR_ID": "military_doc",
    "MDCL_PLCY": "medical_doc",
    "BRTH_CERT": "birth_cert_doc",
    "RSDNC_PRMT": "residence_doc",
    "TMPR_RSDNC_PRMT": "temporary_residence_doc",
}
#: Which contact types each scope opens in ``/rs/prns/{oid}/ctts``.
CONTACT_SCOPES: dict[str, frozenset[str]] = {
    "email": frozenset({"EML", "CEM"}),
    "mobile": frozenset({"MBT"}),
    "contacts": frozenset({"EML", "CEM", "MBT", "PHN"}),
}
#: Scopes that open ``/rs/prns/{oid}/addrs`` (older clients got addresses with ``contacts``).
ADDRESS_SCOPES = frozenset({"addresses", "contacts"})
#: Scopes that open ``/rs/prns/{oid}/kids``, and the kid fields each one reveals.
KID_SCOPES: dict[str, tuple[str, ...]] = {
    "kid_fullname": ("firstName", "lastName", "middleName"),
    "kid_birthdate": ("birthDate",),
    "kid_gender": ("gender",),
    "kid_snils": ("snils",),
    "kid_inn": ("inn",),
    "kid_birth_cert_doc": (),
    "kid_medical_doc": (),
}


def parse_scope(value: str) -> tuple[str, ...]:
    """Split a ``scope`` parameter into bare names, keeping order and dropping repeats."""
    names: list[str] = []
    for item in value.split():
        for prefix in _URI_PREFIXES:
            if item.startswith(prefix):
                item = item[len(prefix) :]
        item = item.split("?", 1)[0]
        if item and item not in names:
            names.append(item)
    return tuple(names)


def per_subject(scopes: Iterable[str], oid: int) -> str:
    """Render granted scopes as the access token's ``scope`` claim."""
    return " ".join(name if name == "openid" else f"{name}?oid={oid}" for name in scopes)


def from_per_subject(value: str) -> tuple[tuple[str, ...], set[str]]:
    """Read an access token's ``scope`` claim: the names and the oids they were granted for."""
    names = []
    oids = set()
    for item in value.split():
        name, _, query = item.partition("?")
        names.append(name)
        if query.startswith("oid="):
            oids.add(query[4:])
    return tuple(names), oids


def document_types(scopes: Iterable[str]) -> frozenset[str]:
    granted = set(scopes)
    return frozenset(kind for kind, scope in DOCUMENT_SCOPES.items() if scope in granted)


def contact_types(scopes: Iterable[str]) -> frozenset[str]:
    types: set[str] = set()
    for scope in scopes:
        types |= CONTACT_SCOPES.get(scope, frozenset())
    return frozenset(types)
