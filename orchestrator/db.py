"""Engine and session factory; a UTC datetime type that reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

READ_ONLY = "fieldbridge_read_only"
"""Execution option: this transaction only reads (see ``begin_read_only``)."""


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
            # A transaction declared read-only begins DEFERRED: under WAL it reads a snapshot
            # and neither waits for nor blocks the one writer.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

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


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_read_only(session: Session) -> None:
    """Begin a new session's transaction as a read-only one, for code that will not write.

    SQLite: DEFERRED, a snapshot that does not take the write lock every other transaction
    takes up front. PostgreSQL: autocommit, so the reads cost no BEGIN and no ROLLBACK round
    trip (each statement sees what is committed when it runs).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={READ_ONLY: True})
    else:
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
