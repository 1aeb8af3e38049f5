"""Where a registry link came from: ``esia_links.import_event``.

The audit event of the import run (``registry_import_started``) or of the API sync
(``registry_upserted``) that wrote a link with source ``import``; null for links a person made
(at login or in the link flow) and for links written before this revision. No foreign key: the
retention purge deletes old audit events, and the link outlives them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("esia_links") as table:
        table.add_column(sa.Column("import_event", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("esia_links") as table:
        table.drop_column("import_event")
