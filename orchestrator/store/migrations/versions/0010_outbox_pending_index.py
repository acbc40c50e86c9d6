"""outbox: a partial index on the pending rows of each sequence, so the claim's "an earlier row
of this sequence is still pending" is one index probe per row, with or without the planner's
statistics (a freshly filled outbox on PostgreSQL otherwise scans the due index per row)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_pending_sequence",
        "outbox",
        ["sequence_key", "destination", "id"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_outbox_pending_id",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_id", table_name="outbox")
    op.drop_index("ix_outbox_pending_sequence", table_name="outbox")
