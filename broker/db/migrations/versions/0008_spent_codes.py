"""Spent authorization codes are remembered until they expire, and tokens name their code.

* ``oidc_codes.redeemed_at``: a code is no longer deleted as it is redeemed but marked, so that
  a second exchange is recognised as a replay (RFC 6749 §4.1.2); ``broker purge`` removes the
  row once it has expired, as before.
* ``oidc_tokens.code_digest`` (indexed): the code an access token was issued for, so that a
  replay revokes exactly those tokens.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_codes") as batch:
        batch.add_column(sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("oidc_tokens") as batch:
        batch.add_column(sa.Column("code_digest", sa.String(64), nullable=True))
    op.create_index("ix_oidc_tokens_code_digest", "oidc_tokens", ["code_digest"])


def downgrade() -> None:
    op.drop_index("ix_oidc_tokens_code_digest", "oidc_tokens")
    with op.batch_alter_table("oidc_tokens") as batch:
        batch.drop_column("code_digest")
    with op.batch_alter_table("oidc_codes") as batch:
        batch.drop_column("redeemed_at")
