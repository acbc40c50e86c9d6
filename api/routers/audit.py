"""``GET /api/v1/audit/verify``: walk every chain and name the first broken event."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from api.deps import Uow, allow
from api.schemas import AuditVerification
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.work_orders import audit_trail

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/verify", response_model=AuditVerification)
def verify(
    uow: Uow, _: Annotated[Actor, allow((Role.ADMIN, Role.SUPERVISOR), "verify the audit trail")]
) -> Any:
    with uow:  # walks every chain: in the threadpool
        return audit_trail.verify_all(uow)
