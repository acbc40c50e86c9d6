"""The inbound sync, read-only: each stream's cursor and latest counts, the quarantine, and
the latest reconciliation of each stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Uow, allow
from api.schemas import QuarantinePage, ReconciliationPublic, SyncStreamStatus
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.sync import status as sync

READERS = (Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.INTEGRATION)

router = APIRouter(prefix="/sync", tags=["sync"])
routers = [router]
Reader = Annotated[Actor, allow(READERS, "read the sync's state")]


@router.get("/status", response_model=list[SyncStreamStatus])
async def status(uow: Uow, _: Reader) -> Any:
    """One entry per stream (known streams never run too, with nulls and zeros): the cursor
    (the source's change stamp of the last record committed), when it last ran, and that
    run's counts: records read, rows written, records quarantined, API calls."""
    return await uow.run(sync.status)


@router.get("/reconciliation", response_model=list[ReconciliationPublic])
async def reconciliation(uow: Uow, _: Reader) -> Any:
    """The latest reconciliation of each stream reconciled (``fieldbridge sync reconcile``):
    how many records each side holds, what was tombstoned because its system of record no
    longer has it, and what is there but not here; a sample of the ids of each."""
    return await uow.run(sync.reconciliations)


@router.get("/quarantine", response_model=QuarantinePage)
def quarantine(
    uow: Uow,
    _: Reader,
    system: Annotated[str | None, Query(max_length=32, description="salesforce, sap or hr")] = None,
    entity: Annotated[
        str | None,
        Query(
            max_length=32,
            description="customer, site, contact, asset, work_order or certification",
        ),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Inbound records that could not be applied and are still open (a later version that
    applies resolves them), oldest first: the field at fault, why, and the raw payload."""
    with uow:  # grows with the page: in the threadpool
        return sync.quarantine_page(uow, cursor=cursor, limit=limit, system=system, entity=entity)
