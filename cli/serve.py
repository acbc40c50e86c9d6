"""``fieldbridge migrate`` and ``fieldbridge serve``: the store brought up to date, and the
HTTP API."""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import err, stop
from orchestrator.runtime import logs
from orchestrator.runtime.bootstrap import bootstrap, read_settings
from orchestrator.runtime.settings import Settings
from orchestrator.store import migrate

if TYPE_CHECKING:
    from fastapi import FastAPI

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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="server processes (uvicorn's worker mode); default FIELDBRIDGE_WORKERS, "
            "else 1 on SQLite and the CPU count on PostgreSQL",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the HTTP API (docs at /docs), in one process or several."""
    settings = read_settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    count = settings.server_workers()
    try:
        settings.rate_limits_for(count)
    except ValueError as exc:
        raise stop(f"cannot serve with {count} workers: {exc}") from None
    if migrate.pending(settings.database_url):
        raise stop("the database is not migrated: run `fieldbridge migrate` first")
    import uvicorn  # only the server needs it

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_config": None,  # uvicorn's records go through ours (logs.configure)
        "log_level": settings.log_level.lower(),
        "proxy_headers": False,  # X-Forwarded-For only from FIELDBRIDGE_TRUSTED_PROXIES
    }
    logs.configure(settings.log_format, settings.log_level)
    if count == 1:
        from api.app import create_app

        application = create_app(settings)
        settle_memory()
        err.print(f"fieldbridge API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
        uvicorn.run(application, **options)
        return
    _serve_workers(settings, count, options)


def _serve_workers(settings: Settings, count: int, options: dict[str, Any]) -> None:
    """uvicorn's worker mode: this process supervises ``count`` workers (``worker_app``) and
    does, once, what a server does once: the start-up checks, the schedule runner and the
    outbox relay (embedded mode), the housekeeping."""
    import uvicorn

    from api.app import Housekeeping
    from orchestrator.runtime.embedded import WAKE_VARIABLE, EmbeddedBackground, WakeListener

    with bootstrap(settings, checkpoint_in_background=True) as container:
        container.background.start()
        housekeeping = Housekeeping(container)
        housekeeping.start()
        listener = None
        if isinstance(container.background, EmbeddedBackground):
            listener = WakeListener(container.background)
            os.environ[WAKE_VARIABLE] = listener.address
        os.environ["FIELDBRIDGE_WORKERS"] = str(count)  # the workers' settings agree
        host, port = options["host"], options["port"]
        err.print(
            f"fieldbridge API on http://{host}:{port} (docs: http://{host}:{port}/docs), "
            f"{count} worker processes"
        )
        try:
            uvicorn.run("cli.serve:worker_app", factory=True, workers=count, **options)
        finally:
            housekeeping.stop()
            if listener is not None:
                listener.close()


def worker_app() -> FastAPI:
    """One worker of ``fieldbridge serve --workers N`` (uvicorn imports and calls it in each
    worker process; the settings come from the environment the supervisor left)."""
    from api.app import create_app

    settings = read_settings()
    logs.configure(settings.log_format, settings.log_level)
    application = create_app(settings, workers=settings.server_workers(), supervised=True)
    settle_memory()
    return application


def settle_memory() -> None:
    """What is alive now lives as long as the process: keep it out of the cyclic collector's
    walks, and collect the young generation every 100,000 allocations, not 700: a create
    allocates thousands of objects, and the default made the young collections a visible
    part of a create's tail latency (DEVELOPERS.md, the API benchmark)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
