"""Schedule runs: plan a day from the store and move the planned orders to ``scheduled``.

A run is asked for (``request_run``: a row, ``queued``), then executed in the background
(``execute``: ``running`` through the phases ``building``, ``solving``, ``storing``, then
``done`` or ``failed``). Executing it:

1. Builds the scheduler's problem from the store (``planning.problem``).
2. Solves it (``scheduler.solve``, ``auto`` by default: territories are independent parts
   of the day and are solved in parallel).
3. Applies the plan order by order, each in its own transaction through the lifecycle's
   own transition (so an order changed meanwhile is a ``conflict``, never overwritten):
   triaged orders become ``scheduled`` with technician and appointment window; scheduled
   orders follow the plan (re-planned, or back to ``triaged`` with the reason when the plan
   has no room for them); pinned orders are kept as they are.

The run is held by a lease in its row while it works (``planning.leases``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import defer

from orchestrator.domain.errors import FieldbridgeError, Forbidden, NotFound
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.planning.leases import Lease, LeaseLost
from orchestrator.planning.problem import (
    PINNED_STATES,
    DayProblem,
    Order,
    build_problem,
    territory_ids,
)
from orchestrator.store import models
from orchestrator.store.db import lease_owner, utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands
from scheduler import auto, solve
from scheduler.model import Plan, Problem

log = logging.getLogger("orchestrator.scheduling")
_RUNS = models.table_of(models.ScheduleRun)
PLANNERS = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
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
    territory_ids(uow, cmd.territories)  # unknown codes are refused now, not in the run
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


def recover(new_uow: Callable[[], UnitOfWork]) -> list[int]:
    """At start-up of the embedded mode (one process runs every run): runs a stopped process
    left ``running`` failed, saying so; the ids of runs still ``queued``, to run now. (The
    production mode's workers take such runs over instead: ``orphaned``.)"""
    with new_uow() as uow:
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


def execute(
    new_uow: Callable[[], UnitOfWork],
    run_id: int,
    *,
    window_min: int = 120,
    executor: Executor | None = None,
    workers: int | None = None,
    lease_s: float = 60.0,
) -> None:
    """Run a queued schedule run to ``done`` or ``failed``. ``new_uow`` opens a unit of work
    (each step commits its own); ``window_min`` is the appointment window's length;
    ``executor`` runs the day's parts (the production mode's tasks; by default this process's
    pool), ``workers`` of them at once.

    The run is held by a lease of ``lease_s`` seconds, renewed as it goes: a run whose lease
    ran out (its process died) is taken over from the start by the next ``execute`` of it,
    and the process that lost it stops at its next write. The orders the first one had
    already applied are where it left them (each in its own transaction), so the second
    plans what is left and finds those as it would any order scheduled earlier."""
    lease = Lease(new_uow, run_id, lease_owner(), lease_s)
    run = lease.take()
    if run is None:
        return
    with lease.renewed():
        try:
            _execute(lease, run, window_min, executor, workers)
        except LeaseLost as lost:
            log.warning("%s (taken over, or finished, by another process): stopping", lost)


def _execute(
    lease: Lease,
    run: models.ScheduleRun,
    window_min: int,
    executor: Executor | None,
    workers: int | None,
) -> None:
    """``execute``'s work on the run it took (as it stood when taken)."""
    actor = Actor(subject=run.requested_by, role=Role(run.requested_role))
    engine = run.engine
    try:
        with lease.new_uow() as uow:
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
    lease: Lease,
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
    for number, (order, decision) in enumerate(decisions):
        outcomes.append(_apply_one(lease.new_uow, lease.run_id, order, decision, actor, window_min))
        if time.monotonic() - last_report > 1.0:
            last_report = time.monotonic()
            lease.update(progress=SOLVING_TO + (1 - SOLVING_TO) * number / total)
    return outcomes


def _apply_one(
    new_uow: Callable[[], UnitOfWork],
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
        with new_uow() as uow:
            commands.transition(
                uow,
                commands.TransitionWorkOrder(
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
