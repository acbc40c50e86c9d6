"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL where it answers).

Each backend is migrated once into a template; every test gets a copy (a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from orchestrator.runtime.bootstrap import Container, bootstrap, read_systems
from orchestrator.runtime.settings import Settings
from orchestrator.store.migrate import upgrade

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("big", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES:
        return "databases: SQLite and PostgreSQL (127.0.0.1:5432)"
    return "databases: SQLite only (PostgreSQL is not answering on 127.0.0.1:5432)"


def _pg_exec(sql: str) -> None:
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
            _pg_exec(f'CREATE DATABASE "{self.pg_name}"')
            upgrade(f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.pg_name}")
        name = f"fb_test_{uuid.uuid4().hex[:10]}"
        _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_name}"')
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"

    def drop(self) -> None:
        if self.pg_name:
            _pg_exec(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    t = Templates(tmp_path_factory.mktemp("templates"))
    yield t
    t.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, templates: Templates, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield templates.sqlite_copy(tmp_path / "fieldbridge.db")
        return
    url = templates.pg_copy()
    yield url
    _pg_exec(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


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


@pytest.fixture
def container(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Container]:
    """The composition root on this test's database; the connectors' settings are the test's
    ``systems`` marker's variables (none by default), never this process's environment."""
    marker = request.node.get_closest_marker("systems")
    variables: dict[str, str] = marker.kwargs if marker else {}
    with bootstrap(make_settings(database_url, tmp_path), systems=read_systems(variables)) as c:
        yield c
