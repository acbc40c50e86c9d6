"""Throwaway PostgreSQL databases for the benchmarks (SQLite needs only a temp file)."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator

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
