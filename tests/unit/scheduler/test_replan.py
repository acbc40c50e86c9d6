"""Re-planning the rest of a day after a change, on days whose outcome is known.

Each day is first planned with chosen technicians (the jobs pinned to them: a plan of the
pinned day is a plan of the free one); the change then frees what a dispatcher would free.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scheduler import validate
from scheduler.model import Plan, Problem
from scheduler.replan import (
    JobLate,
    Moved,
    Replanned,
    TechnicianUnavailable,
    replan,
)
from scheduler.solve import solve
from tests.support.day import assignment, job, moment, problem, reasons, stop, tech, window

LIMIT = 1.0


def planned(day_problem: Problem, pins: dict[str, str]) -> Plan:
    """A plan of ``day_problem`` giving each job in ``pins`` to that technician."""
    jobs = [
        j.model_copy(update={"pinned_technician": pins[j.id]}) if j.id in pins else j
        for j in day_problem.jobs
    ]
    plan = solve(day_problem.model_copy(update={"jobs": jobs}), engine="vroom", time_limit_s=LIMIT)
    assert validate.violations(day_problem, plan) == []
    assert {k: v for k, v in assignment(plan).items() if k in pins} == pins
    return plan


def replanned(
    day_problem: Problem, plan: Plan, change: JobLate | TechnicianUnavailable, now: datetime
) -> Replanned:
    out = replan(day_problem, plan, change, now=now, engine="vroom", time_limit_s=LIMIT)
    assert validate.violations(out.problem, out.new_plan) == []
    return out


def moved(out: Replanned) -> dict[str, Moved]:
    return {m.job: m for m in out.moved}


def test_started_work_stays_and_an_unavailable_technicians_later_jobs_go_to_another() -> None:
    day_problem = problem(
        [tech("tess"), tech("theo")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", windows=[window((11, 0), (12, 0))]),
            job("c", lat=52.51, windows=[window((14, 0), (15, 0))]),
            job("x", skills=["hv"]),  # nobody holds it: left out before and after
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess", "c": "tess"})
    out = replan(
        day_problem,
        plan,
        TechnicianUnavailable("tess", moment(10, 30)),
        now=moment(9, 30),
        time_limit_s=2,
    )
    assert validate.violations(out.problem, out.new_plan) == []  # engine "auto", the default
    assert out.started == ["a"]
    assert stop(out.new_plan, "a") == stop(plan, "a")
    assert assignment(out.new_plan) == {"a": "tess", "b": "theo", "c": "theo"}
    assert reasons(out.new_plan)["x"] == reasons(plan)["x"]
    changed = moved(out)
    assert set(changed) == {"b", "c"}
    assert changed["b"].from_technician == "tess" and changed["b"].to_technician == "theo"
    assert changed["b"].from_start == stop(plan, "b").start
    assert changed["b"].to_start == stop(out.new_plan, "b").start
    assert changed["c"].reason == "tess unavailable from 10:30"
    # what the adjusted problem says: started work pinned, the shift cut
    job_a = next(j for j in out.problem.jobs if j.id == "a")
    assert (job_a.pinned_technician, job_a.pinned_start) == ("tess", moment(9))
    tess = out.problem.technicians[0]
    assert tess.shift.end == moment(10, 30)


def test_technicians_the_change_does_not_touch_keep_their_jobs() -> None:
    techs = [tech("tess"), tech("theo"), tech("tom", start={"lat": 52.50, "lon": 13.30})]
    jobs = [
        job(f"{who}{n}", lat=52.50 + n / 100, windows=[window((9 + 2 * n, 0), (12 + 2 * n, 0))])
        for who in ("s", "h", "m")
        for n in range(3)
    ]
    day_problem = problem(techs, jobs)
    pins = {
        f"{w}{n}": name
        for w, name in (("s", "tess"), ("h", "theo"), ("m", "tom"))
        for n in range(3)
    }
    plan = planned(day_problem, pins)
    out = replanned(day_problem, plan, TechnicianUnavailable("tess", moment(10)), now=moment(10))
    after = assignment(out.new_plan)
    for job_id, who in pins.items():
        if who != "tess":
            assert after[job_id] == who, job_id
    assert {j for j, who in after.items() if who == "tess"} <= set(out.started)
    freed = [j for j in ("s0", "s1", "s2") if j not in out.started]
    assert freed and all(after.get(j) in ("theo", "tom") for j in freed)
    for move in out.moved:
        assert move.from_technician == "tess" or move.from_technician == move.to_technician, move


def test_a_late_job_pushes_the_next_one_to_another_technician() -> None:
    day_problem = problem(
        [tech("tess"), tech("theo")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", windows=[window((10, 15), (10, 45))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess"})
    out = replanned(day_problem, plan, JobLate("a", 60), now=moment(9, 30))
    assert stop(out.new_plan, "a").start == moment(9)
    assert stop(out.new_plan, "a").end == moment(11)
    assert assignment(out.new_plan) == {"a": "tess", "b": "theo"}
    (move,) = out.moved
    assert (move.job, move.from_technician, move.to_technician) == ("b", "tess", "theo")
    assert move.reason == "a running 60 min late"


@pytest.mark.parametrize(("minutes", "is_moved"), [(90, True), (5, False)])
def test_a_late_job_pushes_the_next_one_later_and_a_few_minutes_are_not_news(
    minutes: int, is_moved: bool
) -> None:
    day_problem = problem(
        [tech("tess")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", lat=52.51, windows=[window((10, 0), (14, 0))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess"})
    out = replanned(day_problem, plan, JobLate("a", minutes), now=moment(9, 45))
    late_end = moment(10) + timedelta(minutes=minutes)
    assert stop(out.new_plan, "a").end == late_end
    assert stop(out.new_plan, "b").start >= late_end
    assert assignment(out.new_plan) == {"a": "tess", "b": "tess"}
    if is_moved:
        (move,) = out.moved
        assert (move.job, move.from_technician, move.to_technician) == ("b", "tess", "tess")
        assert move.to_start is not None and move.from_start is not None
        assert move.to_start - move.from_start >= timedelta(minutes=80)
        assert move.reason == f"a running {minutes} min late"
    else:
        assert out.moved == []


def test_when_nobody_can_take_it_a_job_is_left_out_with_the_change_and_the_plans_reason() -> None:
    day_problem = problem(
        [tech("tess")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", windows=[window((14, 0), (15, 0))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess"})
    out = replanned(day_problem, plan, TechnicianUnavailable("tess", moment(12)), now=moment(9, 30))
    assert assignment(out.new_plan) == {"a": "tess"}
    code, text = reasons(out.new_plan)["b"]
    assert code == "window"
    (move,) = out.moved
    assert (move.job, move.from_technician, move.to_technician, move.to_start) == (
        "b",
        "tess",
        None,
        None,
    )
    assert move.from_start == stop(plan, "b").start
    assert move.reason == f"tess unavailable from 12:00; left out: {text}"


def test_a_late_job_stretches_the_break_and_the_shift_it_runs_into() -> None:
    lunch = {"window": window((12, 0), (13, 0)), "minutes": 30}
    day_problem = problem(
        [tech("tess", shift=window((8, 0), (14, 0)), breaks=[lunch])],
        [job("a", duration_s=3600, windows=[window((11, 0), (11, 0))])],
    )
    plan = planned(day_problem, {"a": "tess"})
    out = replanned(day_problem, plan, JobLate("a", 120), now=moment(11, 30))
    (route,) = out.new_plan.routes
    (taken,) = route.breaks
    assert taken.start >= moment(14)  # after the work, which now ends at 14:00
    assert route.end > moment(14)
    tess = out.problem.technicians[0]
    assert tess.shift.end >= route.end and tess.breaks[0].window.end >= moment(14)
    assert out.moved == []


def test_a_break_under_way_is_kept_where_it_is() -> None:
    lunch = {"window": window((12, 0), (13, 0)), "minutes": 30}
    day_problem = problem(
        [tech("tess", breaks=[lunch]), tech("theo")],
        [
            job("a", windows=[window((11, 0), (11, 30))]),
            job("b", lat=52.51, windows=[window((13, 0), (14, 0))]),
            job("c", lat=52.49, windows=[window((13, 0), (16, 0))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess", "c": "theo"})
    (taken,) = next(r for r in plan.routes if r.technician == "tess").breaks
    now = taken.start + timedelta(minutes=5)
    out = replanned(day_problem, plan, TechnicianUnavailable("theo", now), now=now)
    (kept,) = next(r for r in out.new_plan.routes if r.technician == "tess").breaks
    assert kept == taken
    assert assignment(out.new_plan) == {"a": "tess", "b": "tess", "c": "tess"}
    changed = moved(out)
    assert (changed["c"].from_technician, changed["c"].to_technician) == ("theo", "tess")
    assert all(m.from_technician == m.to_technician for j, m in changed.items() if j != "c")


def test_a_change_the_day_cannot_have_is_refused_in_words() -> None:
    day_problem = problem(
        [tech("tess")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", windows=[window((14, 0), (15, 0))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "tess"})
    with pytest.raises(ValueError, match="'b' has not started"):
        replan(day_problem, plan, JobLate("b", 10), now=moment(9, 30))
    with pytest.raises(ValueError, match="no technician 'nobody'"):
        replan(day_problem, plan, TechnicianUnavailable("nobody", moment(12)), now=moment(9, 30))
    with pytest.raises(ValueError, match="needs a UTC offset"):
        replan(day_problem, plan, JobLate("a", 10), now=datetime(2026, 12, 7, 9, 30))
    with pytest.raises(ValueError, match="the plan does not fit the problem"):
        replan(problem([tech("tess")], [job("a")]), plan, JobLate("a", 10), now=moment(9, 30))
    with pytest.raises(ValueError, match="at least 1"):
        JobLate("a", 0)


def test_started_work_is_never_traded_for_a_more_urgent_job() -> None:
    # b is the dispatcher's pin to tess and more urgent than a; a, under way, still stays
    day_problem = problem(
        [tech("tess"), tech("theo")],
        [
            job("a", duration_s=3600, priority=5, windows=[window((9, 0), (9, 0))]),
            job("b", priority=1, pinned_technician="tess", windows=[window((10, 15), (10, 45))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess"})
    out = replanned(day_problem, plan, JobLate("a", 60), now=moment(9, 30))
    assert assignment(out.new_plan) == {"a": "tess"}
    assert stop(out.new_plan, "a").start == moment(9)
    (move,) = out.moved
    assert (move.job, move.to_technician) == ("b", None)
    assert move.reason.startswith("a running 60 min late; left out: ")


def test_a_kept_job_the_solver_cannot_fit_with_its_technician_is_set_free() -> None:
    # theo's urgent gas job can only go to tess now, and takes the time of her routine job,
    # which tom, who holds no gas skill, then takes over
    two_hours = {"duration_s": 7200, "windows": [window((10, 0), (10, 10))]}
    day_problem = problem(
        [tech("tess", skills=["gas"]), tech("theo", skills=["gas"]), tech("tom")],
        [
            job("urgent", priority=1, skills=["gas"], **two_hours),
            job("routine", lat=52.51, priority=5, **two_hours),
        ],
    )
    plan = planned(day_problem, {"urgent": "theo", "routine": "tess"})
    out = replanned(day_problem, plan, TechnicianUnavailable("theo", moment(9)), now=moment(8, 30))
    assert assignment(out.new_plan) == {"urgent": "tess", "routine": "tom"}
    changed = moved(out)
    assert (changed["urgent"].from_technician, changed["urgent"].to_technician) == (
        "theo",
        "tess",
    )
    assert (changed["routine"].from_technician, changed["routine"].to_technician) == (
        "tess",
        "tom",
    )
    assert changed["routine"].reason == "theo unavailable from 09:00"


def test_work_grown_past_the_working_minutes_ends_the_day_after_the_break_still_due() -> None:
    lunch = {"window": window((12, 0), (13, 0)), "minutes": 30}
    day_problem = problem(
        [tech("tess", max_working_minutes=60, breaks=[lunch]), tech("theo")],
        [
            job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
            job("b", lat=52.51, windows=[window((11, 0), (15, 0))]),
        ],
    )
    plan = planned(day_problem, {"a": "tess", "b": "theo"})
    out = replanned(day_problem, plan, JobLate("a", 30), now=moment(9, 45))
    tess = next(r for r in out.new_plan.routes if r.technician == "tess")
    assert [s.job for s in tess.stops] == ["a"] and tess.work_s == 5400
    (taken,) = tess.breaks
    assert taken.start == moment(12)  # the break is still due, where its window opens
    assert out.problem.technicians[0].max_working_minutes == 90
    assert assignment(out.new_plan)["b"] == "theo"


def test_a_day_with_a_travel_matrix_and_nothing_left_to_plan() -> None:
    day_problem = problem(
        [tech("tess", start={"lat": 52.52, "lon": 13.40, "index": 0})],
        [
            {
                **job("a", duration_s=3600, windows=[window((9, 0), (9, 0))]),
                "location": {"lat": 52.50, "lon": 13.38, "index": 1},
            }
        ],
        travel={"matrix_s": [[0, 600], [900, 0]]},
    )
    plan = planned(day_problem, {"a": "tess"})
    out = replanned(
        day_problem, plan, TechnicianUnavailable("tess", moment(9, 30)), now=moment(9, 30)
    )
    (route,) = out.new_plan.routes
    assert [s.job for s in route.stops] == ["a"]
    assert route.end == moment(10, 15)  # back home 900 s after the work
    assert out.problem.technicians[0].shift.end == moment(10, 15)
    assert out.moved == []
