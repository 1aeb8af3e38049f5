"""Attempts say whether the person got in (``login_attempts.completed_at``).

An attempt is recorded when the broker decides; a first link still to be confirmed, a chooser
still to be answered or «Это не я» then ended the login without anyone getting in, yet the
decision's outcome (``linked``, ``choose_account``) counted as a success in the operators'
figures. The flow now sets ``completed_at`` in the commit that signs the person in (or writes the
link flow's link), and the figures count those.

Existing attempts are backfilled as well as the database can tell: an attempt signed in through
its link at the callback, a link flow's granted attempt (linked at the callback), and any attempt
a diary session still names were completed; the rest (the chooser and first-link outcomes with
no session left) are not counted as successes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text(
            "UPDATE login_attempts SET completed_at = finished_at "
            "WHERE (outcome = 'signed_in' AND flow = 'login') "
            "OR (flow = 'link' AND outcome <> 'refused') "
            "OR (outcome <> 'refused' AND id IN (SELECT attempt_id FROM sessions WHERE attempt_id IS NOT NULL))"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
