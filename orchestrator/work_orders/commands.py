"""Work-order commands: intake (typed in, a service request, an order raised at a system of
record), edits, the lifecycle's transitions and the checklist.

Every change runs in one unit of work: check visibility and ``If-Match``, apply the
lifecycle table (``orchestrator.domain.lifecycle``), append a hash-chained audit event,
bump the order's version, commit. Closing an order writes what it owes the remotes into the
outbox in that same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from mappings import canonical
from orchestrator.domain.audit import canonical_json, sha256_hex
from orchestrator.domain.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    ProofMissing,
    invalid,
)
from orchestrator.domain.lifecycle import (
    RELEASES_ASSIGNMENT,
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
from orchestrator.reference import records
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import edits
from orchestrator.work_orders.audit_trail import append_event
from orchestrator.work_orders.order import (
    ORDERS,
    check_documenter,
    check_version,
    commit_shown,
    load,
    localize,
    site_zone,
    to_public,
    zone_of,
)

CREATORS = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.INTEGRATION})
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
class SubmitServiceRequest:
    """A customer's or citizen's report. ``actor`` None is an anonymous caller: it gives an
    address or the ``site_code`` a site publishes, never an id (``site_id``, ``customer_id``):
    the answer would tell which ids exist, and anyone could file against any site."""

    description: str
    actor: Actor | None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    address: str | None = None
    site_id: int | None = None
    customer_id: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    site_code: str | None = None


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
    records.check_refs(uow, values, _REFS)


def _ref_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    """Ids and codes go into events as they are; free text only as its hash."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("summary", "description"):
            out[f"{name}_sha256"] = None if value is None else sha256_hex(value)
        else:
            out[name] = value
    return out


_INSERT_ORDER = insert(ORDERS).returning(*ORDERS.c)


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
    try:
        wo = _new_order(uow, values, requester=None)
    except IntegrityError as exc:  # the transaction is rolled back as the error leaves
        said = str(exc.orig).lower()  # the key, or its constraint's name (PostgreSQL)
        if "external_id" not in said and "source_system" not in said:
            raise
        raise Conflict(
            "a work order with this source_system and external_id already exists",
            fields=["source_system", "external_id"],
        ) from None
    payload = _ref_payload(values)
    append_event(uow, wo, cmd.actor, "created", payload, to_state=State.NEW.value, first=True)
    # the site's time zone shows only the appointment window: none given, no read for it
    windowed = wo.window_start is not None and wo.window_end is not None
    out = to_public(wo, zone_of(uow, wo.site_id) if windowed else None, cmd.actor)
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
    append_event(
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
        bump = {"version": ORDERS.c.version + 1, "updated_at": utcnow()}
    else:  # only what the sync keeps of the remote: the order itself has not changed
        bump = {"updated_at": ORDERS.c.updated_at}
    uow.connection().execute(ORDERS.update().where(ORDERS.c.id == wo.id).values(**values, **bump))
    if changes:
        append_event(uow, wo, actor, "updated", _ref_payload(changes))
    if ignored:
        append_event(uow, wo, actor, "remote_change_ignored", dict(ignored))


ANONYMOUS_REFUSED = ("site_id", "customer_id")
"""What an anonymous service request may not name: whether it exists is no one's business."""


def _request_refs(uow: UnitOfWork, cmd: SubmitServiceRequest) -> dict[str, int | None]:
    """The site and customer a service request is about: the ids the office names, or the
    site whose published code it gives (and that site's customer). An outsider (anonymous,
    or a requester's token) naming an id is refused the same whether the id exists or not."""
    if cmd.actor is None or cmd.actor.role is Role.REQUESTER:
        named = [name for name in ANONYMOUS_REFUSED if getattr(cmd, name) is not None]
        if named:
            reason = "a public request may not name ids: give the address or the site's code"
            raise InvalidInput(reason, [{"field": name, "reason": reason} for name in named])
    if cmd.site_code is not None and cmd.site_id is not None:
        raise invalid("site_code", "give site_id or site_code, not both")
    refs = {"site_id": cmd.site_id, "customer_id": cmd.customer_id}
    _check_refs(uow, refs)
    if cmd.site_code is not None:
        site = records.site_by_code(uow, cmd.site_code)
        if site is None:
            raise invalid("site_code", "no site has this code")
        refs["site_id"] = site[0]
        refs["customer_id"] = cmd.customer_id if cmd.customer_id is not None else site[1]
    return refs


def submit_service_request(uow: UnitOfWork, cmd: SubmitServiceRequest) -> dict[str, Any]:
    """A customer's or citizen's report: a ``new`` order and a row with their contact details."""
    if cmd.actor is not None and cmd.actor.role not in (Role.REQUESTER, *CREATORS):
        raise Forbidden(f"a {cmd.actor.role} may not submit service requests")
    refs = _request_refs(uow, cmd)
    requester = cmd.actor.subject if cmd.actor is not None else None
    summary = " ".join(cmd.description.split())[:120]
    wo = _new_order(
        uow, {"summary": summary, "description": cmd.description, **refs}, requester=requester
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
    append_event(
        uow,
        wo,
        actor,
        "created",
        {
            "service_request_id": request.id,
            **refs,
            "site_code": cmd.site_code,
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


PATCHABLE = frozenset(edits.EDIT_RULES)
"""What an edit may name: the fields of the edit table (``edits.py``), each by its own rule."""


def update(uow: UnitOfWork, cmd: UpdateWorkOrder) -> dict[str, Any]:
    """An edit (PATCH), held to the edit table (``edits.check_edit``: roles, states, fields
    never emptied again), the order as it would be then validated whole, its references
    checked, and the checks of the state it is in run again on it: an edit is no way around
    what a transition checked."""
    if cmd.actor.role not in edits.EDITORS:
        load(uow, cmd.work_order_id, cmd.actor)  # 404 before 403 for what they cannot see
        raise Forbidden(f"a {cmd.actor.role} may not edit work orders")
    wo = load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    check_version(wo, cmd.expected_version)
    changes = {
        k: v for k, v in cmd.changes.items() if k not in PATCHABLE or getattr(wo, k) != v
    }  # an unknown name stays in, for the edit table to refuse by name
    edits.check_edit(cmd.actor.role, State(wo.status), changes)
    if not changes:
        return to_public(wo, site_zone(uow, wo), cmd.actor)
    edits.check_merged(wo, changes)
    _check_refs(uow, changes)
    for name, value in changes.items():
        setattr(wo, name, value)
    _recheck_state(uow, wo)
    wo.version += 1
    append_event(uow, wo, cmd.actor, "updated", _ref_payload(changes))
    return commit_shown(uow, wo, cmd.actor)


def _recheck_state(uow: UnitOfWork, wo: models.WorkOrder) -> None:
    """What moving the order into its state checked, checked again on the edited order. Only
    scheduling checks what an edit can change (the work type against the technician on the
    window's day); from dispatch on the work type is fixed by the edit table."""
    tech_id, start = wo.technician_id, wo.window_start
    if State(wo.status) is State.SCHEDULED and tech_id is not None and start is not None:
        _technician_fits(uow, wo, tech_id, start)


def _settle_attention(wo: models.WorkOrder, payload: dict[str, Any]) -> None:
    """The office planned the order again (or let its assignment go): what made its plan
    doubtful (``needs_attention``) is answered, and the event says what it was."""
    if wo.needs_attention:
        payload["attention_settled"] = wo.attention_reason
        wo.needs_attention, wo.attention_reason = False, None


def _technician_fits(uow: UnitOfWork, wo: models.WorkOrder, tech_id: int, start: datetime) -> None:
    """A manually chosen technician must be dispatchable (active, home and zone filled in),
    available that day, and hold the work type's skills and certifications that day."""
    row = uow.session.get(models.Technician, tech_id)
    if row is None:
        return
    tech = records.technician_for_dispatch(row)
    day: date = start.astimezone(ZoneInfo(tech.time_zone)).date()
    away = records.unavailable_on(row.unavailable, day)
    if away is not None:
        why = f" ({away['why']})" if away.get("why") else ""
        raise invalid("technician_id", f"technician {tech_id} is unavailable on {day}{why}")
    if wo.work_type_id is None:
        return
    work_type = uow.session.get(models.WorkType, wo.work_type_id)
    if work_type is None:
        return
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
    wo = load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    check_version(wo, cmd.expected_version)
    move(uow, wo, cmd.to, cmd.fields, cmd.actor, cmd.context)
    return commit_shown(uow, wo, cmd.actor)


def move(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    target: State,
    fields: Mapping[str, Any],
    actor: Actor,
    context: Mapping[str, Any],
) -> None:
    """Move the loaded order to ``target`` by the lifecycle table, judged on its current
    state: the fields the move needs, what it sets, its audit event (``context`` recorded in
    it). Not committed: a transition commits it, a device's op (``orchestrator.field.ops``)
    commits its batch."""
    source = State(wo.status)
    who = parties(actor, assigned_technician_id=wo.technician_id, requester=wo.requester_subject)
    rule = permitted(source, target, who)
    if rule is None:
        raise IllegalTransition(source, target, [str(s) for s in allowed_targets(source, who)])
    given = {k: v for k, v in fields.items() if v is not None}
    problems = field_problems(rule, given)
    if problems:
        raise InvalidInput(f"fields for {source} -> {target}", problems)

    now = utcnow()
    payload: dict[str, Any] = dict(context)
    if "reason" in given:
        payload |= note(uow, wo, actor, "reason", given["reason"], state=target, at=now)

    if target is State.TRIAGED and source is State.NEW:
        if given["priority"] not in range(1, 6):
            raise invalid("priority", "1 (highest) to 5")
        _check_refs(uow, {k: given[k] for k in ("division_id", "work_type_id")})
        wo.priority, wo.division_id = given["priority"], given["division_id"]
        wo.work_type_id = given["work_type_id"]
        payload |= {k: given[k] for k in ("priority", "division_id", "work_type_id")}
    elif target is State.SCHEDULED and source in (State.TRIAGED, State.SCHEDULED):
        payload |= _schedule(uow, wo, given, replan=source is State.SCHEDULED)
        _settle_attention(wo, payload)
    elif (source, target) in RELEASES_ASSIGNMENT:
        payload["released_technician_id"] = wo.technician_id
        wo.technician_id, wo.window_start, wo.window_end = None, None, None
        _settle_attention(wo, payload)
    elif target is State.IN_PROGRESS:
        if source is State.DISPATCHED:
            wo.visits += 1
            wo.first_checked_in_at = wo.first_checked_in_at or now
            wo.last_checked_in_at = now
        payload["visit"] = wo.visits
        if "position" in given:
            payload |= _position(uow, wo, given["position"], now)
    elif target is State.COMPLETED:
        payload |= _complete(uow, wo, given, actor, now)
    elif target is State.CLOSED:
        wo.closed_at = now
        payload |= {"visits": wo.visits, "first_time_fix": wo.visits == 1}

    wo.status = target.value
    wo.status_changed_at = now
    wo.version += 1
    if target is State.CLOSED:  # what closing owes the remotes, in this very transaction
        payload["outbox"] = enqueue_closed(uow, wo, now)
    append_event(uow, wo, actor, "transition", payload, from_state=source, to_state=target, at=now)


def _complete(
    uow: UnitOfWork, wo: models.WorkOrder, given: Mapping[str, Any], actor: Actor, now: datetime
) -> dict[str, Any]:
    """Completion: the work type's proof present, its resolution code named when it lists
    any (one of them), the technician's account kept as a ``completion`` note."""
    work_type = uow.session.get(models.WorkType, wo.work_type_id) if wo.work_type_id else None
    missing = _missing_proof(uow, wo, work_type)
    if missing:
        raise ProofMissing(missing)
    codes = list(work_type.resolution_codes) if work_type is not None else []
    code = given.get("resolution_code")
    if codes and code is None:
        raise invalid("resolution_code", f"required: one of {', '.join(codes)}")
    if code is not None and code not in codes:
        listed = f"one of {', '.join(codes)}" if codes else "none: the work type lists no codes"
        raise invalid("resolution_code", f"not a resolution code of this work type ({listed})")
    wo.completed_at = now
    wo.resolution_code = code
    payload: dict[str, Any] = {"visits": wo.visits, "checked": sorted(_checked(wo))}
    if code is not None:
        payload["resolution_code"] = code
    if "resolution_note" in given:
        text = given["resolution_note"]
        payload |= note(uow, wo, actor, "completion", text, state=State.COMPLETED, at=now)
    return payload


def _schedule(
    uow: UnitOfWork, wo: models.WorkOrder, given: Mapping[str, Any], *, replan: bool
) -> dict[str, Any]:
    zone = site_zone(uow, wo)
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
    if tech_id is None or start is None or end is None:  # the lifecycle's fields require them
        raise invalid("technician_id", "scheduling needs technician_id, window_start, window_end")
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


def _missing_proof(
    uow: UnitOfWork, wo: models.WorkOrder, work_type: models.WorkType | None
) -> list[dict[str, Any]]:
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


def note(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    actor: Actor,
    kind: str,
    text: str,
    *,
    state: State | None = None,
    at: datetime | None = None,
    op_id: str | None = None,
) -> dict[str, Any]:
    """Store a note on the order (``models.Note``: ``reason`` with the ``state`` its move went
    to, ``completion``, or ``note``); what its event records of it: its id and hash."""
    row = models.Note(
        work_order_id=wo.id,
        kind=kind,
        text=text,
        sha256=sha256_hex(text),
        state=None if state is None else state.value,
        author=actor.subject,
        author_role=str(actor.role),
        at=at or utcnow(),
        op_id=op_id,
    )
    uow.session.add(row)
    uow.session.flush()
    return {f"{kind}_note_id": row.id, f"{kind}_sha256": row.sha256}


def update_checklist(uow: UnitOfWork, cmd: UpdateChecklist) -> dict[str, Any]:
    wo = load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    check_version(wo, cmd.expected_version)
    check_documenter(wo, cmd.actor)
    tick(uow, wo, cmd.checked, cmd.actor)
    return commit_shown(uow, wo, cmd.actor)


def tick(
    uow: UnitOfWork,
    wo: models.WorkOrder,
    checked: Mapping[str, bool],
    actor: Actor,
    *,
    merge: bool = False,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Set the order's checklist: every item of its work type, ``checked`` as given (an item
    not named unticked), or with ``merge`` only the items named (a device's ticks: each a
    fact of its own). Items the work type does not list are refused by name. Not committed."""
    work_type = uow.session.get(models.WorkType, wo.work_type_id) if wo.work_type_id else None
    if work_type is None:
        raise invalid("items", "the order has no work type, so no checklist")
    known = {item["code"] for item in work_type.checklist}
    unknown = sorted(set(checked) - known)
    if unknown:
        raise InvalidInput(
            "unknown checklist items",
            [
                {"field": f"items.{c}", "reason": "not on this work type's checklist"}
                for c in unknown
            ],
        )
    before = dict(wo.checklist_state) if merge else {}
    wo.checklist_state = {
        code: bool(checked[code]) if code in checked else bool(before.get(code, False))
        for code in sorted(known)
    }
    wo.version += 1
    payload = {**(context or {}), "checked": sorted(_checked(wo))}
    append_event(uow, wo, actor, "checklist_updated", payload)
