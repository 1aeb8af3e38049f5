"""Column types of the broker's tables: ``UtcDateTime``, an instant that is always aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that takes and gives aware UTC datetimes on every database.

    SQLite keeps no offset and returns naive datetimes; PostgreSQL returns them in the
    session's time zone. Both come back as aware UTC here. A naive datetime is refused on the
    way in: whether it meant UTC or local time cannot be told, and a wrong guess shifts the
    instant by hours. An aware one in another zone is converted to UTC (SQLite would otherwise
    store its wall-clock time and drop the offset).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcDateTime takes a datetime, not {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"UtcDateTime refuses the naive datetime {value.isoformat()}: "
                "pass an aware one, such as datetime.now(timezone.utc) or value.replace(tzinfo=timezone.utc)"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
