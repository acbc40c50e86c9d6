"""The per-test databases: SQLite always, PostgreSQL where it answers on 127.0.0.1:5432.

Each backend is migrated once into a template (``Templates``); every test gets a copy (a file
copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests are isolated and fast.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from orchestrator.runtime.bootstrap import Container
from orchestrator.runtime.settings import Settings
from orchestrator.store.migrate import upgrade

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres"


def postgres_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            pass
    except OSError:
        return False
    try:
        import psycopg

        psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres").close()
    except Exception:
        return False
    return True


POSTGRES = postgres_answers()
BACKENDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


def pg_exec(sql: str) -> None:
    """One statement on the PostgreSQL server's ``postgres`` database, outside a transaction."""
    import psycopg

    with psycopg.connect(
        f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(sql)


class Templates:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sqlite: Path | None = None
        self.pg_name: str | None = None

    def sqlite_copy(self, dest: Path) -> str:
        if self.sqlite is None:
            self.sqlite = self.root / "template.db"
            upgrade(f"sqlite:///{self.sqlite}")
        shutil.copy(self.sqlite, dest)
        return f"sqlite:///{dest}"

    def pg_copy(self) -> str:
        if self.pg_name is None:
            self.pg_name = f"fb_template_{uuid.uuid4().hex[:8]}"
            pg_exec(f'CREATE DATABASE "{self.pg_name}"')
            upgrade(f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.pg_name}")
        name = f"fb_test_{uuid.uuid4().hex[:10]}"
        pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_name}"')
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"

    def drop(self) -> None:
        if self.pg_name:
            pg_exec(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "t" * 16 + uuid.uuid4().hex,
        "attachments_dir": tmp_path / "attachments",
        "secret_key_file": tmp_path / "secret_key",
        "outbox_relay": False,  # a test that wants the embedded relay turns it on
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs, on the engine and the loop's."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    engines = [container.engine]
    if container.loop_database is not None:
        engines.append(container.loop_database.engine.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
