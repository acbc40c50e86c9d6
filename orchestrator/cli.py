"""The ``fieldbridge`` command line (Typer). ``api.cli`` adds ``serve`` and is the entry point."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestrator import (
    auth,
    billing_cli,
    chaos,
    migrate,
    outbox_cli,
    planning_cli,
    sandbox_cli,
    sync_cli,
    worker_cli,
)
from orchestrator.bootstrap import bootstrap
from orchestrator.console import err, stop
from orchestrator.errors import FieldbridgeError
from orchestrator.settings import get_settings

app = typer.Typer(
    help="fieldbridge: work-order middleware for field service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
token_app = typer.Typer(help="Issue and revoke API bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.command("plan")(planning_cli.plan_cmd)
app.add_typer(planning_cli.bench_app, name="bench")
app.add_typer(sandbox_cli.sandbox_app, name="sandbox")
app.add_typer(sync_cli.sync_app, name="sync")
app.add_typer(outbox_cli.outbox_app, name="outbox")
app.command("worker")(worker_cli.worker_cmd)
app.command("beat")(worker_cli.beat_cmd)
app.command("chaos")(chaos.chaos_cmd)
app.add_typer(billing_cli.billing_app, name="billing")


def fail(exc: FieldbridgeError) -> typer.Exit:
    return stop(exc.detail)


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


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
