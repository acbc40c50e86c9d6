"""One work order as stored and as shown: loaded for a caller who may see it (a technician
only their own, a requester only theirs), its version checked against ``If-Match``, its
site's time zone, a time given without an offset read as wall-clock time there, and the
order as the API shows it. Shared by the commands, the queries and the attachments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, select

from orchestrator.domain.errors import (
    Forbidden,
    IllegalTransition,
    NotFound,
    VersionMismatch,
    invalid,
)
from orchestrator.domain.lifecycle import (
    TERMINAL,
    Actor,
    Role,
    State,
    allowed_targets,
    parties,
)
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork

ORDERS = models.table_of(models.WorkOrder)


def visible(actor: Actor, wo: models.WorkOrder | Row[Any]) -> bool:
    if actor.role is Role.TECHNICIAN:
        return actor.technician_id is not None and wo.technician_id == actor.technician_id
    if actor.role is Role.REQUESTER:
        return wo.requester_subject is not None and wo.requester_subject == actor.subject
    return True


def load(
    uow: UnitOfWork, ident: int, actor: Actor, *, for_update: bool = False
) -> models.WorkOrder:
    query = select(models.WorkOrder).where(models.WorkOrder.id == ident)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update(of=models.WorkOrder)
    wo = uow.session.scalars(query).one_or_none()
    if wo is None or not visible(actor, wo):
        raise NotFound("work order", ident)
    return wo


def check_version(wo: models.WorkOrder, expected: int) -> None:
    if wo.version != expected:
        raise VersionMismatch(wo.version)


def site_zone(uow: UnitOfWork, wo: models.WorkOrder) -> str | None:
    site = wo.site  # joined in the order's own query
    if site is not None and site.id == wo.site_id:
        return site.time_zone
    return zone_of(uow, wo.site_id)  # no site, or site_id changed in this unit of work


SITE_ZONE = select(models.Site.time_zone).where(models.Site.id == bindparam("id"))


def zone_of(uow: UnitOfWork, site_id: int | None) -> str | None:
    if site_id is None:
        return None
    zone: str | None = uow.connection().execute(SITE_ZONE, {"id": site_id}).scalar()
    return zone


def localize(value: datetime, zone_name: str | None, field_name: str) -> datetime:
    """An aware time as UTC; a naive one as wall-clock time at the site (gaps and folds refused)."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if zone_name is None:
        raise invalid(field_name, "give an offset: the order has no site whose time zone applies")
    zone = ZoneInfo(zone_name)
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise invalid(field_name, f"{value.isoformat()} does not exist in {zone_name} (DST gap)")
    if early.utcoffset() != late.utcoffset():
        raise invalid(
            field_name,
            f"{value.isoformat()} happens twice in {zone_name} (DST fold): give an offset",
        )
    return early.astimezone(UTC)


def local_window(wo: models.WorkOrder | Row[Any], zone_name: str | None) -> dict[str, Any] | None:
    if wo.window_start is None or wo.window_end is None or zone_name is None:
        return None
    zone = ZoneInfo(zone_name)
    return {
        "start": wo.window_start.astimezone(zone).isoformat(),
        "end": wo.window_end.astimezone(zone).isoformat(),
        "time_zone": zone_name,
    }


def to_public(wo: models.WorkOrder | Row[Any], zone: str | None, actor: Actor) -> dict[str, Any]:
    """The order as its API shows it: from the ORM object or from a row of ``_READ``.

    ``zone`` is the site's time zone, in which the appointment window is also shown.
    """
    who = parties(actor, assigned_technician_id=wo.technician_id, requester=wo.requester_subject)
    state = State(wo.status)
    return {
        "id": wo.id,
        "tracking_code": wo.tracking_code,
        "status": wo.status,
        "priority": wo.priority,
        "summary": wo.summary,
        "description": wo.description,
        "customer_id": wo.customer_id,
        "site_id": wo.site_id,
        "asset_id": wo.asset_id,
        "contact_id": wo.contact_id,
        "division_id": wo.division_id,
        "work_type_id": wo.work_type_id,
        "technician_id": wo.technician_id,
        "window_start": wo.window_start,
        "window_end": wo.window_end,
        "window_local": local_window(wo, zone),
        "checklist": dict(wo.checklist_state),
        "visits": wo.visits,
        "first_time_fix": (wo.visits == 1) if state is State.CLOSED else None,
        "source_system": wo.source_system,
        "external_id": wo.external_id,
        "allowed_transitions": [str(s) for s in allowed_targets(state, who)],
        "version": wo.version,
        "created_at": wo.created_at,
        "updated_at": wo.updated_at,
        "status_changed_at": wo.status_changed_at,
        "completed_at": wo.completed_at,
        "closed_at": wo.closed_at,
        "needs_attention": wo.needs_attention,
        "attention_reason": wo.attention_reason,
    }


def commit_shown(uow: UnitOfWork, wo: models.WorkOrder, actor: Actor) -> dict[str, Any]:
    """Build the answer inside the transaction, then commit: nothing reads after the commit,
    which on SQLite would open a new transaction holding the write lock until teardown."""
    uow.flush()
    out = to_public(wo, site_zone(uow, wo), actor)
    uow.commit()
    return out


DOCUMENTING_STATES = frozenset({State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD})


def check_documenter(wo: models.WorkOrder, actor: Actor) -> None:
    """Whether ``actor`` may document the order now: a technician while it is dispatched, in
    progress or on hold; the office until it is completed."""
    state = State(wo.status)
    if actor.role is Role.TECHNICIAN:
        if state not in DOCUMENTING_STATES:
            raise IllegalTransition(state, state, [])
        return
    if actor.role not in (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(f"a {actor.role} may not document work")
    if state in TERMINAL or state is State.COMPLETED:
        raise IllegalTransition(state, state, [])
