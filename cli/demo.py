"""``fieldbridge demo``: the whole story against the simulators (``devtools.demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import err
from devtools.demo import DemoError, run_demo


def demo_cmd(
    orders: Annotated[int, typer.Option(help="work orders in the story", min=3)] = 40,
    seed: Annotated[int, typer.Option(help="seed of the data, the choices and the faults")] = 7,
    workdir: Annotated[
        Path | None,
        typer.Option(help="keep the store, uploads and simulators' files here [default: temp]"),
    ] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="also write the report as an HTML page")
    ] = None,
) -> None:
    """Run the whole story against the simulators and check every ledger (exit 0 if every
    closed order reached Salesforce, SAP and finance exactly once)."""
    try:
        code = run_demo(orders, seed, workdir, html_path)
    except DemoError as exc:
        err.print(f"[red]demo stopped:[/red] {exc}")
        code = 1
    raise typer.Exit(code=code)
