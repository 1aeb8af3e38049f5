"""SqlRegistry: the matching engine's registry port on the broker's database."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

import matching
from broker.db.models import Account, EsiaLink

_accounts = Account.__table__
_links = EsiaLink.__table__
_COLUMNS = (
    _accounts.c.id,
    _accounts.c.login,
    _accounts.c.role,
    _accounts.c.region,
    _accounts.c.school_id,
    _accounts.c.last_name,
    _accounts.c.first_name,
    _accounts.c.middle_name,
    _accounts.c.birth_date,
    _accounts.c.gender,
    _accounts.c.snils_digest,
    _accounts.c.snils_masked,
    _accounts.c.snils_valid,
    _accounts.c.status,
    _links.c.oid,
)
# Every lookup returns rows in account id order, so that decisions never depend on how the
# database happens to return them.
_WITH_LINK = select(*_COLUMNS).select_from(_accounts.outerjoin(_links, _links.c.account_id == _accounts.c.id))
_BY_ID = _WITH_LINK.where(_accounts.c.id == bindparam("value"))
_BY_ID_DATED = _BY_ID.add_columns(_accounts.c.updated_at)
_BY_SNILS = _WITH_LINK.where(_accounts.c.snils_digest == bindparam("value")).order_by(_accounts.c.id)
_BY_NAME = _WITH_LINK.where(_accounts.c.name_key == bindparam("value")).order_by(_accounts.c.id).limit(2)
_BY_NAME_AND_DATE = _WITH_LINK.where(
    _accounts.c.name_key == bindparam("value"), _accounts.c.birth_date == bindparam("birth_date")
).order_by(_accounts.c.id)
_BY_SHORT_NAME_AND_DATE = (
    _WITH_LINK.where(_accounts.c.short_key == bindparam("value"), _accounts.c.birth_date == bindparam("birth_date"))
    .order_by(_accounts.c.id)
    .limit(2)
)
_BY_OID = (
    select(*_COLUMNS)
    .select_from(_links.join(_accounts, _accounts.c.id == _links.c.account_id))
    .where(_links.c.oid == bindparam("value"))
    .order_by(_accounts.c.id)
)


def snils_digest(key: bytes, digits: str) -> str:
    """The keyed digest under which a SNILS (eleven digits) is stored and looked up."""
    return hmac.digest(key, digits.encode("ascii"), "sha256").hex()


def to_account(row: Row[Any]) -> matching.Account:
    return matching.Account(
        id=matching.AccountId(row.id),
        login=row.login,
        role=matching.Role(row.role),
        region=row.region,
        school_id=row.school_id,
        last_name=row.last_name,
        first_name=row.first_name,
        middle_name=row.middle_name,
        birth_date=row.birth_date,
        gender=matching.Gender(row.gender) if row.gender else None,
        snils_digest=row.snils_digest,
        snils_masked=row.snils_masked,
        snils_valid=row.snils_valid,
        status=matching.AccountStatus(row.status),
        esia_oid=matching.EsiaOid(row.oid) if row.oid else None,
    )


def get_dated(connection: Connection, account_id: matching.AccountId) -> tuple[matching.Account, datetime | None] | None:
    """The account and when the registry last changed it (for the support re-check), or None.

    Not part of the :class:`matching.Registry` port (the engine has no use for the date), so a
    function on a connection rather than a method of ``services.current().registry``.
    """
    row = connection.execute(_BY_ID_DATED, {"value": account_id}).first()
    return (to_account(row), row.updated_at) if row is not None else None


class SqlRegistry:
    """Implements :class:`matching.Registry` with a few indexed queries.

    ``connection`` returns the connection to use (the request's session connection in the app,
    a plain connection in scripts), so that the registry reads inside the caller's transaction.
    """

    def __init__(self, connection: Callable[[], Connection], snils_key: bytes) -> None:
        self._connection = connection
        self._key = snils_key

    def _rows(self, statement: Any, **params: Any) -> list[matching.Account]:
        return [to_account(row) for row in self._connection().execute(statement, params)]

    def snils_digest(self, snils: matching.Snils) -> str:
        return snils_digest(self._key, snils.digits)

    def get(self, account_id: matching.AccountId) -> matching.Account | None:
        rows = self._rows(_BY_ID, value=account_id)
        return rows[0] if rows else None

    def find_by_oid(self, oid: matching.EsiaOid) -> Sequence[matching.Account]:
        return self._rows(_BY_OID, value=oid)

    def find_by_snils(self, digest: str) -> Sequence[matching.Account]:
        return self._rows(_BY_SNILS, value=digest)

    def find_by_name(self, key: str, birth_date: date | None) -> Sequence[matching.Account]:
        if birth_date is None:
            return self._rows(_BY_NAME, value=key)
        return self._rows(_BY_NAME_AND_DATE, value=key, birth_date=birth_date)

    def find_by_short_name(self, key: str, birth_date: date) -> Sequence[matching.Account]:
        return self._rows(_BY_SHORT_NAME_AND_DATE, value=key, birth_date=birth_date)
