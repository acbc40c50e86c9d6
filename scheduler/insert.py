"""Urgent insertion: one new job placed into the day's stored plan, answered at once.

``insert(problem, plan, job_id)`` takes the day's problem *with* the new job and the plan
stored for the day *without* it, and returns an ``Insertion``: the new plan (engine
``"insert"``), the technician and position chosen, and the job bumped for it, if any.

Nobody's day is re-planned. Every route keeps its stops in the same order on the same
technician; the new job goes where it adds least, found by cheapest feasible insertion over
the stored routes of the technicians allowed to do it (``instance``'s eligibility: skills,
certifications valid on the day, territory, parts, pinning), a technician with no route yet
included. What it adds:

* driving, weighted by the technician's hourly cost (the engines' own objective), plus
* ``PUSH_WEIGHT`` times the seconds by which stops already planned move later: customers
  were given those times, so of two places that add the same driving the one that moves
  fewer promises wins, and a place that adds a little driving but moves a whole afternoon
  loses to one that adds a little more.

The stops before the new one keep their times to the second; the ones after it never move
earlier than planned (a customer told 10:00 is not visited at 09:40) and move later only as
far as they must. Each place is checked exactly: every later stop inside one of its windows,
a pinned start kept to the second, breaks re-placed inside their windows and never during
work, van stock across the whole route, working minutes, and back home by the end of the
shift.

When no place is feasible and the job is more urgent than some of the work planned, the
least valuable such job (lowest priority; of equals, the one whose removal makes the
cheapest room) is bumped to make room: a single removal from one route that, with the job
gone, makes the insertion feasible. Pinned jobs are never bumped. The bumped job is listed
unassigned (``dropped``, naming the urgent job). When still nothing works the new job is
listed unassigned with the instance's reason when nobody may do it, else ``capacity``.

The result passes ``validate.check`` before it is returned. Travel is computed only for
the legs needed (to and from the new job for every stop of the eligible routes, in two
vectorised calls), never the day's whole matrix.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from scheduler import travel, validate
from scheduler.instance import compile_problem
from scheduler.model import (
    PRIORITY_WEIGHT,
    BreakTaken,
    Job,
    Place,
    Plan,
    Problem,
    Route,
    Stop,
    Technician,
    Totals,
    Travel,
    Unassigned,
)

PUSH_WEIGHT = 0.1
"""Weighted driving seconds one second of delay to an already-planned stop costs: moving
four customers by 25 minutes each weighs as much as 10 more minutes of driving."""

START, NEW = -1, -2  # nodes of a route beside its stored stops 0..n-1 (n: the way home)

Windows = list[tuple[int, int]]


@dataclass(frozen=True)
class Insertion:
    """What an API reports: the new plan and what was done to it."""

    plan: Plan
    technician: str | None  # who does the new job; None if it stays unassigned
    position: int | None  # its index among that technician's stops
    bumped: list[str] = field(default_factory=list)  # jobs dropped to make room (0 or 1)
    added_travel_s: int = 0  # change in the day's driving (net of a bumped job's)
    delayed: dict[str, int] = field(default_factory=dict)  # planned stops moved later: seconds


def insert(problem: Problem, plan: Plan, job_id: str) -> Insertion:
    """Place job ``job_id`` of ``problem`` into ``plan`` (the stored plan of the same day
    without it). Raises ``ValueError`` if the job is not in the problem or already routed
    (or the plan routes jobs the problem lacks), and ``validate.PlanInvalid`` if the result
    breaks a rule (then the stored plan already did, or no longer fits the problem)."""
    began = time.perf_counter()
    jobs = {j.id: j for j in problem.jobs}
    new = jobs.get(job_id)
    if new is None:
        raise ValueError(f"job {job_id!r} is not in the problem")
    if any(s.job == job_id for r in plan.routes for s in r.stops):
        raise ValueError(f"job {job_id!r} is already routed")
    # the instance's rules for this one job: who may do it, or why nobody may
    alone = compile_problem(
        Problem.model_construct(technicians=problem.technicians, jobs=[new], travel=problem.travel)
    )
    day = _Day(problem, alone.epoch, jobs, new)
    unassigned = [u for u in plan.unassigned if u.job != job_id]
    routes = list(plan.routes)
    if not alone.eligible[0]:
        reason = alone.why_not[0]
        unassigned.append(Unassigned(job=job_id, code=reason.code, reason=reason.text))
        return _finish(day, plan, routes, unassigned, None, [], began)
    by_tech = {r.technician: r for r in routes}
    stored = [day.stored(t, by_tech.get(problem.technicians[t].id)) for t in alone.eligible[0]]
    _reach_new(day, stored)
    best = _cheapest(day, stored)
    bumped: list[str] = []
    if best is None:
        best = _bump(day, stored)
        if best is not None:
            assert best.removed is not None  # nosec B101  # _bump always says which job it removed; this narrows the type
            victim = best.stored.jobs[best.removed]
            bumped = [victim.id]
            unassigned.append(
                Unassigned(
                    job=victim.id,
                    code="dropped",
                    reason=f"dropped for urgent job {job_id!r} (priority {new.priority}, "
                    f"this job's {victim.priority})",
                )
            )
    if best is None:
        unassigned.append(Unassigned(job=job_id, code="capacity", reason=_no_room(day, stored)))
        return _finish(day, plan, routes, unassigned, None, [], began)
    route = best.route(day)
    at = [n for n, r in enumerate(routes) if r.technician == route.technician]
    if at:
        routes[at[0]] = route
    else:  # a first route for this technician, in the technicians' order
        order = {t.id: n for n, t in enumerate(problem.technicians)}
        mine = order[route.technician]
        where = next((n for n, r in enumerate(routes) if order.get(r.technician, 0) > mine), None)
        routes.insert(len(routes) if where is None else where, route)
    return _finish(day, plan, routes, unassigned, best, bumped, began)


# --- the day, in whole seconds after the epoch ------------------------------------------------


@dataclass
class _Stored:
    """One eligible technician's stored route (maybe none yet), in seconds."""

    tech: Technician
    shift: tuple[int, int]
    rules: list[tuple[int, int, int]]  # breaks due: earliest start, latest start, seconds
    route: Route | None
    jobs: list[Job]
    start: list[int]
    end: list[int]
    legs: list[int]  # driving to each stop
    home: int  # driving home after the last stop (0 without a route)
    windows: list[Windows]
    breaks: list[tuple[int, int]]  # taken: (start, end), in order
    parts: Counter[str]
    work: int
    # filled by _reach_new: driving from each node to the new job, and from it to each node
    to_new: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    from_new: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    weight: float = 1.0  # hourly cost / the cheapest eligible technician's

    @property
    def travel_s(self) -> int:
        return self.route.travel_s if self.route else 0

    def place(self, node: int) -> Place:
        if node == START:
            return self.tech.start
        if node == len(self.jobs):
            return self.tech.home_end
        return self.jobs[node].location


class _Day:
    def __init__(self, problem: Problem, epoch: datetime, jobs: dict[str, Job], new: Job) -> None:
        self.problem = problem
        self.epoch = epoch
        self.jobs = jobs
        self.new = new

    def secs(self, when: datetime) -> int:
        return int((when - self.epoch).total_seconds())

    def at(self, seconds: int, zone: ZoneInfo) -> datetime:
        return (self.epoch + timedelta(seconds=seconds)).astimezone(zone)

    def windows(self, job: Job, shift: tuple[int, int]) -> Windows:
        """When work on ``job`` may start (as the validator reads it: a job without windows
        any time in the technician's shift)."""
        if job.pinned_start is not None:
            pinned = self.secs(job.pinned_start)
            return [(pinned, pinned)]
        if job.windows:
            return sorted((self.secs(w.start), self.secs(w.end)) for w in job.windows)
        return [shift]

    def stored(self, index: int, route: Route | None) -> _Stored:
        tech = self.problem.technicians[index]
        shift = (self.secs(tech.shift.start), self.secs(tech.shift.end))
        rules = sorted(
            (self.secs(b.window.start), self.secs(b.window.end), 60 * b.minutes)
            for b in tech.breaks
        )
        stops = route.stops if route else []
        unknown = [s.job for s in stops if s.job not in self.jobs]
        if unknown:
            raise ValueError(f"the stored plan routes jobs the problem lacks: {unknown}")
        jobs = [self.jobs[s.job] for s in stops]
        parts: Counter[str] = Counter()
        for job in jobs:
            parts.update(job.parts)
        legs = [s.travel_s for s in stops]
        return _Stored(
            tech=tech,
            shift=shift,
            rules=rules,
            route=route,
            jobs=jobs,
            start=[self.secs(s.start) for s in stops],
            end=[self.secs(s.end) for s in stops],
            legs=legs,
            home=route.travel_s - sum(legs) if route else 0,
            windows=[self.windows(j, shift) for j in jobs],
            breaks=sorted((self.secs(b.start), self.secs(b.end)) for b in route.breaks)
            if route
            else [],
            parts=parts,
            work=sum(j.duration_s for j in jobs),
        )


def _reach_new(day: _Day, stored: list[_Stored]) -> None:
    """Driving to the new job from every node of every eligible route (the start and each
    stop) and from it to every node (each stop and home): two calls for the whole day."""
    frm = [p for s in stored for p in [s.tech.start, *(j.location for j in s.jobs)]]
    to = [p for s in stored for p in [*(j.location for j in s.jobs), s.tech.home_end]]
    site = day.new.location
    into = _column(day.problem.travel, frm, site)
    out = travel.between(day.problem.travel, [site], to)[0]
    cheapest = min(s.tech.hourly_cost for s in stored)
    at = 0
    for agenda in stored:
        size = len(agenda.jobs) + 1
        agenda.to_new, agenda.from_new = into[at : at + size], out[at : at + size]
        agenda.weight = agenda.tech.hourly_cost / cheapest
        at += size


def _column(how: Travel, frm: Sequence[Place], to: Place) -> NDArray[np.int64]:
    """Seconds from each of ``frm`` to one place (with a caller's matrix, one column of it,
    not every row ``travel.between`` would read)."""
    if how.matrix_s is not None:
        col = to.index
        return np.fromiter(
            (how.matrix_s[p.index][col] for p in frm),  # type: ignore[index]
            dtype=np.int64,
            count=len(frm),
        )
    return travel.between(how, frm, [to])[:, 0]


# --- searching the places -----------------------------------------------------------------------


@dataclass
class _Option:
    """One feasible place: technician, route (stored stops kept, ``removed`` left out) and the
    timetable found for it."""

    stored: _Stored
    removed: int | None
    seq: list[int]  # the new route's nodes: stored stop indices and NEW
    legs: list[int]  # driving to each node of seq
    home: int
    fixed: int  # leading stops kept exactly as stored
    begin: int  # leaves the start place
    finish: int  # back home
    starts: list[int]  # per node of seq[fixed:]
    arrivals: list[int]
    breaks: list[tuple[int, int]]  # (start, seconds), all of the day's
    kept_breaks: int  # how many of them are the stored ones, unchanged
    score: float
    delayed: dict[str, int]

    @property
    def position(self) -> int:
        return self.seq.index(NEW)

    @property
    def added_travel_s(self) -> int:
        return sum(self.legs) + self.home - self.stored.travel_s

    def route(self, day: _Day) -> Route:
        agenda = self.stored
        zone = ZoneInfo(agenda.tech.time_zone)
        old = agenda.route.stops if agenda.route else []
        stops = list(old[: self.fixed])
        for node, leg, begins, arrival in zip(
            self.seq[self.fixed :], self.legs[self.fixed :], self.starts, self.arrivals, strict=True
        ):
            job = day.new if node == NEW else agenda.jobs[node]
            if node != NEW and (begins, arrival, leg) == (
                agenda.start[node],
                day.secs(old[node].arrival),
                old[node].travel_s,
            ):
                stops.append(old[node])  # unchanged: the very same stop
                continue
            stops.append(
                Stop(
                    job=job.id,
                    arrival=day.at(arrival, zone),
                    start=day.at(begins, zone),
                    end=day.at(begins + job.duration_s, zone),
                    travel_s=leg,
                )
            )
        kept = agenda.route.breaks if agenda.route else []
        breaks = sorted(kept, key=lambda b: b.start)[: self.kept_breaks] + [
            BreakTaken(start=day.at(b, zone), end=day.at(b + n, zone))
            for b, n in self.breaks[self.kept_breaks :]
        ]
        return Route(
            technician=agenda.tech.id,
            start=agenda.route.start if self.fixed and agenda.route else day.at(self.begin, zone),
            end=day.at(self.finish, zone),
            stops=stops,
            breaks=breaks,
            travel_s=sum(self.legs) + self.home,
            work_s=agenda.work
            + day.new.duration_s
            - (agenda.jobs[self.removed].duration_s if self.removed is not None else 0),
        )


def _fits(day: _Day, agenda: _Stored, removed: int | None) -> bool:
    """Route-wide rules: van stock and working minutes, with the new job (and without the
    removed one)."""
    parts = agenda.parts.copy()
    work = agenda.work + day.new.duration_s
    if removed is not None:
        parts.subtract(agenda.jobs[removed].parts)
        work -= agenda.jobs[removed].duration_s
    parts.update(day.new.parts)
    if any(n > agenda.tech.van_stock.get(sku, 0) for sku, n in parts.items() if n > 0):
        return False
    limit = agenda.tech.max_working_minutes
    return limit is None or work <= 60 * limit


def _cheapest(day: _Day, stored: list[_Stored]) -> _Option | None:
    """The best feasible place with no job removed."""
    close = max(b for s in stored for _, b in day.windows(day.new, s.shift))
    tries: list[tuple[float, bool, int, int]] = []  # lower bound, not preferred, route, gap
    for route_index, agenda in enumerate(stored):
        if not _fits(day, agenda, None):
            continue
        stop_count = len(agenda.jobs)
        old = (
            np.asarray([*agenda.legs, agenda.home], dtype=np.int64)
            if stop_count
            else np.zeros(1, np.int64)
        )
        added = agenda.to_new + agenda.from_new - old
        ready = np.asarray([agenda.shift[0], *agenda.end], dtype=np.int64) + agenda.to_new
        other = day.new.preferred_technician not in (None, agenda.tech.id)
        for gap in np.flatnonzero(ready <= close):
            tries.append((float(added[gap]) * agenda.weight, other, route_index, int(gap)))
    tries.sort()
    return _search(day, [(lb, other, stored[k], None, g) for lb, other, k, g in tries])


def _bump(day: _Day, stored: list[_Stored]) -> _Option | None:
    """The best place made by removing one job less urgent than the new one, from the least
    valuable priority that works."""
    victims: dict[int, list[tuple[_Stored, int]]] = {}
    for agenda in stored:
        for removed, job in enumerate(agenda.jobs):
            pinned = job.pinned_technician is not None or job.pinned_start is not None
            if job.priority > day.new.priority and not pinned and _fits(day, agenda, removed):
                victims.setdefault(PRIORITY_WEIGHT[job.priority], []).append((agenda, removed))
    for weight in sorted(victims):
        group = victims[weight]
        # driving from the stop before each victim to the one after it, in one call
        bridge = np.diagonal(
            travel.between(
                day.problem.travel,
                [s.place(r - 1) for s, r in group],
                [s.place(r + 1) for s, r in group],
            )
        )
        tries: list[tuple[float, bool, _Stored, int | None, int]] = []
        for (agenda, removed), across in zip(group, bridge, strict=True):
            stop_count = len(agenda.jobs)
            out = agenda.legs[removed + 1] if removed + 1 < stop_count else agenda.home
            removal = (
                int(across) - agenda.legs[removed] - out if stop_count > 1 else -agenda.travel_s
            )
            keep = [i for i in range(stop_count) if i != removed]
            other = day.new.preferred_technician not in (None, agenda.tech.id)
            for gap in range(stop_count):
                before = keep[gap - 1] if gap else START
                after = keep[gap] if gap < len(keep) else stop_count
                if not keep:
                    old = 0
                elif before == removed - 1 and after == removed + 1:
                    old = int(across)
                else:
                    old = agenda.legs[after] if after < stop_count else agenda.home
                added = int(agenda.to_new[before + 1]) + int(agenda.from_new[after]) - old
                tries.append(((removal + added) * agenda.weight, other, agenda, removed, gap))
        tries.sort(key=lambda t: t[:2])
        best = _search(day, tries)
        if best is not None:
            return best
    return None


def _search(day: _Day, tries: list[tuple[float, bool, _Stored, int | None, int]]) -> _Option | None:
    """Branch and bound over places sorted by their driving (a lower bound of their cost):
    time every place until the driving alone costs more than the best found."""
    best: _Option | None = None
    best_key: tuple[float, bool] | None = None
    for lb, other, agenda, removed, gap in tries:
        if best_key is not None and (lb, other) > best_key:
            break
        option = _place(day, agenda, removed, gap, lb)
        if option is not None and (best_key is None or (option.score, other) < best_key):
            best, best_key = option, (option.score, other)
    return best


def _place(
    day: _Day, agenda: _Stored, removed: int | None, gap: int, driving: float
) -> _Option | None:
    """Time the route of ``agenda`` with the new job at ``gap`` (and ``removed`` left out);
    None if no timetable keeps every rule."""
    stop_count = len(agenda.jobs)
    keep = [i for i in range(stop_count) if i != removed]
    seq = [*keep[:gap], NEW, *keep[gap:]]
    fixed = 0  # the stored stops before the first change keep their times, and their breaks
    while fixed < len(seq) and seq[fixed] == fixed:
        fixed += 1
    legs = [_leg(day, agenda, a, b) for a, b in zip([START, *seq[:-1]], seq, strict=True)]
    home = _leg(day, agenda, seq[-1], stop_count)
    free = agenda.end[fixed - 1] if fixed else agenda.shift[0]
    kept = sum(1 for _, e in agenda.breaks if e <= free) if fixed else 0
    pending: list[_Due] = []
    for index, (earliest, latest, seconds) in enumerate(agenda.rules[kept:], kept):
        taken = agenda.breaks[index] if index < len(agenda.breaks) else None
        before = (
            None
            if taken is None
            else next((k for k in keep if agenda.start[k] >= taken[1]), stop_count)
        )
        pending.append(_Due(earliest, latest, seconds, None if taken is None else taken[0], before))
    items = [
        _Item(NEW, leg, day.new.duration_s, day.windows(day.new, agenda.shift), 0)
        if node == NEW
        else _Item(
            node,
            leg,
            agenda.jobs[node].duration_s,
            agenda.windows[node],
            agenda.start[node],
        )
        for node, leg in zip(seq[fixed:], legs[fixed:], strict=True)
    ]
    timed = _timetable(free, items, home, stop_count, pending, agenda.shift[1])
    if timed is None:
        return None
    starts, gaps, finish = timed
    if fixed:
        begin = day.secs(agenda.route.start) if agenda.route else agenda.shift[0]
    else:  # leave as late as the first stop and any break before it allow
        first = items[0]
        pause = sum(seconds for _, seconds in gaps[0])
        begin = max(agenda.shift[0], min([starts[0] - first.leg - pause, *(b for b, _ in gaps[0])]))
    arrivals = []
    for index, item in enumerate(items):
        frm = (
            (free if fixed else begin)
            if index == 0
            else starts[index - 1] + items[index - 1].service
        )
        arrival = frm + item.leg
        for break_start, seconds in gaps[index]:
            if break_start < arrival:  # a break before or during the drive delays the arrival
                arrival += seconds
        arrivals.append(arrival)
    delayed = {
        agenda.jobs[item.node].id: start - item.floor
        for item, start in zip(items, starts, strict=True)
        if item.node != NEW and start > item.floor
    }
    return _Option(
        stored=agenda,
        removed=removed,
        seq=seq,
        legs=legs,
        home=home,
        fixed=fixed,
        begin=begin,
        finish=finish,
        starts=starts,
        arrivals=arrivals,
        breaks=[(b, e - b) for b, e in agenda.breaks[:kept]] + [bk for gap in gaps for bk in gap],
        kept_breaks=kept,
        score=driving + PUSH_WEIGHT * sum(delayed.values()),
        delayed=delayed,
    )


def _leg(day: _Day, agenda: _Stored, frm: int, to: int) -> int:
    """Driving from node ``frm`` to node ``to`` (stored stops by index, START, NEW; ``to`` is
    ``len(agenda.jobs)`` for home): read from the stored route or the new job's legs; only the
    gap a removed stop leaves needs a fresh figure."""
    if to == NEW:
        return int(agenda.to_new[frm + 1])
    if frm == NEW:
        return int(agenda.from_new[to])
    if to == frm + 1:
        return agenda.legs[to] if to < len(agenda.jobs) else agenda.home
    return travel.seconds(day.problem.travel, agenda.place(frm), agenda.place(to))


@dataclass(frozen=True)
class _Item:
    node: int  # stored stop index, or NEW
    leg: int  # driving to it
    service: int
    windows: Windows
    floor: int  # starts no earlier (a stored stop: its stored start)


@dataclass(frozen=True)
class _Due:
    """A break still to be placed, and where the stored plan had it."""

    earliest: int
    latest: int
    seconds: int
    stored: int | None  # its stored start
    before: int | None  # the stored stop it came before (len(jobs): the way home)


def _opening(windows: Windows, ready: int) -> int | None:
    """The earliest start at or after ``ready`` inside one of ``windows``."""
    for start, end in windows:
        if ready <= end:
            return max(ready, start)
    return None


def _timetable(
    free: int, items: list[_Item], home: int, end_node: int, due: list[_Due], shift_end: int
) -> tuple[list[int], list[list[tuple[int, int]]], int] | None:
    """The earliest timetable of ``items`` in order from ``free``: each start in a window and
    no earlier than its floor, each break due taken in some gap (before a stop, or on the way
    home) inside its window, home by ``shift_end``. Exact: for each gap and number of breaks
    taken so far it keeps the earliest time work can go on (being earlier never hurts), so a
    break is put wherever the rest still fits; of equally early timetables, the one keeping
    more breaks where the stored plan had them. Returns each item's start, the breaks taken
    in each gap ((start, seconds); a break keeps its stored start where that delays
    nothing), and the time back home; None if no timetable keeps every rule."""
    count = len(due)
    layer: dict[int, tuple[int, int]] = {0: (free, 0)}  # breaks taken -> (free at, moved)
    trail: list[dict[int, tuple[int, list[int], int, int]]] = []  # -> (from, starts, at, free)
    for gap in range(len(items) + 1):
        last = gap == len(items)
        item = None if last else items[gap]
        node = end_node if item is None else item.node
        leg = home if item is None else item.leg
        nxt: dict[int, tuple[int, int]] = {}
        ptr: dict[int, tuple[int, list[int], int, int]] = {}
        for breaks_before, (free_at, moved) in layer.items():
            clock, pause, changed, taken = free_at, 0, moved, []
            for breaks_after in range(breaks_before, count + 1):
                if breaks_after > breaks_before:
                    rule = due[breaks_after - 1]
                    break_start = max(clock, rule.earliest)
                    if break_start > rule.latest:
                        break
                    taken.append(break_start)
                    clock, pause = break_start + rule.seconds, pause + rule.seconds
                    changed += rule.before != node
                if last and breaks_after < count:
                    continue  # every break is taken by the end of the day
                ready = max(free_at + leg + pause, clock)
                if item is None:
                    if ready > shift_end:
                        break
                    at = done = ready
                else:
                    opens = _opening(item.windows, max(ready, item.floor))
                    if opens is None:
                        break  # more breaks here only make it later
                    at, done = opens, opens + item.service
                if breaks_after not in nxt or (done, changed) < nxt[breaks_after]:
                    nxt[breaks_after] = (done, changed)
                    ptr[breaks_after] = (breaks_before, list(taken), at, free_at)
        if not nxt:
            return None
        layer = nxt
        trail.append(ptr)
    if count not in layer:
        return None
    starts = [0] * len(items)
    gaps: list[list[tuple[int, int]]] = [[] for _ in range(len(items) + 1)]
    finish, breaks_after = 0, count
    for gap in range(len(items), -1, -1):
        breaks_before, taken, at, _ = trail[gap][breaks_after]
        if gap == len(items):
            finish = at
        else:
            starts[gap] = at
        limit = at  # keep a break's stored start where it still fits before what follows
        for index in range(len(taken) - 1, -1, -1):
            rule = due[breaks_before + index]
            if (
                rule.stored is not None
                and taken[index] < rule.stored <= rule.latest
                and rule.stored + rule.seconds <= limit
            ):
                taken[index] = rule.stored
            limit = taken[index]
        gaps[gap] = [
            (break_start, due[breaks_before + i].seconds) for i, break_start in enumerate(taken)
        ]
        breaks_after = breaks_before
    return starts, gaps, finish


def _no_room(day: _Day, stored: list[_Stored]) -> str:
    bump = " (nor does bumping one less urgent job make room)" if day.new.priority < 5 else ""
    return (
        f"no room: the {len(stored)} technician(s) who could do it have no time, parts or "
        f"working minutes left for it in its windows{bump}"
    )


def _finish(
    day: _Day,
    plan: Plan,
    routes: list[Route],
    unassigned: list[Unassigned],
    best: _Option | None,
    bumped: list[str],
    began: float,
) -> Insertion:
    result = Plan(
        engine="insert",
        seconds=round(time.perf_counter() - began, 3),
        routes=routes,
        unassigned=unassigned,
        totals=Totals.of(day.problem.jobs, routes),
    )
    validate.check(day.problem, result)
    if best is None:
        return Insertion(result, None, None)
    return Insertion(
        plan=result,
        technician=best.stored.tech.id,
        position=best.position,
        bumped=bumped,
        added_travel_s=best.added_travel_s,
        delayed=best.delayed,
    )
