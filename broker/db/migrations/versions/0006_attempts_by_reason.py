"""Index a refusal reason's attempts by time, for the support search.

* ``login_attempts (reason, started_at)``: the latest attempts refused for one reason, in the
  whole country or within a few regions. Without it a rare reason's search reads the attempts
  table from the newest row back until it has found a page (over a million attempts, most of
  them granted: a second and more).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_login_attempts_reason_started_at", "login_attempts", ["reason", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_reason_started_at", "login_attempts")
