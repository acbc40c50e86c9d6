"""Stores for the benchmarks: throwaway PostgreSQL databases (SQLite needs only a temp file),
and a migrated store on either; and what the benchmarks that run on both share: their
``--backends`` and ``--json`` options, and their figures flattened by backend."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from orchestrator.store.migrate import upgrade

BACKENDS = ("sqlite", "postgresql")
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
def backend_url(backend: str) -> Iterator[str | None]:
    """None for SQLite (the benchmark makes its file), a throwaway PostgreSQL database
    otherwise."""
    if backend == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


def unreachable(backend: str) -> str | None:
    """Why ``backend`` cannot be benchmarked here, said in a line (None: it can)."""
    if backend == "postgresql" and not postgres_answers():
        return f"postgresql skipped: nothing answers on {PG_HOST}:{PG_PORT}"
    return None


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


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's argument parser, described by its docstring's first paragraph, with the
    options every store benchmark has: ``--backends`` and ``--json``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--json", type=Path, help="write the numbers as one flat JSON object")
    return parser


def parse_backends(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``args.backends`` as a list, each one known (or the parser's error)."""
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")


def parse_phases(
    parser: argparse.ArgumentParser, args: argparse.Namespace, known: tuple[str, ...]
) -> None:
    """``args.phases`` (comma-separated) as a list in ``known``'s order, at least one of them
    (or the parser's error)."""
    asked = {name.strip() for name in args.phases.split(",")}
    args.phases = [name for name in known if name in asked]
    if not args.phases:
        parser.error(f"--phases: some of {', '.join(known)}")


def by_backend(backend: str, figures: dict[str, Any], *, first: bool) -> dict[str, Any]:
    """A backend's figures under its name (``postgresql_relay_s``), and the first backend's
    also as they are (``relay_s``)."""
    return {f"{backend}_{key}": value for key, value in figures.items()} | (
        figures if first else {}
    )
