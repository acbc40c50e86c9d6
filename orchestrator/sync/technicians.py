"""What a technician written by a sync owes the orders assigned to them.

A system of record (Workday) that deactivates a technician, terminates them from a date or
sends them on leave leaves their technician in the store (deactivated, kept) and their
assigned orders where they are: nothing is moved silently. Each open order assigned to them
on a day they are no longer to be sent out (inactive, deleted at the source, or on one of
their ``unavailable`` periods, in their time zone) gets ``needs_attention`` and an
``attention_reason``, with an ``attention_needed`` event in its audit trail, in the sync's
transaction; the office re-plans or reassigns it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.reference.records import unavailable_on
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.audit_trail import append_event

ASSIGNED = (State.SCHEDULED, State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD)
"""The states in which an order is assigned to a technician and still to be done."""

_TECHNICIANS = models.table_of(models.Technician)
_ORDERS = models.table_of(models.WorkOrder)


def flag_orders(uow: UnitOfWork, system: str, external_ids: list[str], now: datetime) -> int:
    """Flag the open orders of the technicians ``external_ids`` of ``system`` just written
    (see the module) that are not flagged yet; how many."""
    tech = _TECHNICIANS.c
    connection = uow.connection()
    found = connection.execute(
        select(tech.id, tech.external_id, tech.active, tech.deleted_at, tech.time_zone,
               tech.unavailable)
        .where((tech.source_system == system) & tech.external_id.in_(external_ids))
    ).all()  # fmt: skip
    doubtful = {row.id: row for row in found if not row.active or row.deleted_at or row.unavailable}
    if not doubtful:
        return 0
    order = _ORDERS.c
    orders = connection.execute(
        select(order.id, order.technician_id, order.window_start).where(
            order.technician_id.in_(sorted(doubtful))
            & order.status.in_([s.value for s in ASSIGNED])
            & ~order.needs_attention
        )
    ).all()
    flagged = 0
    actor = Actor(subject=f"sync:{system}", role=Role.INTEGRATION)  # as the sync's edits are
    for row in orders:
        reason = _reason(doubtful[row.technician_id], system, row.window_start)
        if reason is None:
            continue
        connection.execute(
            update(_ORDERS)
            .where(order.id == row.id)
            .values(
                needs_attention=True,
                attention_reason=reason,
                version=order.version + 1,
                updated_at=now,
            )
        )
        append_event(uow, cast(Any, row), actor, "attention_needed", {"reason": reason})
        flagged += 1
    return flagged


def _reason(tech: Any, system: str, start: datetime | None) -> str | None:
    """Why the technician cannot do an order starting at ``start`` (None: they can)."""
    who = f"technician {tech.id} ({system} {tech.external_id})"
    if tech.deleted_at is not None:
        return f"{who} is no longer in {system}"
    if not tech.active:
        return f"{who} is no longer active in {system}"
    if start is None:
        return None
    zone = ZoneInfo(tech.time_zone) if tech.time_zone else UTC
    day: date = start.astimezone(zone).date()
    period = unavailable_on(tech.unavailable, day)
    if period is None:
        return None
    until = f" to {period['to']}" if period.get("to") else ""
    return f"{who} is unavailable ({period.get('why')}) from {period['from']}{until}"
