"""Sessions remember when ESIA last asked the person to authenticate (``sessions.auth_time``).

ESIA's single sign-on may answer a new login without asking the person again; its id_token's
``auth_time`` says when it last did. The broker's id_tokens report that time, and ``max_age``
is measured from it. Existing sessions had no such time: they are backfilled from their start
(``created_at``), which is what the broker reported for them until now.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_time", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE sessions SET auth_time = created_at"))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("auth_time", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("auth_time")
