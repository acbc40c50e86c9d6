"""The scheduling engine, one rule at a time, on days whose best plan is known.

Every plan here has passed ``scheduler.validate`` inside ``solve``; the tests check that it
is the plan a dispatcher would expect, and that every job left out says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from scheduler import travel
from scheduler.model import Place, Plan, Problem, Travel
from scheduler.solve import describe, solve
from tests.support.day import HOME, assignment, at, job, problem, reasons, stop, tech, window


def plan_of(day_problem: Problem) -> Plan:
    return solve(day_problem, engine="vroom", time_limit_s=2)


def test_skills_decide_who_goes_and_a_skill_nobody_holds_is_named() -> None:
    plan = plan_of(
        problem(
            [tech("tess", skills=["pumps"]), tech("gus", skills=["gas"])],
            [job("leak", skills=["gas"]), job("pump", skills=["pumps"]), job("x", skills=["hv"])],
        )
    )
    assert assignment(plan) == {"leak": "gus", "pump": "tess"}
    assert reasons(plan) == {"x": ("skill", "no technician holds skill 'hv'")}


def test_a_certification_counts_only_on_days_it_is_valid_in_the_technicians_own_zone() -> None:
    # 08:00 in Los Angeles on 7 December is 16:00 UTC: still the 7th where the work happens
    la = {
        "time_zone": "America/Los_Angeles",
        "start": {"lat": 34.05, "lon": -118.25},
        "shift": window((8, 0), (17, 0), offset="-08:00"),
    }
    plan = plan_of(
        problem(
            [
                tech("lara", **la, certifications=[{"code": "HV", "expires_on": "2026-12-07"}]),
                tech("lee", **la, certifications=[{"code": "GAS", "expires_on": "2026-12-06"}]),
            ],
            [
                job("hv", lat=34.06, lon=-118.24, certifications=["HV"]),
                job("gas", lat=34.06, lon=-118.24, certifications=["GAS"]),
                job("crane", lat=34.06, lon=-118.24, certifications=["CRANE"]),
            ],
        )
    )
    assert assignment(plan) == {"hv": "lara"}
    assert reasons(plan)["gas"] == (
        "certification",
        "certification 'GAS' is not valid on the day for any of its holders "
        "(expired or not yet issued)",
    )
    assert reasons(plan)["crane"] == ("certification", "no technician holds certification 'CRANE'")


def test_a_certification_issued_after_the_day_does_not_count_yet() -> None:
    plan = plan_of(
        problem(
            [tech("tess", certifications=[{"code": "HV", "issued_on": "2026-12-08"}])],
            [job("hv", certifications=["HV"])],
        )
    )
    assert reasons(plan)["hv"][0] == "certification"


def test_a_pinned_job_goes_to_its_technician_and_a_pinned_start_is_kept_to_the_second() -> None:
    near, far = {"lat": 52.521, "lon": 13.401}, {"lat": 52.40, "lon": 13.10}
    plan = plan_of(
        problem(
            [tech("tess"), tech("theo", start=far)],
            [
                job("mine", **near, pinned_technician="theo"),
                job("fixed", **near, pinned_technician="tess", pinned_start=at(15, 10)),
            ],
        )
    )
    assert assignment(plan) == {"mine": "theo", "fixed": "tess"}
    assert stop(plan, "fixed").start == datetime.fromisoformat(at(15, 10))


def test_a_job_pinned_to_someone_who_lacks_the_skill_says_so() -> None:
    plan = plan_of(problem([tech("tess")], [job("j", skills=["gas"], pinned_technician="tess")]))
    assert reasons(plan)["j"] == (
        "skill",
        "the pinned technician 'tess' no longer holds skill 'gas'",
    )


def test_work_starts_inside_one_of_several_windows_and_an_unreachable_window_is_named() -> None:
    plan = plan_of(
        problem(
            [tech("tess")],
            [
                job("two", windows=[window((6, 0), (6, 30)), window((14, 0), (15, 0))]),
                job("night", windows=[window((20, 0), (22, 0))]),
            ],
        )
    )
    start = stop(plan, "two").start
    assert datetime.fromisoformat(at(14)) <= start <= datetime.fromisoformat(at(15))
    assert reasons(plan)["night"][0] == "window"
    assert reasons(plan)["night"][1].startswith("window unreachable in any shift")


def test_parts_come_from_the_van_and_a_part_no_van_carries_is_named() -> None:
    plan = plan_of(
        problem(
            [tech("tess", van_stock={"P1": 1}), tech("theo")],
            [
                job("a", parts={"P1": 1}),
                job("b", lat=52.51, parts={"P1": 1}),
                job("c", parts={"P2": 3}),
            ],
        )
    )
    assigned = assignment(plan)
    assert len([j for j in ("a", "b") if assigned.get(j) == "tess"]) == 1  # one P1 on the van
    left = ({"a", "b"} - assigned.keys()).pop()
    assert reasons(plan)[left][0] == "capacity"
    assert reasons(plan)["c"] == ("parts", "parts on no eligible van: P2 x3")


def test_working_minutes_cap_the_work_not_the_day() -> None:
    plan = plan_of(
        problem(
            [tech("tess", max_working_minutes=60)],
            [job("a"), job("b", lat=52.51), job("c", lat=52.49), job("long", duration_s=7200)],
        )
    )
    (route,) = plan.routes
    assert route.work_s == 3600 and len(route.stops) == 2
    assert reasons(plan)["long"] == ("capacity", "120 min is more work than any day allows")


def test_a_break_is_taken_inside_its_window_and_never_during_work() -> None:
    jobs = [
        job(f"j{n}", lat=52.50 + n / 200, duration_s=5400, windows=[window((8, 0), (16, 0))])
        for n in range(4)
    ]
    plan = plan_of(
        problem(
            [tech("tess", breaks=[{"window": window((12, 0), (13, 0)), "minutes": 30}])],
            jobs,
        )
    )
    (route,) = plan.routes
    (taken,) = route.breaks
    assert datetime.fromisoformat(at(12)) <= taken.start <= datetime.fromisoformat(at(13))
    assert taken.end - taken.start == timedelta(minutes=30)
    for visit in route.stops:
        assert taken.end <= visit.start or visit.end <= taken.start


def test_when_the_day_is_short_the_urgent_job_stays_and_the_other_is_dropped_for_it() -> None:
    short = window((8, 0), (9, 30))
    plan = plan_of(
        problem(
            [tech("tess", shift=short)],
            [
                job("routine", duration_s=3600, priority=5),
                job("urgent", lat=52.51, duration_s=3600, priority=1),
            ],
        )
    )
    assert assignment(plan) == {"urgent": "tess"}
    code, text = reasons(plan)["routine"]
    assert code == "dropped" and text.startswith("dropped for higher-priority work")
    assert plan.totals.priority_weighted_share == pytest.approx(16 / 17, abs=1e-6)


def test_nearby_jobs_are_served_in_a_sensible_order_with_consistent_times() -> None:
    line = [job(f"j{n}", lat=52.52, lon=13.40 + n / 100) for n in (3, 1, 2)]
    plan = plan_of(problem([tech("tess")], line))
    (route,) = plan.routes
    assert [s.job for s in route.stops] in (["j1", "j2", "j3"], ["j3", "j2", "j1"])
    last = next(j for j in line if j["id"] == route.stops[-1].job)
    home = travel.seconds(Travel(), Place(**last["location"]), Place(**HOME))
    assert route.travel_s == sum(s.travel_s for s in route.stops) + home
    for before, after in zip(route.stops, route.stops[1:], strict=False):
        assert after.arrival >= before.end + timedelta(seconds=after.travel_s)
    assert plan.totals.travel_s == route.travel_s and plan.totals.assigned == 3


def test_times_are_shown_in_the_technicians_zone_across_a_dst_change() -> None:
    # 29 March 2026: Berlin moves from +01:00 to +02:00 at 02:00
    summer = {"day": "2026-03-29", "offset": "+02:00"}
    plan = plan_of(
        problem(
            [tech("tess", shift=window((8, 0), (17, 0), **summer))],
            [job("j", windows=[window((9, 0), (10, 0), **summer)])],
        )
    )
    start = stop(plan, "j").start
    assert start.utcoffset() == timedelta(hours=2)
    assert (
        datetime.fromisoformat(at(9, **summer)) <= start <= datetime.fromisoformat(at(10, **summer))
    )


def test_a_callers_travel_matrix_is_used_as_given() -> None:
    plan = plan_of(
        problem(
            [tech("tess", start={**HOME, "index": 0})],
            [
                {**job("a"), "location": {**HOME, "index": 1}},
                {**job("b"), "location": {**HOME, "index": 2}},
            ],
            travel={"matrix_s": [[0, 100, 900], [100, 0, 200], [900, 200, 0]]},
        )
    )
    (route,) = plan.routes
    assert [(s.job, s.travel_s) for s in route.stops] in (
        [("a", 100), ("b", 200)],
        [("b", 900), ("a", 200)],
    )
    assert route.travel_s == 100 + 200 + 900


def test_nobody_to_plan_for_still_gets_a_plan_with_reasons() -> None:
    plan = plan_of(problem([], [job("j")]))
    assert plan.routes == [] and plan.totals.assigned == 0
    assert reasons(plan)["j"] == ("no_technician", "no technician is on shift in this problem")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["jobs"].append(dict(p["jobs"][0])), "jobs.1.id"),
        (lambda p: p["jobs"][0].update(pinned_start=at(9)), "pinned_start needs pinned_technician"),
        (lambda p: p["jobs"][0].update(pinned_technician="nobody"), "jobs.0.pinned_technician"),
        (lambda p: p["jobs"][0].update(duration_s=0), "jobs.0.duration_s"),
        (lambda p: p["jobs"][0].update(priority=9), "jobs.0.priority"),
        (lambda p: p["technicians"][0].update(time_zone="Mars/Base"), "technicians.0.time_zone"),
        (
            lambda p: p["technicians"][0].update(shift={"start": "2026-12-07T08:00", "end": at(9)}),
            "technicians.0.shift.start",
        ),
        (
            lambda p: p["technicians"][0].update(shift=window((17, 0), (8, 0))),
            "technicians.0.shift",
        ),
        (lambda p: p.update(travel={"matrix_s": [[0]]}), "technicians.0.start.index"),
        (
            lambda p: p["technicians"][0].update(
                breaks=[{"window": window((16, 45), (18, 0)), "minutes": 30}]
            ),
            "technicians.0.breaks.0.window",
        ),
    ],
)
def test_a_malformed_problem_is_refused_naming_the_item_and_field(change: Any, field: str) -> None:
    raw: dict[str, Any] = {"technicians": [tech("tess")], "jobs": [job("j")]}
    change(raw)
    with pytest.raises(ValidationError) as caught:
        Problem.model_validate(raw)
    assert any(field in line for line in describe(caught.value)), describe(caught.value)


def test_a_day_with_a_travel_matrix_and_no_jobs_is_an_empty_plan() -> None:
    plan = plan_of(
        problem([tech("tess", start={**HOME, "index": 0})], [], travel={"matrix_s": [[0]]})
    )
    assert plan.routes == [] and plan.totals.jobs == 0


def test_a_break_window_running_past_the_shift_is_taken_before_its_end() -> None:
    late = {"window": window((16, 0), (19, 0)), "minutes": 30}
    plan = plan_of(problem([tech("tess", breaks=[late])], [job("j", duration_s=3600)]))
    (route,) = plan.routes
    (taken,) = route.breaks
    assert taken.end <= route.end <= datetime.fromisoformat(at(17))
