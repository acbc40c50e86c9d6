"""Billing reconciliation for finance: every closed order with its billing triggers and their
delivery state, problems first. From the store only: SAP's invoices are read back by
``fieldbridge billing reconcile``, never inside an HTTP request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import Uow, allow
from api.schemas import BillingReconciliation
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.outbox import billing

router = APIRouter(prefix="/billing", tags=["billing"])
routers = [router]

Reader = Annotated[
    Actor, allow((Role.ADMIN, Role.SUPERVISOR, Role.INTEGRATION), "read billing reconciliation")
]


@router.get("/reconciliation", response_model=BillingReconciliation)
async def reconciliation(
    uow: Uow,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000, description="entries at most")] = 200,
    closed_from: Annotated[
        AwareDatetime | None,
        Query(description="orders closed at or after this (ISO 8601 with offset) only"),
    ] = None,
    closed_to: Annotated[
        AwareDatetime | None,
        Query(description="orders closed before this (ISO 8601 with offset) only"),
    ] = None,
) -> Any:
    """Every closed work order (of the period, where given: a month's reconciliation reads
    that month) with its billing rows (the ERP billing request and each finance trigger:
    state, attempts, SAP's document id, the remote's last answer) and its status; what is
    missing (no trigger, a dead letter) comes first, then the rest by closing time. The
    summary counts all of them, whatever ``limit`` shows."""
    return await uow.run(
        billing.reconciliation, limit=limit, closed_from=closed_from, closed_to=closed_to
    )
