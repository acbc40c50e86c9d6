"""Facts recorded in the field on an order: a part used (the van's stock kept), a labour
line, a meter reading, a note, the signer's name; and a technician's latest position.

Each fact is a row of its own and the next event of the order's audit chain (ids, codes and
hashes, never free text), with the device's clock (``occurred_at``) beside the server's and
the op that carried it; it raises the order's version, so every copy of the order knows it
changed. Nothing here commits: a device's batch does (``orchestrator.field.ops``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select

from orchestrator.domain.errors import NotFound, invalid
from orchestrator.domain.lifecycle import Actor
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands
from orchestrator.work_orders.audit_trail import append_event

ACTIVITIES = ("travel", "work")


def _recorded(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    kind: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    op_id: str | None,
) -> None:
    wo.version += 1
    context = {"occurred_at": at, "op_id": op_id}
    append_event(uow, wo, actor, kind, payload | context)


F = TypeVar("F", models.PartUse, models.LabourLine, models.Reading)


def _stored(
    uow: UnitOfWork, model: type[F], actor: Actor, at: datetime, op_id: str | None, **fields: Any
) -> F:
    """A fact's row, with who recorded it, when it happened and the op that carried it;
    stored, so its id is known for the audit event."""
    row = model(
        actor=actor.subject,
        role=str(actor.role),
        technician_id=actor.technician_id,
        at=at,
        op_id=op_id,
        **fields,
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def _technician(uow: UnitOfWork, technician_id: int) -> models.Technician:
    """The technician, locked for the transaction (two devices of one van: one stock); read
    once, then from the session."""
    lock = uow.dialect == "postgresql"
    tech = uow.session.get(models.Technician, technician_id, with_for_update=lock)
    if tech is None:
        raise NotFound("technician", technician_id)
    return tech


def take_from_van(
    uow: UnitOfWork, technician_id: int | None, code: str, quantity: float
) -> tuple[bool, float]:
    """Take ``quantity`` of part ``code`` off the technician's van: whether the van held
    fewer (``off_van``: what it held is taken, never below zero), and how many it holds now."""
    if technician_id is None:
        return True, 0.0
    tech = _technician(uow, technician_id)
    held = float(tech.van_stock.get(code, 0))
    left = max(held - quantity, 0.0)
    stock = dict(tech.van_stock)
    if code in stock or left:
        stock[code] = int(left) if left.is_integer() else left
    tech.van_stock = stock  # a new dict: the JSON column sees the change
    tech.version += 1
    return held < quantity, left


def part_used(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    *,
    code: str,
    quantity: float,
    from_van: bool,
    at: datetime,
    op_id: str | None = None,
) -> models.PartUse:
    """A part used on the order. From the van, it comes off the van's stock; a part not on
    the van (or not enough of it) is still recorded, flagged ``off_van``."""
    known = uow.session.scalar(select(models.Part.id).where(models.Part.code == code))
    if known is None:
        raise invalid("part_code", f"no part with code {code!r} in the catalogue")
    off_van, left = True, None
    if from_van:
        off_van, left = take_from_van(uow, actor.technician_id, code, quantity)
    row = _stored(
        uow, models.PartUse, actor, at, op_id,
        work_order_id=wo.id, part_code=code, quantity=quantity, from_van=from_van,
        off_van=off_van,
    )  # fmt: skip
    payload = {
        "part_use_id": row.id,
        "part_code": code,
        "quantity": quantity,
        "from_van": from_van,
        "off_van": off_van,
        "van_left": left,
    }
    _recorded(uow, wo, actor, "part_used", payload, at=at, op_id=op_id)
    return row


def labour(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    *,
    activity: str,
    start: datetime,
    end: datetime,
    at: datetime,
    op_id: str | None = None,
) -> models.LabourLine:
    """Time worked on the order: travel or work, from ``start`` to ``end``."""
    if activity not in ACTIVITIES:
        raise invalid("activity", f"one of {', '.join(ACTIVITIES)}")
    if end <= start:
        raise invalid("end", "the line must end after it starts")
    row = _stored(
        uow, models.LabourLine, actor, at, op_id,
        work_order_id=wo.id, activity=activity, start=start, end=end,
    )  # fmt: skip
    payload = {"labour_line_id": row.id, "activity": activity, "start": start, "end": end}
    _recorded(uow, wo, actor, "labour_recorded", payload, at=at, op_id=op_id)
    return row


def reading(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    *,
    asset_id: int,
    measure: str,
    value: float,
    unit: str,
    at: datetime,
    op_id: str | None = None,
) -> models.Reading:
    """A meter reading on an asset, taken during the order."""
    if uow.session.get(models.Asset, asset_id) is None:
        raise invalid("asset_id", f"no asset with id {asset_id}")
    row = _stored(
        uow, models.Reading, actor, at, op_id,
        asset_id=asset_id, work_order_id=wo.id, measure=measure, value=value, unit=unit,
    )  # fmt: skip
    payload = {"reading_id": row.id, "asset_id": asset_id, "measure": measure, "unit": unit}
    _recorded(uow, wo, actor, "reading_recorded", payload, at=at, op_id=op_id)
    return row


def remark(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    *,
    kind: str,
    text: str,
    at: datetime,
    op_id: str | None = None,
) -> None:
    """A note from the field (``note``), or the name of who signed (``signer``)."""
    payload = commands.note(uow, wo, actor, kind, text, at=at, op_id=op_id)
    _recorded(uow, wo, actor, f"{kind}_added", payload, at=at, op_id=op_id)


def position(
    uow: UnitOfWork,
    technician_id: int,
    *,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    at: datetime,
) -> bool:
    """Keep the technician's latest position (a fix older than the one kept changes
    nothing); whether it was kept. Not an order's fact: no audit event."""
    row = uow.session.get(models.TechnicianPosition, technician_id)
    if row is None:
        uow.session.add(
            models.TechnicianPosition(
                technician_id=technician_id,
                latitude=lat,
                longitude=lon,
                accuracy_m=accuracy_m,
                at=at,
            )
        )
    elif row.at < at:
        row.latitude, row.longitude, row.accuracy_m, row.at = lat, lon, accuracy_m, at
    else:
        return False
    uow.session.flush()
    return True
