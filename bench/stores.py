"""Stores for the benchmarks: throwaway PostgreSQL databases (SQLite needs only a temp file),
and a migrated store on either."""

from __future__ import annotations

import contextlib
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from orchestrator.store.migrate import upgrade

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


def postgres_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database ``fb_bench_<random>``; yields its SQLAlchemy URL and drops it
    (FORCE) afterwards."""
    import psycopg

    name = f"fb_bench_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def store(url: str | None, workdir: Path) -> Iterator[Container]:
    """A migrated store: ``url``, or a new SQLite file in ``workdir``."""
    url = url or f"sqlite:///{workdir / f'store-{uuid.uuid4().hex[:6]}.db'}"
    upgrade(url)
    container = bootstrap(
        Settings(
            database_url=url,
            secret_key="b" * 16 + uuid.uuid4().hex,
            attachments_dir=workdir / "attachments",
            secret_key_file=workdir / "secret_key",
        )
    )
    try:
        yield container
    finally:
        container.dispose()
