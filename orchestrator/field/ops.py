"""The op log of technicians' devices (``POST /api/v1/me/ops``): work done offline, uploaded
in batches cut anywhere, applied once, every fact kept.

An op is ``{"op_id", "at", "work_order_id", "base_version", "kind", ...}`` (``OPS`` below
holds each kind's fields). Each op of a batch is answered in order, one result each:

- ``applied``: it changed the order (``version`` the order's version after it; ``stale``
  when the order had moved on from ``base_version``, so the device refreshes its copy);
- ``duplicate``: its ``op_id`` was seen before; nothing changes, and the answer carries the
  first result (``first``), however often it is replayed and however the batches are cut;
- ``conflict``: a transition the order's current state no longer allows (``current``,
  ``allowed``), or a fact on a closed or cancelled order, refused there but kept as a
  *late fact* (shown on the order and to the supervisor);
- ``rejected``: malformed, or wrong for the order (a part not in the catalogue, an unknown
  checklist item, proof missing): ``reason`` and ``errors``; the rest of the batch applies;
- ``pending``: a completion that names attachments (client ids) not all arrived; kept, and
  applied by itself when the last one arrives (``attachment_arrived``); a replay answers
  ``pending`` until then, then ``duplicate`` with what became of it.

Facts (notes, parts used, labour, readings, checklist ticks, the signer's name) apply
whatever ``base_version`` says: a fact is not made wrong by the office re-planning the
order. Transitions are judged on the order's current state, by the same lifecycle table and
proof gate as every other caller. The audit records the device's time (``occurred_at``)
beside the server's. The upload is one transaction, committed once; an op refused leaves
nothing (a fact is checked whole before it writes, a move runs in a savepoint), and each
order is read and locked once for the upload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mappings.canonical import Code, Id, Latitude, Longitude, Model, Name
from orchestrator.domain.errors import (
    FieldbridgeError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
)
from orchestrator.domain.lifecycle import (
    TERMINAL,
    Actor,
    Role,
    State,
    allowed_targets,
    parties,
    permitted,
)
from orchestrator.field import facts, packet
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands
from orchestrator.work_orders.audit_trail import append_event

MAX_OPS = 500
"""Ops in one upload at most: a device with more sends them in several."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class _Op(Model):
    op_id: UUID
    at: AwareDatetime = Field(description="when it happened, by the device's clock")
    work_order_id: Id
    base_version: Annotated[int, Field(ge=0)] = Field(
        description="the order's version the device last saw"
    )


class _At(Model):
    lat: Latitude
    lon: Longitude


class TransitionOp(_Op):
    kind: Literal["transition"]
    to: State
    reason: Text | None = None
    position: _At | None = None
    resolution_code: Code | None = None
    resolution_note: Text | None = None
    attachment_ids: list[UUID] = Field(default_factory=list, max_length=100)
    """Completing: the client ids of the attachments the completion waits for."""


class ChecklistOp(_Op):
    kind: Literal["checklist"]
    items: dict[Code, bool] = Field(min_length=1, max_length=200)


class NoteOp(_Op):
    kind: Literal["note"]
    text: Text


class PartUsedOp(_Op):
    kind: Literal["part_used"]
    part_code: Code
    quantity: Annotated[float, Field(gt=0, le=1_000_000)]
    from_van: bool


class LabourOp(_Op):
    kind: Literal["labour"]
    activity: Literal["travel", "work"]
    start: AwareDatetime
    end: AwareDatetime


class ReadingOp(_Op):
    kind: Literal["reading"]
    asset_id: Id
    measure: Code
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]


class PositionOp(_Op):
    """The technician's position; ``work_order_id`` optional (``0``: none)."""

    kind: Literal["position"]
    work_order_id: Annotated[int, Field(ge=0)] = 0
    base_version: Annotated[int, Field(ge=0)] = 0
    lat: Latitude
    lon: Longitude
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] | None = None


class SignerOp(_Op):
    kind: Literal["signature_signer"]
    name: Name


Op = Annotated[
    TransitionOp | ChecklistOp | NoteOp | PartUsedOp | LabourOp | ReadingOp | PositionOp | SignerOp,
    Field(discriminator="kind"),
]
OP: TypeAdapter[Op] = TypeAdapter(Op)
FACTS = frozenset({"checklist", "note", "part_used", "labour", "reading", "signature_signer"})
"""The kinds that record what happened: applied whatever ``base_version``, kept (late) when
the order is closed or cancelled."""


def _result(op_id: str | None, status: str, **more: Any) -> dict[str, Any]:
    base = {"op_id": op_id, "status": status, "version": None, "reason": None, "current": None}
    return base | more


def _op_id(raw: Any) -> str | None:
    try:
        return str(UUID(str(raw["op_id"])))
    except (KeyError, TypeError, ValueError):
        return None


def submit(uow: UnitOfWork, actor: Actor, device_id: str, raw_ops: Sequence[Any]) -> dict[str, Any]:
    """Apply a device's upload, op by op, in one transaction committed at the end: one
    result per op, in order (see the module), and the sync token as the feed stood before the
    upload: the device asks ``/me/changes`` since the older of it and its own last token, and
    so sees what its ops did (a pending completion applied, versions) and all else.

    The same ops committed meanwhile by another connection (a device retrying while its
    first upload was being applied) collide with them on their ids: the upload is then
    rolled back and applied once more, when they answer ``duplicate``."""
    if actor.role is not Role.TECHNICIAN or actor.technician_id is None:
        raise Forbidden("only a technician's device uploads ops")
    if len(raw_ops) > MAX_OPS:
        raise InvalidInput(
            "too many ops in one upload",
            [{"field": "ops", "reason": f"at most {MAX_OPS}: send the rest in another upload"}],
        )
    try:
        return _Upload(uow, actor, device_id).apply(raw_ops)
    except IntegrityError:
        uow.rollback()
    return _Upload(uow, actor, device_id).apply(raw_ops)


class _Upload:
    """One upload being applied: the ops already known (``seen``, by id, the upload's own
    included), the orders it touched (each read and locked once), the ops to keep."""

    def __init__(self, uow: UnitOfWork, actor: Actor, device_id: str) -> None:
        self.uow, self.actor, self.device_id = uow, actor, device_id
        self.seen: dict[str, models.DeviceOp] = {}
        self.orders: dict[int, models.WorkOrder | None] = {}
        self.kept: list[models.DeviceOp] = []

    def apply(self, raw_ops: Sequence[Any]) -> dict[str, Any]:
        uow = self.uow
        token = packet.sync_token(uow, self.actor)  # before the ops: their changes come after
        ids = [i for i in (_op_id(raw) for raw in raw_ops) if i is not None]
        known = select(models.DeviceOp).where(models.DeviceOp.op_id.in_(ids))
        self.seen = {row.op_id: row for row in uow.session.scalars(known)}
        results = [self.one(raw) for raw in raw_ops]
        uow.session.add_all(self.kept)  # in one statement (or a few), not one per op
        uow.commit()
        return {"results": results, "sync_token": token}

    def one(self, raw: Any) -> dict[str, Any]:
        op_id = _op_id(raw)
        if op_id is None:
            given = raw.get("op_id") if isinstance(raw, Mapping) else None
            reason = "op_id: a UUID is required (nothing is kept of an op without one)"
            return _result(given if isinstance(given, str) else None, "rejected", reason=reason)
        if op_id in self.seen:
            row = self.seen[op_id]
            if row.status == "pending" and row.technician_id == self.actor.technician_id:
                self.settle(row)
            return _replay(row, self.actor)
        body = dict(raw) if isinstance(raw, Mapping) else {"op": raw}
        row = models.DeviceOp(
            op_id=op_id,
            technician_id=self.actor.technician_id,
            actor=self.actor.subject,
            device_id=self.device_id,
            body=_jsonable(body),
            received_at=utcnow(),
        )
        self.decide(row, raw)
        row.result = _jsonable(row.result)
        row.decided_at = None if row.status == "pending" else utcnow()
        self.seen[op_id] = row
        self.kept.append(row)
        return dict(row.result)

    def decide(self, row: models.DeviceOp, raw: Any) -> None:
        """Apply one op, and say in ``row`` what became of it."""
        uow, actor, op_id, body = self.uow, self.actor, row.op_id, row.body
        try:
            op = OP.validate_python(raw)
        except ValidationError as exc:
            problem = InvalidInput.of("the op is not valid", exc)
            row.status, row.result = "rejected", _refused(op_id, "rejected", problem)
            row.work_order_id = _int_or_none(body.get("work_order_id"))
            row.kind = str(body.get("kind"))[:32] if body.get("kind") is not None else None
            return
        row.kind, row.at = op.kind, op.at
        row.work_order_id = op.work_order_id or None
        if isinstance(op, PositionOp):
            kept = facts.position(
                uow, actor.technician_id or 0, lat=op.lat, lon=op.lon,
                accuracy_m=op.accuracy_m, at=op.at,
            )  # fmt: skip
            reason = None if kept else "a later position is already kept"
            row.status, row.result = "applied", _result(op_id, "applied", reason=reason)
            return
        wo = self.order(op.work_order_id)
        if wo is None:
            problem = InvalidInput(
                "no such order",
                [{"field": "work_order_id", "reason": f"no order {op.work_order_id} of yours"}],
            )
            row.status, row.result = "rejected", _refused(op_id, "rejected", problem)
            return
        stale = wo.version != op.base_version
        if isinstance(op, TransitionOp) and _may_move(wo, actor, op.to):
            waiting = _waiting(uow, wo, op)
            if waiting:
                row.status, row.waiting = "pending", waiting
                row.result = _result(
                    op_id, "pending", version=wo.version, current=wo.status, waiting=waiting
                )
                return
        state = State(wo.status)
        if op.kind in FACTS and state in TERMINAL:
            if isinstance(op, PartUsedOp) and op.from_van:  # the part left the van all the same
                facts.take_from_van(uow, actor.technician_id, op.part_code, op.quantity)
            row.late, row.status = True, "conflict"
            reason = f"the order is {state}: the fact is kept as a late fact, for the supervisor"
            row.result = _result(
                op_id, "conflict", version=wo.version, current=state, reason=reason
            )
            late = {"op_id": op_id, "kind": op.kind, "occurred_at": op.at}
            append_event(uow, wo, actor, "late_fact", late)
            return
        _try(uow, row, wo, actor, op, stale=stale)

    def settle(self, row: models.DeviceOp) -> None:
        """A completion still waiting for attachments, replayed: if its order has since
        moved where it can no longer be completed (cancelled, closed, sent back), the
        attachments will never be taken: it is a conflict now, not pending for ever."""
        op = OP.validate_python(row.body)
        assert isinstance(op, TransitionOp)  # nosec B101  # only a completion waits
        wo = self.order(op.work_order_id)
        if wo is None:
            gone = [{"field": "work_order_id", "reason": f"no order {op.work_order_id} of yours"}]
            row.status, row.result = (
                "rejected",
                _refused(row.op_id, "rejected", InvalidInput("no such order", gone)),
            )
        elif not _may_move(wo, self.actor, op.to):
            who = parties(self.actor, assigned_technician_id=wo.technician_id, requester=None)
            current = State(wo.status)
            allowed = [str(s) for s in allowed_targets(current, who)]
            refusal = IllegalTransition(current, op.to, allowed)
            row.status = "conflict"
            row.result = _refused(row.op_id, "conflict", refusal, wo=wo, actor=self.actor)
        else:
            return
        row.result = _jsonable(row.result)
        row.waiting, row.decided_at = None, utcnow()

    def order(self, ident: int) -> models.WorkOrder | None:
        """The order an op names, read and locked once for the upload."""
        if ident not in self.orders:
            self.orders[ident] = _order(self.uow, self.actor, ident)
        return self.orders[ident]


def _replay(row: models.DeviceOp, actor: Actor) -> dict[str, Any]:
    if row.technician_id != actor.technician_id:
        reason = "op_id: already used by another device's op; make a new one"
        return _result(row.op_id, "rejected", reason=reason)
    if row.status == "pending":
        return dict(row.result)
    first = dict(row.result)
    return first | {"status": "duplicate", "first": first["status"]}


def _refused(
    op_id: str,
    status: str,
    exc: FieldbridgeError,
    *,
    wo: models.WorkOrder | None = None,
    actor: Actor | None = None,
) -> dict[str, Any]:
    out = _result(op_id, status, reason=exc.detail) | _jsonable(dict(exc.extra))
    if wo is not None:
        out["version"], out["current"] = wo.version, wo.status
        if status == "conflict" and actor is not None and "allowed" not in out:
            who = parties(actor, assigned_technician_id=wo.technician_id, requester=None)
            out["allowed"] = [str(s) for s in allowed_targets(State(wo.status), who)]
    return out


def _may_move(wo: models.WorkOrder, actor: Actor, target: State) -> bool:
    """Whether the order's current state lets ``actor`` move it to ``target``: a move it does
    not is a conflict now, never a completion waiting for attachments that cannot come (a
    cancelled or closed order takes none)."""
    who = parties(actor, assigned_technician_id=wo.technician_id, requester=None)
    return permitted(State(wo.status), target, who) is not None


def _order(uow: UnitOfWork, actor: Actor, ident: int) -> models.WorkOrder | None:
    """The order an op names, if it is the technician's: assigned to them now, or once (a
    fact from a visit is theirs to report after the office moved the order on)."""
    query = select(models.WorkOrder).where(models.WorkOrder.id == ident)
    if uow.dialect == "postgresql":
        query = query.with_for_update(of=models.WorkOrder)
    wo = uow.session.scalars(query).one_or_none()
    if wo is None:
        return None
    if wo.technician_id == actor.technician_id:
        return wo
    feed = models.TechnicianChange
    once = uow.session.scalar(
        select(feed.id)
        .where(feed.technician_id == actor.technician_id, feed.work_order_id == ident)
        .limit(1)
    )
    return wo if once is not None else None


def _waiting(uow: UnitOfWork, wo: models.WorkOrder, op: TransitionOp) -> list[str]:
    """The client ids a completion names that have not arrived on the order."""
    wanted = sorted({str(i) for i in op.attachment_ids})
    if not wanted:
        return []
    table = models.Attachment
    arrived = set(
        uow.session.scalars(
            select(table.client_id).where(table.work_order_id == wo.id, table.client_id.in_(wanted))
        )
    )
    return [i for i in wanted if i not in arrived]


def _try(
    uow: UnitOfWork,
    row: models.DeviceOp,
    wo: models.WorkOrder,
    actor: Actor,
    op: Op,
    **more: Any,
) -> None:
    """Apply ``op`` and say in ``row`` what became of it: ``applied``, or refused (409 a
    ``conflict``, any other refusal ``rejected``); ``more`` goes into the answer either way."""
    try:
        _apply(uow, wo, actor, op)
    except FieldbridgeError as exc:
        status = "conflict" if exc.status == 409 else "rejected"
        row.status = status
        row.result = _refused(row.op_id, status, exc, wo=wo, actor=actor) | more
    else:
        row.status = "applied"
        row.result = _result(row.op_id, "applied", version=wo.version, current=wo.status, **more)


def _apply(uow: UnitOfWork, wo: models.WorkOrder, actor: Actor, op: Op) -> None:
    """Apply one op to the order. A fact is checked whole before it writes anything, so one
    refused has written nothing; a move may refuse after a write (a reason's note), so it runs
    in a savepoint, which a refusal rolls back."""
    op_id, at = str(op.op_id), op.at
    if isinstance(op, TransitionOp):
        fields = {
            "reason": op.reason,
            "position": None if op.position is None else op.position.model_dump(),
            "resolution_code": op.resolution_code,
            "resolution_note": op.resolution_note,
        }
        context = {"op_id": op_id, "occurred_at": at}
        try:
            with uow.session.begin_nested():
                commands.move(uow, wo, op.to, fields, actor, context)
        except FieldbridgeError:  # what the savepoint held is gone with it
            uow.chain_tips.pop(wo.id, None)  # the event it appended
            uow.feed_locks.clear()  # and the feed locks it took (taken again when needed)
            raise
    elif isinstance(op, ChecklistOp):
        context = {"op_id": op_id, "occurred_at": at}
        commands.tick(uow, wo, op.items, actor, merge=True, context=context)
    elif isinstance(op, NoteOp):
        facts.remark(uow, wo, actor, kind="note", text=op.text, at=at, op_id=op_id)
    elif isinstance(op, SignerOp):
        facts.remark(uow, wo, actor, kind="signer", text=op.name, at=at, op_id=op_id)
    elif isinstance(op, PartUsedOp):
        facts.part_used(
            uow, wo, actor, code=op.part_code, quantity=op.quantity, from_van=op.from_van,
            at=at, op_id=op_id,
        )  # fmt: skip
    elif isinstance(op, LabourOp):
        facts.labour(
            uow, wo, actor, activity=op.activity, start=op.start, end=op.end, at=at, op_id=op_id
        )
    elif isinstance(op, ReadingOp):
        facts.reading(
            uow, wo, actor, asset_id=op.asset_id, measure=op.measure, value=op.value,
            unit=op.unit, at=at, op_id=op_id,
        )  # fmt: skip


def attachment_arrived(uow: UnitOfWork, work_order_id: int) -> None:
    """An attachment with a client id was added to the order, in ``uow``'s transaction (not
    yet committed): the completion ops of that order still waiting for attachments are
    tried again, and those now complete apply, in the same transaction."""
    pending = list(
        uow.session.scalars(
            select(models.DeviceOp)
            .where(
                models.DeviceOp.work_order_id == work_order_id, models.DeviceOp.status == "pending"
            )
            .order_by(models.DeviceOp.received_at, models.DeviceOp.op_id)
        )
    )
    for row in pending:
        op = OP.validate_python(row.body)
        assert isinstance(op, TransitionOp)  # nosec B101  # only a completion waits
        actor = Actor(subject=row.actor, role=Role.TECHNICIAN, technician_id=row.technician_id)
        wo = _order(uow, actor, work_order_id)
        if wo is None:
            continue
        waiting = _waiting(uow, wo, op)
        if waiting:
            row.waiting = waiting
            row.result = dict(row.result) | {"waiting": waiting}
            continue
        _try(uow, row, wo, actor, op)
        row.result = _jsonable(row.result)
        row.waiting, row.decided_at = None, utcnow()
    uow.session.flush()


def _int_or_none(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
        else None
    )


def _jsonable(value: Any) -> Any:
    """A value as JSON keeps it (times as ISO 8601), so a stored answer replays the same."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, State):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
