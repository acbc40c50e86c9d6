"""The validator catches what an engine could get wrong, and every engine's plan passes it.

A known-good plan is changed in one way at a time; each change must be named. Then random
days (hypothesis) go through the engine: whatever it returns must pass, or ``solve`` fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler import validate
from scheduler.model import Plan, Problem
from scheduler.solve import solve
from tests.support.day import at, job, problem, tech, window

LUNCH = {"window": window((12, 0), (13, 0)), "minutes": 30}


def good() -> tuple[Problem, Plan]:
    day_problem = problem(
        [
            tech("tess", skills=["pumps"], van_stock={"P1": 1}, breaks=[LUNCH]),
            tech("theo", certifications=[{"code": "HV", "expires_on": "2027-01-01"}]),
        ],
        [
            job("pump", skills=["pumps"], parts={"P1": 1}, duration_s=3 * 3600),
            job("hv", lat=52.45, certifications=["HV"]),
            job("late", lat=52.55, windows=[window((15, 0), (16, 0))], pinned_technician="theo"),
            job("gas", skills=["gas"]),
        ],
    )
    plan = solve(day_problem, engine="vroom", time_limit_s=1)
    assert validate.violations(day_problem, plan) == []
    return day_problem, plan


def edit(plan: Plan, change: Callable[[dict[str, Any]], None]) -> Plan:
    raw = plan.model_dump()
    change(raw)
    return Plan.model_validate(raw)


def route_of(raw: dict[str, Any], tech_id: str) -> dict[str, Any]:
    return next(r for r in raw["routes"] if r["technician"] == tech_id)


def stop_of(raw: dict[str, Any], job_id: str) -> dict[str, Any]:
    return next(s for r in raw["routes"] for s in r["stops"] if s["job"] == job_id)


def _swap_pump_to_theo(raw: dict[str, Any]) -> None:
    stop = stop_of(raw, "pump")
    route_of(raw, "tess")["stops"].remove(stop)
    route_of(raw, "theo")["stops"].append(stop)


def _shift(job_id: str, seconds: int) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        stop = stop_of(raw, job_id)
        for key in ("arrival", "start", "end"):
            stop[key] += timedelta(seconds=seconds)

    return change


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "a job served twice",
        lambda r: route_of(r, "theo")["stops"].append(dict(stop_of(r, "hv"))),
        "job 'hv' appears 2 times",
    ),
    (
        "a job neither served nor listed",
        lambda r: r["unassigned"].clear(),
        "job 'gas' is neither routed nor listed as unassigned",
    ),
    ("the wrong technician for a skill", _swap_pump_to_theo, "lacks skill(s) ['pumps']"),
    ("parts the van lacks", _swap_pump_to_theo, "needs 1 x P1, the van holds 0"),
    ("work outside its window", _shift("late", -3 * 3600), "outside its windows"),
    ("arrival sooner than the drive", _shift("hv", -3600), "before"),
    (
        "a break dropped",
        lambda r: route_of(r, "tess")["breaks"].clear(),
        "0 break(s) taken, 1 due",
    ),
    (
        "a break during work",
        lambda r: route_of(r, "tess")["breaks"][0].update(
            start=stop_of(r, "pump")["start"],
            end=stop_of(r, "pump")["start"] + timedelta(minutes=30),
        ),
        "falls during the work",
    ),
    (
        "a job cut short",
        lambda r: stop_of(r, "hv").update(end=stop_of(r, "hv")["end"] - timedelta(minutes=5)),
        "not 1800 s",
    ),
    (
        "totals that do not add up",
        lambda r: r["totals"].update(travel_s=r["totals"]["travel_s"] + 1),
        "totals.travel_s",
    ),
    (
        "a route past the shift",
        lambda r: route_of(r, "theo").update(end=route_of(r, "theo")["end"] + timedelta(hours=9)),
        "outside the shift",
    ),
]


@pytest.mark.parametrize(("what", "change", "named"), CASES, ids=[c[0] for c in CASES])
def test_the_validator_names_each_broken_rule(
    what: str, change: Callable[[dict[str, Any]], None], named: str
) -> None:
    day_problem, plan = good()
    found = validate.violations(day_problem, edit(plan, change))
    assert any(named in v for v in found), (what, found)
    with pytest.raises(validate.PlanInvalid):
        validate.check(day_problem, edit(plan, change))


def test_a_pinned_start_moved_is_caught() -> None:
    day_problem = problem([tech("tess")], [job("j", pinned_technician="tess", pinned_start=at(11))])
    plan = solve(day_problem, engine="vroom", time_limit_s=1)
    moved = edit(plan, _shift("j", 60))
    assert any("pinned to" in v for v in validate.violations(day_problem, moved))


# --- random days ---------------------------------------------------------------------------------

SKILLS = ["pumps", "valves", "gas"]


@st.composite
def days(draw: st.DrawFn) -> Problem:
    n_tech = draw(st.integers(1, 4))
    techs = []
    for index in range(n_tech):
        start_h = draw(st.integers(6, 10))
        fields: dict[str, Any] = {
            "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=3)),
            "shift": window((start_h, 0), (start_h + draw(st.integers(4, 10)), 0)),
            "van_stock": {"P1": draw(st.integers(0, 3))},
            "start": {"lat": 52.45 + index / 50, "lon": 13.35},
        }
        if draw(st.booleans()):
            fields["breaks"] = [
                {"window": window((start_h + 3, 0), (start_h + 4, 0)), "minutes": 30}
            ]
        if draw(st.booleans()):
            fields["max_working_minutes"] = draw(st.integers(60, 480))
        if draw(st.booleans()):
            fields["certifications"] = [
                {"code": "HV", "expires_on": draw(st.sampled_from(["2026-12-06", "2027-06-30"]))}
            ]
        techs.append(tech(f"t{index}", **fields))
    jobs = []
    for index in range(draw(st.integers(0, 12))):
        fields = {
            "duration_s": draw(st.integers(5, 180)) * 60,
            "priority": draw(st.integers(1, 5)),
            "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=1)),
        }
        if draw(st.booleans()):
            hour = draw(st.integers(6, 17))
            fields["windows"] = [window((hour, 0), (min(hour + draw(st.integers(0, 3)), 23), 30))]
        if draw(st.integers(0, 4)) == 0:
            fields["parts"] = {"P1": draw(st.integers(1, 2))}
        if draw(st.integers(0, 4)) == 0:
            fields["certifications"] = ["HV"]
        if draw(st.integers(0, 5)) == 0:
            fields["pinned_technician"] = f"t{draw(st.integers(0, n_tech - 1))}"
        lat = 52.40 + draw(st.integers(0, 20)) / 100
        lon = 13.20 + draw(st.integers(0, 30)) / 100
        jobs.append(job(f"j{index}", lat=lat, lon=lon, **fields))
    return problem(techs, jobs)


@given(days())
def test_every_plan_the_engine_returns_for_a_random_day_is_valid_and_complete(
    day_problem: Problem,
) -> None:
    plan = solve(day_problem, engine="vroom", time_limit_s=0.5)  # raises PlanInvalid otherwise
    listed = [s.job for r in plan.routes for s in r.stops] + [u.job for u in plan.unassigned]
    assert sorted(listed) == sorted(j.id for j in day_problem.jobs)
    assert all(u.reason for u in plan.unassigned)
