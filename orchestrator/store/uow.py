"""The unit of work: one database transaction per command.

Handlers take a ``UnitOfWork``; nothing is written unless the handler calls
``commit()``. Leaving the block without committing rolls back. A read-only unit of work
(for queries) begins no transaction: each statement reads what is committed when it runs,
and on SQLite neither takes nor waits for the write lock; every other one takes that lock
at its first statement. A ``check`` runs first
in every transaction the unit of work begins (the API confirms the caller's token there).

The unit of work holds one connection. Core statements (reads that need no ORM objects,
appends to tables nobody updates) go through ``connection()``; ORM work through
``session``, made on first use over that same connection and transaction, so a query that
needs no ORM objects pays nothing for it. End the transaction with ``commit()`` or
``rollback()`` here, not on the session.

Code on an event loop runs its work with ``await uow.run(work, ...)`` instead of ``with``:
where the database is across a network it then waits for the server without blocking the
loop (see ``run``); where it is in-process (SQLite) the work runs inline, on a connection
the loop's thread holds for all its units of work (``db.held``), which each leaves with no
transaction open.

A unit of work that begins no transaction at all (``alone``, and every read-only one) has
each statement commit as it runs: for one write that is its whole effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from orchestrator.store import db
from orchestrator.store.db import LoopDatabase

log = logging.getLogger("orchestrator.store.uow")

P = ParamSpec("P")
T = TypeVar("T")


class UnitOfWork:
    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        check: Callable[[UnitOfWork], None] | None = None,
        loop_database: LoopDatabase | None = None,
        on_outbox: Callable[[], None] | None = None,
        autocommit: bool = False,
    ) -> None:
        self._engine = engine
        self._loop_database = loop_database
        self.read_only = read_only
        self.autocommit = read_only or autocommit
        """No transaction: each statement commits (or reads what is committed) as it runs
        (``orchestrator.store.db.autocommit``); a read-only unit of work is one."""
        self._check = check
        self._on_outbox = on_outbox
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []
        self.chain_tips: dict[int, tuple[int, str]] = {}
        """The last audit event (seq, hash) this transaction appended to each order's chain,
        so the next append needs no read (``work_orders.audit_trail``); forgotten when the
        transaction ends, and by whoever rolls back a savepoint that appended."""
        self.feed_locks: set[int] = set()
        """The technicians whose change-feed lock this transaction holds (PostgreSQL's
        advisory locks, held until the transaction ends: ``work_orders.audit_trail``)."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this unit of work's next commit has succeeded (a task sent
        to a broker must never announce what a rollback then takes back); forgotten on a
        rollback; the same callback once however often it is given. A callback that fails is
        logged: the commit stands."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    def outbox_written(self) -> None:
        """Rows owed to the remotes were written: once this commits, whoever delivers is
        told (``on_outbox``, the background mode's; the embedded relay looks every round and
        needs no telling)."""
        if self._on_outbox is not None:
            self.after_commit(self._on_outbox)

    def __enter__(self) -> UnitOfWork:
        self._begin(self._engine.connect())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._end()
        connection.close()

    def _begin(self, connection: Connection) -> None:
        self._connection, self._session = connection, None
        try:
            db.autocommit(connection, self.autocommit)
            if self._check is not None:
                self._check(self)
        except BaseException:
            self._end()
            raise

    def _end(self) -> Connection:
        """Roll back what was not committed; the connection, for its owner to release."""
        connection, session = self.connection(), self._session
        self._connection = self._session = None
        self._after_commit = []
        self.chain_tips = {}
        self.feed_locks = set()
        try:
            if session is not None:
                session.close()
        finally:
            connection.rollback()
        return connection

    async def run(
        self, work: Callable[Concatenate[UnitOfWork, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``work(self, ...)`` in this unit of work, from the event loop without blocking it.

        Where the database is across a network (PostgreSQL), the synchronous ``work`` runs
        over an asyncio driver in a greenlet: while one statement waits for the server, the
        loop serves other requests. Elsewhere (SQLite, in-process) it runs inline.
        """
        if self._loop_database is None:
            return self._run_inline(work, *args, **kwargs)
        async with self._loop_database.connect() as connection:
            return await connection.run_sync(self._run_sync, work, args, kwargs)

    def _run_inline(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work`` on this thread's held connection (``db.held``): the units of work an
        event loop runs inline run one at a time, never across an ``await``."""
        connection = db.held(self._engine)
        try:
            self._begin(connection)
            try:
                return work(self, *args, **kwargs)
            finally:
                self._end()
        finally:
            if connection.in_transaction() or connection.invalidated:  # _end could not end it
                db.release(self._engine)

    def _run_sync(
        self, connection: Connection, work: Callable[..., T], args: Any, kwargs: Any
    ) -> T:
        self._begin(connection)
        try:
            return work(self, *args, **kwargs)
        finally:
            self._end()

    def reading(self) -> UnitOfWork:
        """A read-only unit of work with the same check."""
        return UnitOfWork(
            self._engine,
            read_only=True,
            check=self._check,
            loop_database=self._loop_database,
            on_outbox=self._on_outbox,
        )

    def alone(self) -> UnitOfWork:
        """A unit of work like this one that begins no transaction (``autocommit``): for one
        write that is its whole effect (storing an idempotent answer), at no BEGIN and no
        COMMIT of its own; on SQLite the statement takes the write lock as it starts."""
        return UnitOfWork(
            self._engine,
            check=self._check,
            loop_database=self._loop_database,
            on_outbox=self._on_outbox,
            autocommit=True,
        )

    def connection(self) -> Connection:
        """The transaction's connection, for Core statements."""
        if self._connection is None:
            raise RuntimeError("the unit of work is not open: use `with uow:` or `uow.run`")
        return self._connection

    @property
    def session(self) -> Session:
        """An ORM session over the unit of work's connection and transaction."""
        if self._session is None:
            self._session = Session(
                bind=self.connection(),
                join_transaction_mode="control_fully",
                expire_on_commit=False,
            )
        return self._session

    def commit(self) -> None:
        self.chain_tips, self.feed_locks = {}, set()
        if self._session is not None:
            self._session.commit()
        else:
            self.connection().commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after commit: %r failed (the commit stands)", callback)

    def rollback(self) -> None:
        self._after_commit = []
        self.chain_tips = {}
        self.feed_locks = set()
        if self._session is not None:
            self._session.rollback()
        else:
            self.connection().rollback()

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name
