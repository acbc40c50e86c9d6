"""An order's notes as shown: the reasons given for its moves, the technician's account of the
job and their remarks from the field, with who wrote each, when, and the state a reason's move
went to. Read for one order (``GET /work-orders/{ident}/notes``) or for many at once (the
technician's day packet): one statement either way."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select

from orchestrator.domain.lifecycle import Actor
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.order import load

_NOTES = models.table_of(models.Note)
_READ = select(
    _NOTES.c.work_order_id,
    _NOTES.c.id,
    _NOTES.c.kind,
    _NOTES.c.state,
    _NOTES.c.text,
    _NOTES.c.author,
    _NOTES.c.author_role,
    _NOTES.c.at,
    _NOTES.c.created_at,
).order_by(func.coalesce(_NOTES.c.at, _NOTES.c.created_at), _NOTES.c.id)
"""Oldest first: by when each was written (a device's clock for a note made offline), else
when it was stored."""


def notes_of(uow: UnitOfWork, order_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """The notes of each order of ``order_ids``, oldest first (an order without any: an
    empty list). The caller has decided the orders are the reader's to see."""
    out: dict[int, list[dict[str, Any]]] = {oid: [] for oid in order_ids}
    if not out:
        return out
    rows = uow.connection().execute(_READ.where(_NOTES.c.work_order_id.in_(list(out))))
    for row in rows:
        note = dict(row._mapping)
        out[note.pop("work_order_id")].append(note)
    return out


def order_notes(uow: UnitOfWork, ident: int, actor: Actor) -> list[dict[str, Any]]:
    """The notes of one order ``actor`` may see (404 otherwise), oldest first."""
    wo = load(uow, ident, actor)
    return notes_of(uow, [wo.id])[wo.id]
