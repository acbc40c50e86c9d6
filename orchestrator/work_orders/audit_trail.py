"""The audit trail: every change to an order appended as the next event of its hash chain
(``orchestrator.domain.audit`` hashes and verifies), the trail read back, and every chain
verified. Audit payloads carry ids, codes and hashes only: free text, positions and personal
data live in their own rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, text, tuple_

from orchestrator.domain.audit import GENESIS, EventBody, canonical_json, verify_chain
from orchestrator.domain.lifecycle import (
    Actor,
)
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.order import load

_EVENTS = models.table_of(models.AuditEvent)
_EVENT_FIELDS = tuple(field.name for field in fields(EventBody))
_INSERT_EVENT = insert(_EVENTS)
_INSERT_CHANGES = insert(models.table_of(models.TechnicianChange))
_ORDERS = models.table_of(models.WorkOrder)
_TECHNICIAN_OF = select(_ORDERS.c.technician_id).where(_ORDERS.c.id == bindparam("id"))
_LAST_EVENT = (
    select(_EVENTS.c.seq, _EVENTS.c.hash)
    .where(_EVENTS.c.work_order_id == bindparam("work_order_id"))
    .order_by(_EVENTS.c.seq.desc())
    .limit(1)
)


def append_event(
    uow: UnitOfWork,
    wo: models.WorkOrder | Row[Any],
    actor: Actor,
    kind: str,
    payload: dict[str, Any],
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    at: datetime | None = None,
    first: bool = False,
) -> None:
    """Append the order's next event to its chain; ``first`` for a new order's first event.
    The technicians the change concerns get a row of the change feed each (``feed_rows``)."""
    conn = uow.connection()
    last = None if first else uow.chain_tips.get(wo.id)
    if last is None and not first:
        last = conn.execute(_LAST_EVENT, {"work_order_id": wo.id}).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload = json.loads(canonical_json(payload))  # store exactly what is hashed
    body = EventBody(
        work_order_id=wo.id,
        seq=seq,
        at=at or utcnow(),
        actor=actor.subject,
        role=str(actor.role),
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        payload=payload,
        prev_hash=prev,
    )
    digest = body.digest()
    # the body's fields as they are: ``dataclasses.asdict`` would deep-copy the payload, which
    # was made for this event just above (a visible part of a create's CPU)
    row = {name: getattr(body, name) for name in _EVENT_FIELDS}
    conn.execute(_INSERT_EVENT, {**row, "hash": digest})
    uow.chain_tips[wo.id] = (seq, digest)
    feed = feed_rows(wo.id, _assigned(conn, wo), payload)
    if feed:
        _hold_feeds(uow, sorted({row["technician_id"] for row in feed}))
        conn.execute(_INSERT_CHANGES, feed)


FEED_LOCK = 0x46424348  # "FBCH": the advisory-lock class of the technicians' change feeds
_LOCK_FEED = text("SELECT pg_advisory_xact_lock(:lock_class, :technician_id)")


def _hold_feeds(uow: UnitOfWork, technician_ids: list[int]) -> None:
    """Make a technician's feed rows commit in the order of their ids: on PostgreSQL a writer
    holds the technician's advisory lock from before its first row until it commits (once
    per transaction), so no row of theirs can commit after a later one, and a device that
    has read up to an id has seen every row of theirs before it (``orchestrator.field.
    packet``). SQLite has one writer at a time: its rows commit in order anyway."""
    if uow.dialect != "postgresql":
        return
    for technician_id in technician_ids:
        if technician_id not in uow.feed_locks:
            params = {"lock_class": FEED_LOCK, "technician_id": technician_id}
            uow.connection().execute(_LOCK_FEED, params)
            uow.feed_locks.add(technician_id)


def _assigned(conn: Connection, wo: models.WorkOrder | Row[Any]) -> int | None:
    """The order's technician after the change: as the caller holds the order, or from the
    store for a row read without it (the sync reads only the fields a remote owns)."""
    if isinstance(wo, Row) and "technician_id" not in wo._fields:
        stored: int | None = conn.execute(_TECHNICIAN_OF, {"id": wo.id}).scalar()
        return stored
    return wo.technician_id


RELEASED = ("released_technician_id", "previous_technician_id")
"""The payload's keys that name a technician the order was taken from: a move back to
triaged releases the assignment, a re-plan may hand the order to another technician."""


def feed_rows(
    work_order_id: int, technician_id: int | None, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The change feed's rows for one change to an order (``GET /me/changes`` reads them):
    one for the technician it is assigned to after the change, and one ``removed`` for a
    technician the payload says it was taken from; none when no technician is concerned."""
    now = utcnow()
    rows = []
    if technician_id is not None:
        rows.append(_change(technician_id, work_order_id, removed=False, at=now))
    for before in dict.fromkeys(payload.get(key) for key in RELEASED):
        if isinstance(before, int) and before != technician_id:
            rows.append(_change(before, work_order_id, removed=True, at=now))
    return rows


def _change(
    technician_id: int, work_order_id: int, *, removed: bool, at: datetime
) -> dict[str, Any]:
    return {
        "technician_id": technician_id,
        "work_order_id": work_order_id,
        "removed": removed,
        "at": at,
    }


def event_public(event: models.AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "role": event.role,
        "kind": event.kind,
        "from": event.from_state,
        "to": event.to_state,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def event_body(event: models.AuditEvent) -> EventBody:
    """The hashed fields of a stored event, as read back."""
    return EventBody(
        work_order_id=event.work_order_id,
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        role=event.role,
        kind=event.kind,
        from_state=event.from_state,
        to_state=event.to_state,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


def audit_trail(uow: UnitOfWork, ident: int, actor: Actor) -> dict[str, Any]:
    wo = load(uow, ident, actor)
    events = uow.session.scalars(
        select(models.AuditEvent)
        .where(models.AuditEvent.work_order_id == wo.id)
        .order_by(models.AuditEvent.seq)
    )
    return {"work_order_id": wo.id, "events": [event_public(e) for e in events]}


def _events_in_chain_order(uow: UnitOfWork, batch: int) -> Iterator[models.AuditEvent]:
    """Every event by (order, seq), read page by page after the last key seen: no server-side
    cursor, so it works in any transaction mode and holds no more than a page in memory."""
    event = models.AuditEvent
    key = tuple_(event.work_order_id, event.seq)
    query = select(event).order_by(event.work_order_id, event.seq).limit(batch)
    after: tuple[int, int] | None = None
    while True:
        page = uow.session.scalars(query if after is None else query.where(key > after)).all()
        yield from page
        if len(page) < batch:
            return
        after = (page[-1].work_order_id, page[-1].seq)
        uow.session.expunge_all()


def verify_all(uow: UnitOfWork, batch: int = 2000) -> dict[str, Any]:
    """Walk every chain in order, ``batch`` events a query; report the first broken event."""
    chains = events = 0
    current: int | None = None
    pending: list[tuple[int, EventBody, str]] = []

    def flush() -> dict[str, Any] | None:
        broken = verify_chain(pending)
        if broken is None:
            return None
        return {
            "work_order_id": broken.work_order_id,
            "seq": broken.seq,
            "event_id": broken.event_id,
            "reason": broken.reason,
        }

    for event in _events_in_chain_order(uow, batch):
        if event.work_order_id != current:
            if pending and (first := flush()):
                return {"ok": False, "chains": chains, "events": events, "first_broken": first}
            pending, current, chains = [], event.work_order_id, chains + 1
        pending.append((event.id, event_body(event), event.hash))
        events += 1
    if pending and (first := flush()):
        return {"ok": False, "chains": chains, "events": events, "first_broken": first}
    return {"ok": True, "chains": chains, "events": events, "first_broken": None}
