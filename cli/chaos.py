"""``fieldbridge chaos``: the production mode under fire, with a verdict (``devtools.chaos``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, error, stop
from devtools.chaos import ChaosOptions, run_chaos


def chaos_cmd(
    orders: Annotated[int, typer.Option(help="work orders to close", min=1, max=100_000)] = 1000,
    fault_rate: Annotated[
        float, typer.Option(help="share of the simulators' calls that fail", min=0, max=0.9)
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="the simulators' seed")] = 1,
    kill_worker: Annotated[bool, typer.Option(help="SIGKILL one worker mid-batch")] = True,
    restart_redis: Annotated[bool, typer.Option(help="restart Redis once mid-run")] = True,
    workdir: Annotated[Path | None, typer.Option(help="keep the logs here")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the outbox")] = 600.0,
) -> None:
    """Close ORDERS orders on the production mode while the simulators fail, a worker dies
    and Redis restarts; print a JSON summary; exit 1 on any loss or duplicate."""
    options = ChaosOptions(orders, fault_rate, seed, kill_worker, restart_redis, workdir, timeout)
    try:
        summary = run_chaos(options, log=err.print)
    except (TimeoutError, RuntimeError, FileNotFoundError) as exc:
        raise stop(f"chaos: {exc}") from None
    print(json.dumps(summary, indent=2))
    if summary["lost"] or summary["duplicates"]:
        error(f"chaos: {summary['lost']} lost, {summary['duplicates']} duplicates")
        raise typer.Exit(code=1)
    err.print(f"[green]chaos: OK[/green]: {summary['orders']} orders, nothing lost, nothing twice")
