"""Rate-limit counts kept in the store, for a server of several processes without Redis.

``StoreWindows`` is a storage for the ``limits`` library's moving-window strategy (the one the
API uses, ``api.ratelimit``): one row per request counted (``rate_limit_hits``), so every
process that shares the database shares the count. Taking an entry is one short write
transaction that first drops the key's rows older than its window, then counts what is left;
the count and the insert cannot interleave with another process's: SQLite's writers queue
for the one write lock (``BEGIN IMMEDIATE``), and on PostgreSQL the transaction holds an
advisory lock on the key. ``purge_expired`` drops what clients that never came back left.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text

from orchestrator.store import models

__all__ = ["StoreWindows", "purge_expired"]

_HITS = models.table_of(models.RateLimitHit)
_DROP_OLD = delete(_HITS).where(_HITS.c.key == bindparam("k"), _HITS.c.at <= bindparam("since"))
_WINDOW = select(func.min(_HITS.c.at), func.count()).where(
    _HITS.c.key == bindparam("k"), _HITS.c.at > bindparam("since")
)
_ADD = insert(_HITS)
_KEY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")


class StoreWindows(Storage, MovingWindowSupport):
    """The moving windows of the ``limits`` library, kept in the store behind ``engine``.
    Only the moving-window strategy uses it: the fixed-window counters (``incr``, ``get``,
    ``get_expiry``) are not kept here."""

    STORAGE_SCHEME = None  # made from an engine here, never from a URI

    def __init__(self, engine: Engine, clock: Any = time.time) -> None:
        super().__init__()
        self._engine, self._clock = engine, clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return Exception

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._clock()
        with self._engine.begin() as conn:
            self._lock(conn, key)
            conn.execute(_DROP_OLD, {"k": key, "since": now - expiry})
            counted = conn.execute(_WINDOW, {"k": key, "since": now - expiry}).one()[1]
            if counted + amount > limit:
                return False
            conn.execute(_ADD, [{"key": key, "at": now}] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._clock()
        with self._engine.connect() as conn:
            oldest, counted = conn.execute(_WINDOW, {"k": key, "since": now - expiry}).one()
        return (oldest if oldest is not None else now), int(counted)

    def clear(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_HITS).where(_HITS.c.key == key))

    def reset(self) -> int | None:
        with self._engine.begin() as conn:
            return int(conn.execute(delete(_HITS)).rowcount)

    def check(self) -> bool:
        with self._engine.connect() as conn:
            conn.execute(select(1))
        return True

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise NotImplementedError("the store keeps moving windows only")

    def get(self, key: str) -> int:
        raise NotImplementedError("the store keeps moving windows only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("the store keeps moving windows only")

    def _lock(self, conn: Connection, key: str) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(_KEY_LOCK, {"k": key})


def purge_expired(engine: Engine, longest_window_s: float, clock: Any = time.time) -> int:
    """Drop every count older than the longest window; how many went."""
    with engine.begin() as conn:
        spent = delete(_HITS).where(_HITS.c.at <= clock() - longest_window_s)
        return int(conn.execute(spent).rowcount)
