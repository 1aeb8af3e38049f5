"""The login flow: pending logins, login attempts, diary sessions, OIDC codes and tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.String(length=8), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("candidate_ids", sa.JSON(), nullable=False),
        sa.Column("oid_digest", sa.String(length=64), nullable=True),
        sa.Column("snils_digest", sa.String(length=64), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
        sa.UniqueConstraint("reference", name=op.f("uq_login_attempts_reference")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_oid_digest"), ["oid_digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_snils_digest"), ["snils_digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_started_at"), ["started_at"], unique=False)

    op.create_table(
        "pending_logins",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("browser_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("portal_request", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("link_account", sa.String(length=64), nullable=True),
        sa.Column("esia_nonce", sa.String(length=64), nullable=False),
        sa.Column("esia_code_verifier", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stage", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_pending_logins")),
    )
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_logins_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("amr", sa.String(length=16), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_sessions_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["login_attempts.id"], name=op.f("fk_sessions_attempt_id_login_attempts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_account_id"), ["account_id"], unique=False)

    op.create_table(
        "oidc_codes",
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=512), nullable=False),
        sa.Column("scope", sa.String(length=256), nullable=False),
        sa.Column("nonce", sa.String(length=256), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_oidc_codes_session_id_sessions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code_digest", name=op.f("pk_oidc_codes")),
    )
    op.create_table(
        "oidc_tokens",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=256), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_oidc_tokens_session_id_sessions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_oidc_tokens")),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_tokens_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_session_id"))

    op.drop_table("oidc_tokens")
    op.drop_table("oidc_codes")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_account_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("pending_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_logins_expires_at"))

    op.drop_table("pending_logins")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_started_at"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_snils_digest"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_oid_digest"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_account_id"))

    op.drop_table("login_attempts")
