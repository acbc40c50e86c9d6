"""``fieldbridge migrate`` and ``fieldbridge serve``: the store brought up to date, and the
HTTP API."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from cli.console import err, stop
from orchestrator.runtime import logs
from orchestrator.runtime.bootstrap import read_settings
from orchestrator.store import migrate

GC_YOUNG_THRESHOLD = 100_000


def migrate_cmd() -> None:
    """Apply database migrations (FIELDBRIDGE_DATABASE_URL) up to the newest."""
    url = read_settings().database_url
    migrate.upgrade(url)
    err.print(f"database at the newest migration: {_redact(url)}")


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Run the HTTP API (docs at /docs)."""
    settings = read_settings()
    if migrate.pending(settings.database_url):
        raise stop("the database is not migrated: run `fieldbridge migrate` first")
    import uvicorn  # only the server needs it

    from api.app import create_app

    application = create_app(settings)
    # What is alive now lives as long as the process: keep it out of the cyclic collector's
    # walks, and collect the young generation every 100,000 allocations, not 700: a create
    # allocates thousands of objects, and the default made the young collections a visible
    # part of a create's tail latency (DEVELOPERS.md, the API benchmark).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
    err.print(f"fieldbridge API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
    logs.configure(settings.log_format, settings.log_level)
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=access_log,
        log_config=None,  # uvicorn's records go through ours (logs.configure)
        log_level=settings.log_level.lower(),
        proxy_headers=False,  # X-Forwarded-For only from FIELDBRIDGE_TRUSTED_PROXIES (api.app)
    )
