"""The unit of work: one database transaction per command.

Handlers take a ``UnitOfWork``; nothing is written unless the handler calls
``commit()``. Leaving the block without committing rolls back. A read-only unit of work
(for queries) begins, on SQLite, a snapshot read that neither takes nor waits for the
write lock; every other one takes that lock at its first statement. A ``check`` runs first
in every transaction the unit of work begins (the API confirms the caller's token there).

ORM work goes through ``session``; Core statements (reads that need no ORM objects,
appends to tables nobody updates) through ``connection()``, the same transaction.
End the transaction with ``commit()`` or ``rollback()`` here, not on the session.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import begin_read_only


class UnitOfWork:
    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Any],
        *,
        read_only: bool = False,
        check: Callable[[UnitOfWork], None] | None = None,
    ) -> None:
        self._factory = session_factory
        self.read_only = read_only
        self._check = check
        self._connection: Connection | None = None

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self._connection = None
        try:
            if self.read_only:
                begin_read_only(self.session)
            if self._check is not None:
                self._check(self)
        except BaseException:
            self.session.close()
            raise
        return self

    def reading(self) -> UnitOfWork:
        """A read-only unit of work with the same check."""
        return UnitOfWork(self._factory, read_only=True, check=self._check)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._connection = None
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def connection(self) -> Connection:
        """The transaction's connection, for Core statements."""
        if self._connection is None:
            self._connection = self.session.connection()
        return self._connection

    def commit(self) -> None:
        self._connection = None
        self.session.commit()

    def rollback(self) -> None:
        self._connection = None
        self.session.rollback()

    def flush(self) -> None:
        self.session.flush()

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name
