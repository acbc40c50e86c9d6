"""The audit trail's hash chain: canonical JSON, event hashes and chain verification.

Each work order's events form a chain: an event's hash covers its own fields and
the previous event's hash. The canonical form (sorted keys, compact separators,
UTC timestamps with microseconds and ``Z``) reads the same from SQLite and
PostgreSQL, so a chain written on one verifies on the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in the audit trail")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"not canonical JSON: {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode()


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@dataclass(frozen=True)
class EventBody:
    """The hashed fields of one audit event."""

    work_order_id: int
    seq: int
    at: datetime
    actor: str
    role: str
    kind: str
    from_state: str | None
    to_state: str | None
    payload: dict[str, Any]
    prev_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "work_order_id": self.work_order_id,
            "seq": self.seq,
            "at": iso_utc(self.at),
            "actor": self.actor,
            "role": self.role,
            "kind": self.kind,
            "from": self.from_state,
            "to": self.to_state,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        }

    def digest(self) -> str:
        return sha256_hex(canonical_json(self.as_dict()))


@dataclass(frozen=True)
class ChainBreak:
    work_order_id: int
    seq: int
    event_id: int
    reason: str


def verify_chain(events: Iterable[tuple[int, EventBody, str]]) -> ChainBreak | None:
    """Walk one order's events (id, body, stored hash) in seq order; the first break, or None."""
    expected_prev = GENESIS
    expected_seq = 1
    for event_id, body, stored in events:
        if body.seq != expected_seq:
            return ChainBreak(
                body.work_order_id, body.seq, event_id, f"expected seq {expected_seq}"
            )
        if body.prev_hash != expected_prev:
            return ChainBreak(
                body.work_order_id, body.seq, event_id, "prev_hash does not match previous event"
            )
        if body.digest() != stored:
            return ChainBreak(
                body.work_order_id, body.seq, event_id, "hash does not match the event's content"
            )
        expected_prev = stored
        expected_seq += 1
    return None
