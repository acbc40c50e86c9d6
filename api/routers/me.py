"""The technician's own: their day, for working offline, and what changed in it since."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import problems
from api.deps import Uow, allow
from api.schemas import ChangesPacket, DayPacket
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import packet

router = APIRouter(prefix="/me", tags=["me"])
Technician = Annotated[Actor, allow({Role.TECHNICIAN}, "fetch a technician's day")]


@router.get(
    "/day",
    response_model=DayPacket,
    responses=problems.responses(
        {422: f"`date` is not a day within {packet.DAYS_AHEAD} days of today"}
    ),
)
def day(
    uow: Uow,
    actor: Technician,
    on: Annotated[
        dt.date | None,
        Query(alias="date", description="YYYY-MM-DD in your time zone; today there if omitted"),
    ] = None,
) -> Any:
    """Everything the day needs offline, and the sync token to ask what changed since."""
    with uow:  # the day's orders, their facts and their assets' histories: in the threadpool
        return packet.day(uow, actor, on)


@router.get(
    "/changes",
    response_model=ChangesPacket,
    responses=problems.responses(
        {
            410: "the sync token is older than the change feed keeps "
            "(FIELDBRIDGE_CHANGE_FEED_DAYS): fetch the day again",
            422: "`since` is not a sync token",
        }
    ),
)
async def changes(
    uow: Uow,
    actor: Technician,
    since: Annotated[
        str,
        Query(
            pattern=packet.TOKEN_PATTERN,
            description="the sync_token of your last GET /me/day or /me/changes",
        ),
    ],
) -> Any:
    """What changed since the token: orders changed or newly yours, in full, and the ids of
    those no longer yours. Polled often, and with nothing changed it is one indexed read: on
    the event loop."""
    return await uow.run(packet.changes, actor, since)
