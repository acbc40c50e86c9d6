"""The ``fieldbridge`` command line: ``cli.main:app`` is the console script.

Each command lives in a module of its own beside this one; here they are put in the order a
newcomer meets them, in panels: running the product, operating it, planning, and the tools
for trying it out.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli.billing import billing_app
from cli.chaos import chaos_cmd
from cli.console import err
from cli.demo import demo_cmd
from cli.maintenance import pm_app
from cli.outbox import outbox_app
from cli.planning import bench_app, plan_cmd
from cli.salesforce import salesforce_app
from cli.sandbox import sandbox_app
from cli.serve import migrate_cmd, serve_cmd
from cli.sync import sync_app
from cli.tokens import token_app
from cli.worker import beat_cmd, worker_cmd
from orchestrator.runtime.settings import ConfigurationError

RUN, OPERATE, PLAN, TRY = "Run", "Operate", "Plan", "Try it out"
ORDER = (
    *("migrate", "serve", "worker", "beat"),
    *("token", "sync", "outbox", "billing", "pm", "salesforce"),
    *("plan", "bench"),
    *("sandbox", "demo", "chaos"),
)


class _Commands(TyperGroup):
    """The commands in ``ORDER`` (Typer lists single commands before groups)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(super().list_commands(ctx), key=ORDER.index)


class _App(typer.Typer):
    """Settings that cannot run end the command with one clear line and exit code 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ConfigurationError as exc:
            err.print(f"[red]configuration error:[/red] {exc}", soft_wrap=True)
            raise SystemExit(2) from None


def _version() -> str:
    try:
        return version("fieldbridge")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


app = _App(
    cls=_Commands,
    help="fieldbridge: work-order middleware for field service.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)


def _show_version(shown: bool) -> None:
    if shown:
        typer.echo(f"fieldbridge {_version()}")
        raise typer.Exit


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """fieldbridge: work-order middleware for field service."""


app.command("migrate", rich_help_panel=RUN)(migrate_cmd)
app.command("serve", rich_help_panel=RUN)(serve_cmd)
app.command("worker", rich_help_panel=RUN)(worker_cmd)
app.command("beat", rich_help_panel=RUN)(beat_cmd)
app.add_typer(token_app, name="token", rich_help_panel=OPERATE)
app.add_typer(sync_app, name="sync", rich_help_panel=OPERATE)
app.add_typer(outbox_app, name="outbox", rich_help_panel=OPERATE)
app.add_typer(billing_app, name="billing", rich_help_panel=OPERATE)
app.add_typer(pm_app, name="pm", rich_help_panel=OPERATE)
app.add_typer(salesforce_app, name="salesforce", rich_help_panel=OPERATE)
app.command("plan", rich_help_panel=PLAN)(plan_cmd)
app.add_typer(bench_app, name="bench", rich_help_panel=PLAN)
app.add_typer(sandbox_app, name="sandbox", rich_help_panel=TRY)
app.command("demo", rich_help_panel=TRY)(demo_cmd)
app.command("chaos", rich_help_panel=TRY)(chaos_cmd)
