"""Refresh tokens for the diary's mobile app, rotated on every use (RFC 9700 §4.14).

* ``oidc_refresh_families``: one per grant (an authorization code exchanged by a public client
  that asked for ``offline_access``): its client, account and diary session, its scope, its
  absolute and idle lifetimes, and when it was revoked;
* ``oidc_refresh_tokens``: the keyed digest of each refresh token of a family (never the token),
  with when it was used: a used one presented again revokes the family;
* ``oidc_tokens.family_id``: the family an access token was issued in, revoked with it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_refresh_families",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=256), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_refresh_families_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_oidc_refresh_families_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_refresh_families")),
    )
    with op.batch_alter_table("oidc_refresh_families", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_refresh_families_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_refresh_families_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_refresh_families_code_digest"), ["code_digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_refresh_families_idle_expires_at"), ["idle_expires_at"], unique=False)

    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["oidc_refresh_families.id"],
            name=op.f("fk_oidc_refresh_tokens_family_id_oidc_refresh_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oidc_refresh_tokens")),
    )
    with op.batch_alter_table("oidc_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_refresh_tokens_family_id"), ["family_id"], unique=False)

    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("family_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_oidc_tokens_family_id"), ["family_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_family_id"))
        batch_op.drop_column("family_id")
    with op.batch_alter_table("oidc_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_tokens_family_id"))
    op.drop_table("oidc_refresh_tokens")
    with op.batch_alter_table("oidc_refresh_families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_families_idle_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_families_code_digest"))
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_families_session_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_families_account_id"))
    op.drop_table("oidc_refresh_families")
