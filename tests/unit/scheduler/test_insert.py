"""Urgent insertion: one new job placed into a stored plan, on days whose best place is known.

Each stored plan is VROOM's for the day without the new job (its order is checked first, so
a test fails on what it means to test); ``insert`` must then put the job where a dispatcher
would, keep everyone else's order, and never break a rule (it runs the validator itself).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler import travel, validate
from scheduler.insert import Insertion, insert
from scheduler.model import Place, Plan, Problem, Route, Travel
from scheduler.solve import solve
from tests.support.day import (
    HOME,
    assignment,
    at,
    job,
    moment,
    problem,
    reasons,
    stop,
    tech,
    window,
)

EAST = 13.40  # jobs sit on a line east of HOME: 0.01 degrees is about 2.7 minutes' drive


def east(ident: str, offset: float, **fields: Any) -> dict[str, Any]:
    return job(ident, lat=HOME["lat"], lon=EAST + offset / 100, **fields)


def drive(origin: dict[str, Any], destination: dict[str, Any]) -> timedelta:
    """Driving between two places (job dicts or places) as the problem defines it."""
    where = [x.get("location", x) for x in (origin, destination)]
    return timedelta(seconds=travel.seconds(Travel(), Place(**where[0]), Place(**where[1])))


def plan_and_insert(
    techs: list[dict[str, Any]], jobs: list[dict[str, Any]], new: dict[str, Any]
) -> tuple[Plan, Insertion]:
    """The stored plan of the day without ``new`` (VROOM's), and ``new`` inserted into it."""
    stored = solve(problem(techs, jobs), engine="vroom", time_limit_s=1)
    result = insert(problem(techs, [*jobs, new]), stored, new["id"])
    return stored, result


def order(plan: Plan, tech_id: str) -> list[str]:
    return [s.job for s in route(plan, tech_id).stops]


def route(plan: Plan, tech_id: str) -> Route:
    return next(r for r in plan.routes if r.technician == tech_id)


def test_the_job_goes_between_the_two_stops_it_lies_between() -> None:
    job_a = east("a", 2, windows=[window((8, 0), (9, 0))])
    job_b = east("b", 6, windows=[window((11, 0), (12, 0))])
    new = east("new", 4)
    stored, result = plan_and_insert([tech("tess")], [job_a, job_b], new)
    assert order(stored, "tess") == ["a", "b"]
    assert (result.technician, result.position, result.bumped) == ("tess", 1, [])
    plan = result.plan
    assert order(plan, "tess") == ["a", "new", "b"]
    assert stop(plan, "a") == stop(stored, "a")  # before the new job nothing changes
    assert stop(plan, "new").arrival == stop(plan, "a").end + drive(job_a, new)
    assert stop(plan, "new").start == stop(plan, "new").arrival  # no window: straight to work
    assert stop(plan, "b").start == stop(stored, "b").start  # still in time for its window
    assert result.delayed == {}
    added = drive(job_a, new) + drive(new, job_b) - drive(job_a, job_b)
    assert result.added_travel_s == added.total_seconds()
    assert plan.engine == "insert" and plan.totals.assigned == 3
    assert plan.totals.travel_s == stored.totals.travel_s + result.added_travel_s


def test_a_window_that_forbids_the_cheap_place_sends_the_job_where_it_can_start() -> None:
    job_a = east("a", 2, windows=[window((8, 0), (9, 0))])
    job_b = east("b", 6, windows=[window((11, 0), (12, 0))])
    new = east("new", 4, windows=[window((14, 0), (15, 0))])
    stored, result = plan_and_insert([tech("tess")], [job_a, job_b], new)
    assert order(stored, "tess") == ["a", "b"]
    plan = result.plan
    assert order(plan, "tess") == ["a", "b", "new"]
    assert stop(plan, "new").arrival == stop(plan, "b").end + drive(job_b, new)
    assert stop(plan, "new").start == moment(14)  # arrives early and waits for the window
    assert route(plan, "tess").end == moment(14, 30) + drive(new, HOME)


def test_a_later_stops_window_is_not_broken_by_the_shift_the_job_would_cause() -> None:
    job_a = east("a", 2, duration_s=3600, windows=[window((8, 0), (8, 30))])
    job_b = east("b", 6, windows=[window((9, 15), (9, 25))])  # no room after a for 30 more minutes
    new = east("new", 4)
    stored, result = plan_and_insert([tech("tess")], [job_a, job_b], new)
    assert order(stored, "tess") == ["a", "b"]
    plan = result.plan
    assert order(plan, "tess") == ["a", "b", "new"]  # before a would make a late, too
    assert stop(plan, "b") == stop(stored, "b")
    assert stop(plan, "new").start == stop(plan, "b").end + drive(job_b, new)


LUNCH = {"window": window((12, 0), (12, 30)), "minutes": 30}


def lunch_day(new_minutes: int) -> tuple[Plan, Insertion]:
    job_a = east("a", 2, duration_s=3600, windows=[window((10, 0), (10, 5))])
    job_b = east("b", 6, windows=[window((13, 30), (13, 40))])
    new = east("new", 4, duration_s=60 * new_minutes)
    return plan_and_insert([tech("tess", breaks=[LUNCH])], [job_a, job_b], new)


def test_lunch_still_fits_between_the_stops_with_the_new_job() -> None:
    stored, result = lunch_day(30)
    assert order(stored, "tess") == ["a", "b"]
    plan = result.plan
    assert order(plan, "tess") == ["a", "new", "b"]
    assert route(plan, "tess").breaks == route(stored, "tess").breaks  # lunch where it was
    (lunch,) = route(plan, "tess").breaks
    assert moment(12) <= lunch.start <= moment(12, 30)
    assert stop(plan, "new").end <= lunch.start and lunch.end <= stop(plan, "b").start
    assert stop(plan, "b").start == stop(stored, "b").start


def test_a_job_that_leaves_no_room_for_lunch_goes_after_it() -> None:
    stored, result = lunch_day(120)  # 11:03 to 13:03 would put lunch past 12:30 or b late
    assert order(stored, "tess") == ["a", "b"]
    plan = result.plan
    assert order(plan, "tess") == ["a", "b", "new"]
    (lunch,) = route(plan, "tess").breaks
    assert moment(12) <= lunch.start <= moment(12, 30)
    for visit in route(plan, "tess").stops:
        assert lunch.end <= visit.start or visit.end <= lunch.start


def test_parts_already_promised_on_one_van_send_the_job_to_another() -> None:
    theo_home = {"lat": 52.47, "lon": 13.40}
    techs = [
        tech("tess", van_stock={"P1": 1}),
        tech("theo", start=theo_home, van_stock={"P1": 1}),
    ]
    job_a = east("a", 2, parts={"P1": 1}, pinned_technician="tess")
    new = east("new", 3, parts={"P1": 1})  # next door to tess's stop, but her one P1 is used
    stored, result = plan_and_insert(techs, [job_a], new)
    assert result.technician == "theo"
    assert route(result.plan, "tess") == route(stored, "tess")
    assert order(result.plan, "theo") == ["new"]


def test_a_pinned_start_is_kept_to_the_second() -> None:
    job_a = east("a", 2, duration_s=3600, pinned_technician="tess", pinned_start=at(10))
    new = east("new", 3, windows=[window((9, 0), (9, 45))])
    stored, result = plan_and_insert([tech("tess")], [job_a], new)
    plan = result.plan
    assert order(plan, "tess") == ["new", "a"]
    assert stop(plan, "new").start == moment(9)
    assert stop(plan, "a").start == moment(10) == stop(stored, "a").start
    assert route(plan, "tess").start == moment(9) - drive(HOME, new)  # leaves just in time


def test_a_pinned_job_is_never_bumped_even_for_an_urgent_one() -> None:
    job_a = east("a", 2, priority=5, duration_s=3600, pinned_technician="tess", pinned_start=at(10))
    new = east("new", 3, priority=1, duration_s=5400, windows=[window((9, 0), (9, 45))])
    stored, result = plan_and_insert([tech("tess")], [job_a], new)
    assert (result.technician, result.bumped) == (None, [])
    assert result.plan.routes == stored.routes
    code, text = reasons(result.plan)["new"]
    assert code == "capacity" and text.startswith("no room: the 1 technician(s)")


def test_an_urgent_job_bumps_the_least_valuable_unpinned_job() -> None:
    short = tech("tess", shift=window((8, 0), (10, 0)))
    jobs = [
        east("keep", 1, priority=5, pinned_technician="tess"),  # least valuable, but pinned
        east("routine", 2, priority=4),
        east("other", 3, priority=2),
    ]
    new = east("urgent", 2.5, priority=1)  # four half-hour jobs and the drives exceed 2 hours
    stored, result = plan_and_insert([short], jobs, new)
    assert sorted(assignment(stored)) == ["keep", "other", "routine"]
    assert (result.technician, result.bumped) == ("tess", ["routine"])
    plan = result.plan
    assert assignment(plan) == {"keep": "tess", "other": "tess", "urgent": "tess"}
    kept = [j for j in order(stored, "tess") if j != "routine"]
    assert [j for j in order(plan, "tess") if j != "urgent"] == kept
    assert reasons(plan)["routine"] == (
        "dropped",
        "dropped for urgent job 'urgent' (priority 1, this job's 4)",
    )
    assert plan.totals.assigned == 3


def test_no_room_and_nothing_less_urgent_to_bump_says_so() -> None:
    short = tech("tess", shift=window((8, 0), (10, 0)))
    jobs = [east("a", 2, duration_s=3000), east("b", 3, duration_s=3000)]
    new = east("new", 2.5, priority=5)
    stored, result = plan_and_insert([short], jobs, new)
    assert result.technician is None and result.plan.routes == stored.routes
    assert reasons(result.plan)["new"] == (
        "capacity",
        "no room: the 1 technician(s) who could do it have no time, parts or working minutes "
        "left for it in its windows",
    )


def test_a_job_nobody_may_do_gets_the_planners_reason() -> None:
    stored, result = plan_and_insert([tech("tess")], [east("a", 2)], east("new", 3, skills=["hv"]))
    assert result.technician is None and result.plan.routes == stored.routes
    assert reasons(result.plan)["new"] == ("skill", "no technician holds skill 'hv'")
    assert result.plan.totals.jobs == 2 and result.plan.totals.assigned == 1


def test_a_technician_with_no_route_yet_gets_one() -> None:
    theo_home = {"lat": 52.45, "lon": 13.30}
    techs = [tech("tess"), tech("theo", start=theo_home)]
    jobs = [east("a", 5, pinned_technician="tess")]
    new = job("new", lat=52.46, lon=13.31)
    stored, result = plan_and_insert(techs, jobs, new)
    assert [r.technician for r in stored.routes] == ["tess"]
    plan = result.plan
    assert [r.technician for r in plan.routes] == ["tess", "theo"]
    theo = route(plan, "theo")
    assert order(plan, "theo") == ["new"]
    there = drive(theo_home, new)
    assert (theo.start, stop(plan, "new").start) == (moment(8), moment(8) + there)
    assert theo.end == stop(plan, "new").end + there
    assert theo.travel_s == 2 * there.total_seconds() == result.added_travel_s


def test_the_cheaper_technicians_driving_wins() -> None:
    near, far = {"lat": 52.50, "lon": 13.40}, {"lat": 52.49, "lon": 13.40}
    techs = [tech("tess", start=near, hourly_cost=90), tech("theo", start=far, hourly_cost=30)]
    new = job("new", lat=52.51, lon=13.40)  # tess is half as far, at three times the cost
    _, result = plan_and_insert(techs, [], new)
    assert result.technician == "theo"


@pytest.mark.parametrize(("preferred", "chosen"), [(None, "tess"), ("theo", "theo")])
def test_of_two_equal_places_the_preferred_technician_gets_the_job(
    preferred: str | None, chosen: str
) -> None:
    _, result = plan_and_insert(
        [tech("tess"), tech("theo")], [], east("new", 3, preferred_technician=preferred)
    )
    assert result.technician == chosen


def test_a_callers_travel_matrix_gives_the_new_jobs_legs_one_way_each() -> None:
    techs = [tech("tess", start={**HOME, "index": 0})]
    job_a = {**east("a", 2, windows=[window((8, 0), (9, 0))]), "location": {**HOME, "index": 1}}
    job_b = {**east("b", 6, windows=[window((11, 0), (12, 0))]), "location": {**HOME, "index": 2}}
    new = {**east("new", 4), "location": {**HOME, "index": 3}}
    matrix = [  # from each row to each column: 1 -> 3 -> 2 is cheap, the way back is not
        [0, 100, 400, 900],
        [100, 0, 200, 50],
        [400, 200, 0, 900],
        [900, 900, 60, 0],
    ]
    day_problem = problem(techs, [job_a, job_b, new], travel={"matrix_s": matrix})
    stored = solve(
        problem(techs, [job_a, job_b], travel={"matrix_s": matrix}), engine="vroom", time_limit_s=1
    )
    result = insert(day_problem, stored, "new")
    assert order(result.plan, "tess") == ["a", "new", "b"]
    assert [s.travel_s for s in route(result.plan, "tess").stops] == [100, 50, 60]
    assert result.added_travel_s == 50 + 60 - 200


def test_a_job_already_in_the_plan_is_refused() -> None:
    day_problem = problem([tech("tess")], [east("a", 2)])
    with pytest.raises(ValueError, match="already routed"):
        insert(day_problem, solve(day_problem, engine="vroom", time_limit_s=1), "a")


# --- random days ---------------------------------------------------------------------------------

SKILLS = ["pumps", "gas"]


@st.composite
def days(draw: st.DrawFn) -> tuple[Problem, str]:
    """A small day and the id of its last job, the one to insert."""
    n_tech = draw(st.integers(1, 3))
    techs = []
    for index in range(n_tech):
        begin = draw(st.integers(7, 9))
        fields: dict[str, Any] = {
            "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=2)),
            "shift": window((begin, 0), (begin + draw(st.integers(4, 9)), 0)),
            "van_stock": {"P1": draw(st.integers(0, 2))},
            "start": {"lat": 52.45 + index / 40, "lon": 13.35},
            "hourly_cost": draw(st.sampled_from([1.0, 2.0])),
        }
        if draw(st.booleans()):
            fields["breaks"] = [{"window": window((begin + 3, 0), (begin + 4, 0)), "minutes": 30}]
        if draw(st.booleans()):
            fields["max_working_minutes"] = draw(st.integers(60, 360))
        techs.append(tech(f"t{index}", **fields))
    jobs = []
    for index in range(draw(st.integers(1, 9))):
        fields = {
            "duration_s": draw(st.integers(1, 12)) * 900,
            "priority": draw(st.integers(1, 5)),
            "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=1)),
        }
        if draw(st.booleans()):
            hour = draw(st.integers(7, 16))
            fields["windows"] = [window((hour, 0), (hour + draw(st.integers(0, 2)), 30))]
        if draw(st.integers(0, 3)) == 0:
            fields["parts"] = {"P1": 1}
        if draw(st.integers(0, 4)) == 0:
            fields["pinned_technician"] = f"t{draw(st.integers(0, n_tech - 1))}"
            if draw(st.booleans()):
                fields["pinned_start"] = at(
                    draw(st.integers(8, 14)), draw(st.sampled_from([0, 30]))
                )
        lat = 52.42 + draw(st.integers(0, 12)) / 100
        lon = 13.25 + draw(st.integers(0, 20)) / 100
        jobs.append(job(f"j{index}", lat=lat, lon=lon, **fields))
    return problem(techs, jobs), jobs[-1]["id"]


@given(days())
def test_inserting_into_any_stored_plan_keeps_every_rule_and_everyones_order(
    day: tuple[Problem, str],
) -> None:
    day_problem, new = day
    before = Problem.model_construct(
        technicians=day_problem.technicians,
        jobs=[j for j in day_problem.jobs if j.id != new],
        travel=day_problem.travel,
    )
    stored = solve(before, engine="vroom", time_limit_s=0.5)
    result = insert(day_problem, stored, new)
    plan = result.plan
    assert validate.violations(day_problem, plan) == []
    gone = {new, *result.bumped}
    for old in stored.routes:
        now = next((r for r in plan.routes if r.technician == old.technician), None)
        kept = [s.job for s in old.stops if s.job not in gone]
        assert now is not None or not kept
        if now is None:
            continue
        assert [s.job for s in now.stops if s.job != new] == kept
        moved = {s.job: s.start for s in now.stops}
        for visit in old.stops:  # nobody is visited earlier than the customer was told
            assert visit.job in gone or moved[visit.job] >= visit.start
    if result.technician is None:
        assert result.bumped == [] and plan.routes == stored.routes
        assert reasons(plan)[new][0] != "dropped"
    else:
        assert order(plan, result.technician)[result.position or 0] == new
        assert len(result.bumped) <= 1
        for job_id in result.bumped:
            assert reasons(plan)[job_id][0] == "dropped"
