"""Shared by the integration tests: reference data, a snapshot of a stored order, the actors.

Nothing here decides what is legal: that is ``tests/unit/lifecycle_spec.py`` (the spec's table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from mappings import canonical
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from tests.unit.lifecycle_spec import SPEC, spec_roles

Choose = Callable[[Sequence[Any]], Any]

CHECKLIST = ("isolate", "inspect", "notes")  # "notes" is optional
REQUIRED_CHECKLIST = frozenset({"isolate", "inspect"})
OWN_REQUESTER = "req-own"
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
            canonical.Site(
                name="Plant 3",
                address="Hafenstr. 1, Hamburg",
                latitude=53.54,
                longitude=9.98,
                time_zone="Europe/Berlin",
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


def make_actor(kind: str, s: Snap, w: World) -> Actor:
    t1, t2 = w.tech_ids
    if kind == "assigned_technician":
        # The order's technician; with none assigned, simply a technician.
        return Actor("tech", Role.TECHNICIAN, technician_id=s.technician_id or t1)
    if kind == "other_technician":
        return Actor("tech", Role.TECHNICIAN, technician_id=t2 if s.technician_id == t1 else t1)
    if kind == "own_requester":
        return Actor(OWN_REQUESTER, Role.REQUESTER)
    if kind == "other_requester":
        return Actor("req-other", Role.REQUESTER)
    return Actor(f"{kind}-user", Role(kind))


def roles_of(actor: Actor, s: Snap) -> frozenset[str]:
    """The spec's roles for ``actor`` on an order in state ``s`` (independent of the code)."""
    assigned = actor.technician_id is not None and actor.technician_id == s.technician_id
    own = s.requester is not None and actor.subject == s.requester
    return spec_roles(str(actor.role), assigned=assigned, own=own)


def proper_fields(choose: Choose, source: str, target: str, s: Snap, w: World) -> dict[str, Any]:
    """What a careful caller sends for this move (by the spec); ``choose`` picks where it may."""
    t1, t2 = w.tech_ids
    if target == "triaged" and source == "new":
        return {
            "priority": choose(range(1, 6)),
            "division_id": w.division_id,
            "work_type_id": w.work_type_id,
        }
    if target == "scheduled" and source == "scheduled" and s.window_start and s.window_end:
        what = choose(["technician", "window", "both"])
        fields: dict[str, Any] = {}
        if what in ("technician", "both"):
            fields["technician_id"] = t2 if s.technician_id == t1 else t1
        if what in ("window", "both"):
            shift = timedelta(days=choose(range(1, 4)))
            fields["window_start"] = s.window_start + shift
            fields["window_end"] = s.window_end + shift
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
