"""Maintenance plans: create, list, read, change (against a version) and delete.

A plan names an asset (``asset_id``) or every asset of a model (``asset_model``), never
both; a work type (whose proof requirements its orders carry); a recurrence ``rule`` (checked
with python-dateutil: a bad one is 422 naming ``rule``); what it counts from; its horizon,
lead time and priority. The office writes them (``WRITERS``) and reads them as it reads
reference data (``READERS``). A plan that has made orders is not deleted (409): deactivate
it (``active: false``) and it makes no more.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select

from mappings.canonical import Id
from orchestrator.domain.errors import Conflict, InvalidInput, NotFound, VersionMismatch
from orchestrator.domain.lifecycle import Role
from orchestrator.maintenance import rules
from orchestrator.reference import records
from orchestrator.reference.records import OFFICE_READERS
from orchestrator.store import models
from orchestrator.store.pagination import decode_cursor, encode_cursor
from orchestrator.store.uow import UnitOfWork

WRITERS = frozenset({Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR})
READERS = OFFICE_READERS
_REFS: dict[str, type[models.Base]] = {"asset_id": models.Asset, "work_type_id": models.WorkType}


class PlanData(BaseModel):
    """A maintenance plan as given."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    asset_id: Id | None = None
    asset_model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    work_type_id: Id
    rule: Annotated[
        str,
        StringConstraints(min_length=1, max_length=500),
        Field(description="an RFC 5545 RRULE, e.g. FREQ=MONTHLY;INTERVAL=3"),
    ]
    starts_on: date = Field(description="the first day the rule counts from")
    counts_from: rules.CountsFrom = Field(
        "schedule",
        description="schedule: every occurrence of the rule; completion: each next one "
        "counts from the day the previous order was completed",
    )
    horizon_days: Annotated[int, Field(ge=0, le=730)] = 30
    lead_days: Annotated[int, Field(ge=0, le=365)] = 0
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    active: bool = True

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        return rules.check(value)

    @model_validator(mode="after")
    def _one_target(self) -> PlanData:
        if (self.asset_id is None) == (self.asset_model is None):
            raise ValueError("exactly one of asset_id and asset_model")
        return self


FIELDS = tuple(PlanData.model_fields)


def to_public(row: models.MaintenancePlan) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id}
    out.update({name: getattr(row, name) for name in FIELDS})
    out.update(version=row.version, created_at=row.created_at, updated_at=row.updated_at)
    return out


def _load(uow: UnitOfWork, ident: int) -> models.MaintenancePlan:
    row = uow.session.get(models.MaintenancePlan, ident)
    if row is None:
        raise NotFound("maintenance plan", ident)
    return row


def create(uow: UnitOfWork, data: PlanData) -> dict[str, Any]:
    values = data.model_dump()
    records.check_refs(uow, values, _REFS)
    row = models.MaintenancePlan(**values)
    uow.session.add(row)
    uow.commit()
    return to_public(row)


def get(uow: UnitOfWork, ident: int) -> dict[str, Any]:
    return to_public(_load(uow, ident))


def update(
    uow: UnitOfWork, ident: int, changes: dict[str, Any], expected_version: int
) -> dict[str, Any]:
    """Apply a partial change made against ``expected_version`` (412 when the plan has moved
    on); the merged plan is checked whole (422 naming the fields)."""
    row = _load(uow, ident)
    if row.version != expected_version:
        raise VersionMismatch(row.version, "maintenance plan")
    merged = {name: getattr(row, name) for name in FIELDS} | changes
    try:
        data = PlanData.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput.of("the updated plan is not valid", exc) from None
    values = data.model_dump()
    records.check_refs(uow, values, _REFS)
    for name, value in values.items():
        setattr(row, name, value)
    row.version += 1
    uow.commit()
    return to_public(row)


_MADE = select(models.MaintenanceOccurrence.id).limit(1)


def delete(uow: UnitOfWork, ident: int, expected_version: int) -> None:
    """Delete a plan that has made nothing; one that has made orders is kept (409): its
    occurrences are the record of what it made."""
    row = _load(uow, ident)
    if row.version != expected_version:
        raise VersionMismatch(row.version, "maintenance plan")
    made = uow.session.scalar(_MADE.where(models.MaintenanceOccurrence.plan_id == ident))
    if made is not None:
        raise Conflict(
            f"maintenance plan {ident} has made orders: deactivate it (PATCH active false)",
            fields=["active"],
        )
    uow.session.delete(row)
    uow.commit()


def list_page(
    uow: UnitOfWork,
    *,
    cursor: str | None,
    limit: int,
    asset_id: int | None = None,
    asset_model: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """A page of plans by id, those of one asset, one model or one state if asked."""
    table = models.MaintenancePlan
    query = select(table).where(table.id > decode_cursor(cursor)).order_by(table.id).limit(limit)
    if asset_id is not None:
        query = query.where(table.asset_id == asset_id)
    if asset_model is not None:
        query = query.where(table.asset_model == asset_model)
    if active is not None:
        query = query.where(table.active.is_(active))
    rows = list(uow.session.scalars(query))
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return {"items": [to_public(r) for r in rows], "next_cursor": next_cursor}
