"""``fieldbridge sync run``, ``status``, ``reconcile`` and ``retry-quarantine``: the inbound
sync from a terminal.

``run --system salesforce`` (the default) reads the connector's settings
(``FIELDBRIDGE_SALESFORCE_*``) and the mapping (the standard org's, or
``FIELDBRIDGE_SALESFORCE_MAPPING_FILE``), holds the mapping against the org's describes first
(and stops, naming every misfit, when it does not fit); ``run --system hr`` reads
``FIELDBRIDGE_HR_*`` and the certification feed; ``run --system sap`` reads
``FIELDBRIDGE_SAP_*`` and SAP's customers and equipment; ``run --system workday`` reads
``FIELDBRIDGE_WORKDAY_*`` and the certifications of the workers
``FIELDBRIDGE_WORKDAY_TECHNICIAN_FILTER`` selects. Each stream runs with a progress
bar, then a summary table is printed. ``status`` prints the cursors.
``reconcile`` compares every key on both sides, tombstones what the system of record no
longer has and reports what the store lacks. ``retry-quarantine`` applies every open
quarantined record again from its saved payload with the current mapping (after a mapping
fix, say) and prints how many left quarantine.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.console import err, error, stop, when
from connectors.errors import ConnectorError
from orchestrator.domain.errors import SetupError
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.sync import (
    Report,
    StreamResult,
    cursors,
    reconcile,
    retry_quarantine,
)
from orchestrator.sync.status import held_in_quarantine
from orchestrator.sync.systems import NAMES, SYSTEMS, SyncSystem, run_system

sync_app = typer.Typer(help="Inbound sync from the systems of record.", no_args_is_help=True)
ALL_NAMES = tuple(dict.fromkeys(n for names in NAMES.values() for n in names))


def _setup_failed(exc: SetupError) -> typer.Exit:
    error(str(exc))
    for line in exc.problems:
        err.print(f"  {escape(line)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


def _system(container: Container, system: str) -> SyncSystem:
    """The system's mapping and streams (or a clear stop)."""
    try:
        return container.sync_system(system)
    except SetupError as exc:
        raise _setup_failed(exc) from None


def _check_names(system: str, entity: str | None, extra: tuple[str, ...] = ()) -> None:
    if system not in SYSTEMS:
        raise stop(f"--system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    allowed = NAMES[system] + extra
    if entity is not None and entity not in allowed:
        raise stop(f"--entity for {system} must be one of {', '.join(allowed)}, not {entity!r}")


@sync_app.command("run")
def run_cmd(
    system: Annotated[str, typer.Option(help=f"one of {', '.join(SYSTEMS)}")] = "salesforce",
    entity: Annotated[
        str | None, typer.Option(help=f"one stream: {', '.join(ALL_NAMES)} [default: all]")
    ] = None,
    full: Annotated[bool, typer.Option(help="read everything, ignoring the cursor")] = False,
    batch_size: Annotated[
        int, typer.Option(help="records per page (200 to 2000)", min=200, max=2000)
    ] = 2000,
) -> None:
    """Bring what changed at the system of record into the store, stream by stream."""
    _check_names(system, entity)
    with bootstrap() as container:
        found = _system(container, system)
        try:
            results = _run(container, found, entity, full, batch_size)
        except SetupError as exc:
            raise _setup_failed(exc) from None
        except ConnectorError as exc:
            raise stop(f"{system}: {exc}") from None
    _summary(results)


def _run(
    container: Container, system: SyncSystem, entity: str | None, full: bool, batch_size: int
) -> list[StreamResult]:
    """One run of the system's streams with a progress bar each."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<11}"), BarColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err) as progress:
        bars: dict[str, Any] = {}

        def start(name: str) -> None:
            bars[name] = progress.add_task(name, total=None, counts="starting")

        def report(name: str, result: StreamResult) -> None:
            of = f" of {result.to_read}" if result.to_read is not None else ""
            via = ", bulk" if result.bulk else ""
            progress.update(
                bars[name],
                total=result.to_read or None,
                completed=result.read,
                counts=f"{result.read}{of} read, {result.written} written, "
                f"{result.quarantined} quarantined ({result.pages} pages{via})",
            )

        results = run_system(
            container.new_uow,
            system,
            [entity] if entity else None,
            full=full,
            lookback_s=container.settings.sync_lookback_s,
            batch_size=batch_size,
            on_start=start,
            on_page=report,
        )
        for bar in bars.values():
            progress.update(bar, total=1, completed=1)
    return results


def _summary(results: list[StreamResult]) -> None:
    table = Table(title="sync")
    columns = ("stream", "via", "read", "written", "unchanged", "quarantined", "api calls")
    for name in (*columns, "cursor"):
        table.add_column(name, justify="left" if name in ("stream", "via", "cursor") else "right")
    for result in results:
        table.add_row(
            f"{result.system} {result.stream}",
            "bulk" if result.bulk else "query",
            str(result.read),
            str(result.written),
            str(result.skipped),
            str(result.quarantined),
            str(result.api_calls),
            when(result.cursor_stamp),
        )
    err.print(table)


ENTITIES = ("customer", "site", "contact", "asset", "work_order", "certification")


@sync_app.command("retry-quarantine")
def retry_quarantine_cmd(
    system: Annotated[str, typer.Option(help=f"one of {', '.join(SYSTEMS)}")] = "salesforce",
    entity: Annotated[
        str | None,
        typer.Option(
            help=f"one stream ({', '.join(ALL_NAMES)}) or entity ({', '.join(ENTITIES)})"
            " [default: all]"
        ),
    ] = None,
) -> None:
    """Apply every open quarantined record again from its saved payload, with the current
    mapping; those that now apply leave quarantine, the others count one more attempt."""
    _check_names(system, entity, ENTITIES)
    with bootstrap() as container:
        found = _system(container, system)
        streams, entities = found.streams, None
        if entity in streams:
            streams = {entity: streams[entity]}
        elif entity is not None:
            entities = [entity]
        with err.status("applying the quarantined records again"):
            results = retry_quarantine(container.new_uow, streams, found.mapping, entities=entities)
    if not results:
        err.print("nothing held in quarantine")
        return
    table = Table(title="quarantine retried")
    for name in ("system", "entity", "tried", "resolved", "still held"):
        table.add_column(name, justify="left" if name in ("system", "entity") else "right")
    for result in results:
        table.add_row(
            result.system, result.entity, str(result.tried), str(result.resolved), str(result.held)
        )
    err.print(table)
    held = sum(r.held for r in results)
    resolved = sum(r.resolved for r in results)
    err.print(f"{resolved} left quarantine, {held} still held")


@sync_app.command("reconcile")
def reconcile_cmd(
    system: Annotated[str, typer.Option(help=f"one of {', '.join(SYSTEMS)}")] = "salesforce",
    entity: Annotated[
        str | None, typer.Option(help=f"one stream: {', '.join(ALL_NAMES)} [default: all]")
    ] = None,
) -> None:
    """Compare every key the system of record holds with the store's: tombstone what it no
    longer has, and report what the store lacks (a sync run --full brings those in)."""
    _check_names(system, entity)
    with bootstrap() as container:
        found = _system(container, system)
        try:
            done = _reconcile(container, found, [entity] if entity else list(found.streams))
        except SetupError as exc:
            raise _setup_failed(exc) from None
        except ConnectorError as exc:
            raise stop(f"{system}: {exc}") from None
    _reconciled(done)


def _reconcile(container: Container, system: SyncSystem, names: list[str]) -> list[Report]:
    """Each stream reconciled, with a line of progress each."""
    done: list[Report] = []
    columns = (SpinnerColumn(), TextColumn("{task.description:<14}"),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())  # fmt: skip
    with system.connect() as source, Progress(*columns, console=err) as progress:
        for name in names:
            line = progress.add_task(name, total=None, counts="reading keys")

            def read(keys: int, line: Any = line) -> None:
                progress.update(line, counts=f"{keys} keys read")

            report = reconcile(
                container.new_uow,
                source,
                system.streams[name],
                bulk_threshold=system.bulk_threshold,
                on_page=read,
            )
            progress.update(line, counts=f"{report.remote} keys read, compared")
            done.append(report)
    return done


def _reconciled(done: list[Report]) -> None:
    table = Table(title="reconciliation")
    for name in ("stream", "there", "here", "tombstoned", "missing here", "api calls"):
        table.add_column(name, justify="left" if name == "stream" else "right")
    for report in done:
        table.add_row(
            f"{report.system} {report.stream}",
            str(report.remote),
            str(report.local),
            str(report.tombstoned),
            str(report.missing_here),
            str(report.api_calls),
        )
    err.print(table)
    for report in done:
        if report.tombstoned_ids:
            err.print(
                f"{report.stream}: tombstoned {', '.join(report.tombstoned_ids[:10])}",
                soft_wrap=True,
            )
        if report.missing_ids:
            err.print(
                f"{report.stream}: missing here {', '.join(report.missing_ids[:10])} "
                "(fieldbridge sync run --full brings them in)",
                soft_wrap=True,
            )


@sync_app.command("status")
def status_cmd() -> None:
    """Each stream's cursor, its latest run's counts, and its records held in quarantine."""
    with bootstrap() as container, container.new_uow(read_only=True) as uow:
        held = cursors(uow)
        waiting = held_in_quarantine(uow.connection())
    table = Table(title="sync cursors")
    for name in ("system", "stream", "cursor", "after id", "last run"):
        table.add_column(name)
    for name in ("read", "written", "quarantined", "api calls"):
        table.add_column(name, justify="right")
    for cursor in held:
        table.add_row(
            cursor["system"],
            cursor["entity"],
            when(cursor["cursor_stamp"]),
            cursor["cursor_id"] or "-",
            when(cursor["last_run_at"]),
            str(cursor["read"]),
            str(cursor["written"]),
            str(cursor["quarantined"]),
            str(cursor["api_calls"]),
        )
    err.print(table)
    if waiting:
        held_in = ", ".join(f"{s} {e}: {n}" for (s, e), n in sorted(waiting.items()))
        err.print(f"held in quarantine: {held_in}")
    elif not held:
        err.print("no stream has run yet")
