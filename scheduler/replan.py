"""Re-plan the rest of a day after a change: a technician unavailable, or a job running late.

``replan(problem, plan, change, now=...)`` takes the day's problem, the plan being worked and
one change, and hands back a plan for the rest of the day, the problem that plan satisfies
(the original one, adjusted), and every order that moved, with the reason. What a dispatcher
expects of it:

- Work that has started (a stop whose start is at or before ``now``) stays exactly as it is:
  the adjusted problem pins it (``pinned_technician`` and ``pinned_start``), and so a break
  under way (its window becomes its start, to the second).
- Nothing new starts before ``now``: the windows of work not yet started, and of breaks not
  yet taken, are cut to start at ``now`` at the earliest.
- Least disruption: the jobs of technicians the change does not touch stay with them (the
  adjusted problem pins the technician, not the time, so times may shift around work moved
  in). Only when the solver cannot fit one of them with its technician is it set free, in a
  second solve. The affected technician's jobs not yet started are free to move (to another
  technician, or to another time with the same one).
- ``TechnicianUnavailable(technician, since)``: that technician's shift ends at ``since``, or
  when the started work is done and they are back at their end place, whichever is later;
  breaks they no longer have time for are dropped; their jobs not started are set free.
- ``JobLate(job, minutes)``: the job, started and the technician's current work, lasts
  ``minutes`` longer from the same start. The technician's jobs not started are set free; when
  the longer work runs past the end of the shift, the most working minutes or a break's
  window, those stretch to fit it (started work is a fact, not a choice).
- Jobs the plan left out stay out, with their reason: a change only takes time away. (Plan
  the adjusted problem afresh with ``solve`` to reconsider them.)

How: the solver (``solve.solve``, any engine) plans only what has not started, each
technician with started work setting out from its last job when that work is done; the
started work is put back in front of those routes, and the whole plan is checked
(``validate.check``) against the adjusted problem. So the solver can never trade started work
for other jobs, and an engine that cannot hold a pinned start (PyVRP) still takes part.

``moved`` lists every job whose technician changed, that was left out, or whose start moved
by more than ``MOVE_TOLERANCE``: a quarter of an hour, as customers are told times in quarter
hours and a stop a few minutes early or late is not news. Each reason names the change
("tess unavailable from 13:00", "J-7 running 45 min late"), and for a job left out the plan's
reason too.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from scheduler import travel, validate
from scheduler.model import (
    Break,
    BreakTaken,
    Job,
    Place,
    Plan,
    Problem,
    Route,
    Stop,
    Technician,
    Totals,
    Window,
)
from scheduler.solve import Engine, solve

MOVE_TOLERANCE = timedelta(minutes=15)
"""A job whose technician stays and whose start moves by at most this much is not ``moved``."""


@dataclass(frozen=True)
class TechnicianUnavailable:
    """The technician cannot work from ``since`` (sick, van broken down, called away)."""

    technician: str
    since: datetime

    def __post_init__(self) -> None:
        _aware("since", self.since)


@dataclass(frozen=True)
class JobLate:
    """The job, under way, will take ``minutes`` longer than planned."""

    job: str
    minutes: int

    def __post_init__(self) -> None:
        if self.minutes < 1:
            raise ValueError(f"minutes must be at least 1, not {self.minutes}")


Change = TechnicianUnavailable | JobLate


@dataclass(frozen=True)
class Moved:
    """One job the re-plan changed: who and when, before and after (None: not in a route)."""

    job: str
    from_technician: str | None
    to_technician: str | None
    from_start: datetime | None
    to_start: datetime | None
    reason: str


@dataclass(frozen=True)
class Replanned:
    """What ``replan`` hands back."""

    new_plan: Plan
    problem: Problem = field(repr=False)
    """The adjusted problem: ``new_plan`` passes ``validate.check`` against it."""
    moved: list[Moved]
    started: list[str]
    """Jobs kept exactly as they were: started by ``now``."""
    why: str
    """The change, as a dispatcher says it."""


def replan(
    problem: Problem,
    plan: Plan,
    change: Change,
    *,
    now: datetime,
    engine: Engine = "auto",
    time_limit_s: float | None = None,
) -> Replanned:
    """The rest of the day after ``change``, as it stands at ``now`` (see the module).

    ``plan`` must be a valid plan of ``problem``; a change naming nobody in them, or a late
    job that has not started or is no longer its technician's current work, is refused
    (``ValueError`` for all of these). The solver runs once, or twice when it could not keep
    a job with its technician; ``time_limit_s`` is for each run.
    """
    _aware("now", now)
    if now.microsecond:  # plans are in whole seconds: nothing new may start before now
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    wrong = validate.violations(problem, plan)
    if wrong:
        raise ValueError("the plan does not fit the problem: " + "; ".join(wrong[:5]))
    day = _Day(problem, plan, now)
    affected, extra, why = day.resolve(change)
    since = change.since if isinstance(change, TechnicianUnavailable) else None
    shapes = {
        t.id: day.technician(t, since if t.id == affected else None, extra)
        for t in problem.technicians
    }
    jobs, kept = day.jobs_for_rest(affected, extra)
    adjusted = Problem(
        technicians=[shapes[t.id].technician for t in problem.technicians],
        jobs=jobs,
        travel=problem.travel,
    )
    new_plan = _solve(adjusted, shapes, day, engine, time_limit_s)
    lost = kept - _placement(new_plan).keys()
    if lost:  # the solver could not keep them with their technician: let them go elsewhere
        adjusted = _released(adjusted, lost, problem)
        new_plan = _solve(adjusted, shapes, day, engine, time_limit_s)
    return Replanned(
        new_plan=new_plan,
        problem=adjusted,
        moved=_moved(problem, plan, new_plan, why),
        started=[j.id for j in problem.jobs if j.id in day.started],
        why=why,
    )


def _released(adjusted: Problem, lost: set[str], problem: Problem) -> Problem:
    """``adjusted`` with the ``lost`` jobs no longer pinned to their technician (unless
    ``problem`` itself pins them)."""
    original = {j.id: j for j in problem.jobs}
    return adjusted.model_copy(
        update={
            "jobs": [
                _updated(j, pinned_technician=original[j.id].pinned_technician)
                if j.id in lost
                else j
                for j in adjusted.jobs
            ]
        }
    )


@dataclass
class _Shape:
    """A technician for the rest of the day.

    ``technician`` is as the adjusted problem states them. With started jobs, ``rest`` is who
    the solver plans: setting out from the last started job when the started work is done,
    with the breaks still due and what is left of the working minutes and of the van (no
    time at all when no minute is left). ``done`` and ``taken`` are the started stops and
    breaks; ``due`` and ``end`` where the breaks still due fall, and when the technician is
    back, if nothing else comes.
    """

    technician: Technician
    rest: Technician | None = None
    start: datetime | None = None  # the route's start, when there is started work
    done: list[Stop] = field(default_factory=list)
    taken: list[BreakTaken] = field(default_factory=list)
    due: list[BreakTaken] = field(default_factory=list)
    home_s: int = 0
    end: datetime | None = None


class _Day:
    """The plan as it stands at ``now``: who has which job, and what has started."""

    def __init__(self, problem: Problem, plan: Plan, now: datetime) -> None:
        self.problem = problem
        self.now = now
        self.jobs = {j.id: j for j in problem.jobs}
        self.routes = {r.technician: r for r in plan.routes}
        self.placed = {s.job: (r, s) for r in plan.routes for s in r.stops}
        self.started = {j for j, (_, s) in self.placed.items() if s.start <= now}
        self.left_out = list(plan.unassigned)
        self.first_shift = min((t.shift.start for t in problem.technicians), default=now)
        self.last_shift = max((t.shift.end for t in problem.technicians), default=now)

    def resolve(self, change: Change) -> tuple[str, dict[str, int], str]:
        """The affected technician, extra seconds of work per job, and the change in words."""
        if isinstance(change, TechnicianUnavailable):
            techs = {t.id: t for t in self.problem.technicians}
            if change.technician not in techs:
                raise ValueError(f"no technician {change.technician!r} in the problem")
            zone = ZoneInfo(techs[change.technician].time_zone)
            when = change.since.astimezone(zone)
            return change.technician, {}, f"{change.technician} unavailable from {when:%H:%M}"
        if change.job not in self.jobs:
            raise ValueError(f"no job {change.job!r} in the problem")
        if change.job not in self.placed:
            raise ValueError(f"job {change.job!r} is not in the plan's routes")
        route, stop = self.placed[change.job]
        if change.job not in self.started:
            raise ValueError(
                f"job {change.job!r} has not started by {self.now.isoformat()} "
                f"(planned for {stop.start.isoformat()}): it cannot be running late"
            )
        after = [s.job for s in route.stops if stop.start < s.start <= self.now]
        after += [
            f"a break at {b.start:%H:%M}" for b in route.breaks if stop.start < b.start <= self.now
        ]
        if after:
            raise ValueError(
                f"job {change.job!r} is over: {route.technician} has since started "
                + ", ".join(after)
            )
        return (
            route.technician,
            {change.job: 60 * change.minutes},
            f"{change.job} running {change.minutes} min late",
        )

    def technician(self, tech: Technician, since: datetime | None, extra: dict[str, int]) -> _Shape:
        """The technician for the rest of the day: started breaks pinned, breaks to come no
        earlier than now; for the affected one, the shift cut (``since``) or stretched to fit
        work grown longer (``extra``)."""
        now = self.now
        route = self.routes.get(tech.id)
        done = [
            s.model_copy(update={"end": s.end + timedelta(seconds=extra.get(s.job, 0))})
            for s in (route.stops if route else [])
            if s.start <= now
        ]
        taken = sorted(route.breaks, key=lambda b: b.start) if route else []
        rules = sorted(tech.breaks, key=lambda b: (b.window.start, b.window.end))
        began = [b for b in taken if b.start <= now]
        free = max([s.end for s in done] + [b.end for b in began], default=None)
        place: Place = self.jobs[done[-1].job].location if done else tech.start
        home = travel.seconds(self.problem.travel, place, tech.home_end)
        going = timedelta(seconds=home if free is not None else 0)
        limit = None  # when the unavailable technician must be back
        if since is not None:
            cut = min(max(since, tech.shift.start), tech.shift.end)
            limit = cut if free is None else max(cut, free + going)
        cursor = now if free is None else free  # when the breaks still due may fall
        breaks, rest, due, cursor = self.breaks(rules, taken, cursor, limit, going)
        update: dict[str, Any] = {}
        if breaks != rules:
            update["breaks"] = breaks
        end = tech.shift.end
        if limit is not None:
            end = limit
        elif free is not None:
            end = max(end, cursor + going)
        if end != tech.shift.end:
            update["shift"] = Window(start=tech.shift.start, end=end)
        worked = sum(self.jobs[s.job].duration_s + extra.get(s.job, 0) for s in done)
        most = tech.max_working_minutes
        if most is not None and worked > 60 * most:
            update["max_working_minutes"] = most = math.ceil(worked / 60)
        adjusted = _updated(tech, **update) if update else tech
        if not done or route is None:  # the solver plans the whole of the rest of the day
            return _Shape(adjusted)
        used: Counter[str] = Counter()
        for stop in done:
            used.update(self.jobs[stop.job].parts)
        assert free is not None  # nosec B101  # work was done (else returned above), so free is its end; this narrows the type
        left = None if most is None else (60 * most - worked) // 60
        spent = left is not None and left < 1  # no minutes left: no time either
        return _Shape(
            technician=adjusted,
            rest=_updated(
                adjusted,
                start=place,
                end=tech.home_end,
                shift=Window(start=free, end=free if spent else end),
                breaks=[] if spent else rest,
                max_working_minutes=None if spent else left,
                van_stock={k: n - used[k] for k, n in tech.van_stock.items()},
            ),
            start=route.start,
            done=done,
            taken=began,
            due=due,
            home_s=home,
            end=cursor + going,
        )

    def breaks(
        self,
        rules: list[Break],
        taken: list[BreakTaken],
        cursor: datetime,
        limit: datetime | None,
        going: timedelta,
    ) -> tuple[list[Break], list[Break], list[BreakTaken], datetime]:
        """A technician's breaks for the rest of the day (``rules`` in window order, ``taken``
        the plan's breaks in order), those of them still due, where these fall when the
        technician is free from ``cursor`` on, and when the last of them ends.

        A break under way is pinned to its start. One whose window passed while the
        technician had no work stays as it is, when it fits before ``limit`` (when the
        unavailable technician must be back). One to come starts no earlier than now; before
        ``limit`` it must leave time for the drive home (``going``), or it is dropped."""
        now = self.now
        breaks: list[Break] = []
        rest: list[Break] = []  # the breaks still due
        due: list[BreakTaken] = []
        for index, rule in enumerate(rules):
            took = taken[index] if index < len(taken) else None
            if took is not None and took.start <= now:
                breaks.append(_break(took.start, took.start, rule.minutes))
                continue
            length = timedelta(minutes=rule.minutes)
            begin = max(rule.window.start, now)
            if begin > rule.window.end:  # its window passed while the technician had no work
                if limit is None or rule.window.start + length <= limit:
                    breaks.append(rule)
                continue
            earliest = max(begin, cursor)
            latest = max(rule.window.end, cursor)
            if limit is not None:
                if earliest + length + going > limit:
                    continue  # no time for it before the technician stops
                latest = min(latest, limit - length)
            breaks.append(_break(begin, latest, rule.minutes))
            rest.append(breaks[-1])
            due.append(BreakTaken(start=earliest, end=earliest + length))
            cursor = earliest + length
        return breaks, rest, due, cursor

    def jobs_for_rest(self, affected: str, extra: dict[str, int]) -> tuple[list[Job], set[str]]:
        """The problem's jobs for the rest of the day, and those kept with their technician.

        Started work is pinned to its technician and start (and lasts ``extra`` seconds
        longer where it runs late); work not yet started gets its windows cut to now, and
        that of a technician other than ``affected`` is pinned to them (a job the problem
        itself pins stays pinned whatever happens); jobs left out stay as they are."""
        kept: set[str] = set()
        jobs: list[Job] = []
        for job in self.problem.jobs:
            placed = self.placed.get(job.id)
            if placed is None:  # left out: stays out
                jobs.append(job)
                continue
            route, stop = placed
            if job.id in self.started:
                jobs.append(
                    _updated(
                        job,
                        pinned_technician=route.technician,
                        pinned_start=stop.start,
                        duration_s=job.duration_s + extra.get(job.id, 0),
                    )
                )
                continue
            update: dict[str, Any] = {}
            windows = self.from_now(job)
            if windows is not None:
                update["windows"] = windows
            if route.technician != affected and job.pinned_technician is None:
                kept.add(job.id)
                update["pinned_technician"] = route.technician
            jobs.append(_updated(job, **update) if update else job)
        return jobs, kept

    def from_now(self, job: Job) -> list[Window] | None:
        """The job's windows cut to start no earlier than now; None when they need no cut."""
        now = self.now
        if not job.windows:
            if now <= self.first_shift:
                return None
            return [Window(start=now, end=max(now, self.last_shift))]
        if all(w.start >= now for w in job.windows):
            return None
        left = [Window(start=max(w.start, now), end=w.end) for w in job.windows if w.end >= now]
        return left or None  # never none left: the plan started this job after now


def _solve(
    adjusted: Problem,
    shapes: dict[str, _Shape],
    day: _Day,
    engine: Engine,
    time_limit_s: float | None,
) -> Plan:
    """Plan what has not started, put the started work back in front, list the jobs the plan
    had left out with their reasons again; check the whole against the adjusted problem."""
    out = {u.job for u in day.left_out}
    rest = Problem(
        technicians=[shapes[t.id].rest or t for t in adjusted.technicians],
        jobs=[j for j in adjusted.jobs if j.id not in out and j.id not in day.started],
        travel=adjusted.travel,
    )
    solved = solve(rest, engine=engine, time_limit_s=time_limit_s)
    planned = {r.technician: r for r in solved.routes}
    duration = {j.id: j.duration_s for j in adjusted.jobs}
    routes: list[Route] = []
    for tech in adjusted.technicians:
        shape, route = shapes[tech.id], planned.get(tech.id)
        if not shape.done:
            if route is not None:
                routes.append(route)
            continue
        assert shape.start is not None and shape.end is not None  # nosec B101  # a shape with work done has both; this narrows the type
        stops = [*shape.done, *(route.stops if route else [])]
        legs = sum(s.travel_s for s in shape.done)
        routes.append(
            Route(
                technician=tech.id,
                start=shape.start,
                end=route.end if route else shape.end,
                stops=stops,
                breaks=[*shape.taken, *(route.breaks if route else shape.due)],
                travel_s=legs + (route.travel_s if route else shape.home_s),
                work_s=sum(duration[s.job] for s in stops),
            )
        )
    unassigned = {u.job: u for u in [*solved.unassigned, *day.left_out]}
    plan = Plan(
        engine=solved.engine,
        seconds=solved.seconds,
        routes=routes,
        unassigned=[unassigned[j.id] for j in adjusted.jobs if j.id in unassigned],
        totals=Totals.of(adjusted.jobs, routes),
    )
    validate.check(adjusted, plan)
    return plan


def _moved(problem: Problem, before: Plan, after: Plan, why: str) -> list[Moved]:
    old, new = _placement(before), _placement(after)
    left_out = {u.job: u.reason for u in after.unassigned}
    out = []
    for job in problem.jobs:
        was_tech, was_at = old.get(job.id, (None, None))
        is_tech, is_at = new.get(job.id, (None, None))
        if was_tech == is_tech and (
            was_at is None or is_at is None or abs(is_at - was_at) <= MOVE_TOLERANCE
        ):
            continue
        reason = why
        if is_tech is None and job.id in left_out:
            reason += f"; left out: {left_out[job.id]}"
        out.append(Moved(job.id, was_tech, is_tech, was_at, is_at, reason))
    return out


def _placement(plan: Plan) -> dict[str, tuple[str, datetime]]:
    return {s.job: (r.technician, s.start) for r in plan.routes for s in r.stops}


def _break(start: datetime, end: datetime, minutes: int) -> Break:
    return Break(window=Window(start=start, end=end), minutes=minutes)


_M = TypeVar("_M", Job, Technician)


def _updated(item: _M, **update: Any) -> _M:
    """A copy with ``update``, validated again (a duration grown past a day is refused)."""
    return type(item).model_validate({**item.model_dump(), **update})


def _aware(name: str, when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} needs a UTC offset: {when.isoformat()}")
