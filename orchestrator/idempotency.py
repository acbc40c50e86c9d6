"""The ``Idempotency-Key`` store: reserve a key, then record the first response under it.

One row per (caller scope, key). A key seen again with the same request fingerprint
replays the stored response; with another fingerprint it is refused; while the first
request still runs (its lease not yet expired) a repeat is told to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

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


_KEYS = models.table_of(models.IdempotencyRecord)
_THIS_KEY = (_KEYS.c.scope == bindparam("b_scope")) & (_KEYS.c.key == bindparam("b_key"))
_READ = select(
    _KEYS.c.request_hash,
    _KEYS.c.state,
    _KEYS.c.status_code,
    _KEYS.c.response_headers,
    _KEYS.c.response_body,
).where(_THIS_KEY)
_TAKE_OVER = (
    update(_KEYS)
    .where(_THIS_KEY, _KEYS.c.state == IN_PROGRESS, _KEYS.c.locked_until < bindparam("now"))
    .values(locked_until=bindparam("until"))
)
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
_RELEASE = delete(_KEYS).where(_THIS_KEY, _KEYS.c.state == IN_PROGRESS)


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
    now = utcnow()
    until = now + timedelta(seconds=lease_s)
    conn = uow.connection()
    row = {
        "scope": scope,
        "key": key,
        "request_hash": request_hash,
        "state": IN_PROGRESS,
        "created_at": now,
        "locked_until": until,
    }
    if conn.execute(_insert_new(uow.dialect), row).first() is not None:  # the key is ours
        uow.commit()
        return Reservation("reserved")
    held = conn.execute(_READ, {"b_scope": scope, "b_key": key}).first()
    if held is None:  # expired and purged since our insert: try once more
        uow.rollback()
        return reserve(uow, scope, key, request_hash, lease_s)
    if held.request_hash != request_hash:
        return Reservation("mismatch")
    if held.state == DONE:
        return Reservation("replay", held.status_code, held.response_headers, held.response_body)
    # The first attempt died without an answer once its lease has passed: take the key over.
    params = {"b_scope": scope, "b_key": key, "now": now, "until": until}
    if conn.execute(_TAKE_OVER, params).rowcount == 1:
        uow.commit()
        return Reservation("reserved")
    return Reservation("in_progress")


def complete(
    uow: UnitOfWork, scope: str, key: str, status_code: int, headers: list[Any], body: bytes
) -> None:
    params = {"b_scope": scope, "b_key": key, "status_code": status_code, "headers": headers}
    uow.connection().execute(_COMPLETE, {**params, "body": body})
    uow.commit()


def release(uow: UnitOfWork, scope: str, key: str) -> None:
    """Forget a reservation whose request had no effect (it failed), so it may be retried."""
    uow.connection().execute(_RELEASE, {"b_scope": scope, "b_key": key})
    uow.commit()


def purge_expired(uow: UnitOfWork, ttl_hours: float) -> int:
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    result = uow.session.execute(
        delete(models.IdempotencyRecord).where(models.IdempotencyRecord.created_at < cutoff)
    )
    uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)
