"""technicians from Workday: synced like sites and assets (``remote_stamp``, ``deleted_at``),
an ``active`` flag and the dates Workday makes them unavailable (``unavailable``: a
termination from its date on, a leave for its dates); home location and time zone may be
empty until the office fills them. Work orders that need the office's attention
(``needs_attention``, ``attention_reason``: their technician stops being dispatchable)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("technicians", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remote_stamp", orchestrator.store.db.UTCDateTime(timezone=True))
        )
        batch_op.add_column(
            sa.Column("deleted_at", orchestrator.store.db.UTCDateTime(timezone=True))
        )
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("unavailable", sa.JSON(), server_default="[]", nullable=False)
        )
        batch_op.alter_column("home_latitude", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("home_longitude", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("time_zone", existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("needs_attention", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("attention_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_column("attention_reason")
        batch_op.drop_column("needs_attention")
    with op.batch_alter_table("technicians", schema=None) as batch_op:
        batch_op.alter_column("time_zone", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("home_longitude", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("home_latitude", existing_type=sa.Float(), nullable=False)
        batch_op.drop_column("unavailable")
        batch_op.drop_column("active")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("remote_stamp")
