"""Work orders: intake, reads, edits, the lifecycle's transitions, checklist, attachments, audit.

Every change runs in one unit of work: check visibility and ``If-Match``, apply the
lifecycle table (``orchestrator.domain.lifecycle``), append a hash-chained audit event,
bump the order's version, commit. Audit payloads carry ids, codes and hashes only:
free text, positions and personal data live in their own rows.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, func, insert, select, tuple_

from mappings import canonical
from orchestrator.domain.audit import GENESIS, EventBody, canonical_json, sha256_hex, verify_chain
from orchestrator.domain.errors import (
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    ProofMissing,
    VersionMismatch,
    invalid,
)
from orchestrator.domain.lifecycle import (
    RELEASES_ASSIGNMENT,
    TERMINAL,
    Actor,
    ProofGiven,
    ProofRequirements,
    Role,
    State,
    allowed_targets,
    field_problems,
    missing_proof,
    parties,
    permitted,
)
from orchestrator.outbox.events import enqueue_closed
from orchestrator.reference import records as reference
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.pagination import decode_cursor, encode_cursor
from orchestrator.store.uow import UnitOfWork

CREATORS = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.INTEGRATION})
EDITORS = CREATORS
_TRACKING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L


def new_tracking_code() -> str:
    body = "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(10))
    return f"FB-{body[:5]}-{body[5:]}"


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateWorkOrder:
    data: canonical.WorkOrder
    actor: Actor


@dataclass(frozen=True)
class UpdateWorkOrder:
    work_order_id: int
    changes: Mapping[str, Any]
    actor: Actor
    expected_version: int


@dataclass(frozen=True)
class TransitionWorkOrder:
    work_order_id: int
    to: State
    fields: Mapping[str, Any]
    actor: Actor
    expected_version: int
    context: Mapping[str, Any] = field(default_factory=dict)
    """Ids that say why, recorded in the audit event (``schedule_run_id``)."""


@dataclass(frozen=True)
class UpdateChecklist:
    work_order_id: int
    checked: Mapping[str, bool]
    actor: Actor
    expected_version: int


@dataclass(frozen=True)
class AddAttachment:
    work_order_id: int
    kind: str
    sha256: str
    content_type: str
    size_bytes: int
    actor: Actor
    expected_version: int


@dataclass(frozen=True)
class SubmitServiceRequest:
    description: str
    actor: Actor | None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    address: str | None = None
    site_id: int | None = None
    customer_id: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# --- loading and visibility ---------------------------------------------------------------------

_ORDERS = models.table_of(models.WorkOrder)


def _visible(actor: Actor, wo: models.WorkOrder | Row[Any]) -> bool:
    if actor.role is Role.TECHNICIAN:
        return actor.technician_id is not None and wo.technician_id == actor.technician_id
    if actor.role is Role.REQUESTER:
        return wo.requester_subject is not None and wo.requester_subject == actor.subject
    return True


def _load(
    uow: UnitOfWork, ident: int, actor: Actor, *, for_update: bool = False
) -> models.WorkOrder:
    query = select(models.WorkOrder).where(models.WorkOrder.id == ident)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update(of=models.WorkOrder)
    wo = uow.session.scalars(query).one_or_none()
    if wo is None or not _visible(actor, wo):
        raise NotFound("work order", ident)
    return wo


def _check_version(wo: models.WorkOrder, expected: int) -> None:
    if wo.version != expected:
        raise VersionMismatch(wo.version)


def _site_zone(uow: UnitOfWork, wo: models.WorkOrder) -> str | None:
    site = wo.site  # joined in the order's own query
    if site is not None and site.id == wo.site_id:
        return site.time_zone
    return _zone_of(uow, wo.site_id)  # no site, or site_id changed in this unit of work


_SITE_ZONE = select(models.Site.time_zone).where(models.Site.id == bindparam("id"))


def _zone_of(uow: UnitOfWork, site_id: int | None) -> str | None:
    if site_id is None:
        return None
    zone: str | None = uow.connection().execute(_SITE_ZONE, {"id": site_id}).scalar()
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


def _local_window(wo: models.WorkOrder | Row[Any], zone_name: str | None) -> dict[str, Any] | None:
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
        "window_local": _local_window(wo, zone),
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
    }


def _commit(uow: UnitOfWork, wo: models.WorkOrder, actor: Actor) -> dict[str, Any]:
    """Build the answer inside the transaction, then commit: nothing reads after the commit,
    which on SQLite would open a new transaction holding the write lock until teardown."""
    uow.flush()
    out = to_public(wo, _site_zone(uow, wo), actor)
    uow.commit()
    return out


# --- audit ------------------------------------------------------------------------------------


_EVENTS = models.table_of(models.AuditEvent)
_INSERT_EVENT = insert(_EVENTS)
_LAST_EVENT = (
    select(_EVENTS.c.seq, _EVENTS.c.hash)
    .where(_EVENTS.c.work_order_id == bindparam("work_order_id"))
    .order_by(_EVENTS.c.seq.desc())
    .limit(1)
)


def _append_event(
    uow: UnitOfWork,
    wo: models.WorkOrder | Row[Any],
    actor: Actor,
    kind: str,
    payload: dict[str, Any],
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    at: datetime | None = None,
    first: bool = False,
) -> None:
    """Append the order's next event to its chain; ``first`` for a new order's first event."""
    conn = uow.connection()
    last = None if first else conn.execute(_LAST_EVENT, {"work_order_id": wo.id}).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload = json.loads(canonical_json(payload))  # store exactly what is hashed
    body = EventBody(
        work_order_id=wo.id,
        seq=seq,
        at=at or utcnow(),
        actor=actor.subject,
        role=str(actor.role),
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        payload=payload,
        prev_hash=prev,
    )
    conn.execute(_INSERT_EVENT, {**dataclasses.asdict(body), "hash": body.digest()})


def _note(uow: UnitOfWork, wo: models.WorkOrder, kind: str, text: str) -> dict[str, Any]:
    note = models.Note(work_order_id=wo.id, kind=kind, text=text, sha256=sha256_hex(text))
    uow.session.add(note)
    uow.session.flush()
    return {f"{kind}_note_id": note.id, f"{kind}_sha256": note.sha256}


def event_public(event: models.AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "role": event.role,
        "kind": event.kind,
        "from": event.from_state,
        "to": event.to_state,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def event_body(event: models.AuditEvent) -> EventBody:
    """The hashed fields of a stored event, as read back."""
    return EventBody(
        work_order_id=event.work_order_id,
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        role=event.role,
        kind=event.kind,
        from_state=event.from_state,
        to_state=event.to_state,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


def audit_trail(uow: UnitOfWork, ident: int, actor: Actor) -> dict[str, Any]:
    wo = _load(uow, ident, actor)
    events = uow.session.scalars(
        select(models.AuditEvent)
        .where(models.AuditEvent.work_order_id == wo.id)
        .order_by(models.AuditEvent.seq)
    )
    return {"work_order_id": wo.id, "events": [event_public(e) for e in events]}


def _events_in_chain_order(uow: UnitOfWork, batch: int) -> Iterator[models.AuditEvent]:
    """Every event by (order, seq), read page by page after the last key seen: no server-side
    cursor, so it works in any transaction mode and holds no more than a page in memory."""
    event = models.AuditEvent
    key = tuple_(event.work_order_id, event.seq)
    query = select(event).order_by(event.work_order_id, event.seq).limit(batch)
    after: tuple[int, int] | None = None
    while True:
        page = uow.session.scalars(query if after is None else query.where(key > after)).all()
        yield from page
        if len(page) < batch:
            return
        after = (page[-1].work_order_id, page[-1].seq)
        uow.session.expunge_all()


def verify_all(uow: UnitOfWork, batch: int = 2000) -> dict[str, Any]:
    """Walk every chain in order, ``batch`` events a query; report the first broken event."""
    chains = events = 0
    current: int | None = None
    pending: list[tuple[int, EventBody, str]] = []

    def flush() -> dict[str, Any] | None:
        broken = verify_chain(pending)
        if broken is None:
            return None
        return {
            "work_order_id": broken.work_order_id,
            "seq": broken.seq,
            "event_id": broken.event_id,
            "reason": broken.reason,
        }

    for event in _events_in_chain_order(uow, batch):
        if event.work_order_id != current:
            if pending and (first := flush()):
                return {"ok": False, "chains": chains, "events": events, "first_broken": first}
            pending, current, chains = [], event.work_order_id, chains + 1
        pending.append((event.id, event_body(event), event.hash))
        events += 1
    if pending and (first := flush()):
        return {"ok": False, "chains": chains, "events": events, "first_broken": first}
    return {"ok": True, "chains": chains, "events": events, "first_broken": None}


# --- intake -----------------------------------------------------------------------------------


_REFS: dict[str, type[models.Base]] = {
    "customer_id": models.Customer,
    "site_id": models.Site,
    "asset_id": models.Asset,
    "contact_id": models.Contact,
    "division_id": models.Division,
    "work_type_id": models.WorkType,
    "technician_id": models.Technician,
}


def _check_refs(uow: UnitOfWork, values: Mapping[str, Any]) -> None:
    reference.check_refs(uow, values, _REFS)


def _ref_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    """Ids and codes go into events as they are; free text only as its hash."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("summary", "description"):
            out[f"{name}_sha256"] = None if value is None else sha256_hex(value)
        else:
            out[name] = value
    return out


_INSERT_ORDER = insert(_ORDERS).returning(*_ORDERS.c)


def _new_order(uow: UnitOfWork, values: dict[str, Any], requester: str | None) -> Row[Any]:
    """Insert a ``new`` order; the row as stored."""
    now = utcnow()
    row = {
        "tracking_code": new_tracking_code(),
        "status": State.NEW.value,
        "requester_subject": requester,
        "checklist_state": {},
        "visits": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "status_changed_at": now,
        **values,
    }
    return uow.connection().execute(_INSERT_ORDER, row).one()


def create(uow: UnitOfWork, cmd: CreateWorkOrder) -> dict[str, Any]:
    if cmd.actor.role not in CREATORS:
        raise Forbidden(f"a {cmd.actor.role} may not create work orders")
    values = cmd.data.model_dump()
    _check_refs(uow, values)
    wo = _new_order(uow, values, requester=None)
    payload = _ref_payload(values)
    _append_event(uow, wo, cmd.actor, "created", payload, to_state=State.NEW.value, first=True)
    out = to_public(wo, _zone_of(uow, wo.site_id), cmd.actor)
    uow.commit()
    return out


def intake_from_system(
    uow: UnitOfWork,
    data: canonical.WorkOrder,
    actor: Actor,
    *,
    remote_stamp: datetime,
    remote_status: str | None,
) -> Row[Any]:
    """An order raised at a system of record (``data`` names it: ``source_system``,
    ``external_id``), taken in as ``new`` by the inbound sync, which has resolved its
    references; the audit event records where it came from. Not committed: the sync commits
    its page."""
    values = data.model_dump()
    extra = {"remote_stamp": remote_stamp, "remote_status": remote_status}
    wo = _new_order(uow, values | extra, requester=None)
    _append_event(
        uow, wo, actor, "created", _ref_payload(values), to_state=State.NEW.value, first=True
    )
    return wo


def apply_system_edits(
    uow: UnitOfWork,
    wo: Row[Any],
    actor: Actor,
    changes: Mapping[str, Any],
    *,
    remote_stamp: datetime,
    remote_status: str | None,
    ignored: Mapping[str, Any],
) -> None:
    """What a later version of an order at its system of record brings, by the ownership
    policy: ``changes`` to fields it owns are applied (the version bumped, an ``updated``
    event); ``ignored`` (a status edited there, a deletion there) goes into the audit trail
    as ``remote_change_ignored`` and changes nothing. The remote's stamp and status are kept
    either way. Not committed."""
    values = dict(changes) | {"remote_stamp": remote_stamp, "remote_status": remote_status}
    if changes:
        bump = {"version": _ORDERS.c.version + 1, "updated_at": utcnow()}
    else:  # only what the sync keeps of the remote: the order itself has not changed
        bump = {"updated_at": _ORDERS.c.updated_at}
    uow.connection().execute(_ORDERS.update().where(_ORDERS.c.id == wo.id).values(**values, **bump))
    if changes:
        _append_event(uow, wo, actor, "updated", _ref_payload(changes))
    if ignored:
        _append_event(uow, wo, actor, "remote_change_ignored", dict(ignored))


def submit_service_request(uow: UnitOfWork, cmd: SubmitServiceRequest) -> dict[str, Any]:
    """A customer's or citizen's report: a ``new`` order and a row with their contact details."""
    if cmd.actor is not None and cmd.actor.role not in (Role.REQUESTER, *CREATORS):
        raise Forbidden(f"a {cmd.actor.role} may not submit service requests")
    _check_refs(uow, {"site_id": cmd.site_id, "customer_id": cmd.customer_id})
    requester = cmd.actor.subject if cmd.actor is not None else None
    summary = " ".join(cmd.description.split())[:120]
    wo = _new_order(
        uow,
        {
            "summary": summary,
            "description": cmd.description,
            "site_id": cmd.site_id,
            "customer_id": cmd.customer_id,
        },
        requester=requester,
    )
    request = models.ServiceRequest(
        tracking_code=wo.tracking_code,
        work_order_id=wo.id,
        requester_subject=requester,
        contact_name=cmd.contact_name,
        contact_phone=cmd.contact_phone,
        contact_email=cmd.contact_email,
        description=cmd.description,
        address=cmd.address,
    )
    uow.session.add(request)
    uow.session.flush()
    actor = cmd.actor or Actor(subject="public", role=Role.REQUESTER)
    _append_event(
        uow,
        wo,
        actor,
        "created",
        {
            "service_request_id": request.id,
            "site_id": cmd.site_id,
            "customer_id": cmd.customer_id,
            "description_sha256": sha256_hex(cmd.description),
        },
        to_state=State.NEW.value,
        first=True,
    )
    uow.commit()
    out: dict[str, Any] = {
        "tracking_code": wo.tracking_code,
        "status": wo.status,
        "status_url": f"/status/{wo.tracking_code}",
    }
    if cmd.actor is not None:
        out["work_order_id"] = wo.id
    return out


# --- reads ------------------------------------------------------------------------------------


_READ = select(_ORDERS, models.Site.time_zone.label("site_time_zone")).outerjoin(
    models.Site, models.Site.id == _ORDERS.c.site_id
)
"""Orders with their site's time zone, as plain rows: reads need no ORM objects."""
_READ_ONE = _READ.where(_ORDERS.c.id == bindparam("id"))


def get(uow: UnitOfWork, ident: int, actor: Actor) -> dict[str, Any]:
    row = uow.connection().execute(_READ_ONE, {"id": ident}).first()
    if row is None or not _visible(actor, row):
        raise NotFound("work order", ident)
    return to_public(row, row.site_time_zone, actor)


@dataclass(frozen=True)
class WorkOrderFilter:
    status: tuple[str, ...] = ()
    priority: int | None = None
    technician_id: int | None = None
    division_id: int | None = None
    customer_id: int | None = None
    territory_id: int | None = None


def list_page(
    uow: UnitOfWork, actor: Actor, flt: WorkOrderFilter, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    wo = _ORDERS.c
    query = _READ.where(wo.id > decode_cursor(cursor)).order_by(wo.id).limit(limit)
    unknown = [s for s in flt.status if s not in State.__members__.values()]
    if unknown:
        raise invalid("status", f"unknown state {unknown[0]!r}")
    if flt.status:
        query = query.where(wo.status.in_(flt.status))
    for column, value in (
        (wo.priority, flt.priority),
        (wo.technician_id, flt.technician_id),
        (wo.division_id, flt.division_id),
        (wo.customer_id, flt.customer_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.territory_id is not None:
        query = query.where(models.Site.territory_id == flt.territory_id)
    if actor.role is Role.TECHNICIAN:
        query = query.where(wo.technician_id == actor.technician_id)
    elif actor.role is Role.REQUESTER:
        query = query.where(wo.requester_subject == actor.subject)
    rows = uow.connection().execute(query).all()
    return {
        "items": [to_public(r, r.site_time_zone, actor) for r in rows],
        "next_cursor": encode_cursor(rows[-1].id) if len(rows) == limit else None,
    }


# --- edits ------------------------------------------------------------------------------------

PATCHABLE = frozenset(
    {"summary", "description", "customer_id", "site_id", "asset_id", "contact_id", "priority"}
    | {"division_id", "work_type_id"}
)


def update(uow: UnitOfWork, cmd: UpdateWorkOrder) -> dict[str, Any]:
    if cmd.actor.role not in EDITORS:
        _load(uow, cmd.work_order_id, cmd.actor)  # 404 before 403 for what they cannot see
        raise Forbidden(f"a {cmd.actor.role} may not edit work orders")
    wo = _load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    _check_version(wo, cmd.expected_version)
    if State(wo.status) in TERMINAL:
        raise IllegalTransition(wo.status, wo.status, [])
    changes = {k: v for k, v in cmd.changes.items() if getattr(wo, k) != v}
    _check_refs(uow, changes)
    for name, value in changes.items():
        setattr(wo, name, value)
    if changes:
        wo.version += 1
        _append_event(uow, wo, cmd.actor, "updated", _ref_payload(changes))
        return _commit(uow, wo, cmd.actor)
    return to_public(wo, _site_zone(uow, wo), cmd.actor)


def _technician_fits(uow: UnitOfWork, wo: models.WorkOrder, tech_id: int, start: datetime) -> None:
    """A manually chosen technician must hold the work type's skills and certifications that day."""
    if wo.work_type_id is None:
        return
    work_type = uow.session.get(models.WorkType, wo.work_type_id)
    row = uow.session.get(models.Technician, tech_id)
    if work_type is None or row is None:
        return
    tech = reference.technician_for_dispatch(row)
    day: date = start.astimezone(ZoneInfo(tech.time_zone)).date()
    lacking = [s for s in work_type.required_skills if s not in tech.skills]
    if lacking:
        raise invalid("technician_id", f"technician {tech_id} lacks skill {lacking[0]}")
    for code in work_type.required_certifications:
        if not tech.certified_on(code, day):
            raise invalid(
                "technician_id",
                f"technician {tech_id} holds no certification {code} valid on {day.isoformat()}",
            )


def transition(uow: UnitOfWork, cmd: TransitionWorkOrder) -> dict[str, Any]:
    wo = _load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    _check_version(wo, cmd.expected_version)
    source, target = State(wo.status), cmd.to
    who = parties(
        cmd.actor, assigned_technician_id=wo.technician_id, requester=wo.requester_subject
    )
    rule = permitted(source, target, who)
    if rule is None:
        raise IllegalTransition(source, target, [str(s) for s in allowed_targets(source, who)])
    given = {k: v for k, v in cmd.fields.items() if v is not None}
    problems = field_problems(rule, given)
    if problems:
        raise InvalidInput(f"fields for {source} -> {target}", problems)

    now = utcnow()
    payload: dict[str, Any] = dict(cmd.context)
    if "reason" in given:
        payload |= _note(uow, wo, "reason", given["reason"])

    if target is State.TRIAGED and source is State.NEW:
        if given["priority"] not in range(1, 6):
            raise invalid("priority", "1 (highest) to 5")
        _check_refs(uow, {k: given[k] for k in ("division_id", "work_type_id")})
        wo.priority, wo.division_id = given["priority"], given["division_id"]
        wo.work_type_id = given["work_type_id"]
        payload |= {k: given[k] for k in ("priority", "division_id", "work_type_id")}
    elif target is State.SCHEDULED and source in (State.TRIAGED, State.SCHEDULED):
        payload |= _schedule(uow, wo, given, replan=source is State.SCHEDULED)
    elif (source, target) in RELEASES_ASSIGNMENT:
        payload["released_technician_id"] = wo.technician_id
        wo.technician_id, wo.window_start, wo.window_end = None, None, None
    elif target is State.IN_PROGRESS:
        if source is State.DISPATCHED:
            wo.visits += 1
            wo.first_checked_in_at = wo.first_checked_in_at or now
            wo.last_checked_in_at = now
        payload["visit"] = wo.visits
        if "position" in given:
            payload |= _position(uow, wo, given["position"], now)
    elif target is State.COMPLETED:
        missing = _missing_proof(uow, wo)
        if missing:
            raise ProofMissing(missing)
        wo.completed_at = now
        payload |= {"visits": wo.visits, "checked": sorted(_checked(wo))}
    elif target is State.CLOSED:
        wo.closed_at = now
        payload |= {"visits": wo.visits, "first_time_fix": wo.visits == 1}

    wo.status = target.value
    wo.status_changed_at = now
    wo.version += 1
    if target is State.CLOSED:  # what closing owes the remotes, in this very transaction
        payload["outbox"] = enqueue_closed(uow, wo, now)
    _append_event(
        uow, wo, cmd.actor, "transition", payload, from_state=source, to_state=target, at=now
    )
    return _commit(uow, wo, cmd.actor)


def _schedule(
    uow: UnitOfWork, wo: models.WorkOrder, given: Mapping[str, Any], *, replan: bool
) -> dict[str, Any]:
    zone = _site_zone(uow, wo)
    start = (
        localize(given["window_start"], zone, "window_start") if "window_start" in given else None
    )
    end = localize(given["window_end"], zone, "window_end") if "window_end" in given else None
    tech_id = given.get("technician_id")
    if replan:
        if (
            (tech_id in (None, wo.technician_id))
            and start in (None, wo.window_start)
            and end
            in (
                None,
                wo.window_end,
            )
        ):
            raise invalid("technician_id", "a re-plan needs another technician or window")
        tech_id = wo.technician_id if tech_id is None else tech_id
        start = wo.window_start if start is None else start
        end = wo.window_end if end is None else end
    assert tech_id is not None and start is not None and end is not None
    if end <= start:
        raise invalid("window_end", "the window must end after it starts")
    _check_refs(uow, {"technician_id": tech_id})
    _technician_fits(uow, wo, tech_id, start)
    previous = wo.technician_id
    wo.technician_id, wo.window_start, wo.window_end = tech_id, start, end
    payload: dict[str, Any] = {
        "technician_id": tech_id,
        "window_start": start,
        "window_end": end,
    }
    if replan:
        payload["previous_technician_id"] = previous
    return payload


def _position(
    uow: UnitOfWork, wo: models.WorkOrder, position: Mapping[str, float], at: datetime
) -> dict[str, Any]:
    lat, lon = float(position["lat"]), float(position["lon"])
    digest = sha256_hex(canonical_json({"lat": lat, "lon": lon, "at": at}))
    row = models.Position(
        work_order_id=wo.id, latitude=lat, longitude=lon, sha256=digest, recorded_at=at
    )
    uow.session.add(row)
    uow.session.flush()
    return {"position_id": row.id, "position_sha256": digest}


def _checked(wo: models.WorkOrder) -> set[str]:
    return {code for code, done in wo.checklist_state.items() if done}


def _missing_proof(uow: UnitOfWork, wo: models.WorkOrder) -> list[dict[str, Any]]:
    work_type = uow.session.get(models.WorkType, wo.work_type_id) if wo.work_type_id else None
    if work_type is None:
        return []
    counts = dict(
        uow.session.execute(
            select(models.Attachment.kind, func.count())
            .where(models.Attachment.work_order_id == wo.id)
            .group_by(models.Attachment.kind)
        ).all()
    )
    required = ProofRequirements(
        checklist_required=tuple(i["code"] for i in work_type.checklist if i.get("required", True)),
        min_photos=work_type.min_photos,
        signature_required=work_type.signature_required,
    )
    given = ProofGiven(
        checked=frozenset(_checked(wo)),
        photos=int(counts.get("photo", 0)),
        signatures=int(counts.get("signature", 0)),
    )
    return missing_proof(required, given)


# --- documentation: checklist and attachments ----------------------------------------------------

DOCUMENTING_STATES = frozenset({State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD})


def _check_documenter(wo: models.WorkOrder, actor: Actor) -> None:
    state = State(wo.status)
    if actor.role is Role.TECHNICIAN:
        if state not in DOCUMENTING_STATES:
            raise IllegalTransition(state, state, [])
        return
    if actor.role not in (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(f"a {actor.role} may not document work")
    if state in TERMINAL or state is State.COMPLETED:
        raise IllegalTransition(state, state, [])


def update_checklist(uow: UnitOfWork, cmd: UpdateChecklist) -> dict[str, Any]:
    wo = _load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    _check_version(wo, cmd.expected_version)
    _check_documenter(wo, cmd.actor)
    work_type = uow.session.get(models.WorkType, wo.work_type_id) if wo.work_type_id else None
    if work_type is None:
        raise invalid("items", "the order has no work type, so no checklist")
    known = {item["code"] for item in work_type.checklist}
    unknown = sorted(set(cmd.checked) - known)
    if unknown:
        raise InvalidInput(
            "unknown checklist items",
            [
                {"field": f"items.{c}", "reason": "not on this work type's checklist"}
                for c in unknown
            ],
        )
    wo.checklist_state = {code: bool(cmd.checked.get(code, False)) for code in sorted(known)}
    wo.version += 1
    _append_event(uow, wo, cmd.actor, "checklist_updated", {"checked": sorted(_checked(wo))})
    return _commit(uow, wo, cmd.actor)


def prepare_attachment(uow: UnitOfWork, work_order_id: int, actor: Actor, version: int) -> None:
    """Refuse early (visibility, version, state) before the upload is stored."""
    wo = _load(uow, work_order_id, actor)
    _check_version(wo, version)
    _check_documenter(wo, actor)


def add_attachment(uow: UnitOfWork, cmd: AddAttachment) -> dict[str, Any]:
    wo = _load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    _check_version(wo, cmd.expected_version)
    _check_documenter(wo, cmd.actor)
    row = models.Attachment(
        work_order_id=wo.id,
        kind=cmd.kind,
        sha256=cmd.sha256,
        content_type=cmd.content_type,
        size_bytes=cmd.size_bytes,
    )
    uow.session.add(row)
    uow.session.flush()
    wo.version += 1
    _append_event(
        uow,
        wo,
        cmd.actor,
        "attachment_added",
        {
            "attachment_id": row.id,
            "kind": cmd.kind,
            "sha256": cmd.sha256,
            "content_type": cmd.content_type,
            "size_bytes": cmd.size_bytes,
        },
    )
    uow.flush()
    out = {**attachment_public(row), "work_order_version": wo.version}
    uow.commit()
    return out


def attachment_public(row: models.Attachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "work_order_id": row.work_order_id,
        "kind": row.kind,
        "sha256": row.sha256,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "created_at": row.created_at,
    }


def list_attachments(uow: UnitOfWork, ident: int, actor: Actor) -> list[dict[str, Any]]:
    wo = _load(uow, ident, actor)
    rows = uow.session.scalars(
        select(models.Attachment)
        .where(models.Attachment.work_order_id == wo.id)
        .order_by(models.Attachment.id)
    )
    return [attachment_public(r) for r in rows]


def get_attachment(uow: UnitOfWork, ident: int, attachment_id: int, actor: Actor) -> dict[str, Any]:
    wo = _load(uow, ident, actor)
    row = uow.session.get(models.Attachment, attachment_id)
    if row is None or row.work_order_id != wo.id:
        raise NotFound("attachment", attachment_id)
    return attachment_public(row)


# --- the public status page ---------------------------------------------------------------------

PUBLIC_STATUS = {
    State.NEW: "Received",
    State.TRIAGED: "Being planned",
    State.SCHEDULED: "Appointment booked",
    State.DISPATCHED: "Technician assigned for the day",
    State.IN_PROGRESS: "Technician on site",
    State.ON_HOLD: "Paused",
    State.COMPLETED: "Work completed, under review",
    State.CANNOT_COMPLETE: "Another visit needed",
    State.CLOSED: "Closed",
    State.CANCELLED: "Cancelled",
}


def public_status(uow: UnitOfWork, tracking_code: str) -> dict[str, Any]:
    """What anyone holding the tracking code may see: never names, phone numbers or notes."""
    wo = uow.session.scalars(
        select(models.WorkOrder).where(models.WorkOrder.tracking_code == tracking_code)
    ).one_or_none()
    if wo is None:
        raise NotFound("tracking code", tracking_code)
    state = State(wo.status)
    return {
        "tracking_code": wo.tracking_code,
        "status": wo.status,
        "status_label": PUBLIC_STATUS[state],
        "appointment_window": _local_window(wo, _site_zone(uow, wo)),
        "last_update": wo.status_changed_at,
    }
