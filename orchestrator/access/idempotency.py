"""The ``Idempotency-Key`` store: claim a key with the command, then record its answer.

One row per (caller scope, key). The claim is inserted by the command's own transaction,
so the key is held exactly when the command took effect: a command that fails leaves no
claim, and no claim is ever held for an effect that did not happen. The answer is stored
afterwards by one UPDATE of its own. A key seen again with the same request fingerprint replays
that answer; with another fingerprint it is refused; a claim without an answer means the
first request took effect and is storing its answer (within its lease) or died before it
could (after it): either way it is never run a second time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork

IN_PROGRESS, DONE = "in_progress", "done"


@dataclass(frozen=True)
class Reservation:
    outcome: Literal["reserved", "replay", "mismatch", "in_progress", "answer_lost"]
    status_code: int | None = None
    headers: list[Any] | None = None
    body: bytes | None = None


@dataclass
class Claim:
    """A request's claim on its key, taken by the first unit of work that writes for it."""

    scope: str
    key: str
    request_hash: str
    lease_s: float
    taken: bool = False


class KeyHeld(Exception):
    """The key is held already: the answer is in ``reservation`` (replay, 409 or 422)."""

    def __init__(self, reservation: Reservation) -> None:
        super().__init__(reservation.outcome)
        self.reservation = reservation


_KEYS = models.table_of(models.IdempotencyRecord)
_THIS_KEY = (_KEYS.c.scope == bindparam("b_scope")) & (_KEYS.c.key == bindparam("b_key"))
_READ = select(
    _KEYS.c.request_hash,
    _KEYS.c.state,
    _KEYS.c.status_code,
    _KEYS.c.response_headers,
    _KEYS.c.response_body,
    _KEYS.c.locked_until,
).where(_THIS_KEY)
_COMPLETE = (
    update(_KEYS)
    .where(_THIS_KEY)
    .values(
        state=DONE,
        status_code=bindparam("status_code"),
        response_headers=bindparam("headers"),
        response_body=bindparam("body"),
        locked_until=None,
    )
)


@functools.cache
def _insert_new(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a key already held is no error to recover from."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_KEYS)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(_KEYS.c.state)
    )


def reserve(
    uow: UnitOfWork, scope: str, key: str, request_hash: str, lease_s: float
) -> Reservation:
    """Insert the key in the unit of work's transaction (it commits with the caller's effect),
    or say how it is held. Commits nothing."""
    now = utcnow()
    row = {
        "scope": scope,
        "key": key,
        "request_hash": request_hash,
        "state": IN_PROGRESS,
        "created_at": now,
        "locked_until": now + timedelta(seconds=lease_s),
    }
    conn = uow.connection()
    while True:
        if conn.execute(_insert_new(uow.dialect), row).first() is not None:  # the key is ours
            return Reservation("reserved")
        held = _held(uow, scope, key, request_hash)
        if held is not None:
            return held
        # else it expired and was purged since our insert: insert again


def _held(uow: UnitOfWork, scope: str, key: str, request_hash: str) -> Reservation | None:
    """How the key is held, or None when it is free."""
    held = uow.connection().execute(_READ, {"b_scope": scope, "b_key": key}).first()
    if held is None:
        return None
    if held.request_hash != request_hash:
        return Reservation("mismatch")
    if held.state == DONE:
        return Reservation("replay", held.status_code, held.response_headers, held.response_body)
    if held.locked_until is not None and held.locked_until < utcnow():
        return Reservation("answer_lost")
    return Reservation("in_progress")


def take(uow: UnitOfWork, claim: Claim) -> None:
    """Take ``claim`` in this unit of work (once per request); ``KeyHeld`` when it is held.

    A read-only unit of work only looks: a repeat is answered before it reads anything."""
    if claim.taken:
        return
    if uow.read_only:
        reservation = _held(uow, claim.scope, claim.key, claim.request_hash)
        if reservation is not None:
            raise KeyHeld(reservation)
        return
    reservation = reserve(uow, claim.scope, claim.key, claim.request_hash, claim.lease_s)
    if reservation.outcome != "reserved":
        raise KeyHeld(reservation)
    claim.taken = True


def complete(
    uow: UnitOfWork, scope: str, key: str, status_code: int, headers: list[Any], body: bytes
) -> None:
    """Store the answer under a key its command claimed (and committed): one UPDATE, so a
    unit of work that begins no transaction (``UnitOfWork.alone``) makes it its own.

    In a transaction on PostgreSQL, without waiting for the flush to disk: should the
    database lose this commit in a crash, a retry is told the answer was lost, and is still
    not run again."""
    conn = uow.connection()
    if uow.dialect == "postgresql" and not uow.autocommit:
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    params = {"b_scope": scope, "b_key": key, "status_code": status_code, "headers": headers}
    conn.execute(_COMPLETE, {**params, "body": body})
    uow.commit()


def purge_expired(uow: UnitOfWork, ttl_hours: float) -> int:
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    result = uow.session.execute(
        delete(models.IdempotencyRecord).where(models.IdempotencyRecord.created_at < cutoff)
    )
    uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)
