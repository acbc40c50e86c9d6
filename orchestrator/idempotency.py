"""The ``Idempotency-Key`` store: reserve a key, then record the first response under it.

One row per (caller scope, key). A key seen again with the same request fingerprint
replays the stored response; with another fingerprint it is refused; while the first
request still runs (its lease not yet expired) a repeat is told to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from orchestrator import models
from orchestrator.db import utcnow
from orchestrator.uow import UnitOfWork

IN_PROGRESS, DONE = "in_progress", "done"


@dataclass(frozen=True)
class Reservation:
    outcome: Literal["reserved", "replay", "mismatch", "in_progress"]
    status_code: int | None = None
    headers: list[Any] | None = None
    body: bytes | None = None


def reserve(
    uow: UnitOfWork, scope: str, key: str, request_hash: str, lease_s: float
) -> Reservation:
    now = utcnow()
    uow.session.add(
        models.IdempotencyRecord(
            scope=scope,
            key=key,
            request_hash=request_hash,
            state=IN_PROGRESS,
            created_at=now,
            locked_until=now + timedelta(seconds=lease_s),
        )
    )
    try:
        uow.commit()
        return Reservation("reserved")
    except IntegrityError:
        uow.session.rollback()
    row = uow.session.get(models.IdempotencyRecord, (scope, key))
    if row is None:  # expired and purged between our insert and read: try once more
        return reserve(uow, scope, key, request_hash, lease_s)
    if row.request_hash != request_hash:
        return Reservation("mismatch")
    if row.state == DONE:
        return Reservation("replay", row.status_code, row.response_headers, row.response_body)
    if row.locked_until is not None and row.locked_until < now:
        # The first attempt died without an answer (its process stopped): take the key over.
        row.locked_until = now + timedelta(seconds=lease_s)
        uow.commit()
        return Reservation("reserved")
    return Reservation("in_progress")


def complete(
    uow: UnitOfWork, scope: str, key: str, status_code: int, headers: list[Any], body: bytes
) -> None:
    uow.session.execute(
        update(models.IdempotencyRecord)
        .where(models.IdempotencyRecord.scope == scope, models.IdempotencyRecord.key == key)
        .values(
            state=DONE,
            status_code=status_code,
            response_headers=headers,
            response_body=body,
            locked_until=None,
        )
    )
    uow.commit()


def release(uow: UnitOfWork, scope: str, key: str) -> None:
    """Forget a reservation whose request had no effect (it failed), so it may be retried."""
    uow.session.execute(
        delete(models.IdempotencyRecord).where(
            models.IdempotencyRecord.scope == scope,
            models.IdempotencyRecord.key == key,
            models.IdempotencyRecord.state == IN_PROGRESS,
        )
    )
    uow.commit()


def purge_expired(uow: UnitOfWork, ttl_hours: float) -> int:
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    result = uow.session.execute(
        delete(models.IdempotencyRecord).where(models.IdempotencyRecord.created_at < cutoff)
    )
    uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)
