"""The day as the scheduler sees it, built from the store: technicians dispatchable that day
(``records.dispatchable_on``: active, filled in by the office, not on leave or terminated)
and working that day in their own time zone (weekly hours or that date's exception; gaps
between intervals become fixed breaks, the break rule a break in its window) with their
skills, certifications and van stock; jobs from triaged orders and orders scheduled for that
day (their promised window kept), and orders dispatched, in progress or on hold that day
pinned to their technician and window. Orders that cannot be planned (no site, no work type,
a technician off that day) are listed as skipped with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mappings import canonical
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.lifecycle import State
from orchestrator.reference import records
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from scheduler.model import Break, Certification, Job, Place, Problem, Technician, Window

PINNED_STATES = (State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD)


def territory_ids(uow: UnitOfWork, codes: tuple[str, ...]) -> dict[str, int]:
    """The ids of the territories with these codes (``InvalidInput`` naming each unknown
    one)."""
    if not codes:
        return {}
    table = models.table_of(models.Territory)
    query = select(table.c.code, table.c.id).where(table.c.code.in_(codes))
    found = {code: int(ident) for code, ident in uow.connection().execute(query)}
    errors = [
        {"field": f"territories.{n}", "reason": f"no territory with code {code!r}"}
        for n, code in enumerate(codes)
        if code not in found
    ]
    if errors:
        raise InvalidInput("unknown territory", errors)
    return found


@dataclass(frozen=True)
class Order:
    """What the run knows of an order it planned: to apply the plan and detect changes."""

    id: int
    version: int
    status: State
    technician_id: int | None
    window_start: datetime | None
    window_end: datetime | None


@dataclass
class DayProblem:
    problem: Problem
    orders: dict[str, Order]  # by job id
    skipped: list[dict[str, Any]] = field(default_factory=list)


def build_problem(uow: UnitOfWork, day: date, territories: tuple[str, ...] = ()) -> DayProblem:
    wanted = set(territory_ids(uow, territories).values())
    techs: list[Technician] = []
    for row in uow.session.scalars(select(models.Technician).order_by(models.Technician.id)):
        if wanted and row.territory_id not in wanted:
            continue
        if not records.dispatchable_on(row, day):  # inactive, unavailable, not filled in yet
            continue
        planned = technician_for_day(row.id, records.technician_for_dispatch(row), day)
        if planned is not None:
            techs.append(planned)
    working = {t.id for t in techs}

    wo, site, work_type = models.WorkOrder, models.Site, models.WorkType
    states = [State.TRIAGED, State.SCHEDULED, *PINNED_STATES]
    query = (
        select(wo, site, work_type)
        .outerjoin(site, site.id == wo.site_id)
        .outerjoin(work_type, work_type.id == wo.work_type_id)
        .where(wo.status.in_([s.value for s in states]))
        .order_by(wo.id)
    )
    if wanted:
        query = query.where(site.territory_id.in_(wanted))
    jobs: list[Job] = []
    orders: dict[str, Order] = {}
    skipped: list[dict[str, Any]] = []
    for order, place, kind_of_work in uow.session.execute(query):
        state = State(order.status)
        if state is not State.TRIAGED and not _on_day(order, place, day):
            continue  # scheduled or under way on another day
        ident = str(order.id)

        def skip(reason: str, order: models.WorkOrder = order, state: State = state) -> None:
            skipped.append({"work_order_id": order.id, "status": str(state), "reason": reason})

        if place is None:
            skip("no site: nowhere to send a technician")
            continue
        if kind_of_work is None:
            skip("no work type: its duration, skills and certifications are unknown")
            continue
        pinned = state in PINNED_STATES
        if pinned and str(order.technician_id) not in working:
            skip(f"{state} with technician {order.technician_id}, who is not planned that day")
            continue
        jobs.append(job_of(order, place, kind_of_work, pinned=pinned))
        orders[ident] = Order(
            id=order.id,
            version=order.version,
            status=state,
            technician_id=order.technician_id,
            window_start=order.window_start,
            window_end=order.window_end,
        )
    return DayProblem(Problem(technicians=techs, jobs=jobs), orders, skipped)


def job_of(
    order: models.WorkOrder, place: models.Site, work_type: models.WorkType, *, pinned: bool
) -> Job:
    """An order as a job: at its site, its work type's duration, skills and certifications;
    a window it was promised kept; a pinned order stays with its technician."""
    windows = []
    if order.status != State.TRIAGED and order.window_start and order.window_end:
        windows = [Window(start=order.window_start, end=order.window_end)]
    return Job(
        id=str(order.id),
        location=Place(lat=place.latitude, lon=place.longitude),
        duration_s=work_type.default_duration_min * 60,
        windows=windows,
        skills=list(work_type.required_skills),
        certifications=list(work_type.required_certifications),
        parts=dict(work_type.parts),
        priority=order.priority or 3,
        pinned_technician=str(order.technician_id) if pinned else None,
        territory=None if place.territory_id is None else str(place.territory_id),
    )


def _on_day(order: models.WorkOrder, place: models.Site | None, day: date) -> bool:
    if order.window_start is None:
        return False
    zone = ZoneInfo(place.time_zone) if place is not None else UTC
    return order.window_start.astimezone(zone).date() == day


def technician_for_day(ident: int, tech: canonical.Technician, day: date) -> Technician | None:
    """The technician's working day as the scheduler sees it; None when off that day."""
    shifts = sorted(tech.shifts_on(day))
    if not shifts:
        return None
    start, end = shifts[0][0], shifts[-1][1]
    breaks = [  # the hours between two intervals are a break taken exactly then
        Break(
            window=Window(start=a_end, end=a_end),
            minutes=int((b_start - a_end).total_seconds() // 60),
        )
        for (_, a_end), (b_start, _) in pairwise(shifts)
        if b_start - a_end >= timedelta(minutes=1)
    ]
    rule = tech.break_rule
    if rule is not None:
        zone = ZoneInfo(tech.time_zone)
        earliest = max(canonical.local_to_utc(day, rule.window.start, zone), start)
        latest = min(canonical.local_to_utc(day, rule.window.end, zone), end)
        if earliest <= latest and not breaks:  # a split shift's gap is the day's break
            breaks.append(Break(window=Window(start=earliest, end=latest), minutes=rule.minutes))
    home = Place(lat=tech.home_latitude, lon=tech.home_longitude)
    return Technician(
        id=str(ident),
        time_zone=tech.time_zone,
        start=home,
        shift=Window(start=start, end=end),
        skills=list(tech.skills),
        certifications=[
            Certification(code=c.code, issued_on=c.issued_on, expires_on=c.expires_on)
            for c in tech.certifications
        ],
        breaks=breaks,
        van_stock={code: int(held) for code, held in tech.van_stock.items()},  # whole units
        territory=None if tech.territory_id is None else str(tech.territory_id),
    )
