"""Reading work orders: one by id, a page by filters (each caller sees only what they may),
the late facts devices sent about closed or cancelled orders, and the public status page by
tracking code (no login: never names, phone numbers or notes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnClause, bindparam, literal_column, select

from orchestrator.domain.errors import (
    NotFound,
    invalid,
)
from orchestrator.domain.lifecycle import (
    TERMINAL,
    Actor,
    Role,
    State,
)
from orchestrator.store import models
from orchestrator.store.pagination import decode_cursor, encode_cursor
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.order import ORDERS, local_window, site_zone, to_public, visible

_READ = select(ORDERS, models.Site.time_zone.label("site_time_zone")).outerjoin(
    models.Site, models.Site.id == ORDERS.c.site_id
)
"""Orders with their site's time zone, as plain rows: reads need no ORM objects."""
_REQUESTS = models.table_of(models.ServiceRequest)
_READ_ONE = (
    _READ.add_columns(
        _REQUESTS.c.id.label("request_id"),
        _REQUESTS.c.contact_name.label("request_name"),
        _REQUESTS.c.contact_phone.label("request_phone"),
        _REQUESTS.c.contact_email.label("request_email"),
        _REQUESTS.c.address.label("request_address"),
    )
    .outerjoin(_REQUESTS, _REQUESTS.c.work_order_id == ORDERS.c.id)
    .where(ORDERS.c.id == bindparam("id"))
)
"""One order, with the contact details of the service request it came from (if any)."""

CALLS_BACK = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
"""Who sees the requester's contact details on an order: the office, who call back."""

_DEVICE_OPS = models.table_of(models.DeviceOp)
_LATE = select(
    _DEVICE_OPS.c.work_order_id,
    _DEVICE_OPS.c.op_id,
    _DEVICE_OPS.c.kind,
    _DEVICE_OPS.c.at,
    _DEVICE_OPS.c.body,
).order_by(_DEVICE_OPS.c.at, _DEVICE_OPS.c.received_at, _DEVICE_OPS.c.op_id)
_IS_LATE: ColumnClause[bool] = literal_column("device_ops.late")
"""The term of the partial index ``ix_device_ops_late`` as it is written there: SQLite uses
the index only for that very term (SQLAlchemy writes a boolean column as ``late = 1``)."""
_OP_ENVELOPE = frozenset({"op_id", "kind", "at", "work_order_id", "base_version"})
"""What every op carries beside its own fields: left out of a late fact's payload."""


def late_facts_of(uow: UnitOfWork, order_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """What devices sent about each order after it was closed or cancelled
    (``orchestrator.field.ops``): kept, never applied, shown on the order (for the
    supervisor's review) as ``{"op_id", "kind", "at", "payload"}``, oldest first. One
    statement however many orders; the caller has decided the reader may see them."""
    ids = list(dict.fromkeys(order_ids))
    out: dict[int, list[dict[str, Any]]] = {oid: [] for oid in ids}
    if not ids:
        return out
    late = _LATE.where(_IS_LATE, _DEVICE_OPS.c.work_order_id.in_(ids))
    for row in uow.connection().execute(late):
        payload = {k: v for k, v in row.body.items() if k not in _OP_ENVELOPE}
        fact = {"op_id": row.op_id, "kind": row.kind, "at": row.at, "payload": payload}
        out[row.work_order_id].append(fact)
    return out


def get(uow: UnitOfWork, ident: int, actor: Actor) -> dict[str, Any]:
    """One order as ``actor`` may see it; for the office, with the requester's contact
    details (``requester_contact``: None for the other roles, and when no service request
    made the order); closed or cancelled, with its ``late_facts``. Only here: lists stay one
    row per order, with nothing joined."""
    row = uow.connection().execute(_READ_ONE, {"id": ident}).first()
    if row is None or not visible(actor, row):
        raise NotFound("work order", ident)
    out = to_public(row, row.site_time_zone, actor)
    contact = None
    if actor.role in CALLS_BACK and row.request_id is not None:
        contact = {
            "name": row.request_name,
            "phone": row.request_phone,
            "email": row.request_email,
            "address": row.request_address,
        }
    out["requester_contact"] = contact
    late = State(row.status) in TERMINAL  # only a closed or cancelled order has late facts
    out["late_facts"] = late_facts_of(uow, [ident])[ident] if late else []
    return out


@dataclass(frozen=True)
class WorkOrderFilter:
    status: tuple[str, ...] = ()
    priority: int | None = None
    technician_id: int | None = None
    division_id: int | None = None
    customer_id: int | None = None
    territory_id: int | None = None


def list_page(
    uow: UnitOfWork, actor: Actor, flt: WorkOrderFilter, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    wo = ORDERS.c
    query = _READ.where(wo.id > decode_cursor(cursor)).order_by(wo.id).limit(limit)
    unknown = [s for s in flt.status if s not in State.__members__.values()]
    if unknown:
        raise invalid("status", f"unknown state {unknown[0]!r}")
    if flt.status:
        query = query.where(wo.status.in_(flt.status))
    for column, value in (
        (wo.priority, flt.priority),
        (wo.technician_id, flt.technician_id),
        (wo.division_id, flt.division_id),
        (wo.customer_id, flt.customer_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.territory_id is not None:
        query = query.where(models.Site.territory_id == flt.territory_id)
    if actor.role is Role.TECHNICIAN:
        query = query.where(wo.technician_id == actor.technician_id)
    elif actor.role is Role.REQUESTER:
        query = query.where(wo.requester_subject == actor.subject)
    rows = uow.connection().execute(query).all()
    return {
        "items": [to_public(r, r.site_time_zone, actor) for r in rows],
        "next_cursor": encode_cursor(rows[-1].id) if len(rows) == limit else None,
    }


PUBLIC_STATUS = {
    State.NEW: "Received",
    State.TRIAGED: "Being planned",
    State.SCHEDULED: "Appointment booked",
    State.DISPATCHED: "Technician assigned for the day",
    State.IN_PROGRESS: "Technician on site",
    State.ON_HOLD: "Paused",
    State.COMPLETED: "Work completed, under review",
    State.CANNOT_COMPLETE: "Another visit needed",
    State.CLOSED: "Closed",
    State.CANCELLED: "Cancelled",
}


def public_status(uow: UnitOfWork, tracking_code: str) -> dict[str, Any]:
    """What anyone holding the tracking code may see: never names, phone numbers or notes."""
    wo = uow.session.scalars(
        select(models.WorkOrder).where(models.WorkOrder.tracking_code == tracking_code)
    ).one_or_none()
    if wo is None:
        raise NotFound("tracking code", tracking_code)
    state = State(wo.status)
    return {
        "tracking_code": wo.tracking_code,
        "status": wo.status,
        "status_label": PUBLIC_STATUS[state],
        "appointment_window": local_window(wo, site_zone(uow, wo)),
        "last_update": wo.status_changed_at,
    }
