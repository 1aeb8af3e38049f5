"""Accounts: a surname + given name key, to explain refusals when the patronymic differs.

Also drops the (region, school) index of 0001, which no lookup uses: every index costs the
initial load and each upsert.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("short_key", sa.String(260), nullable=False, server_default=""))
    # Existing rows: the first two parts of the full-name key.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE accounts SET short_key = split_part(name_key, '|', 1) || '|' || split_part(name_key, '|', 2)")
    else:
        op.execute(
            "UPDATE accounts SET short_key = substr(name_key, 1, "
            "instr(name_key, '|') + instr(substr(name_key, instr(name_key, '|') + 1), '|') - 1)"
        )
    op.create_index("ix_accounts_short_key_birth_date", "accounts", ["short_key", "birth_date"])
    op.drop_index("ix_accounts_region_school_id", "accounts")


def downgrade() -> None:
    op.create_index("ix_accounts_region_school_id", "accounts", ["region", "school_id"])
    op.drop_index("ix_accounts_short_key_birth_date", "accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("short_key")
