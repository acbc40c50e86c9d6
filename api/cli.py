"""Entry point of the ``fieldbridge`` console script: the orchestrator's commands plus ``serve``."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from api.demo import demo_cmd
from orchestrator import logs, migrate
from orchestrator.cli import app, err
from orchestrator.settings import ConfigurationError, get_settings

GC_YOUNG_THRESHOLD = 100_000

app.command("demo")(demo_cmd)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Run the HTTP API (docs at /docs)."""
    settings = get_settings()
    url = settings.database_url
    if migrate.pending(url):
        err.print("[red]error:[/red] the database is not migrated: run `fieldbridge migrate` first")
        raise typer.Exit(code=2)
    import uvicorn  # only the server needs it

    from api.app import create_app

    application = create_app()
    # What is alive now lives as long as the process: keep it out of the cyclic collector's
    # walks, and collect the young generation every 100,000 allocations, not 700: a create
    # allocates thousands of objects (bench/api_bench.py, creates' p99 at 300/s: 59 ms with
    # 10,000, 10 to 39 ms with 100,000).
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
        proxy_headers=True,
    )


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise SystemExit(2) from None
