"""``fieldbridge outbox status | list [--dead] | retry ID | replay --since T | relay``: the
write-back's outbox from a terminal.

``status`` counts rows by state and destination and shows the oldest pending age and the
dead letters with the remote's answer; ``list`` shows rows (``--dead``: the dead letters);
``retry`` makes a row due again (after the fix); ``replay`` sends rows delivered since a moment
again, which creates nothing new at any remote (each remote's idempotency); ``relay`` delivers
what is due now and stops when nothing more is (``fieldbridge serve`` runs the relay itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import err, refusals_stop, when
from orchestrator.outbox import admin
from orchestrator.runtime.bootstrap import bootstrap

outbox_app = typer.Typer(
    help="The write-back's outbox: status, dead letters, retries.", no_args_is_help=True
)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, seconds_left = divmod(int(seconds), 60)
    hours, minutes_left = divmod(minutes, 60)
    return f"{hours}h{minutes_left:02d}m" if hours else f"{minutes_left}m{seconds_left:02d}s"


@outbox_app.command("status")
def status_cmd() -> None:
    """Rows by state and destination, the oldest pending age and the dead letters."""
    with bootstrap() as container, container.new_uow(read_only=True) as uow:
        shown = admin.status(uow, dead_letters=20)
    table = Table(title="outbox")
    table.add_column("destination")
    for state in admin.STATES:
        table.add_column(state, justify="right")
    for destination, counts in sorted(shown["by_destination"].items()):
        table.add_row(destination, *(str(counts[s]) for s in admin.STATES))
    table.add_row("all", *(str(shown["by_state"][s]) for s in admin.STATES), style="bold")
    err.print(table)
    err.print(f"oldest pending: {_age(shown['oldest_pending_age_s'])}")
    _dead(shown["dead_letters"])


def _dead(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title="dead letters")
    for name in ("id", "key", "attempts", "dead at", "the remote's answer"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(str(row["id"]), row["key"], str(row["attempts"]), when(row["dead_at"]),
                      escape(row["last_error"] or ""))  # fmt: skip
    err.print(table)


@outbox_app.command("list")
def list_cmd(
    dead: Annotated[bool, typer.Option("--dead", help="only the dead letters")] = False,
    limit: Annotated[int, typer.Option(help="rows at most", min=1, max=10_000)] = 100,
) -> None:
    """Rows in id order: key, state, attempts, next attempt, the remote's id or answer."""
    with bootstrap() as container, container.new_uow(read_only=True) as uow:
        rows = admin.rows(uow, state="dead" if dead else None, limit=limit)
    if dead:
        _dead(rows)
        if not rows:
            err.print("no dead letters")
        return
    table = Table(title="outbox rows")
    for name in ("id", "key", "state", "attempts", "next attempt", "remote id / answer"):
        table.add_column(name, overflow="fold")
    for row in rows:
        said = row["remote_id"] if row["state"] == "delivered" else (row["last_error"] or "")
        table.add_row(str(row["id"]), row["key"], row["state"], str(row["attempts"]),
                      when(row["next_attempt_at"]), escape(said or ""))  # fmt: skip
    err.print(table)


@outbox_app.command("retry")
def retry_cmd(ident: Annotated[int, typer.Argument(help="the row's id")]) -> None:
    """Make a dead (or waiting) row due now; the relay sends it on its next round."""
    with bootstrap() as container, container.new_uow() as uow, refusals_stop():
        row = admin.retry(uow, ident)
    err.print(f"{row['key']}: {row['state']}, due {when(row['next_attempt_at'])}")


@outbox_app.command("replay")
def replay_cmd(
    since: Annotated[datetime, typer.Option(help="rows delivered at or after (ISO 8601, UTC)")],
) -> None:
    """Send rows delivered since SINCE again: each remote's idempotency (external ids, SAP's
    message UUID, webhook ids) makes the repeat create nothing new."""
    moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    with bootstrap() as container, container.new_uow() as uow:
        due = admin.replay(uow, moment)
    err.print(f"{due} delivered rows due again")


@outbox_app.command("relay")
def relay_cmd() -> None:
    """Deliver every row due now, then stop (``serve`` runs the relay continuously)."""
    with bootstrap() as container:
        relay = container.relay()  # a destination not configured is said, its rows parked
        with err.status("delivering the outbox ..."):
            done = relay.drain()
    table = Table(title="relay")
    for name in ("claimed", "delivered", "retried later", "dead letters"):
        table.add_column(name, justify="right")
    table.add_row(str(done.claimed), str(done.delivered), str(done.retried), str(done.dead))
    err.print(table)
