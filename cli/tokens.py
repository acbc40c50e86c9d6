"""``fieldbridge token create | revoke``: the API's bearer tokens from a terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.console import err, refusals_stop
from orchestrator.access import tokens
from orchestrator.runtime.bootstrap import bootstrap

token_app = typer.Typer(help="Issue and revoke API bearer tokens.", no_args_is_help=True)


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
    with bootstrap() as container, container.new_uow() as uow, refusals_stop():
        issued = tokens.issue(
            uow,
            container.secret_key,
            role=role,
            subject=subject,
            technician_id=technician,
            ttl_hours=ttl if ttl is not None else container.settings.token_default_ttl_hours,
        )
    err.print(f"{role} token for {subject}, expires {issued.expires_at.isoformat()}")
    sys.stdout.write(f"{issued.id}\n{issued.token}\n")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="the id printed by create")]) -> None:
    """Revoke a token by id; it is refused from the next request on."""
    with bootstrap() as container, container.new_uow() as uow, refusals_stop():
        at = tokens.revoke(uow, token_id)
    err.print(f"revoked {token_id} at {at.isoformat()}")
