"""``fieldbridge plan`` and ``fieldbridge bench solomon``: the scheduler from the command line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, cast

import typer
from pydantic import ValidationError
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.console import err, error, stop
from scheduler import ENGINES, solomon, solve
from scheduler.gantt import gantt_svg
from scheduler.model import Plan, Problem
from scheduler.routes import EngineRefused
from scheduler.validate import PlanInvalid

bench_app = typer.Typer(help="Measure the scheduler on standard benchmarks.", no_args_is_help=True)


def plan_cmd(
    problem: Annotated[
        Path | None, typer.Option(help="the problem, as JSON (see --schema)", dir_okay=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="where to write the plan (standard output if omitted)")
    ] = None,
    engine: Annotated[str, typer.Option(help=f"one of {', '.join(ENGINES)}")] = ENGINES[0],
    time_limit: Annotated[
        float | None,
        typer.Option(
            help="seconds to plan in [default: 2 s, 1 s more per 20 jobs, up to 60]", min=0.1
        ),
    ] = None,
    schema: Annotated[bool, typer.Option(help="print the problem's JSON Schema and exit")] = False,
    gantt: Annotated[
        Path | None,
        typer.Option(help="also write the plan as a Gantt chart (SVG) here", dir_okay=False),
    ] = None,
) -> None:
    """Plan a day: technicians and jobs in (JSON), routes and reasons out, checked."""
    if schema:
        sys.stdout.write(json.dumps(Problem.model_json_schema(), indent=2) + "\n")
        return
    if problem is None:
        raise stop("--problem is required (or --schema)")
    if engine not in ENGINES:
        raise stop(f"--engine must be one of {', '.join(ENGINES)}")
    try:
        parsed = Problem.model_validate_json(problem.read_bytes())
    except OSError as exc:
        raise stop(f"cannot read {problem}: {exc.strerror}") from None
    except ValidationError as exc:
        error(f"{problem} is not a valid problem:")
        for line in solve.describe(exc):
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    with err.status(
        f"planning {len(parsed.jobs)} jobs for {len(parsed.technicians)} technicians ({engine})"
    ):
        try:
            plan = solve.solve(parsed, engine=cast(solve.Engine, engine), time_limit_s=time_limit)
        except EngineRefused as exc:
            raise stop(f"the {engine} engine cannot plan this day: {exc.reason}") from None
    text = plan.model_dump_json(indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
    _print_plan(plan, out)
    if gantt is not None:
        svg = gantt_svg(plan, parsed, title=f"{problem.name}: {plan.engine} plan")
        try:
            gantt.write_text(svg, encoding="utf-8")
        except OSError as exc:
            raise stop(f"cannot write {gantt}: {exc.strerror or exc}") from None
        err.print(f"Gantt chart written to {escape(str(gantt))}", soft_wrap=True)


def _print_plan(plan: Plan, out: Path | None) -> None:
    table = Table(title=f"plan ({plan.engine}, {plan.seconds:.1f} s)")
    for name in ("technician", "jobs", "work min", "travel min", "day"):
        table.add_column(name, justify="left" if name in ("technician", "day") else "right")
    for route in plan.routes:
        table.add_row(
            route.technician,
            str(len(route.stops)),
            f"{route.work_s / 60:.0f}",
            f"{route.travel_s / 60:.0f}",
            f"{route.start:%H:%M}-{route.end:%H:%M}",
        )
    err.print(table)
    totals = plan.totals
    err.print(
        f"{totals.assigned}/{totals.jobs} jobs assigned, "
        f"priority-weighted {totals.priority_weighted_share:.1%}, "
        f"{totals.travel_s / 3600:.1f} h of driving" + (f"; plan written to {out}" if out else "")
    )
    for reason, count in sorted(Counter(u.code for u in plan.unassigned).items()):
        err.print(f"  unassigned ({reason}): {count}")


@bench_app.command("solomon")
def bench_solomon(
    files: Annotated[
        list[Path], typer.Argument(help="Solomon VRPTW instance files", show_default=False)
    ],
    json_path: Annotated[
        Path, typer.Option("--json", help="where to write the results, a JSON list")
    ],
    engine: Annotated[str, typer.Option(help=f"one of {', '.join(ENGINES)}")] = ENGINES[0],
    time_limit: Annotated[
        float | None, typer.Option(help="seconds the engine may search, per instance", min=0.1)
    ] = None,
    bks: Annotated[
        Path | None,
        typer.Option(
            help="best-known distances: a CSV with instance and distance_only_bks columns "
            "[default: bks.csv beside the first FILE, when there is one]"
        ),
    ] = None,
) -> None:
    """Solve Solomon VRPTW instances as field-service days; judge the routes in exact doubles.

    Each instance becomes our problem (one technician per vehicle, one job per customer),
    goes through the engine and the validator like any day, and its routes are checked and
    measured again in exact Euclidean doubles against the instance's own rules, then
    compared with the best-known distance-only value (gap_pct).
    """
    if engine not in ENGINES:
        raise stop(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    prepared = _load_instances(files)
    best = _best_known(bks, beside=files[0].parent / "bks.csv")
    measured: list[solomon.Measured] = []
    _write_results(json_path, measured)  # a path we cannot write fails now, not after the run
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("solomon", total=len(prepared))
        for file, instance, problem in prepared:
            progress.update(task, description=f"{instance.name} ({engine})")
            try:
                result = solomon.measure(
                    instance,
                    problem,
                    engine=cast(solve.Engine, engine),
                    time_limit_s=time_limit,
                    best_known=best.get(instance.name, best.get(file.stem)),
                )
            except EngineRefused as exc:
                progress.stop()
                raise stop(f"{file}: the {engine} engine cannot take it: {exc.reason}") from None
            except PlanInvalid as exc:
                progress.stop()
                error(f"{file}: the {engine} plan failed the validator: {exc}")
                raise typer.Exit(code=1) from None
            measured.append(result)
            _write_results(json_path, measured)
            for reason in result.reasons[:5]:
                progress.console.print(
                    f"  {instance.name}: {reason}", markup=False, highlight=False
                )
            progress.advance(task)
    _print_bench(measured, json_path)


def _load_instances(files: list[Path]) -> list[tuple[Path, solomon.SolomonInstance, Problem]]:
    """Each file's instance and the problem it poses, all read before anything is solved."""
    prepared = []
    for file in files:
        try:
            instance = solomon.load(file)
            prepared.append((file, instance, solomon.to_problem(instance)))
        except OSError as exc:
            raise stop(f"cannot read {file}: {exc.strerror or exc}") from None
        except ValueError as exc:  # SolomonFormatError names the file and line itself
            message = str(exc)
            if not isinstance(exc, solomon.SolomonFormatError):
                message = f"{file}: {message}"
            raise stop(message) from None
    return prepared


def _best_known(bks: Path | None, beside: Path) -> dict[str, float]:
    """The best-known distances: from ``bks`` when given (it must be readable), else from
    ``beside`` when there is such a file (one without them only leaves the gaps out)."""
    if bks is not None:
        try:
            return solomon.read_bks(bks)
        except OSError as exc:
            raise stop(f"cannot read {bks}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise stop(str(exc)) from None
    if not beside.is_file():
        return {}
    try:
        return solomon.read_bks(beside)
    except (OSError, ValueError) as exc:
        err.print(
            f"note: no best-known distances, gaps left out: {escape(str(exc))}", soft_wrap=True
        )
        return {}


def _write_results(path: Path, measured: list[solomon.Measured]) -> None:
    try:
        path.write_text(json.dumps([m.record() for m in measured], indent=2) + "\n")
    except OSError as exc:
        raise stop(f"cannot write {path}: {exc.strerror or exc}") from None


def _print_bench(measured: list[solomon.Measured], path: Path) -> None:
    table = Table(
        title="Solomon VRPTW, distance-only (exact Euclidean doubles)", box=box.SIMPLE_HEAD
    )
    for name in ("instance", "engine", "vehicles", "distance", "bks", "gap %", "seconds"):
        table.add_column(
            name,
            justify="left" if name in ("instance", "engine") else "right",
            min_width=len(name),
        )
    table.add_column("feasible", min_width=len("feasible"))
    for result in measured:
        record = result.record()
        gap, reference = record["gap_pct"], result.best_known
        table.add_row(
            escape(record["instance"]),
            escape(record["engine"]),
            str(record["vehicles"]),
            f"{record['distance']:.2f}",
            "" if reference is None else f"{reference:.2f}",
            "" if gap is None else f"{gap:+.2f}",
            f"{record['seconds']:.1f}",
            "yes" if record["feasible"] else "[red]NO[/red]",
        )
    err.print(table)
    gaps = [(m.gap_pct, m.instance) for m in measured if m.gap_pct is not None]
    feasible = sum(m.feasible for m in measured)
    summary = f"{feasible}/{len(measured)} feasible"
    if gaps:
        worst, where = max(gaps)
        mean = sum(g for g, _ in gaps) / len(gaps)
        summary += (
            f"; gap to the best-known distance over {len(gaps)} instance(s): "
            f"mean {mean:+.2f}%, worst {worst:+.2f}% ({where})"
        )
    else:
        summary += "; no best-known distances to compare with"
    err.print(f"{summary}; results written to {escape(str(path))}", soft_wrap=True)
