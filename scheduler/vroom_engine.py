"""The VROOM engine (pyvroom): every field-service rule is a native field.

Eligibility (skills, certifications, pinning, reachability: ``instance``) becomes one VROOM
skill per distinct set of technicians allowed, so VROOM enforces exactly the instance's
rules. Parts are one capacity dimension per part number (a van without it has none), and a
technician's working-minutes limit one more. Breaks, shifts, several windows per job and
priorities are VROOM's own. Costs are travel seconds weighted by the technician's hourly cost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from scheduler.instance import Instance
from scheduler.model import PRIORITY_WEIGHT
from scheduler.routes import EngineRoute, EngineStop

if TYPE_CHECKING:
    import vroom

PRIORITY = {p: 6 * w for p, w in PRIORITY_WEIGHT.items()}  # VROOM takes 0..100
UNLIMITED = 2**31 - 1


def solve(
    inst: Instance, *, time_limit_s: float | None = None, exploration: int = 5, threads: int = 2
) -> list[EngineRoute]:
    import vroom  # (pyvroom brings pandas: loaded when a plan is made, not by every command)

    techs, jobs = inst.technicians, inst.jobs
    todo = [j for j in range(len(jobs)) if inst.eligible[j]]
    if not techs or not todo:
        return []
    problem = vroom.Input()
    problem.set_durations_matrix(
        profile="car", matrix_input=np.ascontiguousarray(inst.durations, dtype=np.uint32)
    )
    skill_of: dict[frozenset[int], int] = {}
    for job_index in todo:
        skill_of.setdefault(frozenset(inst.eligible[job_index]), len(skill_of) + 1)
    held: list[set[int]] = [set() for _ in techs]
    for allowed, skill in skill_of.items():
        for tech_index in allowed:
            held[tech_index].add(skill)
    skus = sorted({sku for j in todo for sku in jobs[j].parts})
    limits = any(t.max_working_minutes is not None for t in techs)
    cheapest = min(t.hourly_cost for t in techs)
    break_id = 0
    for tech_index, tech in enumerate(techs):
        capacity = [tech.van_stock.get(sku, 0) for sku in skus]
        if limits:
            minutes = tech.max_working_minutes
            capacity.append(UNLIMITED if minutes is None else minutes * 60)
        breaks = []
        for earliest, latest, seconds in inst.breaks[tech_index]:
            break_id += 1
            breaks.append(
                vroom.Break(
                    break_id,
                    time_windows=[vroom.TimeWindow(max(0, earliest), max(0, latest))],
                    service=seconds,
                )
            )
        start, end = inst.shifts[tech_index]
        problem.add_vehicle(
            vroom.Vehicle(
                tech_index,
                start=inst.start_row(tech_index),
                end=inst.end_row(tech_index),
                capacity=capacity,
                skills=held[tech_index],
                time_window=vroom.TimeWindow(max(0, start), max(0, end)),
                breaks=breaks,
                costs=vroom.VehicleCosts(per_hour=round(3600 * tech.hourly_cost / cheapest)),
            )
        )
    for job_index in todo:
        job = jobs[job_index]
        amount = [job.parts.get(sku, 0) for sku in skus]
        if limits:
            amount.append(inst.service[job_index])
        windows = [vroom.TimeWindow(max(0, a), b) for a, b in inst.windows[job_index] if b >= 0]
        problem.add_job(
            vroom.Job(
                job_index,
                location=inst.job_row(job_index),
                default_service=inst.service[job_index],
                delivery=amount,
                skills={skill_of[frozenset(inst.eligible[job_index])]},
                priority=PRIORITY[job.priority],
                time_windows=windows,
            )
        )
    timeout = None if time_limit_s is None else timedelta(seconds=max(0.1, time_limit_s))
    solution = problem.solve(exploration_level=exploration, nb_threads=threads, timeout=timeout)
    return _routes(solution)


def _routes(solution: vroom.Solution) -> list[EngineRoute]:
    steps = np.asarray(solution._routes_numpy())
    routes: dict[int, EngineRoute] = {}
    for row in steps:
        vehicle = int(row["vehicle_id"])
        kind = bytes(row["type"]).decode()
        arrival = int(row["arrival"])
        begins = arrival + int(row["waiting_time"]) + int(row["setup"])
        route = routes.setdefault(vehicle, EngineRoute(vehicle, arrival, arrival))
        if kind == "start":
            route.start = arrival
        elif kind == "end":
            route.end = arrival
        elif kind == "job":
            route.stops.append(EngineStop(int(row["id"]), arrival, begins))
        elif kind == "break":
            route.breaks.append((begins, int(row["service"])))
    return list(routes.values())
