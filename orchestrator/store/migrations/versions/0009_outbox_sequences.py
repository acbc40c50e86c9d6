"""outbox sequences: rows of one sequence (a work order, a technician's certification) go out
in order, whatever they concern

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence_key", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_sequence_key"), ["sequence_key"], unique=False)
    op.execute(
        "UPDATE outbox SET sequence_key = 'work_order:' || CAST(work_order_id AS VARCHAR(32)) "
        "WHERE work_order_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sequence_key"))
        batch_op.drop_column("sequence_key")
