"""Schedule runs: plan a day from the store and move the planned orders to ``scheduled``.

A run is asked for (``request_run``: a row, ``queued``), then executed in the background
(``execute``: ``running`` through the phases ``building``, ``solving``, ``storing``, then
``done`` or ``failed``). Executing it:

1. Builds the scheduler's problem from the store (``build_problem``): technicians working
   that day in their own time zone (weekly hours or that date's exception; gaps between
   intervals become fixed breaks, the break rule a break in its window) with their skills,
   certifications and van stock; jobs from triaged orders and orders scheduled for that day
   (their promised window kept), and orders dispatched, in progress or on hold that day
   pinned to their technician and window. Orders that cannot be planned (no site, no work
   type, a technician off that day) are listed as skipped with the reason.
2. Solves it (``scheduler.solve``, ``auto`` by default: territories are independent parts
   of the day and are solved in parallel).
3. Applies the plan order by order, each in its own transaction through the lifecycle's
   own transition (so an order changed meanwhile is a ``conflict``, never overwritten):
   triaged orders become ``scheduled`` with technician and appointment window; scheduled
   orders follow the plan (re-planned, or back to ``triaged`` with the reason when the plan
   has no room for them); pinned orders are kept as they are.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import defer

from mappings import canonical
from orchestrator import models
from orchestrator.db import lease_owner, utcnow
from orchestrator.errors import FieldbridgeError, Forbidden, InvalidInput, NotFound
from orchestrator.handlers import reference, work_orders
from orchestrator.lifecycle import Actor, Role, State
from orchestrator.uow import UnitOfWork
from scheduler import auto, solve
from scheduler.model import Break, Certification, Job, Place, Plan, Problem, Technician, Window

log = logging.getLogger("orchestrator.scheduling")
_RUNS = models.table_of(models.ScheduleRun)
PLANNERS = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
PINNED_STATES = (State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD)
SOLVING_FROM, SOLVING_TO = 0.1, 0.9  # the share of progress the solver's phase covers


@dataclass(frozen=True)
class RequestScheduleRun:
    day: date
    actor: Actor
    territories: tuple[str, ...] = ()
    time_limit_s: float | None = None
    engine: solve.Engine = "auto"


def request_run(uow: UnitOfWork, cmd: RequestScheduleRun) -> dict[str, Any]:
    if cmd.actor.role not in PLANNERS:
        raise Forbidden(f"a {cmd.actor.role} may not plan the day")
    _territory_ids(uow, cmd.territories)  # unknown codes are refused now, not in the run
    run = models.ScheduleRun(
        kind="plan",
        day=cmd.day,
        territories=list(cmd.territories),
        engine=cmd.engine,
        time_limit_s=cmd.time_limit_s,
        status="queued",
        phase="queued",
        progress=0.0,
        requested_by=cmd.actor.subject,
        requested_role=str(cmd.actor.role),
    )
    uow.session.add(run)
    uow.session.flush()
    out = to_public(run)
    uow.commit()
    return out


def _territory_ids(uow: UnitOfWork, codes: tuple[str, ...]) -> dict[str, int]:
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


def _readable(actor: Actor) -> None:
    if actor.role not in PLANNERS:
        raise Forbidden(f"a {actor.role} may not read schedule runs")


def _run(uow: UnitOfWork, ident: int, actor: Actor) -> models.ScheduleRun:
    _readable(actor)
    run = uow.session.get(models.ScheduleRun, ident)
    if run is None:
        raise NotFound("schedule run", ident)
    return run


def get_run(uow: UnitOfWork, ident: int, actor: Actor) -> dict[str, Any]:
    return to_public(_run(uow, ident, actor), full=True)


def list_runs(uow: UnitOfWork, actor: Actor, day: date | None, limit: int) -> dict[str, Any]:
    """The latest runs first (of one day, if given), without their plans."""
    _readable(actor)
    runs = models.ScheduleRun
    large = (defer(runs.problem), defer(runs.plan), defer(runs.outcomes))  # not listed
    query = select(runs).options(*large).order_by(runs.id.desc()).limit(limit)
    if day is not None:
        query = query.where(runs.day == day)
    return {"items": [to_public(run) for run in uow.session.scalars(query)]}


def stored_run(uow: UnitOfWork, ident: int, actor: Actor) -> tuple[Plan, Problem] | None:
    """A run's plan and problem, once it has them (``None`` before)."""
    run = _run(uow, ident, actor)
    if run.plan is None or run.problem is None:
        return None
    return Plan.model_validate(run.plan), Problem.model_validate(run.problem)


def to_public(run: models.ScheduleRun, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.id,
        "kind": run.kind,
        "based_on": run.based_on_id,
        "status": run.status,
        "day": run.day,
        "territories": run.territories,
        "engine": run.engine,
        "time_limit_s": run.time_limit_s,
        "requested_by": run.requested_by,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "progress": {"phase": run.phase, "fraction": _fraction(run)},
        "attempts": run.attempts,
    }
    if full:
        out |= {
            "error": run.error,
            "summary": run.summary,
            "orders": run.outcomes,
            "plan": run.plan,
        }
    return out


def _fraction(run: models.ScheduleRun) -> float:
    """While the solver works, its share of the progress follows the clock to its limit."""
    if run.phase != "solving" or run.started_at is None or not run.time_limit_s:
        return round(run.progress, 3)
    elapsed = (utcnow() - run.started_at).total_seconds()  # building takes a moment
    share = min(1.0, elapsed / run.time_limit_s)
    return round(SOLVING_FROM + (SOLVING_TO - SOLVING_FROM) * 0.99 * share, 3)


# --- the day as a problem ---------------------------------------------------------------------


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
    territory_ids = set(_territory_ids(uow, territories).values())
    techs: list[Technician] = []
    for row in uow.session.scalars(select(models.Technician).order_by(models.Technician.id)):
        if territory_ids and row.territory_id not in territory_ids:
            continue
        planned = technician_for_day(row.id, reference.technician_for_dispatch(row), day)
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
    if territory_ids:
        query = query.where(site.territory_id.in_(territory_ids))
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
        van_stock=dict(tech.van_stock),
        territory=None if tech.territory_id is None else str(tech.territory_id),
    )


def recover(open_uow: Callable[[], UnitOfWork]) -> list[int]:
    """At start-up of the embedded mode (one process runs every run): runs a stopped process
    left ``running`` failed, saying so; the ids of runs still ``queued``, to run now. (The
    production mode's workers take such runs over instead: ``orphaned``.)"""
    with open_uow() as uow:
        runs = models.ScheduleRun
        for run in uow.session.scalars(select(runs).where(runs.status == "running")):
            run.status, run.phase, run.finished_at = "failed", "failed", utcnow()
            run.error = "interrupted: the server stopped during the run; ask for a new run"
        queued = list(
            uow.session.scalars(select(runs.id).where(runs.status == "queued").order_by(runs.id))
        )
        uow.commit()
    return queued


# --- executing a run ------------------------------------------------------------------------


def abandoned(now: datetime) -> ColumnElement[bool]:
    """The runs ``running`` whose lease has run out by ``now``: the process that ran them
    died (a worker takes them over)."""
    r = _RUNS.c
    return (r.status == "running") & (r.lease_until.is_(None) | (r.lease_until < now))


def orphaned(uow: UnitOfWork, *, queued_for_s: float, now: datetime | None = None) -> list[int]:
    """Runs nobody is running: ``queued`` for longer than ``queued_for_s`` (the task that was
    to run them is lost: a broker restarted with it), or ``abandoned``. Oldest first."""
    now = now or utcnow()
    r = _RUNS.c
    waiting = (r.status == "queued") & (r.created_at < now - timedelta(seconds=queued_for_s))
    found = uow.connection().execute(select(r.id).where(waiting | abandoned(now)).order_by(r.id))
    return [int(ident) for ident in found.scalars()]


class LeaseLost(Exception):
    """Another process took the run over: this one's lease ran out unrenewed."""


@dataclass(frozen=True)
class _Lease:
    """This process's hold on a run. Every write to the run goes through ``update``, which
    refuses (``LeaseLost``) once another process holds it; ``renewed`` keeps the hold alive
    while the run works (a third of the lease at a time)."""

    open_uow: Callable[[], UnitOfWork]
    run_id: int
    owner: str
    seconds: float

    def take(self) -> models.ScheduleRun | None:
        """The run, now this process's to run: when ``queued``, or ``running`` with its lease
        run out (its process died: taken over, from the start). None when it is neither."""
        with self.open_uow() as uow:
            run = uow.session.get(models.ScheduleRun, self.run_id, with_for_update=True)
            now = utcnow()
            if run is None or run.status not in ("queued", "running"):
                return None
            if run.status == "running":
                if run.lease_until is not None and run.lease_until >= now:
                    return None  # its process is alive and renewing
                log.warning("schedule run %s: %s stopped renewing its lease (%s); taken over "
                            "by %s, from the start", run.id, run.lease_owner, run.lease_until,
                            self.owner)  # fmt: skip
            run.status, run.phase, run.started_at, run.progress = "running", "building", now, 0.0
            run.attempts += 1
            run.lease_owner, run.lease_until = self.owner, now + timedelta(seconds=self.seconds)
            uow.commit()
            return run

    def update(self, **values: Any) -> None:
        with self.open_uow() as uow:
            run = uow.session.get(models.ScheduleRun, self.run_id, with_for_update=True)
            if run is None or run.lease_owner != self.owner or run.status != "running":
                raise LeaseLost(f"schedule run {self.run_id}: no longer held by {self.owner}")
            for name, value in values.items():
                setattr(run, name, value)
            uow.commit()

    @contextlib.contextmanager
    def renewed(self) -> Iterator[None]:
        stop = threading.Event()

        def renew() -> None:
            r = _RUNS.c
            mine = (r.id == self.run_id) & (r.lease_owner == self.owner) & (r.status == "running")
            while not stop.wait(self.seconds / 3):
                until = utcnow() + timedelta(seconds=self.seconds)
                try:
                    with self.open_uow() as uow:
                        done = uow.connection().execute(
                            update(_RUNS).where(mine).values(lease_until=until)
                        )
                        uow.commit()
                except Exception:  # the store is away: try again; the lease may run out
                    log.exception("schedule run %s: renewing the lease failed", self.run_id)
                    continue
                if not done.rowcount:
                    return  # finished, or taken over: ``update`` says which

        thread = threading.Thread(target=renew, name=f"run-{self.run_id}-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def execute(
    open_uow: Callable[[], UnitOfWork],
    run_id: int,
    *,
    window_min: int = 120,
    executor: Executor | None = None,
    workers: int | None = None,
    lease_s: float = 60.0,
) -> None:
    """Run a queued schedule run to ``done`` or ``failed``. ``open_uow`` opens a unit of work
    (each step commits its own); ``window_min`` is the appointment window's length;
    ``executor`` runs the day's parts (the production mode's tasks; by default this process's
    pool), ``workers`` of them at once.

    The run is held by a lease of ``lease_s`` seconds, renewed as it goes: a run whose lease
    ran out (its process died) is taken over from the start by the next ``execute`` of it,
    and the process that lost it stops at its next write. The orders the first one had
    already applied are where it left them (each in its own transaction), so the second
    plans what is left and finds those as it would any order scheduled earlier."""
    lease = _Lease(open_uow, run_id, lease_owner(), lease_s)
    run = lease.take()
    if run is None:
        return
    with lease.renewed():
        try:
            _execute(lease, run, window_min, executor, workers)
        except LeaseLost as lost:
            log.warning("%s (taken over, or finished, by another process): stopping", lost)


def _execute(
    lease: _Lease,
    run: models.ScheduleRun,
    window_min: int,
    executor: Executor | None,
    workers: int | None,
) -> None:
    """``execute``'s work on the run it took (as it stood when taken)."""
    actor = Actor(subject=run.requested_by, role=Role(run.requested_role))
    engine = run.engine
    try:
        with lease.open_uow() as uow:
            day_problem = build_problem(uow, run.day, tuple(run.territories))
        problem = day_problem.problem
        limit = run.time_limit_s
        limit = limit if limit is not None else auto.default_limit_s(len(problem.jobs))
        lease.update(
            phase="solving",
            progress=SOLVING_FROM,
            time_limit_s=limit,
            problem=problem.model_dump(mode="json"),
        )
        plan = solve.solve(
            problem,
            engine=cast(solve.Engine, engine),
            time_limit_s=limit,
            executor=executor,
            workers=workers,
        )
        lease.update(phase="storing", progress=SOLVING_TO, plan=plan.model_dump(mode="json"))
        outcomes = _apply(lease, day_problem, plan, actor, window_min)
    except LeaseLost:
        raise
    except Exception as exc:  # a failed run says why; the orders it did not reach are as before
        lease.update(
            status="failed",
            phase="failed",
            finished_at=utcnow(),
            lease_until=None,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise
    counts: dict[str, int] = {}
    for item in outcomes:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    lease.update(
        status="done",
        phase="done",
        progress=1.0,
        finished_at=utcnow(),
        lease_until=None,
        outcomes=to_jsonable_python(outcomes),
        summary={
            "jobs": plan.totals.jobs,
            "assigned": plan.totals.assigned,
            "priority_weighted_share": plan.totals.priority_weighted_share,
            "travel_s": plan.totals.travel_s,
            "solve_seconds": plan.seconds,
            "outcomes": counts,
        },
    )


def appointment_window(start: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The window a customer is told: ``minutes`` long around the planned start, on quarter
    hours (the start is always inside it)."""
    begin = start - timedelta(minutes=minutes / 2)
    begin -= timedelta(minutes=begin.minute % 15, seconds=begin.second)
    begin = begin.replace(microsecond=0)
    return begin.astimezone(UTC), (begin + timedelta(minutes=minutes)).astimezone(UTC)


def _apply(
    lease: _Lease,
    day_problem: DayProblem,
    plan: Plan,
    actor: Actor,
    window_min: int,
) -> list[dict[str, Any]]:
    """Each order in its own transaction, through the lifecycle: what became of each."""
    outcomes: list[dict[str, Any]] = [
        {**skipped, "outcome": "skipped"} for skipped in day_problem.skipped
    ]
    decisions: list[tuple[Order, Mapping[str, Any]]] = []
    for route in plan.routes:
        for stop in route.stops:
            decisions.append(
                (
                    day_problem.orders[stop.job],
                    {"technician": route.technician, "start": stop.start},
                )
            )
    for left in plan.unassigned:
        decisions.append((day_problem.orders[left.job], {"code": left.code, "reason": left.reason}))
    total = max(1, len(decisions))
    last_report = time.monotonic()
    for n, (order, decision) in enumerate(decisions):
        outcomes.append(
            _apply_one(lease.open_uow, lease.run_id, order, decision, actor, window_min)
        )
        if time.monotonic() - last_report > 1.0:
            last_report = time.monotonic()
            lease.update(progress=SOLVING_TO + (1 - SOLVING_TO) * n / total)
    return outcomes


def _apply_one(
    open_uow: Callable[[], UnitOfWork],
    run_id: int,
    order: Order,
    decision: Mapping[str, Any],
    actor: Actor,
    window_min: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"work_order_id": order.id, "status": str(order.status)}
    fields: dict[str, Any] = {}
    if "technician" in decision:
        tech_id, start = int(decision["technician"]), decision["start"]
        out |= {"technician_id": tech_id, "start": start.astimezone(UTC)}
        if order.status in PINNED_STATES:
            return out | {"outcome": "kept"}
        keeps_window = (
            order.window_start is not None
            and order.window_end is not None
            and order.window_start <= start <= order.window_end
        )
        if order.status is State.SCHEDULED and keeps_window and tech_id == order.technician_id:
            return out | {
                "outcome": "unchanged",
                "window_start": order.window_start,
                "window_end": order.window_end,
            }
        if keeps_window:
            begin, end = order.window_start, order.window_end
        else:
            begin, end = appointment_window(start, window_min)
        fields = {"technician_id": tech_id, "window_start": begin, "window_end": end}
        out |= {"window_start": begin, "window_end": end}
        target = State.SCHEDULED
        outcome = "scheduled" if order.status is State.TRIAGED else "rescheduled"
    else:
        out |= {"code": decision["code"], "reason": decision["reason"]}
        if order.status is State.TRIAGED:
            return out | {"outcome": "unassigned"}
        if order.status in PINNED_STATES:
            return out | {"outcome": "kept", "warning": "the plan has no room for it"}
        fields = {"reason": f"schedule run {run_id}: {decision['reason']}"}
        outcome, target = "unscheduled", State.TRIAGED
    try:
        with open_uow() as uow:
            work_orders.transition(
                uow,
                work_orders.TransitionWorkOrder(
                    work_order_id=order.id,
                    to=target,
                    fields=fields,
                    actor=actor,
                    expected_version=order.version,
                    context={"schedule_run_id": run_id},
                ),
            )
    except FieldbridgeError as exc:  # changed since the run read it: left as it now is
        return out | {"outcome": "conflict", "error": exc.detail}
    return out | {"outcome": outcome}
