"""Indexes for the login path and the operators' figures.

* ``oidc_codes (client_id, nonce)``: every portal authorization checks that its nonce is new
  for that client; without the index the check reads the whole table.
* ``login_attempts (region, started_at)``: a region's attempts over a day or a week.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_oidc_codes_client_id_nonce", "oidc_codes", ["client_id", "nonce"])
    op.create_index("ix_login_attempts_region_started_at", "login_attempts", ["region", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_region_started_at", "login_attempts")
    op.drop_index("ix_oidc_codes_client_id_nonce", "oidc_codes")
