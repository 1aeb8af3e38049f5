"""Invite codes: a child's first link in a region whose policy asks for the school's code.

* ``invite_codes``: the HMAC of each code (bound to its account), who issued it, when it expires,
  when it was used or revoked;
* ``invite_failures``: the wrong codes typed per account and ESIA person (its keyed oid digest),
  for the per-person limit and the per-account ceiling.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invite_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_invite_codes_account_id_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("digest", name=op.f("uq_invite_codes_digest")),
    )
    with op.batch_alter_table("invite_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_codes_account_id"), ["account_id"], unique=False)

    op.create_table(
        "invite_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("person_digest", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_failures")),
    )
    op.create_index("ix_invite_failures_account_id_at", "invite_failures", ["account_id", "at"])
    op.create_index("ix_invite_failures_account_id_person_digest_at", "invite_failures", ["account_id", "person_digest", "at"])


def downgrade() -> None:
    op.drop_index("ix_invite_failures_account_id_person_digest_at", "invite_failures")
    op.drop_index("ix_invite_failures_account_id_at", "invite_failures")
    op.drop_table("invite_failures")
    with op.batch_alter_table("invite_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_codes_account_id"))
    op.drop_table("invite_codes")
