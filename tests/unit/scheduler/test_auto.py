"""``auto``: a day split into the parts that never compete, each raced across the engines."""

from __future__ import annotations

from typing import Any

from scheduler import auto, validate
from scheduler.instance import compile_problem
from scheduler.solve import solve
from tests.support.day import assignment, job, problem, tech, window

NORTH = {"lat": 52.60, "lon": 13.40}
SOUTH = {"lat": 52.42, "lon": 13.40}


def two_territories(**tech_fields: Any) -> Any:
    techs = [
        tech("n1", territory="N", start=NORTH, **tech_fields),
        tech("n2", territory="N", start=NORTH, **tech_fields),
        tech("s1", territory="S", start=SOUTH, **tech_fields),
    ]
    jobs = [job(f"n{k}", lat=52.58 + k / 500, lon=13.38, territory="N") for k in range(6)]
    jobs += [job(f"s{k}", lat=52.43 + k / 500, lon=13.41, territory="S") for k in range(4)]
    jobs.append(job("east", territory="E"))
    return problem(techs, jobs)


def test_technicians_who_never_share_a_job_are_planned_apart() -> None:
    inst = compile_problem(two_territories())
    parts = auto.components(inst)
    names = [sorted(inst.technicians[t].id for t in p.technicians) for p in parts]
    assert names == [["n1", "n2"], ["s1"]]  # the larger part first
    assert [len(p.jobs) for p in parts] == [6, 4]  # "east" has nobody and is in no part


def test_a_technician_of_no_territory_joins_the_parts_together() -> None:
    day_problem = two_territories()
    roamer = tech("roamer", start=NORTH)
    inst = compile_problem(
        problem(
            [*(t.model_dump() for t in day_problem.technicians), roamer],
            [j.model_dump() for j in day_problem.jobs],
        )
    )
    assert len(auto.components(inst)) == 1


def test_auto_plans_each_territory_with_its_own_people_and_says_why_a_job_has_nobody() -> None:
    day_problem = two_territories(breaks=[{"window": window((12, 0), (13, 0)), "minutes": 30}])
    plan = solve(day_problem, engine="auto", time_limit_s=4)
    assert validate.violations(day_problem, plan) == []
    served = assignment(plan)
    assert set(served) == {f"n{k}" for k in range(6)} | {f"s{k}" for k in range(4)}
    assert all(served[j][0] == j[0] for j in served)  # n-jobs to n-technicians, s to s
    (east,) = plan.unassigned
    assert (east.job, east.code, east.reason) == (
        "east",
        "territory",
        "no technician works territory 'E'",
    )


def test_auto_is_at_least_as_good_as_each_engine_alone_on_a_day_both_can_plan() -> None:
    techs = [tech(f"t{k}", start={"lat": 52.45 + k / 20, "lon": 13.30}) for k in range(3)]
    jobs = [
        job(
            f"j{k}",
            lat=52.42 + (k * 7 % 23) / 100,
            lon=13.25 + (k * 11 % 19) / 60,
            windows=[window((8 + k % 6, 0), (11 + k % 6, 0))],
        )
        for k in range(24)
    ]
    day_problem = problem(techs, jobs)
    best = solve(day_problem, engine="auto", time_limit_s=3)
    assert best.totals.assigned == 24
    for engine in ("vroom", "pyvrp"):
        alone = solve(day_problem, engine=engine, time_limit_s=3)  # type: ignore[arg-type]
        assert best.totals.priority_weighted_share >= alone.totals.priority_weighted_share
        assert best.totals.travel_s <= alone.totals.travel_s * 1.01, engine
