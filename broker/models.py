"""The broker's tables (ARCHITECTURE.md §4). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.extensions import db


class Region(db.Model):
    """A federal subject and whether ESIA login is switched on there."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=False)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    changed_by: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Account(db.Model):
    """A diary account. Names are kept as given and as a normalised lookup key.

    SNILS is never stored in clear: ``snils_digest`` is an HMAC under ``SNILS_HASH_KEY`` and
    ``snils_masked`` keeps the last four digits for display.
    """

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    school_id: Mapped[str | None] = mapped_column(String(64))
    last_name: Mapped[str] = mapped_column(String(128))
    first_name: Mapped[str] = mapped_column(String(128))
    middle_name: Mapped[str] = mapped_column(String(128), default="")
    name_key: Mapped[str] = mapped_column(String(400))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    snils_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    snils_masked: Mapped[str | None] = mapped_column(String(16))
    snils_valid: Mapped[bool] = mapped_column(default=True)  # False: bad checksum, never matched
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_accounts_name_key_birth_date", "name_key", "birth_date"),
        Index("ix_accounts_region_school_id", "region", "school_id"),
    )


class EsiaLink(db.Model):
    """An ESIA person (oid) linked to a diary account.

    An account has at most one link; one ESIA person may hold several accounts (a teacher who
    is also a parent), so ``oid`` is indexed, not unique.
    """

    __tablename__ = "esia_links"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    oid: Mapped[str] = mapped_column(String(32), index=True)
    tier: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "import", "login" or "link"
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
