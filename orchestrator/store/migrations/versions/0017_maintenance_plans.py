"""preventive maintenance: plans (an asset, or every asset of a model, tied to a work type by
an RFC 5545 recurrence rule, counted from the schedule or from the last completion, with a
horizon and a lead time) and the occurrences made of them (one row per plan, asset and due
date: the key that makes each occurrence once, and the order made for it)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = orchestrator.store.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "maintenance_plans",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("asset_id", Id, nullable=True),
        sa.Column("asset_model", sa.String(length=200), nullable=True),
        sa.Column("work_type_id", Id, nullable=False),
        sa.Column("rule", sa.String(length=500), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("counts_from", sa.String(length=16), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_maintenance_plans_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["work_type_id"],
            ["work_types.id"],
            name=op.f("fk_maintenance_plans_work_type_id_work_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_plans")),
    )
    op.create_table(
        "maintenance_occurrences",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("plan_id", Id, nullable=False),
        sa.Column("asset_id", Id, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("work_order_id", Id, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["maintenance_plans.id"],
            name=op.f("fk_maintenance_occurrences_plan_id_maintenance_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_maintenance_occurrences_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_maintenance_occurrences_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_occurrences")),
        sa.UniqueConstraint(
            "plan_id", "asset_id", "due_on", name=op.f("uq_maintenance_occurrences_plan_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("maintenance_occurrences")
    op.drop_table("maintenance_plans")
