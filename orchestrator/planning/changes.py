"""Changing the plan in force during the day: an urgent order placed into it, a re-plan.

The plan in force for a day is the latest finished schedule run of that day that covers
the order's territory. Each change is a run of its own (``kind`` ``insert`` or ``replan``,
``based_on`` the run it changed), so the next change starts from it and every version of
the day stays readable, with its timeline.

- ``insert_urgent``: one triaged order into the plan in force, at once, without moving any
  other order's technician or the order of anyone's stops (``scheduler.insert``: cheapest
  feasible insertion, checked by the validator). A more urgent order may bump one less
  urgent job, which goes back to ``triaged`` with the reason. A full re-optimisation of the
  day is then queued in the background (one at a time: a queued one takes later changes).
- ``replan_day``: a technician unavailable from a time, or a job running late; the rest of
  the day is planned again keeping started work (``scheduler.replan``), and each moved
  order follows the new plan in the store, keeping its state (a dispatched order is recalled
  and dispatched again to its new technician or window, in the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import to_jsonable_python
from sqlalchemy import select

from orchestrator.domain.errors import Conflict, FieldbridgeError, Forbidden, NotFound, invalid
from orchestrator.domain.lifecycle import Actor, State
from orchestrator.planning.problem import job_of
from orchestrator.planning.runs import PLANNERS, appointment_window
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands, queries
from scheduler import insert, replan
from scheduler.model import Job, Plan, Problem, Window


@dataclass(frozen=True)
class InsertUrgent:
    work_order_id: int
    actor: Actor
    day: date | None = None  # today at the order's site if omitted


@dataclass(frozen=True)
class Replan:
    actor: Actor
    day: date
    technician_id: int | None = None
    unavailable_from: datetime | None = None
    work_order_id: int | None = None
    late_minutes: int | None = None
    as_of: datetime | None = None  # when the change is known; now if omitted
    time_limit_s: float | None = None


def _plan_in_force(uow: UnitOfWork, day: date, territory: int | None) -> models.ScheduleRun:
    runs = models.ScheduleRun
    code = None
    if territory is not None:
        code = uow.session.scalar(
            select(models.Territory.code).where(models.Territory.id == territory)
        )
    candidates = uow.session.execute(  # ids and territories only: plans are large
        select(runs.id, runs.territories)
        .where(runs.day == day, runs.status == "done", runs.plan.is_not(None))
        .order_by(runs.id.desc())
    )
    for ident, covered in candidates:
        if not covered or (code is not None and code in covered):
            run = uow.session.get(runs, ident)
            assert run is not None  # nosec B101  # its id was just read in this transaction; this narrows the type
            return run
    raise Conflict(f"no plan for {day.isoformat()} yet: ask for a schedule run first")


def _new_version(
    uow: UnitOfWork, base: models.ScheduleRun, kind: str, problem: Problem, plan: Plan
) -> models.ScheduleRun:
    now = utcnow()
    run = models.ScheduleRun(
        kind=kind,
        based_on_id=base.id,
        day=base.day,
        territories=list(base.territories),
        engine=plan.engine,
        time_limit_s=None,
        status="done",
        phase="done",
        progress=1.0,
        requested_by=base.requested_by,
        requested_role=base.requested_role,
        started_at=now,
        finished_at=now,
        problem=problem.model_dump(mode="json"),
        plan=plan.model_dump(mode="json"),
    )
    uow.session.add(run)
    uow.session.flush()
    return run


def _queue_reoptimisation(uow: UnitOfWork, base: models.ScheduleRun, actor: Actor) -> int:
    """A full plan of the day in the background, unless one is queued already (it will see
    this change when it starts)."""
    runs = models.ScheduleRun
    waiting = uow.session.scalars(
        select(runs.id).where(runs.day == base.day, runs.status == "queued", runs.kind == "plan")
    ).first()
    if waiting is not None:
        return waiting
    run = models.ScheduleRun(
        kind="plan",
        based_on_id=base.id,
        day=base.day,
        territories=list(base.territories),
        engine="auto",
        status="queued",
        phase="queued",
        progress=0.0,
        requested_by=actor.subject,
        requested_role=str(actor.role),
    )
    uow.session.add(run)
    uow.session.flush()
    return run.id


def _move(
    uow: UnitOfWork,
    order_id: int,
    to: State,
    fields: dict[str, Any],
    actor: Actor,
    run_id: int,
) -> None:
    current = queries.get(uow, order_id, actor)["version"]
    commands.transition(
        uow,
        commands.TransitionWorkOrder(
            work_order_id=order_id,
            to=to,
            fields=fields,
            actor=actor,
            expected_version=current,
            context={"schedule_run_id": run_id},
        ),
    )


def insert_urgent(uow: UnitOfWork, cmd: InsertUrgent, *, window_min: int) -> dict[str, Any]:
    """Place the order now; the answer names the new run and the queued re-optimisation."""
    if cmd.actor.role not in PLANNERS:
        raise Forbidden(f"a {cmd.actor.role} may not change the plan")
    order, place, kind_of_work = _triaged_order(uow, cmd.work_order_id)
    day = cmd.day or utcnow().astimezone(ZoneInfo(place.time_zone)).date()
    base = _plan_in_force(uow, day, place.territory_id)
    job = job_of(order, place, kind_of_work, pinned=False)
    problem = _with_urgent_job(Problem.model_validate(base.problem), job)
    result = insert.insert(problem, Plan.model_validate(base.plan), job.id)
    run = _new_version(uow, base, "insert", problem, result.plan)
    out: dict[str, Any] = {
        "work_order_id": order.id,
        "day": day,
        "placed": result.technician is not None,
        "schedule_run_id": run.id,
        "based_on": base.id,
        "seconds": result.plan.seconds,
    }
    if result.technician is None:
        [left] = [u for u in result.plan.unassigned if u.job == job.id]
        out |= {"code": left.code, "reason": left.reason}
        run.outcomes = to_jsonable_python([{"outcome": "unassigned", **out}])
        uow.commit()
        return out
    out |= _placement(result, job.id, window_min)
    out["bumped"] = _apply_insertion(uow, order.id, result, out, cmd.actor, run.id)
    run.outcomes = to_jsonable_python([{"outcome": "scheduled", **out}, *out["bumped"]])
    out["reoptimisation_run_id"] = _queue_reoptimisation(uow, base, cmd.actor)
    uow.commit()
    return out


def _triaged_order(
    uow: UnitOfWork, work_order_id: int
) -> tuple[models.WorkOrder, models.Site, models.WorkType]:
    """The order to insert, with its site and work type: a triaged order that has both."""
    wo, site, work_type = models.WorkOrder, models.Site, models.WorkType
    found = uow.session.execute(
        select(wo, site, work_type)
        .outerjoin(site, site.id == wo.site_id)
        .outerjoin(work_type, work_type.id == wo.work_type_id)
        .where(wo.id == work_order_id)
    ).first()
    if found is None:
        raise NotFound("work order", work_order_id)
    order, place, kind_of_work = found
    if order.status != State.TRIAGED:
        raise Conflict(
            f"work order {order.id} is {order.status}: only a triaged order can be inserted",
            current=order.status,
        )
    if place is None or kind_of_work is None:
        missing = "a site" if place is None else "a work type"
        raise invalid("work_order_id", f"work order {order.id} has no {missing} to plan with")
    return order, place, kind_of_work


def _with_urgent_job(problem: Problem, job: Job) -> Problem:
    """The stored day's problem with ``job`` in it (in place of an older copy of it), its
    window the technicians' day from now on: nothing starts in the past."""
    shifts = [t.shift for t in problem.technicians]
    if shifts:
        opens = max(utcnow(), min(s.start for s in shifts))
        closes = max(opens, max(s.end for s in shifts))
        job = job.model_copy(update={"windows": [Window(start=opens, end=closes)]})
    return problem.model_copy(update={"jobs": [j for j in problem.jobs if j.id != job.id] + [job]})


def _placement(result: insert.Insertion, job_id: str, window_min: int) -> dict[str, Any]:
    """Where the placed job went: technician, place in the route, start and the window the
    customer is told, and what it cost the rest of the day."""
    assert result.technician is not None  # nosec B101  # called only once the insertion placed the job (checked by the caller); this narrows the type
    stop = next(
        s
        for r in result.plan.routes
        if r.technician == result.technician
        for s in r.stops
        if s.job == job_id
    )
    begin, end = appointment_window(stop.start, window_min)
    return {
        "technician_id": int(result.technician),
        "position": result.position,
        "start": stop.start,
        "window_start": begin,
        "window_end": end,
        "added_travel_s": result.added_travel_s,
        "delayed": [
            {"work_order_id": int(j), "seconds": s} for j, s in sorted(result.delayed.items())
        ],
    }


def _apply_insertion(
    uow: UnitOfWork,
    order_id: int,
    result: insert.Insertion,
    placed: dict[str, Any],
    actor: Actor,
    run_id: int,
) -> list[dict[str, Any]]:
    """Schedule the order where it was ``placed``, then send each job it bumped back to
    ``triaged`` with the reason; the outcome of each bump."""
    fields = {k: placed[k] for k in ("technician_id", "window_start", "window_end")}
    _move(uow, order_id, State.SCHEDULED, fields, actor, run_id)
    bumped = []
    for ident in result.bumped:
        reason = f"bumped for urgent work order {order_id}"
        try:
            _move(uow, int(ident), State.TRIAGED, {"reason": reason}, actor, run_id)
            bumped.append({"work_order_id": int(ident), "outcome": "unscheduled"})
        except FieldbridgeError as exc:  # it moved on meanwhile; the re-optimisation sorts it
            bumped.append({"work_order_id": int(ident), "outcome": "conflict", "error": exc.detail})
    return bumped


def replan_day(uow: UnitOfWork, cmd: Replan, *, window_min: int) -> dict[str, Any]:
    """Plan the rest of the day after one change and make the store follow it."""
    if cmd.actor.role not in PLANNERS:
        raise Forbidden(f"a {cmd.actor.role} may not change the plan")
    change: replan.Change
    if cmd.technician_id is not None and cmd.unavailable_from is not None:
        change = replan.TechnicianUnavailable(str(cmd.technician_id), cmd.unavailable_from)
        territory = uow.session.scalar(
            select(models.Technician.territory_id).where(models.Technician.id == cmd.technician_id)
        )
    elif cmd.work_order_id is not None and cmd.late_minutes is not None:
        change = replan.JobLate(str(cmd.work_order_id), cmd.late_minutes)
        territory = uow.session.scalar(
            select(models.Site.territory_id)
            .join(models.WorkOrder, models.WorkOrder.site_id == models.Site.id)
            .where(models.WorkOrder.id == cmd.work_order_id)
        )
    else:
        raise invalid(
            "technician_id",
            "name a technician_id with unavailable_from, or a work_order_id with late_minutes",
        )
    base = _plan_in_force(uow, cmd.day, territory)
    problem, plan = Problem.model_validate(base.problem), Plan.model_validate(base.plan)
    try:
        result = replan.replan(
            problem, plan, change, now=cmd.as_of or utcnow(), time_limit_s=cmd.time_limit_s
        )
    except ValueError as exc:
        field = "technician_id" if cmd.technician_id is not None else "work_order_id"
        raise invalid(field, str(exc)) from None
    run = _new_version(uow, base, "replan", result.problem, result.new_plan)
    moved = [_follow(uow, m, cmd.actor, run.id, window_min) for m in result.moved]
    run.outcomes = to_jsonable_python(moved)
    out = {
        "day": cmd.day,
        "change": result.why,
        "schedule_run_id": run.id,
        "based_on": base.id,
        "kept": [int(j) for j in result.started],
        "moved": moved,
    }
    uow.commit()
    return out


def _follow(
    uow: UnitOfWork, moved: replan.Moved, actor: Actor, run_id: int, window_min: int
) -> dict[str, Any]:
    """Make one moved order follow the new plan, keeping its state."""
    order_id = int(moved.job)
    out: dict[str, Any] = {
        "work_order_id": order_id,
        "from_technician_id": None if moved.from_technician is None else int(moved.from_technician),
        "to_technician_id": None if moved.to_technician is None else int(moved.to_technician),
        "from_start": moved.from_start,
        "to_start": moved.to_start,
        "reason": moved.reason,
    }
    try:
        current = queries.get(uow, order_id, actor)
        state = State(current["status"])
        if moved.to_technician is None or moved.to_start is None:
            if state is State.DISPATCHED:
                _move(uow, order_id, State.SCHEDULED, {"reason": moved.reason}, actor, run_id)
            _move(uow, order_id, State.TRIAGED, {"reason": moved.reason}, actor, run_id)
            return out | {"outcome": "unscheduled"}
        tech = int(moved.to_technician)
        start, end = current["window_start"], current["window_end"]
        if start is not None and end is not None and start <= moved.to_start <= end:
            if tech == current["technician_id"]:
                return out | {"outcome": "within_window"}
        else:
            start, end = appointment_window(moved.to_start, window_min)
        fields = {"technician_id": tech, "window_start": start, "window_end": end}
        if state is State.DISPATCHED:
            _move(uow, order_id, State.SCHEDULED, {"reason": moved.reason}, actor, run_id)
            _move(uow, order_id, State.SCHEDULED, fields, actor, run_id)
            _move(uow, order_id, State.DISPATCHED, {}, actor, run_id)
        else:
            _move(uow, order_id, State.SCHEDULED, fields, actor, run_id)
        return out | {"outcome": "rescheduled", "window_start": start, "window_end": end}
    except FieldbridgeError as exc:
        return out | {"outcome": "conflict", "error": exc.detail}
