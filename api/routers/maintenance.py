"""``/api/v1/maintenance-plans``: preventive maintenance plans (``orchestrator.maintenance``).

The office (dispatcher, supervisor, admin) writes them; they are read as reference data is.
A change states the version it was made against (``If-Match``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api import problems
from api.deps import IfMatch, PathId, Uow, allow, etag
from api.schemas import (
    MaintenancePlanIn,
    MaintenancePlanPage,
    MaintenancePlanPublic,
    MaintenancePlanUpdate,
)
from orchestrator.domain.lifecycle import Actor
from orchestrator.maintenance import plans

router = APIRouter(prefix="/maintenance-plans", tags=["maintenance"])
Writer = Annotated[Actor, allow(plans.WRITERS, "write maintenance plans")]
Reader = Annotated[Actor, allow(plans.READERS, "read maintenance plans")]
STALE = "If-Match names no version, or one that is no longer current: read it again"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MaintenancePlanPublic)
async def create(body: MaintenancePlanIn, uow: Uow, _: Writer, response: Response) -> Any:
    """A plan: an asset or every asset of a model, a work type, a recurrence rule (RFC 5545
    RRULE; a bad one is 422 naming `rule`), what it counts from, its horizon and lead."""
    out = await uow.run(plans.create, body)
    response.headers["Location"] = f"/api/v1/maintenance-plans/{out['id']}"
    response.headers["ETag"] = etag(out["version"])
    return out


@router.get("", response_model=MaintenancePlanPage)
def list_(
    uow: Uow,
    _: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    asset_id: Annotated[int | None, Query(ge=1)] = None,
    asset_model: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    active: bool | None = None,
) -> Any:
    with uow:  # grows with the page: in the threadpool
        return plans.list_page(
            uow, cursor=cursor, limit=limit, asset_id=asset_id, asset_model=asset_model,
            active=active,
        )  # fmt: skip


@router.get("/{ident}", response_model=MaintenancePlanPublic)
async def read(ident: PathId, uow: Uow, _: Reader, response: Response) -> Any:
    out = await uow.run(plans.get, ident)
    response.headers["ETag"] = etag(out["version"])
    return out


@router.patch(
    "/{ident}", response_model=MaintenancePlanPublic, responses=problems.responses({412: STALE})
)
async def update(
    ident: PathId,
    body: MaintenancePlanUpdate,  # type: ignore[valid-type]
    uow: Uow,
    _: Writer,
    response: Response,
    if_match: IfMatch,
) -> Any:
    """Change a plan (`active: false` stops it making orders)."""
    changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    out = await uow.run(plans.update, ident, changes, if_match)
    response.headers["ETag"] = etag(out["version"])
    return out


@router.delete(
    "/{ident}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems.responses(
        {409: "the plan has made orders: deactivate it instead (`active: false`)", 412: STALE}
    ),
)
async def delete(ident: PathId, uow: Uow, _: Writer, if_match: IfMatch) -> None:
    """Delete a plan that has made no orders."""
    await uow.run(plans.delete, ident, if_match)
