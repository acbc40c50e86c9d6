"""Generation: the orders a day's look at the active calendar plans owes, each occurrence once.

For each active plan and each of its assets (the one it names, or every live asset of its
model), the occurrences ``rules.due`` says are still to make up to ``rules.through`` (the
plan's horizon and lead time from ``as_of``) each become an ordinary work order: intake
source ``pm`` (``source_system`` ``pm``, ``external_id`` ``plan-P/asset-A/DUE``), the
plan's work type (so its checklist and proof requirements), its priority, the asset and
the asset's site and customer; created by ``work_orders.commands.create`` as any order is,
with its audit event, by the actor ``pm:generate``.

Exactly once: the occurrence row (plan, asset, due date; unique) is inserted ``ON CONFLICT
DO NOTHING`` in the order's own transaction, so of two generators at once (two workers, a
beat run and a hand run) the second finds it taken and makes nothing. The occurrences are
linked to their orders (``work_order_id``) in batches after the orders' commits; one left
unlinked (a process stopped in between) is linked from the order's ``external_id`` by the
next run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mappings import canonical
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.maintenance import rules
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands

SOURCE = "pm"
"""The intake source of a generated order (its ``source_system``)."""
ACTOR = Actor(subject="pm:generate", role=Role.INTEGRATION)
LINKS_AT_ONCE = 200
"""Occurrences linked to their orders in one statement (each order commits on its own)."""

_PLANS = models.table_of(models.MaintenancePlan)
_OCC = models.table_of(models.MaintenanceOccurrence)
_ASSETS = models.table_of(models.Asset)
_SITES = models.table_of(models.Site)
_ORDERS = models.table_of(models.WorkOrder)


@dataclass
class Generated:
    """What one run did: the plans and (plan, asset) pairs looked at (of ``total``), the
    orders made, and the occurrences another generator made first (running at once)."""

    plans: int = 0
    total: int = 0
    pairs: int = 0
    made: int = 0
    taken: int = 0


def external_id(plan_id: int, asset_id: int, due_on: date) -> str:
    """The generated order's key at its source (``pm``): its occurrence."""
    return f"plan-{plan_id}/asset-{asset_id}/{due_on.isoformat()}"


@functools.cache
def _claim(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_OCC)
        .on_conflict_do_nothing(index_elements=["plan_id", "asset_id", "due_on"])
        .returning(_OCC.c.id)
    )


_LINK = (
    update(_OCC)
    .where(_OCC.c.id == bindparam("occurrence"))
    .values(work_order_id=bindparam("order"))
)
_UNLINKED = select(_OCC.c.id, _OCC.c.plan_id, _OCC.c.asset_id, _OCC.c.due_on).where(
    _OCC.c.work_order_id.is_(None)
)


def _link_stragglers(uow: UnitOfWork) -> None:
    """Link occurrences whose order was made but not linked (a stop between two commits)."""
    rows = uow.connection().execute(_UNLINKED).all()
    if not rows:
        uow.rollback()
        return
    keys = {external_id(r.plan_id, r.asset_id, r.due_on): r.id for r in rows}
    found = uow.connection().execute(
        select(_ORDERS.c.id, _ORDERS.c.external_id).where(
            _ORDERS.c.source_system == SOURCE, _ORDERS.c.external_id.in_(list(keys))
        )
    )
    links = [{"occurrence": keys[r.external_id], "order": r.id} for r in found]
    if links:
        uow.connection().execute(_LINK, links)
    uow.commit()


def _latest(uow: UnitOfWork) -> dict[tuple[int, int], rules.Last]:
    """For each (plan, asset) of the active plans, its latest occurrence and its order's end."""
    latest = (
        select(_OCC.c.plan_id, _OCC.c.asset_id, func.max(_OCC.c.due_on).label("due_on"))
        .join(_PLANS, _PLANS.c.id == _OCC.c.plan_id)
        .where(_PLANS.c.active.is_(True))
        .group_by(_OCC.c.plan_id, _OCC.c.asset_id)
        .subquery()
    )
    query = (
        select(
            latest.c.plan_id,
            latest.c.asset_id,
            latest.c.due_on,
            _ORDERS.c.completed_at,
            _ORDERS.c.status,
        )
        .join(
            _OCC,
            and_(
                _OCC.c.plan_id == latest.c.plan_id,
                _OCC.c.asset_id == latest.c.asset_id,
                _OCC.c.due_on == latest.c.due_on,
            ),
        )
        .outerjoin(_ORDERS, _ORDERS.c.id == _OCC.c.work_order_id)
    )
    out: dict[tuple[int, int], rules.Last] = {}
    for row in uow.connection().execute(query):
        done = None if row.completed_at is None else row.completed_at.date()
        cancelled = row.status == State.CANCELLED.value
        out[(row.plan_id, row.asset_id)] = rules.Last(row.due_on, done, cancelled)
    return out


def _assets(uow: UnitOfWork, plans: list[Any]) -> dict[int, list[Any]]:
    """Each plan's live assets (with their site's customer), by plan id."""
    ids = {p.asset_id for p in plans if p.asset_id is not None}
    names = {p.asset_model for p in plans if p.asset_model is not None}
    query = (
        select(
            _ASSETS.c.id,
            _ASSETS.c.model,
            _ASSETS.c.serial,
            _ASSETS.c.name,
            _ASSETS.c.site_id,
            _SITES.c.customer_id,
        )
        .outerjoin(_SITES, _SITES.c.id == _ASSETS.c.site_id)
        .where(_ASSETS.c.deleted_at.is_(None))
        .where(_ASSETS.c.id.in_(list(ids)) | _ASSETS.c.model.in_(list(names)))
        .order_by(_ASSETS.c.id)
    )
    rows = uow.connection().execute(query).all()
    by_id = {r.id: r for r in rows}
    by_model: dict[str, list[Any]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row)
    return {
        p.id: ([by_id[p.asset_id]] if p.asset_id in by_id else [])
        if p.asset_id is not None
        else by_model.get(p.asset_model, [])
        for p in plans
    }


def _order(plan: Any, asset: Any, due_on: date) -> canonical.WorkOrder:
    label = asset.name or asset.serial
    return canonical.WorkOrder(
        summary=f"{plan.name}: {label}, due {due_on.isoformat()}"[:300],
        description=(
            f"Preventive maintenance, plan {plan.id} ({plan.rule}, counted from "
            f"{plan.counts_from}), due {due_on.isoformat()}."
        ),
        customer_id=asset.customer_id,
        site_id=asset.site_id,
        asset_id=asset.id,
        priority=plan.priority,
        work_type_id=plan.work_type_id,
        source_system=SOURCE,
        external_id=external_id(plan.id, asset.id, due_on),
    )


def _make(uow: UnitOfWork, plan: Any, asset: Any, due_on: date) -> dict[str, int] | None:
    """The order for one occurrence, in one transaction with the occurrence's row; the link
    to write (occurrence and order), or None when the occurrence was already taken (nothing
    made)."""
    claimed = uow.connection().execute(
        _claim(uow.dialect),
        {"plan_id": plan.id, "asset_id": asset.id, "due_on": due_on, "created_at": utcnow()},
    )
    occurrence = claimed.scalar()
    if occurrence is None:
        uow.rollback()
        return None
    made = commands.create(uow, commands.CreateWorkOrder(_order(plan, asset, due_on), ACTOR))
    return {"occurrence": occurrence, "order": made["id"]}


def _link(uow: UnitOfWork, links: list[dict[str, int]]) -> None:
    """Write the links of the occurrences made to their orders, in one transaction."""
    if links:
        uow.connection().execute(_LINK, links)
        uow.commit()
        links.clear()


def generate(
    uow: UnitOfWork,
    as_of: date,
    *,
    progress: Callable[[Generated], None] | None = None,
) -> Generated:
    """Make the orders the active plans owe on ``as_of`` (each occurrence due up to the
    plan's horizon and lead time from it, never twice); ``progress`` is told after each
    (plan, asset). ``uow`` is open; each order commits on its own."""
    done = Generated()
    _link_stragglers(uow)
    plans = (
        uow.connection()
        .execute(select(_PLANS).where(_PLANS.c.active.is_(True)).order_by(_PLANS.c.id))
        .all()
    )
    assets = _assets(uow, list(plans))
    latest = _latest(uow)
    uow.rollback()  # the reads' transaction ends: each order takes its own
    links: list[dict[str, int]] = []
    done.plans = len(plans)
    done.total = sum(len(found) for found in assets.values())
    if progress is not None:
        progress(done)
    for plan in plans:
        until = rules.through(as_of, plan.horizon_days, plan.lead_days)
        for asset in assets[plan.id]:
            last = latest.get((plan.id, asset.id))
            for due_on in rules.due(plan.rule, plan.starts_on, plan.counts_from, last, until):
                link = _make(uow, plan, asset, due_on)
                if link is None:
                    done.taken += 1
                    continue
                done.made += 1
                links.append(link)
                if len(links) >= LINKS_AT_ONCE:
                    _link(uow, links)
            done.pairs += 1
            if progress is not None:
                progress(done)
    _link(uow, links)
    return done
