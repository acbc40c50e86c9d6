"""An independent check of a plan against its problem.

It shares nothing with the engines but the problem's own definitions (``model``, and
``travel`` for the problem's travel times) and re-derives every rule from the problem as
written: every job at most once and every job left out listed once; skills; certifications
valid on the technician's day; pinning; parts per van; working minutes; shift, windows and
breaks; times consistent with travel (arrival no earlier than leaving plus driving, every
break taken once inside its window and not during work). ``violations`` lists what is wrong;
``check`` raises ``PlanInvalid`` with that list.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from scheduler import travel
from scheduler.model import PRIORITY_WEIGHT, Job, Plan, Problem, Route, Stop, Technician


class PlanInvalid(Exception):
    def __init__(self, violations: list[str]) -> None:
        super().__init__("; ".join(violations[:10]))
        self.violations = violations


def check(problem: Problem, plan: Plan) -> None:
    found = violations(problem, plan)
    if found:
        raise PlanInvalid(found)


def violations(problem: Problem, plan: Plan) -> list[str]:
    techs = {t.id: t for t in problem.technicians}
    jobs = {j.id: j for j in problem.jobs}
    out: list[str] = []
    seen: Counter[str] = Counter()
    routed: set[str] = set()
    for route in plan.routes:
        tech = techs.get(route.technician)
        if tech is None:
            out.append(f"route for unknown technician {route.technician!r}")
            continue
        if route.technician in routed:
            out.append(f"{tech.id}: two routes")
        routed.add(route.technician)
        for stop in route.stops:
            seen[stop.job] += 1
        out += _route(problem, tech, jobs, route)
    for unassigned in plan.unassigned:
        seen[unassigned.job] += 1
    for ident, count in seen.items():
        if ident not in jobs:
            out.append(f"unknown job {ident!r} in the plan")
        elif count > 1:
            out.append(f"job {ident!r} appears {count} times")
    out += [f"job {j!r} is neither routed nor listed as unassigned" for j in jobs if j not in seen]
    out += _totals(problem, plan)
    return out


def _route(problem: Problem, tech: Technician, jobs: dict[str, Job], route: Route) -> list[str]:
    stops = [(s, jobs[s.job]) for s in route.stops if s.job in jobs]
    if len(stops) != len(route.stops):
        return []  # unknown jobs are reported once, by the caller
    out = _who_may(tech, stops) + _parts_and_work(tech, route, stops)
    if route.start < tech.shift.start or route.end > tech.shift.end:
        out.append(f"{tech.id}: route {route.start}..{route.end} outside the shift")
    breaks = sorted((b.start, b.end) for b in route.breaks)
    out += _breaks_due(tech, breaks)
    out += _times(problem, tech, route, stops, breaks)
    return out


def _who_may(tech: Technician, stops: list[tuple[Stop, Job]]) -> list[str]:
    """Skills, certifications valid on the day, territory and pinning, stop by stop."""
    out = []
    for stop, job in stops:
        where = f"{tech.id}/{job.id}"
        missing = set(job.skills) - set(tech.skills)
        if missing:
            out.append(f"{where}: lacks skill(s) {sorted(missing)}")
        for code in job.certifications:
            if not any(c.code == code and c.valid_on(tech.day) for c in tech.certifications):
                out.append(f"{where}: no certification {code!r} valid on {tech.day}")
        if job.territory is not None and tech.territory not in (None, job.territory):
            out.append(f"{where}: territory {job.territory!r}, not {tech.territory!r}")
        if job.pinned_technician is not None and job.pinned_technician != tech.id:
            out.append(f"{where}: pinned to {job.pinned_technician!r}")
        if job.pinned_start is not None and stop.start != job.pinned_start:
            out.append(f"{where}: starts {stop.start}, pinned to {job.pinned_start}")
    return out


def _parts_and_work(tech: Technician, route: Route, stops: list[tuple[Stop, Job]]) -> list[str]:
    """The parts the route needs against the van, and its work against the working minutes."""
    name = tech.id
    out = []
    needed: Counter[str] = Counter()
    for _, job in stops:
        needed.update(job.parts)
    for sku, quantity in needed.items():
        if quantity > tech.van_stock.get(sku, 0):
            out.append(
                f"{name}: needs {quantity} x {sku}, the van holds {tech.van_stock.get(sku, 0)}"
            )
    work = sum(job.duration_s for _, job in stops)
    if route.work_s != work:
        out.append(f"{name}: work_s {route.work_s}, the jobs add up to {work}")
    if tech.max_working_minutes is not None and work > 60 * tech.max_working_minutes:
        out.append(f"{name}: {work} s of work, at most {tech.max_working_minutes} min")
    return out


def _breaks_due(tech: Technician, breaks: list[tuple[datetime, datetime]]) -> list[str]:
    """Every break due taken once (``breaks`` in order of start), inside its window, as long
    as it should be."""
    name = tech.id
    if len(breaks) != len(tech.breaks):
        return [f"{name}: {len(breaks)} break(s) taken, {len(tech.breaks)} due"]
    out = []
    due = sorted(tech.breaks, key=lambda b: (b.window.start, b.window.end))
    for (start, end), rule in zip(breaks, due, strict=True):
        if not rule.window.start <= start <= rule.window.end:
            out.append(f"{name}: break at {start} outside {rule.window.start}..{rule.window.end}")
        if end - start != timedelta(minutes=rule.minutes):
            out.append(f"{name}: break of {end - start}, due {rule.minutes} min")
    return out


def _times(
    problem: Problem,
    tech: Technician,
    route: Route,
    stops: list[tuple[Stop, Job]],
    breaks: list[tuple[datetime, datetime]],
) -> list[str]:
    """The route's timeline: driving, arrivals, starts in the windows, work lasting as
    long as the job, breaks clear of the work and inside the route, and the travel totals."""
    name = tech.id
    out = []
    legs = travel.route(
        problem.travel, [tech.start, *(j.location for _, j in stops), tech.home_end]
    )
    free_from = route.start
    for (stop, job), leg in zip(stops, legs, strict=False):
        where = f"{name}/{job.id}"
        if stop.travel_s != leg:
            out.append(f"{where}: travel_s {stop.travel_s}, the problem says {leg}")
        pause = _break_seconds(breaks, free_from, stop.start)
        if stop.arrival < free_from + timedelta(seconds=leg):
            out.append(f"{where}: arrives {stop.arrival}, before {leg} s of driving")
        if (stop.start - free_from).total_seconds() < leg + pause:
            out.append(f"{where}: no time for {leg} s of driving and {pause} s of breaks")
        if stop.start < stop.arrival:
            out.append(f"{where}: starts before arriving")
        if stop.end - stop.start != timedelta(seconds=job.duration_s):
            out.append(f"{where}: lasts {stop.end - stop.start}, not {job.duration_s} s")
        if not _in_windows(job, tech, stop.start):
            out.append(f"{where}: starts {stop.start}, outside its windows")
        for start, end in breaks:
            if start < stop.end and stop.start < end:
                out.append(f"{where}: a break at {start} falls during the work")
        free_from = stop.end
    home = legs[-1]
    pause = _break_seconds(breaks, free_from, route.end)
    if (route.end - free_from).total_seconds() < home + pause:
        out.append(f"{name}: back at {route.end}, too soon for {home} s of driving")
    for start, end in breaks:
        if start < route.start or end > route.end:
            out.append(f"{name}: a break at {start} outside the route")
    travel_s = sum(s.travel_s for s in route.stops) + home
    if route.travel_s != travel_s:
        out.append(f"{name}: travel_s {route.travel_s}, the legs add up to {travel_s}")
    return out


def _break_seconds(breaks: list[tuple[datetime, datetime]], frm: datetime, to: datetime) -> int:
    return int(sum((e - s).total_seconds() for s, e in breaks if frm <= s and e <= to))


def _in_windows(job: Job, tech: Technician, start: datetime) -> bool:
    if job.pinned_start is not None:
        return start == job.pinned_start
    if not job.windows:
        return tech.shift.start <= start <= tech.shift.end
    return any(w.start <= start <= w.end for w in job.windows)


def _totals(problem: Problem, plan: Plan) -> list[str]:
    out = []
    assigned = sum(len(r.stops) for r in plan.routes)
    totals = plan.totals
    if totals.jobs != len(problem.jobs) or totals.assigned != assigned:
        out.append(f"totals say {totals.assigned}/{totals.jobs}, the plan has {assigned}")
    travel_s = sum(r.travel_s for r in plan.routes)
    if totals.travel_s != travel_s:
        out.append(f"totals.travel_s {totals.travel_s}, the routes add up to {travel_s}")
    weight = {j.id: PRIORITY_WEIGHT[j.priority] for j in problem.jobs}
    done = sum(weight.get(s.job, 0) for r in plan.routes for s in r.stops)
    share = done / sum(weight.values()) if weight else 1.0  # nothing to do is all done
    if abs(totals.priority_weighted_share - share) > 1e-5:
        out.append(f"totals.priority_weighted_share {totals.priority_weighted_share}, not {share}")
    preferred = {j.id: j.preferred_technician for j in problem.jobs if j.preferred_technician}
    kept = sum(preferred.get(s.job) == r.technician for r in plan.routes for s in r.stops)
    if (totals.preferred_jobs, totals.preferred_kept) != (len(preferred), kept):
        out.append(
            f"totals say {totals.preferred_kept} of {totals.preferred_jobs} preferred "
            f"technicians kept, the plan {kept} of {len(preferred)}"
        )
    return out
