"""A seeded generator of field-service days, for the scheduler's benchmark and tests.

``generate(technicians, jobs, territories=..., seed=...)`` returns a ``scheduler.model.Problem``
for one working day in a city about 40 x 30 km (Berlin's extent): technicians with 2 to 4 of
8 skills, some holding certifications of which some have expired, staggered 8-hour shifts, a
30-minute lunch break to take between 11:30 and 13:30, vans stocked with a few of 20 part
numbers, one territory each; jobs of 15 to 90 minutes, 60% with an appointment window
(morning, afternoon or a 2-hour slot), 10% urgent (priority 1), a quarter needing parts, 15% a
certification, and 20% pinned to a technician who may do them (work already dispatched).
The same arguments give the same day.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.instance import compile_problem
from scheduler.model import Problem

SOUTH, NORTH, WEST, EAST = 52.38, 52.65, 13.10, 13.70
SKILLS = ["electrical", "plumbing", "hvac", "gas", "meters", "pumps", "valves", "telecom"]
CERTIFICATIONS = ["HV-1", "GAS-SAFE", "CONFINED-SPACE"]
PARTS = [f"P{n:03d}" for n in range(1, 21)]
SHIFTS = [(7, 15), (8, 16), (9, 17), (10, 18)]


def generate(
    technicians: int,
    jobs: int,
    *,
    territories: int = 1,
    seed: int = 1,
    day: date = date(2026, 12, 7),
    zone: str = "Europe/Berlin",
) -> Problem:
    rng = random.Random(seed)
    tz = ZoneInfo(zone)

    def local(hour: float) -> str:
        minutes = round(hour * 60)
        return datetime.combine(day, time(minutes // 60, minutes % 60), tz).isoformat()

    cols = max(1, round(territories**0.5))
    rows = -(-territories // cols)

    def territory_of(lat: float, lon: float) -> str:
        col = min(cols - 1, int((lon - WEST) / (EAST - WEST) * cols))
        row = min(rows - 1, int((lat - SOUTH) / (NORTH - SOUTH) * rows))
        return f"T{min(territories - 1, row * cols + col) + 1:02d}"

    def point_in(name: str | None) -> tuple[float, float]:
        while True:
            lat, lon = rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)
            if name is None or territory_of(lat, lon) == name:
                return round(lat, 5), round(lon, 5)

    names = sorted({territory_of(*point_in(None)) for _ in range(2000)} | {"T01"})
    techs: list[dict[str, Any]] = []
    for index in range(technicians):
        territory = names[index % len(names)] if territories > 1 else None
        lat, lon = point_in(territory)
        start, end = rng.choice(SHIFTS)
        certs = []
        if rng.random() < 0.4:
            for code in rng.sample(CERTIFICATIONS, rng.randint(1, 2)):
                expired = rng.random() < 0.15
                expires = day + timedelta(
                    days=rng.randint(-60, -1) if expired else rng.randint(1, 700)
                )
                certs.append(
                    {
                        "code": code,
                        "issued_on": str(day - timedelta(days=900)),
                        "expires_on": str(expires),
                    }
                )
        techs.append(
            {
                "id": f"tech-{index + 1:04d}",
                "time_zone": zone,
                "start": {"lat": lat, "lon": lon},
                "shift": {"start": local(start), "end": local(end)},
                "skills": rng.sample(SKILLS, rng.randint(2, 4)),
                "certifications": certs,
                "breaks": [{"window": {"start": local(11.5), "end": local(13.5)}, "minutes": 30}],
                "van_stock": {p: rng.randint(1, 3) for p in rng.sample(PARTS, rng.randint(6, 12))},
                "territory": territory,
            }
        )
    out_jobs: list[dict[str, Any]] = []
    for index in range(jobs):
        lat, lon = point_in(None)
        territory = territory_of(lat, lon) if territories > 1 else None
        job: dict[str, Any] = {
            "id": f"job-{index + 1:05d}",
            "location": {"lat": lat, "lon": lon},
            "duration_s": 60 * rng.choice([15, 20, 20, 30, 30, 30, 45, 45, 60, 90]),
            "priority": 1 if rng.random() < 0.10 else rng.choice([2, 3, 3, 4, 5]),
            "skills": [rng.choice(SKILLS)] if rng.random() < 0.7 else [],
            "territory": territory,
        }
        kind = rng.random()
        if kind < 0.2:
            job["windows"] = [{"start": local(8), "end": local(12)}]
        elif kind < 0.4:
            job["windows"] = [{"start": local(12), "end": local(17)}]
        elif kind < 0.6:
            slot = rng.choice([8, 10, 12, 14, 16])
            job["windows"] = [{"start": local(slot), "end": local(slot + 2)}]
        if rng.random() < 0.25:
            job["parts"] = {rng.choice(PARTS): rng.randint(1, 2)}
        if rng.random() < 0.15:
            job["certifications"] = [rng.choice(CERTIFICATIONS)]
        out_jobs.append(job)
    # pins go to someone the scheduler's own rules let do the job, as a dispatcher's would
    eligible = compile_problem(Problem.model_validate({"technicians": techs, "jobs": out_jobs}))
    for job, able in zip(out_jobs, eligible.eligible, strict=True):
        if rng.random() < 0.2 and able:
            job["pinned_technician"] = techs[rng.choice(able)]["id"]
    return Problem.model_validate({"technicians": techs, "jobs": out_jobs})
