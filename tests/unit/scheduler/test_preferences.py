"""Preferred technicians: honoured when it costs little driving, never against a rule."""

from __future__ import annotations

import pytest

from scheduler.model import Problem
from scheduler.solve import solve
from tests.support.day import HOME, assignment, job, problem, tech

NEAR = {"lat": 52.53, "lon": 13.41}  # about 1.3 km from HOME
FAR = {"lat": 52.80, "lon": 13.90}  # about 45 km away: an hour's round trip and more


def test_a_job_goes_to_its_preferred_technician_when_it_costs_little() -> None:
    for preferred in ("tess", "theo"):
        day = problem(
            [tech("tess"), tech("theo", start=NEAR)],
            [job("j", preferred_technician=preferred)],
        )
        plan = solve(day, engine="vroom", time_limit_s=1)
        assert assignment(plan) == {"j": preferred}
        assert (plan.totals.preferred_jobs, plan.totals.preferred_kept) == (1, 1)


def test_a_preference_is_not_worth_an_hour_of_driving() -> None:
    day = problem([tech("tess"), tech("far", start=FAR)], [job("j", preferred_technician="far")])
    plan = solve(day, engine="vroom", time_limit_s=1)
    assert assignment(plan) == {"j": "tess"}
    assert (plan.totals.preferred_jobs, plan.totals.preferred_kept) == (1, 0)


@pytest.mark.parametrize(
    "rule",
    [
        {"skills": ["gas"]},  # theo lacks the skill
        {"pinned_technician": "tess"},  # a pin beats a preference
    ],
)
def test_a_preference_never_breaks_a_rule(rule: dict[str, object]) -> None:
    day = problem(
        [tech("tess", skills=["gas"]), tech("theo", start=NEAR)],
        [job("j", preferred_technician="theo", **rule)],
    )
    plan = solve(day, engine="vroom", time_limit_s=1)
    assert assignment(plan) == {"j": "tess"}


@pytest.mark.parametrize("engine", ["vroom", "pyvrp", "auto"])
def test_every_engine_honours_preferences_and_serves_every_job(engine: str) -> None:
    jobs = [
        job(f"j{n}", lat=52.50 + n / 300, lon=13.38 + n / 300, preferred_technician="theo")
        for n in range(6)
    ]
    day: Problem = problem([tech("tess", start=HOME), tech("theo", start=NEAR)], jobs)
    plan = solve(day, engine=engine, time_limit_s=2)  # type: ignore[arg-type]
    assert plan.totals.assigned == 6
    assert plan.totals.preferred_kept == 6
    assert set(assignment(plan).values()) == {"theo"}
