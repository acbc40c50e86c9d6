"""The ``fieldbridge`` command line: ``cli.main:app`` is the console script.

Each command lives in a module of its own beside this one; here they are put in the order a
newcomer meets them, in panels: running the product, operating it, planning, and the tools
for trying it out. A command's module is imported when that command runs (``COMMANDS``), so
``fieldbridge token create`` does not pay for the scheduler, the simulators and the billing
reconciliation: the whole application took 2.7 s to import on this machine, once for every
command. ``--help`` imports them all, for their short help.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cli.console import err

if TYPE_CHECKING:  # Typer's own copy of click, which its commands are made of
    from typer._click import Command, Context

RUN, OPERATE, PLAN, TRY = "Run", "Operate", "Plan", "Try it out"
COMMANDS: dict[str, tuple[str, str, str]] = {
    "migrate": ("cli.serve", "migrate_cmd", RUN),
    "serve": ("cli.serve", "serve_cmd", RUN),
    "worker": ("cli.worker", "worker_cmd", RUN),
    "beat": ("cli.worker", "beat_cmd", RUN),
    "token": ("cli.tokens", "token_app", OPERATE),
    "sync": ("cli.sync", "sync_app", OPERATE),
    "outbox": ("cli.outbox", "outbox_app", OPERATE),
    "billing": ("cli.billing", "billing_app", OPERATE),
    "pm": ("cli.maintenance", "pm_app", OPERATE),
    "salesforce": ("cli.salesforce", "salesforce_app", OPERATE),
    "plan": ("cli.planning", "plan_cmd", PLAN),
    "bench": ("cli.planning", "bench_app", PLAN),
    "sandbox": ("cli.sandbox", "sandbox_app", TRY),
    "demo": ("cli.demo", "demo_cmd", TRY),
    "chaos": ("cli.chaos", "chaos_cmd", TRY),
}
"""Each command: the module and the name of its Typer app (a group) or function (a single
command), and its panel in ``--help``; listed in the order a newcomer meets them."""
ORDER = tuple(COMMANDS)
MARKUP: Any = "markdown"


def _as_group() -> None:
    """A callback, which makes a Typer a group even of one command."""


def load(name: str) -> Command:
    """The command ``name`` of ``COMMANDS``, its module imported now: made by Typer as it
    would be under this app (no completion options of its own, its panel in ``--help``)."""
    module, attribute, panel = COMMANDS[name]
    found = getattr(importlib.import_module(module), attribute)
    parent = typer.Typer(add_completion=False, rich_markup_mode=MARKUP)
    parent.callback()(_as_group)
    if isinstance(found, typer.Typer):
        parent.add_typer(found, name=name, rich_help_panel=panel)
    else:
        parent.command(name, rich_help_panel=panel)(found)
    group = typer.main.get_command(parent)
    return group.commands[name]  # type: ignore[attr-defined]


class _Commands(TyperGroup):
    """The commands of ``COMMANDS``, in its order, each imported when asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(ORDER)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        return load(cmd_name) if cmd_name in COMMANDS else None


class _App(typer.Typer):
    """Settings that cannot run end the command with one clear line and exit code 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            from orchestrator.runtime.settings import ConfigurationError

            if not isinstance(exc, ConfigurationError):
                raise
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
    rich_markup_mode=MARKUP,
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
