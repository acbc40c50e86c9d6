"""``POST /api/v1/plans``: planning as a service over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler import validate
from scheduler.model import Plan
from tests.support.day import job, problem, tech, window
from tests.support.http import Api, World

LUNCH = {"window": window((12, 0), (13, 0)), "minutes": 30}


def day() -> dict[str, Any]:
    day_problem = problem(
        [tech("tess", skills=["pumps"], breaks=[LUNCH]), tech("theo")],
        [job("a", skills=["pumps"]), job("b", lat=52.51), job("c", skills=["gas"])],
    )
    return day_problem.model_dump(mode="json")


# Plans are computed, not stored: one backend is enough.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_a_dispatcher_gets_a_checked_plan_with_reasons(api: Api, world: World) -> None:
    body = day()
    got = api.call("POST", "/api/v1/plans?time_limit_s=2", world.dispatcher, json=body)
    assert got.status_code == 200, got.text
    plan = Plan.model_validate(got.json())
    assert validate.violations(problem(body["technicians"], body["jobs"]), plan) == []
    assert {s.job: r.technician for r in plan.routes for s in r.stops}["a"] == "tess"
    (left,) = plan.unassigned
    assert (left.job, left.code, left.reason) == ("c", "skill", "no technician holds skill 'gas'")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["jobs"].append(dict(b["jobs"][0])), "jobs.3.id"),
        (lambda b: b["jobs"][1].update(pinned_technician="nobody"), "jobs.1.pinned_technician"),
        (lambda b: b["jobs"][0].update(duration_s=-5), "jobs.0.duration_s"),
        (lambda b: b["technicians"][0].pop("shift"), "technicians.0.shift"),
    ],
)
def test_a_malformed_problem_is_422_naming_the_item_and_field(
    api: Api, world: World, change: Any, field: str
) -> None:
    body = day()
    change(body)
    got = api.call("POST", "/api/v1/plans", world.dispatcher, json=body)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in got.json()["errors"]]


def test_an_engine_that_cannot_express_the_day_is_422_with_the_reason(
    api: Api, world: World
) -> None:
    got = api.call("POST", "/api/v1/plans?engine=pyvrp", world.dispatcher, json=day())
    assert got.status_code == 422
    assert "breaks" in got.json()["detail"] and "'tess'" in got.json()["detail"]
    got = api.call("POST", "/api/v1/plans?engine=magic", world.dispatcher, json=day())
    assert got.status_code == 422 and got.json()["errors"][0]["field"] == "engine"


def test_only_planners_may_plan(api: Api, world: World) -> None:
    assert api.call("POST", "/api/v1/plans", world.tech_token, json=day()).status_code == 403
    assert api.call("POST", "/api/v1/plans", None, json=day()).status_code == 401
