"""The registry port: how the engine asks for candidate diary accounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from matching.model import Account, AccountId, EsiaOid
from matching.snils import Snils


class Registry(Protocol):
    """The diary's account registry, as the matching engine needs it.

    SNILS is held only as a keyed digest, so the registry also computes the digest of a SNILS
    that ESIA supplied; the engine never sees the key.
    """

    def snils_digest(self, snils: Snils) -> str:
        """The keyed digest under which the registry stores ``snils``."""
        ...

    def get(self, account_id: AccountId) -> Account | None:
        """One account by id."""
        ...

    def find_by_oid(self, oid: EsiaOid) -> Sequence[Account]:
        """Accounts linked to the ESIA person ``oid``."""
        ...

    def find_by_snils(self, digest: str) -> Sequence[Account]:
        """Accounts whose SNILS has the keyed digest ``digest``."""
        ...

    def find_by_name(self, key: str, birth_date: date | None) -> Sequence[Account]:
        """Accounts with the normalised full-name key (see :func:`matching.name_key`).

        With ``birth_date``, those born then; without, at most two (enough to tell one account
        from several).
        """
        ...

    def find_by_short_name(self, key: str, birth_date: date) -> Sequence[Account]:
        """Accounts with the surname and given name key (:func:`matching.short_name_key`) born then."""
        ...
