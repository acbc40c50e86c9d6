"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL where it answers;
see ``tests/support/databases.py``), and the composition root on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Before any of them is imported: the helpers' asserts explain themselves like the tests' own.
pytest.register_assert_rewrite("tests.support")

from orchestrator.runtime.bootstrap import Container, bootstrap, read_systems  # noqa: E402
from tests.support.databases import (  # noqa: E402
    BACKENDS,
    POSTGRES,
    Templates,
    make_settings,
    pg_exec,
)

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("big", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES:
        return "databases: SQLite and PostgreSQL (127.0.0.1:5432)"
    return "databases: SQLite only (PostgreSQL is not answering on 127.0.0.1:5432)"


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.drop()


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
    pg_exec(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
def container(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Container]:
    """The composition root on this test's database; the connectors' settings are the test's
    ``systems`` marker's variables (none by default), never this process's environment."""
    marker = request.node.get_closest_marker("systems")
    variables: dict[str, str] = marker.kwargs if marker else {}
    with bootstrap(make_settings(database_url, tmp_path), systems=read_systems(variables)) as root:
        yield root
