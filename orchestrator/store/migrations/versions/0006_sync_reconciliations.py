"""sync reconciliations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_reconciliations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("ran_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("remote", sa.Integer(), nullable=False),
        sa.Column("local", sa.Integer(), nullable=False),
        sa.Column("tombstoned", sa.Integer(), nullable=False),
        sa.Column("missing_here", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("tombstoned_ids", sa.JSON(), nullable=False),
        sa.Column("missing_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_reconciliations")),
        sa.UniqueConstraint("system", "entity", name=op.f("uq_sync_reconciliations_system")),
    )


def downgrade() -> None:
    op.drop_table("sync_reconciliations")
