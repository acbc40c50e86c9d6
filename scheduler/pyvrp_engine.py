"""The PyVRP engine: PyVRP's iterated local search on the same compiled instance.

Every rule the instance states is expressed exactly, or the problem is refused:

- Places: one PyVRP location per technician start, technician end and job someone may do;
  travel seconds are both the distance and the duration of every edge.
- Technicians: one vehicle type each (one vehicle), starting and ending at its own places,
  inside its shift; its travel costs ``COST_SCALE`` per second times its hourly cost relative
  to the cheapest technician's.
- Eligibility (``instance.eligible``): one routing profile per distinct set of jobs a
  technician may not do. In that profile every edge into or out of such a job has a
  prohibitive distance (dearer than the most urgent job earns plus the whole day's travel)
  and a duration longer than every shift, so a route using one is never cheaper and never
  feasible.
- Windows: a job with one window is one optional client; a job with several is an optional,
  mutually exclusive client group of one client per window (at most one is visited).
- Parts and working minutes: one capacity dimension per part number some job needs (the van
  stock is the capacity) and, when anyone has a limit, one of work seconds.
- Priorities: every job is optional with a prize of ``PRIORITY_WEIGHT`` times more than the
  whole day's largest possible travel cost, so PyVRP first maximises the priority-weighted
  work done (``Totals.priority_weighted_share``) and only then saves travel. PyVRP's
  penalties for a violation (a second late, a part or a second of work over) may rise above
  the most urgent job's prize, so its search settles on feasible plans.

PyVRP has no breaks and cannot hold a start time exactly: problems with either are refused
(``refusal``, ``EngineRefused``) with the technician or job named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvrp
from numpy.typing import NDArray
from pyvrp.constants import MAX_VALUE
from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

from scheduler.instance import Instance
from scheduler.model import PRIORITY_WEIGHT, Technician
from scheduler.routes import EngineRefused, EngineRoute, EngineStop

COST_SCALE = 100
"""Cost of one second of the cheapest technician's travel (integer costs, 1% resolution)."""
DEFAULT_TIME_LIMIT_S = 10.0
CONVERGED_ITERATIONS = 50_000
"""Iterations without a better solution after which the search stops before its time is up:
under a second on a day of a few jobs; about a minute on 100 customers, so never sooner than
the time limit on a real day."""
_SAFE = 2**61  # the largest cost PyVRP's 64-bit integers are let near


def refusal(inst: Instance) -> str | None:
    """Why PyVRP cannot plan this problem as stated, or None when it can."""
    why = []
    with_breaks = [t.id for t in inst.technicians if t.breaks]
    if with_breaks:
        why.append(
            f"cannot plan breaks, and {_named('technician', with_breaks)} "
            f"{'has' if len(with_breaks) == 1 else 'have'} breaks in the day"
        )
    pinned = [j.id for j in inst.jobs if j.pinned_start is not None]
    if pinned:
        why.append(
            f"{'nor can it' if why else 'cannot'} hold a pinned start time, and "
            f"{_named('job', pinned)} {'has' if len(pinned) == 1 else 'have'} one"
        )
    if why:
        return f"the pyvrp engine {'; '.join(why)}; plan with the vroom engine"
    todo = _todo(inst)
    if inst.technicians and todo and not _Scale.of(inst, todo).fits:
        return (
            "the day is too large for the pyvrp engine's integer costs (travel times, "
            "shifts and hourly costs this far apart); plan with the vroom engine"
        )
    return None


def _named(kind: str, ids: list[str], most: int = 3) -> str:
    names = ", ".join(repr(i) for i in ids[:most])
    more = f" and {len(ids) - most} more" if len(ids) > most else ""
    return f"{kind}{'s' if len(ids) > 1 else ''} {names}{more}"


def _todo(inst: Instance) -> list[int]:
    """The jobs someone may do: the others are not PyVRP's (``to_plan`` gives their reason)."""
    return [j for j in range(len(inst.jobs)) if inst.eligible[j]]


def solve(inst: Instance, *, time_limit_s: float | None = None, seed: int = 1) -> list[EngineRoute]:
    reason = refusal(inst)
    if reason is not None:
        raise EngineRefused(reason)
    todo = _todo(inst)
    if not inst.technicians or not todo:
        return []
    data, job_of, scale = _compile(inst, todo)
    limit = DEFAULT_TIME_LIMIT_S if time_limit_s is None else max(0.0, time_limit_s)
    result = pyvrp.solve(
        data,
        MultipleCriteria([MaxRuntime(limit), NoImprovement(CONVERGED_ITERATIONS)]),
        seed=seed,
        collect_stats=False,
        display=False,
        params=pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=scale.max_penalty)),
    )
    return _routes(inst, result.best, job_of)


@dataclass(frozen=True)
class _Scale:
    """The integers PyVRP works in: costs, prizes, prohibitive edges and penalties."""

    unit: list[int]  # per technician: cost of a second of its travel
    worth: int  # more than the day's largest possible travel cost: a priority-5 job's prize
    never: int  # distance of an edge to or from a job the technician may not do
    too_long: int  # duration of such an edge: longer than any shift, so its route ends late
    max_penalty: float
    fits: bool  # no penalised cost can come near overflowing

    def prize(self, priority: int) -> int:
        return PRIORITY_WEIGHT[priority] * self.worth

    @classmethod
    def of(cls, inst: Instance, todo: list[int]) -> _Scale:
        cheapest = min(t.hourly_cost for t in inst.technicians)
        unit = [max(1, round(COST_SCALE * t.hourly_cost / cheapest)) for t in inst.technicians]
        # a feasible route's travel takes no longer than its shift
        worth = 1 + sum(u * max(0, e - s) for u, (s, e) in zip(unit, inst.shifts, strict=True))
        most = PRIORITY_WEIGHT[1] * worth
        never = min(MAX_VALUE, most + worth)
        span = max(e for _, e in inst.shifts) - min(s for s, _ in inst.shifts)
        too_long = min(MAX_VALUE, max(0, span) + 1)
        # bounds of what any solution PyVRP looks at, feasible or not, can add up to: each
        # client (one per window) is visited at most once
        clients = [(len(inst.windows[j]), j) for j in todo]
        visits = sum(n for n, _ in clients) + len(inst.technicians)
        leg = max(too_long, int(inst.durations.max(initial=0)))
        work = sum(n * inst.service[j] for n, j in clients)
        late = visits * leg + work  # time warp
        over = work + sum(n * sum(inst.jobs[j].parts.values()) for n, j in clients)  # load
        # at its highest, a unit of violation (a second late, a part or a second of work
        # over) costs more than the most urgent job earns, so local optima are feasible
        max_penalty = min(2.0 * most, float(_SAFE // (late + over + 1)))
        fits = (
            leg <= MAX_VALUE and max_penalty >= 1.0 and visits * (max(unit) * never + most) <= _SAFE
        )
        return cls(unit, worth, never, too_long, max_penalty, fits)


@dataclass(frozen=True)
class _Loads:
    """PyVRP's load dimensions: one per part number some job needs, then one of work seconds
    when anyone has a limit on working minutes."""

    skus: list[str]
    work: bool  # the dimension of work seconds is there
    total_work: int  # the capacity of work seconds of a technician without a limit

    @classmethod
    def of(cls, inst: Instance, todo: list[int]) -> _Loads:
        return cls(
            skus=sorted({sku for j in todo for sku in inst.jobs[j].parts}),
            work=any(t.max_working_minutes is not None for t in inst.technicians),
            total_work=sum(inst.service[j] for j in todo),
        )

    def amount(self, inst: Instance, job_index: int) -> list[int]:
        """What job ``job_index`` takes of each dimension."""
        parts = inst.jobs[job_index].parts
        return [parts.get(sku, 0) for sku in self.skus] + (
            [inst.service[job_index]] if self.work else []
        )

    def capacity(self, tech: Technician) -> list[int]:
        """What technician ``tech`` has of each dimension."""
        capacity = [tech.van_stock.get(sku, 0) for sku in self.skus]
        if self.work:
            minutes = tech.max_working_minutes
            capacity.append(self.total_work if minutes is None else minutes * 60)
        return capacity


def _compile(inst: Instance, todo: list[int]) -> tuple[pyvrp.ProblemData, list[int], _Scale]:
    """PyVRP's problem, and the instance's job for each PyVRP client."""
    techs, jobs = inst.technicians, inst.jobs
    tech_count = len(techs)
    scale = _Scale.of(inst, todo)
    rows = (
        [inst.start_row(t) for t in range(tech_count)]
        + [inst.end_row(t) for t in range(tech_count)]
        + [inst.job_row(j) for j in todo]
    )
    places = (
        [t.start for t in techs] + [t.home_end for t in techs] + [jobs[j].location for j in todo]
    )
    base: NDArray[np.int64] = np.array(inst.durations[np.ix_(rows, rows)], dtype=np.int64)
    np.fill_diagonal(base, 0)  # never travelled: no two visits of a route share a location
    loads = _Loads.of(inst, todo)
    clients, groups, job_of = _clients(inst, todo, loads, scale)
    vehicle_types, distances, durations = _vehicle_types(inst, todo, loads, scale, base)
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(x=p.lon, y=p.lat) for p in places],
        clients=clients,
        depots=[pyvrp.Depot(location=i) for i in range(2 * tech_count)],
        vehicle_types=vehicle_types,
        distance_matrices=distances,
        duration_matrices=durations,
        groups=groups,
    )
    return data, job_of, scale


def _clients(
    inst: Instance, todo: list[int], loads: _Loads, scale: _Scale
) -> tuple[list[pyvrp.Client], list[pyvrp.ClientGroup], list[int]]:
    """One client per window someone eligible can reach (several make an exclusive group),
    the groups, and the instance's job for each client. Job ``todo[position]`` is at
    location ``2 * len(technicians) + position``, after the technicians' start and end
    depots."""
    jobs = inst.jobs
    first_client = 2 * len(inst.technicians)
    clients: list[pyvrp.Client] = []
    groups: list[pyvrp.ClientGroup] = []
    job_of: list[int] = []
    for position, job_index in enumerate(todo):
        windows = _windows(inst, job_index)
        group = len(groups) if len(windows) > 1 else None
        members = []
        for early, late in windows:
            members.append(len(clients))
            job_of.append(job_index)
            clients.append(
                pyvrp.Client(
                    location=first_client + position,
                    delivery=loads.amount(inst, job_index),
                    service_duration=inst.service[job_index],
                    tw_early=early,
                    tw_late=late,
                    prize=scale.prize(jobs[job_index].priority),
                    required=False,
                    group=group,
                    name=jobs[job_index].id,
                )
            )
        if group is not None:
            groups.append(pyvrp.ClientGroup(members, required=False, name=jobs[job_index].id))
    return clients, groups, job_of


def _vehicle_types(
    inst: Instance, todo: list[int], loads: _Loads, scale: _Scale, base: NDArray[np.int64]
) -> tuple[list[pyvrp.VehicleType], list[Any], list[Any]]:
    """One vehicle type per technician, and the routing profiles' distance and duration
    matrices: eligibility is one profile per set of jobs one may not do."""
    tech_count = len(inst.technicians)
    first_client = 2 * tech_count
    profile_of: dict[frozenset[int], int] = {}
    distances: list[Any] = []  # int64 matrices (pyvrp's stubs spell them np.ndarray[int])
    durations: list[Any] = []
    vehicle_types = []
    for tech_index, tech in enumerate(inst.technicians):
        barred = frozenset(
            first_client + k for k, j in enumerate(todo) if tech_index not in inst.eligible[j]
        )
        if barred not in profile_of:
            profile_of[barred] = len(distances)
            distances.append(_bar(base, barred, scale.never))
            durations.append(_bar(base, barred, scale.too_long))
        start, end = inst.shifts[tech_index]
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=1,
                capacity=loads.capacity(tech),
                start_depot=tech_index,
                end_depot=tech_count + tech_index,
                tw_early=start,
                tw_late=end,
                unit_distance_cost=scale.unit[tech_index],
                unit_duration_cost=0,
                profile=profile_of[barred],
                name=tech.id,
            )
        )
    return vehicle_types, distances, durations


def _windows(inst: Instance, job_index: int) -> list[tuple[int, int]]:
    """Job ``job_index``'s windows in which some eligible technician could start it (alone in
    the day, as ``instance`` decides reachability); PyVRP times are not negative."""
    reach = []
    for tech_index in inst.eligible[job_index]:
        shift_start, shift_end = inst.shifts[tech_index]
        go, back = int(inst.go[tech_index, job_index]), int(inst.back[job_index, tech_index])
        reach.append((shift_start + go, shift_end - back - inst.service[job_index]))
    return [
        (max(0, early), late)
        for early, late in inst.windows[job_index]
        if late >= 0 and any(max(early, a) <= min(late, b) for a, b in reach)
    ]


def _bar(base: NDArray[np.int64], barred: frozenset[int], value: int) -> NDArray[np.int64]:
    if not barred:
        return base
    out = base.copy()
    idx = sorted(barred)
    out[idx, :] = value
    out[:, idx] = value
    np.fill_diagonal(out, 0)
    return out


def _routes(inst: Instance, best: pyvrp.Solution, job_of: list[int]) -> list[EngineRoute]:
    """PyVRP's best solution as timed routes. When it is infeasible (nothing feasible was
    found in time), only its feasible routes are kept; a plan that would still break a rule
    is never handed back."""
    feasible = best.is_feasible()
    out: list[EngineRoute] = []
    for route in best.routes():
        if not (feasible or route.is_feasible()):
            continue
        tech = route.vehicle_type()
        out_route = EngineRoute(technician=tech, start=route.start_time(), end=route.end_time())
        for visit in route.schedule():
            if visit.is_client():
                begins = visit.start_time
                arrives = begins - visit.wait_duration
                out_route.stops.append(EngineStop(job_of[visit.idx], arrives, begins))
        if any(tech not in inst.eligible[s.job] for s in out_route.stops):
            continue
        out.append(out_route)
    served = [s.job for r in out for s in r.stops]
    if len(served) != len(set(served)):
        return []
    return out
