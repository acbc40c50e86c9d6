"""A technician's device uploads what it did offline: ``POST /api/v1/me/ops``
(``orchestrator.field.ops``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api import problems
from api.deps import Uow, allow
from api.schemas import Wire
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import ops

router = APIRouter(prefix="/me", tags=["technician"])

KINDS_SAID = (
    "Each op: `op_id` (a UUID the device made), `at` (ISO 8601 with offset, the device's "
    "clock), `work_order_id`, `base_version` (the order's version the device last saw), "
    "`kind` and its fields: `transition` (`to`; `reason`, `position` {lat, lon}, "
    "`resolution_code`, `resolution_note` as the lifecycle asks; `attachment_ids`: client ids "
    "a completion waits for), `checklist` (`items` {code: bool}), `note` (`text`), "
    "`part_used` (`part_code`, `quantity`, `from_van`), `labour` (`activity` travel|work, "
    "`start`, `end`), `reading` (`asset_id`, `measure`, `value`, `unit`), `position` (`lat`, "
    "`lon`, `accuracy_m`; no order needed), `signature_signer` (`name`). An op that is not "
    "valid is answered `rejected` by itself; the rest of the upload still applies."
)


class OpsIn(Wire):
    device_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    ops: list[dict[str, Any]] = Field(max_length=ops.MAX_OPS, description=KINDS_SAID)


class OpResult(BaseModel):
    model_config = ConfigDict(extra="allow")  # a refusal's own details (`fields`, ...)

    op_id: str | None
    status: str = Field(description="applied, duplicate, conflict, rejected or pending")
    version: int | None = Field(description="the order's version after the op")
    reason: str | None
    current: str | None = Field(description="the order's state")
    stale: bool | None = Field(
        default=None, description="the order had moved on from the op's base_version"
    )
    allowed: list[str] | None = Field(
        default=None, description="a transition in conflict: the moves the order allows now"
    )
    first: str | None = Field(default=None, description="a duplicate: what the op was first")
    waiting: list[str] | None = Field(
        default=None, description="pending: the attachment ids not yet arrived"
    )
    errors: list[dict[str, Any]] | None = Field(default=None, description="rejected: each field")
    missing: list[dict[str, Any]] | None = Field(
        default=None, description="a completion rejected: the proof of work missing"
    )


class OpsOut(Wire):
    results: list[OpResult] = Field(description="one per op, in the upload's order")
    sync_token: str = Field(
        description="the change feed as it stood before the upload: ask /me/changes since the "
        "older of this and your last token (the shorter is older; of two as long, the lesser)"
    )


@router.post(
    "/ops",
    response_model=OpsOut,
    responses=problems.responses(
        {422: "the upload itself is malformed (no device_id, ops not a list, too many ops)"}
    ),
)
async def upload_ops(
    body: OpsIn,
    uow: Uow,
    actor: Annotated[Actor, allow((Role.TECHNICIAN,), "upload a device's ops")],
) -> Any:
    """Apply a device's ops once each, in order, and answer one result per op (see
    `orchestrator.field.ops`). A token that has expired is refused (401) before anything is
    read or kept: the device keeps its queue and sends it again with a new token."""
    return await uow.run(ops.submit, actor, body.device_id, body.ops)
