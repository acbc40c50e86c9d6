"""The lifecycle in the store, for the integration tests: reference data, a snapshot of a stored
order, the actors, and a legal way to bring an order to each state (``order_in``).

Nothing here decides what is legal: that is ``tests/support/spec.py`` (the spec's table).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from mappings import canonical
from orchestrator.domain.errors import FieldbridgeError
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.work_orders import attachments
from orchestrator.work_orders import commands as wo_h
from tests.support.spec import SPEC, spec_roles

Choose = Callable[[Sequence[Any]], Any]

CHECKLIST = ("isolate", "inspect", "notes")  # "notes" is optional
REQUIRED_CHECKLIST = frozenset({"isolate", "inspect"})
OWN_REQUESTER = "req-own"
SITE_CODE = "PLANT-3"
"""The code Plant 3 publishes: what a requester names it by."""
BASE_DAY = datetime(2030, 6, 3, tzinfo=UTC)  # a Monday, well inside every certificate


@dataclass(frozen=True)
class World:
    division_id: int
    work_type_id: int
    site_id: int
    tech_ids: tuple[int, int]
    unqualified_tech_id: int


def _technician(name: str, cert_expires: date) -> canonical.Technician:
    return canonical.Technician(
        name=name,
        skills=["hvac"],
        certifications=[
            canonical.Certification(
                code="F-GAS", issued_on=date(2020, 1, 1), expires_on=cert_expires
            )
        ],
        home_latitude=52.5,
        home_longitude=13.4,
        time_zone="Europe/Berlin",
        weekly_hours={d: [{"start": "07:00", "end": "18:00"}] for d in ("mon", "tue", "wed")},
    )


def make_world(container: Container) -> World:
    """Reference data in the database: a division, a work type, a site, three technicians."""
    kinds = reference.KINDS
    with container.new_uow() as uow:
        division = reference.create(
            uow, kinds["divisions"], canonical.Division(code="NORTH", name="North")
        )
    with container.new_uow() as uow:
        work_type = reference.create(
            uow,
            kinds["work-types"],
            canonical.WorkType(
                code="HVAC-SVC",
                name="HVAC service",
                default_duration_min=90,
                required_skills=["hvac"],
                required_certifications=["F-GAS"],
                checklist=[
                    canonical.ChecklistItem(code="isolate", label="Isolate the unit"),
                    canonical.ChecklistItem(code="inspect", label="Inspect"),
                    canonical.ChecklistItem(code="notes", label="Notes", required=False),
                ],
                min_photos=1,
                signature_required=True,
            ),
        )
    with container.new_uow() as uow:
        site = reference.create(
            uow,
            kinds["sites"],
            reference.Site(
                name="Plant 3",
                address="Hafenstr. 1, Hamburg",
                latitude=53.54,
                longitude=9.98,
                time_zone="Europe/Berlin",
                code=SITE_CODE,
            ),
        )
    ids = []
    for name, expires in (
        ("Tom", date(2099, 12, 31)),
        ("Tina", date(2099, 12, 31)),
        ("Ulf", date(2021, 1, 1)),  # certificate long expired
    ):
        with container.new_uow() as uow:
            ids.append(
                reference.create(uow, kinds["technicians"], _technician(name, expires))["id"]
            )
    return World(division["id"], work_type["id"], site["id"], (ids[0], ids[1]), ids[2])


# --- reading what is stored ----------------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    status: str
    version: int
    technician_id: int | None
    window_start: datetime | None
    window_end: datetime | None
    requester: str | None
    visits: int
    checked: frozenset[str]
    photos: int
    signatures: int
    events: int
    last_event: tuple[str, str | None, str | None]

    @property
    def proof_complete(self) -> bool:
        return self.checked >= REQUIRED_CHECKLIST and self.photos >= 1 and self.signatures >= 1


def snap(container: Container, wid: int) -> Snap:
    """The order as stored, with its event count, last event and attachments (one query)."""
    wo, ev, att = models.WorkOrder, models.AuditEvent, models.Attachment
    last = select(ev).where(ev.work_order_id == wid).order_by(ev.seq.desc()).limit(1).subquery()

    def attachments(kind: str) -> Any:
        return (
            select(func.count()).where(att.work_order_id == wid, att.kind == kind).scalar_subquery()
        )

    query = select(
        wo,
        select(func.count()).where(ev.work_order_id == wid).scalar_subquery(),
        select(last.c.kind).scalar_subquery(),
        select(last.c.from_state).scalar_subquery(),
        select(last.c.to_state).scalar_subquery(),
        attachments("photo"),
        attachments("signature"),
    ).where(wo.id == wid)
    with container.new_uow() as uow:
        row, events, kind, from_state, to_state, photos, signatures = uow.session.execute(
            query
        ).one()
        return Snap(
            status=row.status,
            version=row.version,
            technician_id=row.technician_id,
            window_start=row.window_start,
            window_end=row.window_end,
            requester=row.requester_subject,
            visits=row.visits,
            checked=frozenset(c for c, done in row.checklist_state.items() if done),
            photos=int(photos),
            signatures=int(signatures),
            events=int(events),
            last_event=(kind, from_state, to_state),
        )


# --- actors --------------------------------------------------------------------------------------

ACTOR_KINDS = (
    "admin",
    "dispatcher",
    "supervisor",
    "integration",
    "assigned_technician",
    "other_technician",
    "own_requester",
    "other_requester",
)


def make_actor(kind: str, stored: Snap, world: World) -> Actor:
    t1, t2 = world.tech_ids
    if kind == "assigned_technician":
        # The order's technician; with none assigned, simply a technician.
        return Actor("tech", Role.TECHNICIAN, technician_id=stored.technician_id or t1)
    if kind == "other_technician":
        return Actor(
            "tech", Role.TECHNICIAN, technician_id=t2 if stored.technician_id == t1 else t1
        )
    if kind == "own_requester":
        return Actor(OWN_REQUESTER, Role.REQUESTER)
    if kind == "other_requester":
        return Actor("req-other", Role.REQUESTER)
    return Actor(f"{kind}-user", Role(kind))


def roles_of(actor: Actor, stored: Snap) -> frozenset[str]:
    """The spec's roles for ``actor`` on the order ``stored`` (independent of the code)."""
    assigned = actor.technician_id is not None and actor.technician_id == stored.technician_id
    own = stored.requester is not None and actor.subject == stored.requester
    return spec_roles(str(actor.role), assigned=assigned, own=own)


def proper_fields(
    choose: Choose, source: str, target: str, stored: Snap, world: World
) -> dict[str, Any]:
    """What a careful caller sends for this move (by the spec); ``choose`` picks where it may."""
    t1, t2 = world.tech_ids
    if target == "triaged" and source == "new":
        return {
            "priority": choose(range(1, 6)),
            "division_id": world.division_id,
            "work_type_id": world.work_type_id,
        }
    if (
        target == "scheduled"
        and source == "scheduled"
        and stored.window_start
        and stored.window_end
    ):
        what = choose(["technician", "window", "both"])
        fields: dict[str, Any] = {}
        if what in ("technician", "both"):
            fields["technician_id"] = t2 if stored.technician_id == t1 else t1
        if what in ("window", "both"):
            shift = timedelta(days=choose(range(1, 4)))
            fields["window_start"] = stored.window_start + shift
            fields["window_end"] = stored.window_end + shift
        return fields
    if target == "scheduled" and source != "dispatched":  # a recall takes no fields
        start = BASE_DAY + timedelta(days=choose(range(5)), hours=choose(range(6, 15)))
        return {
            "technician_id": choose([t1, t2]),
            "window_start": start,
            "window_end": start + timedelta(hours=choose(range(1, 5))),
        }
    row = SPEC.get((source, target))
    if (row and "reason" in row.requires) or target in ("on_hold", "cannot_complete", "cancelled"):
        return {"reason": choose(["customer away", "no parts", "duplicate"])}
    if target == "in_progress" and source == "dispatched" and choose([False, True]):
        return {"position": {"lat": 53.54, "lon": 9.98}}
    return {}


def first(options: Sequence[Any]) -> Any:
    """The deterministic chooser: always the first option."""
    return options[0]


# --- a legal way to each state -------------------------------------------------------------------

# A legal way from ``new`` to each state (the actor kind for each move). Orders reaching
# in_progress are fully documented first, so completion is only a question of who asks.
ROUTE: dict[str, list[tuple[str, str]]] = {"new": []}
ROUTE["triaged"] = [("triaged", "dispatcher")]
ROUTE["scheduled"] = [*ROUTE["triaged"], ("scheduled", "dispatcher")]
ROUTE["dispatched"] = [*ROUTE["scheduled"], ("dispatched", "dispatcher")]
ROUTE["in_progress"] = [*ROUTE["dispatched"], ("in_progress", "assigned_technician")]
ROUTE["on_hold"] = [*ROUTE["in_progress"], ("on_hold", "assigned_technician")]
ROUTE["completed"] = [*ROUTE["in_progress"], ("completed", "assigned_technician")]
ROUTE["cannot_complete"] = [*ROUTE["in_progress"], ("cannot_complete", "assigned_technician")]
ROUTE["closed"] = [*ROUTE["completed"], ("closed", "supervisor")]
ROUTE["cancelled"] = [("cancelled", "supervisor")]


def requested_order(container: Container, world: World) -> int:
    with container.new_uow() as uow:
        return wo_h.submit_service_request(
            uow,
            wo_h.SubmitServiceRequest(
                description="Radiator cold",
                actor=Actor(OWN_REQUESTER, Role.REQUESTER),
                site_code=SITE_CODE,  # a requester names no ids
            ),
        )["work_order_id"]


def attempt(
    container: Container, world: World, wid: int, target: str, kind: str
) -> tuple[Snap, Snap, Any]:
    """One transition with the spec's proper fields: (before, after, result or the error)."""
    before = snap(container, wid)
    actor = make_actor(kind, before, world)
    fields = proper_fields(first, before.status, target, before, world)
    try:
        with container.new_uow() as uow:
            result: Any = wo_h.transition(
                uow, wo_h.TransitionWorkOrder(wid, State(target), fields, actor, before.version)
            )
    except FieldbridgeError as exc:
        result = exc
    return before, snap(container, wid), result


def document_fully(container: Container, world: World, wid: int) -> None:
    for step in ("checklist", "photo", "signature"):
        stored = snap(container, wid)
        actor = make_actor("assigned_technician", stored, world)
        with container.new_uow() as uow:
            if step == "checklist":
                wo_h.update_checklist(
                    uow,
                    wo_h.UpdateChecklist(
                        wid, dict.fromkeys(CHECKLIST, True), actor, stored.version
                    ),
                )
            else:
                attachments.add_attachment(
                    uow,
                    attachments.AddAttachment(
                        wid, step, secrets.token_hex(32), "image/png", 10, actor, stored.version
                    ),
                )


def order_in(container: Container, world: World, state: str) -> int:
    wid = requested_order(container, world)
    for target, kind in ROUTE[state]:
        _, after, result = attempt(container, world, wid, target, kind)
        assert not isinstance(result, Exception), f"route to {state}: {target} refused: {result}"
        assert after.status == target
        if target == "in_progress":
            document_fully(container, world, wid)
    return wid
