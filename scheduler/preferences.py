"""Preferred technicians: a pass over a finished plan that gives jobs to the technician their
customer asked for, where that costs little.

Neither engine has a notion of "rather this technician" (a hard rule would be a pin), so the
engines plan for the least driving and this pass then moves, one at a time, each job served
by someone other than its ``preferred_technician`` into that technician's route: out of its
route (the other stops keep their times), into the preferred route at its cheapest feasible
place (``insert``: every window, break, van and shift rule checked, nothing bumped). A move
is kept when it adds at most ``WORTH_S`` seconds of driving to the day; the most urgent
jobs go first. It never leaves a job out that the plan served and never touches a pinned
job. ``Totals.preferred_kept`` says how many preferences the plan keeps.
"""

from __future__ import annotations

import time

from scheduler import insert, travel
from scheduler.model import Job, Place, Plan, Problem, Route, Totals
from scheduler.validate import PlanInvalid

WORTH_S = 900
"""Driving a preference is worth: a customer's own technician for up to 15 more minutes."""


def honour(problem: Problem, plan: Plan, *, deadline: float | None = None) -> Plan:
    """``plan`` with jobs moved to their preferred technicians where worth it; ``deadline``
    (``time.perf_counter()``) stops the pass, leaving the moves made so far."""
    jobs = {j.id: j for j in problem.jobs}
    techs = {t.id for t in problem.technicians}
    wanted = sorted(
        (
            (jobs[s.job].priority, s.job)
            for r in plan.routes
            for s in r.stops
            if _movable(jobs[s.job], r.technician, techs)
        ),
    )
    for _, job_id in wanted:
        if deadline is not None and time.perf_counter() > deadline:
            break
        plan = _move(problem, plan, jobs[job_id]) or plan
    return plan


def _movable(job: Job, technician: str, techs: set[str]) -> bool:
    return (
        job.preferred_technician is not None
        and job.preferred_technician != technician
        and job.preferred_technician in techs
        and job.pinned_technician is None
        and job.pinned_start is None
    )


def _move(problem: Problem, plan: Plan, job: Job) -> Plan | None:
    """``plan`` with ``job`` in its preferred technician's route, or None if not worth it."""
    pinned = Problem.model_construct(
        technicians=problem.technicians,
        jobs=[
            j.model_copy(update={"pinned_technician": j.preferred_technician}) if j is job else j
            for j in problem.jobs
        ],
        travel=problem.travel,
    )
    without = _without(problem, plan, job.id)
    try:
        placed = insert.insert(pinned, without, job.id)
    except (PlanInvalid, ValueError):  # taking it out broke its route (a caller's odd matrix)
        return None
    if placed.technician is None or placed.bumped:
        return None
    if placed.plan.totals.travel_s - plan.totals.travel_s > WORTH_S:
        return None
    return placed.plan.model_copy(update={"engine": plan.engine, "seconds": plan.seconds})


def _without(problem: Problem, plan: Plan, job_id: str) -> Plan:
    """The plan with ``job_id`` taken out of its route: the other stops keep their times,
    the next one drives from the stop before (or home, or the start)."""
    routes: list[Route] = []
    for route in plan.routes:
        at = next((n for n, s in enumerate(route.stops) if s.job == job_id), None)
        if at is None:
            routes.append(route)
            continue
        if len(route.stops) == 1:
            continue  # the technician stays at home
        tech = next(t for t in problem.technicians if t.id == route.technician)
        jobs = {j.id: j for j in problem.jobs}
        stops = [s for s in route.stops if s.job != job_id]
        before: Place = tech.start if at == 0 else jobs[route.stops[at - 1].job].location
        if at < len(stops):
            leg = travel.seconds(problem.travel, before, jobs[stops[at].job].location)
            stops[at] = stops[at].model_copy(update={"travel_s": leg})
        legs = sum(s.travel_s for s in stops)
        last = jobs[stops[-1].job].location
        home = travel.seconds(problem.travel, last, tech.home_end)
        routes.append(
            route.model_copy(
                update={
                    "stops": stops,
                    "travel_s": legs + home,
                    "work_s": sum(jobs[s.job].duration_s for s in stops),
                }
            )
        )
    return plan.model_copy(update={"routes": routes, "totals": Totals.of(problem.jobs, routes)})
