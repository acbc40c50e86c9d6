"""Engines (one for threads, one for the event loop); a UTC datetime type that reads the same
on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import Connection, DateTime, Engine, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.types import TypeDecorator

AUTOCOMMIT = "fieldbridge_autocommit"
"""Execution option (SQLite): begin no transaction, each statement commits as it runs (see
``autocommit``)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text. Naive input is refused:
    every time in fieldbridge is either aware or converted from a named zone first.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str, *, checkpoint_in_background: bool = False, **kwargs: Any) -> Engine:
    """The engine for ``url``. SQLite: WAL, foreign keys, writers queue for the lock.

    ``checkpoint_in_background``: the connections never copy the WAL back into the database
    file themselves (SQLite's default has the commit that crosses 1,000 pages do it, fsync
    included, while its caller waits); whoever sets it calls ``checkpoint`` regularly.
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions; BEGIN IMMEDIATE takes the write lock up
            # front so concurrent writers queue instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if checkpoint_in_background:
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A connection in autocommit (``autocommit``: a read-only unit of work) begins
            # nothing: each statement reads what is committed when it runs (as on
            # PostgreSQL), under WAL neither waiting for nor blocking the one writer, and
            # costs no BEGIN.
            if not conn.get_execution_options().get(AUTOCOMMIT, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it would cost a round trip per transaction. A connection the server has
    # dropped fails its first statement instead; SQLAlchemy then discards the whole pool, so
    # after a database restart one request is refused (the API answers 503 with Retry-After)
    # and the next ones reconnect.
    kwargs.setdefault("pool_recycle", 3600)
    return create_engine(url, **kwargs)


LOOP_POOL_SIZE = 5
"""Transactions one process keeps open at once from its event loop: enough to keep the loop
busy while some wait for the server, few enough that the server's processes do not crowd
the machine's cores."""


class LoopDatabase:
    """The database for code on an event loop (``UnitOfWork.run``), where it is across a
    network: PostgreSQL over asyncpg. Make it in the loop that will use it (its connections
    belong to that loop) and ``dispose`` it there.

    Units of work take their turn first come, first served (anyio's limiter hands a freed
    turn to the longest waiter), then a connection from a pool of the same size: a pool's own
    queue lets a newcomer take a connection returned while others were waiting, and under
    load that starves a few requests for seconds.
    """

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(
            make_url(url).set(drivername="postgresql+asyncpg"),
            pool_size=LOOP_POOL_SIZE,
            max_overflow=0,  # opening a connection for a burst costs more than the burst
            pool_recycle=3600,
        )
        self._turns = anyio.CapacityLimiter(LOOP_POOL_SIZE)

    @staticmethod
    def wanted(url: str) -> bool:
        """SQLite is in-process: its units of work run inline, not on a loop database."""
        return make_url(url).get_backend_name() == "postgresql"

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._turns, self.engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()


def checkpoint(engine: Engine) -> None:
    """SQLite: copy what the WAL holds into the database file, without waiting for readers or
    the writer (PASSIVE); what it cannot copy now, the next call does. Nothing elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


def autocommit(connection: Connection, on: bool = True) -> None:
    """Whether ``connection`` begins transactions: with ``on``, none, each statement commits
    (or, reading, sees what is committed) as it runs, at no BEGIN and no ROLLBACK or COMMIT
    round trip. For code that only reads (a read-only unit of work), or whose one statement
    is its whole effect: on SQLite a writing statement takes the write lock as it starts, as
    BEGIN IMMEDIATE would, and a reading one takes no lock; on PostgreSQL, AUTOCOMMIT.

    A connection is made so for its use: PostgreSQL's is reset as the pool takes it back, and
    SQLite's ``held`` one is set again by each unit of work (``on`` False: transactions).
    """
    if connection.dialect.name == "sqlite":
        connection.execution_options(**{AUTOCOMMIT: on})
    elif on:
        connection.execution_options(isolation_level="AUTOCOMMIT")


_HELD = "_fieldbridge_held"


def held(engine: Engine) -> Connection:
    """This thread's connection to ``engine`` for the units of work it runs one after another
    (SQLite's, run inline on the event loop: ``UnitOfWork.run``). One connection serves them
    all, so none pays the pool's checkout and checkin (about half a statement's cost). Each
    unit of work leaves it with no transaction open; ``release`` drops one that could not.
    Kept while the thread lives (a ``threading.local`` of the engine's)."""
    local = engine.__dict__.get(_HELD)
    if local is None:
        local = engine.__dict__.setdefault(_HELD, threading.local())
    connection: Connection | None = getattr(local, "connection", None)
    if connection is None or connection.closed:
        connection = local.connection = engine.connect()
    return connection


def release(engine: Engine) -> None:
    """Close this thread's ``held`` connection (the next ``held`` opens another)."""
    local = engine.__dict__.get(_HELD)
    connection: Connection | None = getattr(local, "connection", None)
    if local is not None:
        local.connection = None
    if connection is None:
        return
    if connection.in_transaction() and not connection.invalidated:
        connection.invalidate()  # whatever it holds is discarded with it, never reused
    connection.close()


def lease_owner() -> str:
    """A name for whoever takes a lease in the store (an outbox claim, a schedule run): host,
    process and a random part, so two holders in one process differ too."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
