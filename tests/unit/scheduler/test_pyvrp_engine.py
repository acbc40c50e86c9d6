"""The PyVRP engine, one rule at a time, on days whose best plan is known.

Every plan here has passed ``scheduler.validate`` inside ``solve`` (checked again below);
the tests check that it is the plan a dispatcher would expect, that every job left out says
why, and that a day PyVRP cannot express is refused with the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import pyvrp

from scheduler import ENGINES, pyvrp_engine, validate
from scheduler.instance import compile_problem
from scheduler.model import Plan, Problem
from scheduler.pyvrp_engine import refusal
from scheduler.routes import EngineRefused
from scheduler.solve import solve
from tests.support.day import HOME, assignment, at, job, problem, reasons, stop, tech, window

NEAR = {"lat": 52.521, "lon": 13.401}  # a minute or so from HOME
FAR_HOME = {"lat": 52.40, "lon": 13.10}  # half an hour from HOME


def plan_of(day_problem: Problem, time_limit_s: float = 0.5) -> Plan:
    plan = solve(day_problem, engine="pyvrp", time_limit_s=time_limit_s)
    assert plan.engine == "pyvrp"
    assert validate.violations(day_problem, plan) == []
    return plan


def test_pyvrp_is_an_engine() -> None:
    assert "pyvrp" in ENGINES


def test_an_easy_day_is_served_in_full_with_consistent_times() -> None:
    jobs = [job(f"j{n}", lat=52.50 + n / 100, lon=13.38 + n / 200) for n in range(6)]
    day_problem = problem([tech("tess"), tech("theo", start={"lat": 52.56, "lon": 13.41})], jobs)
    assert refusal(compile_problem(day_problem)) is None
    plan = plan_of(day_problem)
    assert plan.unassigned == [] and plan.totals.assigned == 6
    for route in plan.routes:
        begins = route.start
        for visit in route.stops:
            assert visit.arrival >= begins + timedelta(seconds=visit.travel_s)
            assert visit.start >= visit.arrival and visit.end == visit.start + timedelta(
                seconds=1800
            )
            begins = visit.end
        assert route.end >= begins
        shift = (datetime.fromisoformat(at(8)), datetime.fromisoformat(at(17)))
        assert shift[0] <= route.start and route.end <= shift[1]


def test_skills_certifications_and_pins_send_each_job_to_who_may_do_it() -> None:
    # every job is next to tess's home; only eligibility sends work to the far technicians
    plan = plan_of(
        problem(
            [
                tech("tess", skills=["pumps"], certifications=[{"code": "HV"}]),
                tech("gus", start=FAR_HOME, skills=["gas"]),
                tech(
                    "theo",
                    start=FAR_HOME,
                    certifications=[{"code": "HV", "expires_on": "2026-12-06"}],
                ),
            ],
            [
                job("leak", **NEAR, skills=["gas"]),
                job("pump", **NEAR, skills=["pumps"]),
                job("hv", **NEAR, certifications=["HV"]),
                job("mine", **NEAR, pinned_technician="theo"),
                job("x", **NEAR, skills=["hv-cable"]),
            ],
        )
    )
    assert assignment(plan) == {"leak": "gus", "pump": "tess", "hv": "tess", "mine": "theo"}
    assert reasons(plan) == {"x": ("skill", "no technician holds skill 'hv-cable'")}


def test_the_cheaper_technician_goes_when_travel_is_weighed_by_hourly_cost() -> None:
    # dave is nearer but costs four times as much per hour of driving
    slightly_far = {"lat": 52.53, "lon": 13.42}
    plan = plan_of(
        problem(
            [tech("dave", start=NEAR, hourly_cost=4.0), tech("cheap", start=slightly_far)],
            [job("j", lat=52.515, lon=13.405)],
        )
    )
    assert assignment(plan) == {"j": "cheap"}


def test_work_starts_in_the_one_window_still_free() -> None:
    # "long" fills 08:00-11:00, so "either" must take its afternoon window
    plan = plan_of(
        problem(
            [tech("tess")],
            [
                job("long", **NEAR, duration_s=3 * 3600, windows=[window((8, 0), (8, 30))]),
                job(
                    "either",
                    **NEAR,
                    windows=[window((9, 0), (9, 30)), window((13, 0), (13, 30))],
                ),
                job("dawn", **NEAR, windows=[window((5, 0), (5, 30)), window((15, 0), (15, 5))]),
                job("night", **NEAR, windows=[window((20, 0), (22, 0))]),
            ],
        )
    )
    assert assignment(plan) == {"long": "tess", "either": "tess", "dawn": "tess"}
    long = stop(plan, "long").start
    assert datetime.fromisoformat(at(8)) <= long <= datetime.fromisoformat(at(8, 30))
    either = stop(plan, "either").start
    assert datetime.fromisoformat(at(13)) <= either <= datetime.fromisoformat(at(13, 30))
    dawn = stop(plan, "dawn").start
    assert datetime.fromisoformat(at(15)) <= dawn <= datetime.fromisoformat(at(15, 5))
    code, text = reasons(plan)["night"]
    assert code == "window" and text.startswith("window unreachable in any shift")


def test_parts_come_from_the_van_and_the_urgent_job_gets_the_last_one() -> None:
    plan = plan_of(
        problem(
            [tech("tess", van_stock={"P1": 1}), tech("theo", start=NEAR)],
            [
                job("a", **NEAR, parts={"P1": 1}),
                job("b", lat=52.51, parts={"P1": 1}, priority=1),
                job("c", parts={"P2": 3}),
                job("plain", **NEAR),
            ],
        )
    )
    assigned = assignment(plan)
    assert assigned["b"] == "tess" and "a" not in assigned and "plain" in assigned
    code, text = reasons(plan)["a"]
    assert code == "dropped" and text.startswith("dropped for higher-priority work")
    assert reasons(plan)["c"] == ("parts", "parts on no eligible van: P2 x3")


def test_working_minutes_cap_the_work_and_keep_the_more_urgent_jobs() -> None:
    plan = plan_of(
        problem(
            [
                tech("tess", skills=["meters"], max_working_minutes=60),
                tech("theo", skills=["roof"]),
            ],
            [
                job("a", **NEAR, skills=["meters"], priority=2),
                job("b", lat=52.51, skills=["meters"], priority=3),
                job("c", lat=52.49, skills=["meters"], priority=1),
                job("long", skills=["meters"], duration_s=7200),
                job("roof", skills=["roof"], duration_s=5 * 3600),  # theo has no limit
            ],
        )
    )
    assert assignment(plan) == {"a": "tess", "c": "tess", "roof": "theo"}
    (route,) = [r for r in plan.routes if r.technician == "tess"]
    assert route.work_s == 3600
    assert reasons(plan)["b"][0] == "dropped"
    assert reasons(plan)["long"] == ("capacity", "120 min is more work than any day allows")


def test_when_the_day_is_short_one_urgent_job_outweighs_several_routine_ones() -> None:
    # 90 minutes: room for the 70-minute urgent job or the three 25-minute ones, not both
    short = window((8, 0), (9, 30))
    plan = plan_of(
        problem(
            [tech("tess", shift=short)],
            [job(f"r{n}", **NEAR, duration_s=1500, priority=3) for n in range(3)]
            + [job("urgent", lat=52.522, lon=13.402, duration_s=4200, priority=1)],
        )
    )
    assert assignment(plan) == {"urgent": "tess"}
    for index in range(3):
        code, text = reasons(plan)[f"r{index}"]
        assert code == "dropped" and text.startswith("dropped for higher-priority work")
    assert plan.totals.priority_weighted_share == pytest.approx(16 / (16 + 3 * 4), abs=1e-6)


def test_a_day_with_a_break_is_refused_naming_the_technician() -> None:
    lunch = [{"window": window((12, 0), (13, 0)), "minutes": 30}]
    day_problem = problem([tech("tess"), tech("theo", breaks=lunch)], [job("j")])
    with pytest.raises(EngineRefused) as refused:
        solve(day_problem, engine="pyvrp", time_limit_s=0.5)
    assert refused.value.reason == (
        "the pyvrp engine cannot plan breaks, and technician 'theo' has breaks in the day; "
        "plan with the vroom engine"
    )
    assert str(refused.value) == refused.value.reason


def test_several_technicians_with_breaks_are_named_together() -> None:
    lunch = [{"window": window((12, 0), (13, 0)), "minutes": 30}]
    techs = [tech(f"t{n}", breaks=lunch) for n in range(5)]
    assert refusal(compile_problem(problem(techs, [job("j")]))) == (
        "the pyvrp engine cannot plan breaks, and technicians 't0', 't1', 't2' and 2 more "
        "have breaks in the day; plan with the vroom engine"
    )


def test_a_day_with_breaks_and_a_pinned_start_names_both() -> None:
    lunch = [{"window": window((12, 0), (13, 0)), "minutes": 30}]
    day_problem = problem(
        [tech("tess", breaks=lunch), tech("theo", breaks=lunch)],
        [job("fixed", pinned_technician="tess", pinned_start=at(15, 10))],
    )
    assert refusal(compile_problem(day_problem)) == (
        "the pyvrp engine cannot plan breaks, and technicians 'tess', 'theo' have breaks in "
        "the day; nor can it hold a pinned start time, and job 'fixed' has one; plan with the "
        "vroom engine"
    )


def test_a_day_with_a_pinned_start_is_refused_naming_the_job() -> None:
    day_problem = problem(
        [tech("tess")],
        [job("free"), job("fixed", pinned_technician="tess", pinned_start=at(15, 10))],
    )
    with pytest.raises(EngineRefused) as refused:
        solve(day_problem, engine="pyvrp", time_limit_s=0.5)
    assert refused.value.reason == (
        "the pyvrp engine cannot hold a pinned start time, and job 'fixed' has one; "
        "plan with the vroom engine"
    )


def test_the_same_day_is_served_like_vroom_serves_it() -> None:
    jobs = [
        job(f"j{n}", lat=52.48 + (n % 4) / 50, lon=13.35 + (n // 4) / 40, priority=1 + n % 5)
        for n in range(12)
    ]
    day_problem = problem([tech("tess"), tech("theo", start=HOME | {"lat": 52.47})], jobs)
    pyvrp_plan = plan_of(day_problem)
    vroom_plan = solve(day_problem, engine="vroom", time_limit_s=0.5)
    assert pyvrp_plan.totals.assigned == vroom_plan.totals.assigned == 12
    assert pyvrp_plan.totals.travel_s <= vroom_plan.totals.travel_s * 1.05


def test_a_route_that_breaks_a_rule_is_never_handed_back() -> None:
    # PyVRP's best is infeasible only when it found nothing feasible in time; then only its
    # feasible routes are kept. Here theo is given the gas job he may not do.
    day_problem = problem(
        [tech("tess", skills=["gas"]), tech("theo")],
        [job("leak", **NEAR, skills=["gas"]), job("plain", **NEAR)],
    )
    inst = compile_problem(day_problem)
    data, job_of, _ = pyvrp_engine._compile(inst, [0, 1])
    leak, plain = job_of.index(0), job_of.index(1)
    best = pyvrp.Solution(data, [pyvrp.Route(data, [leak], 1), pyvrp.Route(data, [plain], 0)])
    assert not best.is_feasible()
    routes = pyvrp_engine._routes(inst, best, job_of)
    assert [(r.technician, [s.job for s in r.stops]) for r in routes] == [(0, [1])]
