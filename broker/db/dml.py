"""Running an INSERT, UPDATE or DELETE and reading what it changed (rows counted, the key inserted)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import CursorResult

if TYPE_CHECKING:
    from sqlalchemy import Executable, Result


class Executor(Protocol):
    """What runs a statement: a ``Session``, Flask-SQLAlchemy's ``db.session`` or a ``Connection``."""

    def execute(self, statement: Executable, params: Any = None, /) -> Result[*tuple[Any, ...]]: ...


def execute_dml(executor: Executor, statement: Executable, params: Mapping[str, Any] | None = None) -> CursorResult[*tuple[Any, ...]]:
    """Run the DML ``statement``; its result counts the rows changed (``rowcount``, ``inserted_primary_key``).

    ``Session.execute`` is typed to return a plain ``Result``, but for an INSERT, UPDATE or DELETE
    without RETURNING it hands back the database cursor's ``CursorResult``.
    """
    result = executor.execute(statement, params)
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(statement).__name__} returned a {type(result).__name__}, not a CursorResult: not a DML statement")
    return result
