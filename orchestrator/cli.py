"""The ``fieldbridge`` command line (Typer). ``api.cli`` adds ``serve`` and is the entry point."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from orchestrator import auth, migrate
from orchestrator.bootstrap import bootstrap
from orchestrator.errors import FieldbridgeError
from orchestrator.settings import get_settings
from scheduler import ENGINES, solve
from scheduler.model import Plan, Problem

app = typer.Typer(
    help="fieldbridge: work-order middleware for field service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
token_app = typer.Typer(help="Issue and revoke API bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
err = Console(stderr=True)


def fail(exc: FieldbridgeError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.detail}")
    return typer.Exit(code=2)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply database migrations (FIELDBRIDGE_DATABASE_URL) up to the newest."""
    url = get_settings().database_url
    migrate.upgrade(url)
    err.print(f"database at the newest migration: {_redact(url)}")


@token_app.command("create")
def token_create(
    role: Annotated[
        str,
        typer.Option(help="requester, dispatcher, supervisor, technician, admin or integration"),
    ],
    subject: Annotated[str, typer.Option(help="who the token is for (a user or system name)")],
    technician: Annotated[
        int | None, typer.Option(help="the technician's id (technician tokens only)")
    ] = None,
    ttl: Annotated[float | None, typer.Option(help="hours until it expires [default: 12]")] = None,
) -> None:
    """Issue a token: prints its id on one line and the token alone on the last line."""
    container = bootstrap()
    try:
        with container.uow() as uow:
            issued = auth.issue(
                uow,
                container.secret_key,
                role=role,
                subject=subject,
                technician_id=technician,
                ttl_hours=ttl if ttl is not None else container.settings.token_default_ttl_hours,
            )
    except FieldbridgeError as exc:
        raise fail(exc) from None
    finally:
        container.dispose()
    err.print(f"{role} token for {subject}, expires {issued.expires_at.isoformat()}")
    sys.stdout.write(f"{issued.id}\n{issued.token}\n")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="the id printed by create")]) -> None:
    """Revoke a token by id; it is refused from the next request on."""
    container = bootstrap()
    try:
        with container.uow() as uow:
            at = auth.revoke(uow, token_id)
    except FieldbridgeError as exc:
        raise fail(exc) from None
    finally:
        container.dispose()
    err.print(f"revoked {token_id} at {at.isoformat()}")


@app.command("plan")
def plan_cmd(
    problem: Annotated[
        Path | None, typer.Option(help="the problem, as JSON (see --schema)", dir_okay=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="where to write the plan (standard output if omitted)")
    ] = None,
    engine: Annotated[str, typer.Option(help=f"one of {', '.join(ENGINES)}")] = ENGINES[0],
    time_limit: Annotated[
        float | None, typer.Option(help="seconds the engine may search", min=0.1)
    ] = None,
    schema: Annotated[bool, typer.Option(help="print the problem's JSON Schema and exit")] = False,
) -> None:
    """Plan a day: technicians and jobs in (JSON), routes and reasons out, checked."""
    if schema:
        sys.stdout.write(json.dumps(Problem.model_json_schema(), indent=2) + "\n")
        return
    if problem is None:
        err.print("[red]error:[/red] --problem is required (or --schema)")
        raise typer.Exit(code=2)
    if engine not in ENGINES:
        err.print(f"[red]error:[/red] --engine must be one of {', '.join(ENGINES)}")
        raise typer.Exit(code=2)
    try:
        parsed = Problem.model_validate_json(problem.read_bytes())
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {problem}: {exc.strerror}")
        raise typer.Exit(code=2) from None
    except ValidationError as exc:
        err.print(f"[red]error:[/red] {problem} is not a valid problem:")
        for line in solve.describe(exc):
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    with err.status(
        f"planning {len(parsed.jobs)} jobs for {len(parsed.technicians)} technicians ({engine})"
    ):
        plan = solve.solve(parsed, engine=engine, time_limit_s=time_limit)  # type: ignore[arg-type]
    text = plan.model_dump_json(indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
    _print_plan(plan, out)


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
    t = plan.totals
    err.print(
        f"{t.assigned}/{t.jobs} jobs assigned, priority-weighted {t.priority_weighted_share:.1%}, "
        f"{t.travel_s / 3600:.1f} h of driving" + (f"; plan written to {out}" if out else "")
    )
    for reason, n in sorted(Counter(u.code for u in plan.unassigned).items()):
        err.print(f"  unassigned ({reason}): {n}")


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
