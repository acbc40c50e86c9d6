"""``fieldbridge pm generate [--until DATE]``: preventive maintenance by hand.

``generate`` makes the orders the active maintenance plans owe (each occurrence due within a
plan's horizon and lead time, never twice: ``orchestrator.maintenance.generate``), as the
production mode's beat does daily, with a progress bar and a summary; ``--until`` generates
as if it were that day (ahead of time, to see a month's work early). Exit code 0, or 2 when
it cannot run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.console import err, refusals_stop
from orchestrator.maintenance.generate import Generated, generate
from orchestrator.runtime.bootstrap import bootstrap

pm_app = typer.Typer(help="Preventive maintenance: generate the orders plans owe.",
                     no_args_is_help=True)  # fmt: skip


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@pm_app.command("generate")
def generate_cmd(
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="Generate as of this day (YYYY-MM-DD): what the plans owe by then, "
            "each plan's horizon and lead time ahead. Default: today (UTC).",
        ),
    ] = None,
) -> None:
    """Make the orders the active maintenance plans owe, each occurrence once."""
    as_of = _day(until) if until is not None else datetime.now(UTC).date()
    columns = (TextColumn("plans x assets"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[made]} orders made"), TimeElapsedColumn())  # fmt: skip
    with (
        bootstrap() as container,
        container.new_uow() as uow,
        refusals_stop(),
        Progress(*columns, console=err) as progress,
    ):
        bar = progress.add_task("pm", total=None, made=0)

        def report(done: Generated) -> None:
            progress.update(bar, total=done.total, completed=done.pairs, made=done.made)

        done = generate(uow, as_of, progress=report)
    table = Table(title=f"preventive maintenance as of {as_of.isoformat()}")
    for name in ("active plans", "plans x assets", "orders made", "made elsewhere at once"):
        table.add_column(name, justify="right")
    table.add_row(str(done.plans), str(done.pairs), str(done.made), str(done.taken))
    err.print(table)
    typer.echo(f"{done.made} orders made")
