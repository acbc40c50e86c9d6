"""``auto``: the best plan the engines find in the time, a day split where it falls apart.

1. Decompose. Technicians who can never take each other's jobs (different territories,
   disjoint skills) do not compete: the connected parts of the graph "job - technician who
   may do it" are solved apart, in parallel. A whole-city day of 500 technicians in ten
   territories is ten days of 50, each far quicker than the whole (VROOM's time grows about
   with the cube of the size).
2. Race. Each part goes to every engine that can express it, each with its share of the
   time, one process per core: PyVRP (best routes, but no breaks or fixed start times) and
   VROOM (every rule native). The part keeps the better plan: more priority-weighted work
   first, then less travel.
3. Merge and check the whole day again (``solve.solve`` runs the validator on the result).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from scheduler import pyvrp_engine, vroom_engine
from scheduler.instance import Instance
from scheduler.routes import EngineRefused, EngineRoute, to_plan

MIN_PART_S = 1.0  # no part gets less, however many there are


def default_limit_s(jobs: int) -> float:
    """The search time when the caller names none: 2 s, and 1 s more per 20 jobs, up to 60."""
    return min(60.0, 2.0 + jobs / 20)


@dataclass(frozen=True)
class Part:
    technicians: list[int]
    jobs: list[int]


def components(inst: Instance) -> list[Part]:
    """Independent parts of the day: technicians linked by a job both may do."""
    parent = list(range(len(inst.technicians)))

    def root(tech: int) -> int:
        while parent[tech] != tech:
            parent[tech] = parent[parent[tech]]
            tech = parent[tech]
        return tech

    for allowed in inst.eligible:
        for tech in allowed[1:]:
            parent[root(tech)] = root(allowed[0])
    techs: dict[int, list[int]] = {}
    for tech in range(len(inst.technicians)):
        techs.setdefault(root(tech), []).append(tech)
    jobs: dict[int, list[int]] = {}
    for job, allowed in enumerate(inst.eligible):
        if allowed:
            jobs.setdefault(root(allowed[0]), []).append(job)
    parts = [Part(techs[r], jobs[r]) for r in techs if r in jobs]
    return sorted(parts, key=lambda p: -len(p.jobs))


def solve(
    inst: Instance,
    *,
    time_limit_s: float | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> list[EngineRoute]:
    """Routes for the whole instance (technician and job indices as in ``inst``), found
    within ``time_limit_s`` of the call. The parts' races run on ``executor`` when one is
    given (the production mode's: one task per part, over the workers; ``workers`` says how
    many run at once), else on this process's pool of one process per core."""
    limit = default_limit_s(len(inst.jobs)) if time_limit_s is None else time_limit_s
    deadline = time.time() + limit - max(0.25, 0.03 * limit)  # room to merge and check
    parts = components(inst)
    subs = [inst.subset(p.technicians, p.jobs) for p in parts]
    tasks = [
        (n, engine)
        for n, sub in enumerate(subs)
        for engine in ("pyvrp", "vroom")
        if engine == "vroom" or pyvrp_engine.refusal(sub) is None
    ]
    if not tasks:
        return []
    cores = workers or os.cpu_count() or 1
    # each task's share of the time, by its size, as if the tasks ran side by side on the
    # cores; a task never runs past the deadline however late it starts
    weight = [len(parts[n].jobs) for n, _ in tasks]
    span = max(0.0, deadline - time.time())
    shares = [
        max(MIN_PART_S, min(span, span * min(cores, len(tasks)) * w / sum(weight))) for w in weight
    ]
    if executor is None and (len(tasks) == 1 or cores == 1):
        results = [
            race(engine, subs[n], share, deadline, 2)
            for (n, engine), share in zip(tasks, shares, strict=True)
        ]
    else:
        pool = executor or _pool(cores)
        futures: list[Future[list[EngineRoute] | None]] = [
            pool.submit(race, engine, subs[n], share, deadline, 1)
            for (n, engine), share in zip(tasks, shares, strict=True)
        ]
        results = [f.result() for f in futures]
    best: dict[int, tuple[tuple[float, int], list[EngineRoute]]] = {}
    for (index, _), routes in zip(tasks, results, strict=True):
        if routes is None:
            continue
        score = _score(subs[index], routes)
        if index not in best or score < best[index][0]:
            best[index] = (score, routes)
    out = []
    for index, (_, routes) in best.items():
        techs, jobs = parts[index].technicians, parts[index].jobs
        for route in routes:
            route.technician = techs[route.technician]
            for stop in route.stops:
                stop.job = jobs[stop.job]
            out.append(route)
    return out


_pools: dict[int, ProcessPoolExecutor] = {}


def _pool(cores: int) -> ProcessPoolExecutor:
    """One pool of worker processes for the life of this process (until ``shutdown``),
    started on first use from a server that has already imported the engines (a worker is
    then ready in milliseconds, not the second or two that importing them takes)."""
    if cores not in _pools:
        context = get_context("forkserver")
        context.set_forkserver_preload(["scheduler.auto"])
        _pools[cores] = ProcessPoolExecutor(max_workers=cores, mp_context=context)
    return _pools[cores]


def shutdown() -> None:
    """End this process's pool of worker processes, if it has one, waiting for the parts
    under way (a later ``solve`` starts a new one). A process that planned calls it before it
    ends: its workers would otherwise outlive it, and with them the forkserver and
    multiprocessing's resource tracker, when the process is ended by a signal."""
    while _pools:
        _, pool = _pools.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def race(
    engine: str, inst: Instance, share_s: float, deadline: float, threads: int
) -> list[EngineRoute] | None:
    """One engine's plan for one part of the day (``solve``'s unit of work, run on its pool
    or, in the production mode, as a task): routes found within ``share_s`` seconds and never
    past ``deadline`` (``time.time()``), on ``threads`` threads; None when the engine
    cannot express the part."""
    limit_s = max(0.1, min(share_s, deadline - time.time()))
    try:
        if engine == "vroom":
            return vroom_engine.solve(inst, time_limit_s=limit_s, threads=threads)
        return pyvrp_engine.solve(inst, time_limit_s=limit_s)
    except EngineRefused:
        return None


def _score(inst: Instance, routes: list[EngineRoute]) -> tuple[float, int]:
    """Smaller is better: more priority-weighted work first, then less travel."""
    plan = to_plan(inst, routes, "auto", 0.0)
    return (-plan.totals.priority_weighted_share, plan.totals.travel_s)
