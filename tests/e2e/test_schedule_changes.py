"""Changing the plan in force over HTTP: an urgent order placed at once, and re-plans."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import new_order
from tests.support.planning import RUNS, order, run_day, triaged, wait

INSERT, REPLAN = "/api/v1/schedule/insert", "/api/v1/schedule/replan"
BERLIN = ZoneInfo("Europe/Berlin")


def _next_wednesday() -> date:
    """A working day still to come: an insertion never places work in the past."""
    today = datetime.now(BERLIN).date()
    return today + timedelta(days=(2 - today.weekday()) % 7 or 7)


DAY = _next_wednesday().isoformat()


def local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(DAY), time(hour, minute), tzinfo=BERLIN)


def plan_day(api: Api, token: str) -> dict[str, Any]:
    return run_day(api, token, date=DAY)


def urgent(api: Api, world: World, move: Mover, **triage: Any) -> int:
    [oid] = triaged(api, world, move, 1, priority=1, **triage)
    return oid


def test_an_urgent_order_goes_into_the_plan_at_once_and_the_day_is_reoptimised(
    api: Api, world: World, move: Mover
) -> None:
    planned = triaged(api, world, move, 4)
    base = plan_day(api, world.dispatcher)
    oid = urgent(api, world, move)
    placed = api.call(
        "POST", INSERT, world.dispatcher, json={"work_order_id": oid, "date": DAY}, expect=200
    ).json()
    assert placed["placed"] is True, placed
    assert placed["based_on"] == base["id"]
    assert placed["technician_id"] in (world.technician_id, world.other_technician_id)
    wo = order(api, world, oid)
    assert (wo["status"], wo["technician_id"]) == ("scheduled", placed["technician_id"])
    begin = datetime.fromisoformat(placed["window_start"])
    assert begin <= datetime.fromisoformat(placed["start"]) <= begin + timedelta(hours=2)
    # nobody else changed technician: the insertion run's plan keeps every other stop
    version = api.call("GET", f"{RUNS}/{placed['schedule_run_id']}", world.dispatcher).json()
    assert (version["kind"], version["based_on"], version["status"]) == (
        "insert",
        base["id"],
        "done",
    )
    before = {s["job"]: r["technician"] for r in base["plan"]["routes"] for s in r["stops"]}
    after = {s["job"]: r["technician"] for r in version["plan"]["routes"] for s in r["stops"]}
    assert {j: t for j, t in after.items() if j != str(oid)} == before
    assert {order(api, world, i)["status"] for i in planned} == {"scheduled"}

    again = wait(api, world.dispatcher, f"{RUNS}/{placed['reoptimisation_run_id']}")
    assert again["status"] == "done" and again["kind"] == "plan"
    kept = order(api, world, oid)
    assert (kept["window_start"], kept["window_end"]) == (wo["window_start"], wo["window_end"])


def test_a_full_day_bumps_the_least_urgent_job_for_an_urgent_one(
    api: Api, world: World, move: Mover
) -> None:
    triaged(api, world, move, 12)  # 12 x 90 min: more than two 9-hour days hold
    base = plan_day(api, world.dispatcher)
    assert base["summary"]["outcomes"]["unassigned"] >= 1
    oid = urgent(api, world, move)
    placed = api.call(
        "POST", INSERT, world.dispatcher, json={"work_order_id": oid, "date": DAY}, expect=200
    ).json()
    assert placed["placed"] is True
    [bumped] = placed["bumped"]
    assert bumped["outcome"] == "unscheduled"
    gone = order(api, world, bumped["work_order_id"])
    assert gone["status"] == "triaged" and gone["technician_id"] is None
    trail = api.call(
        "GET", f"/api/v1/work-orders/{bumped['work_order_id']}/audit", world.dispatcher
    ).json()["events"]
    assert trail[-1]["payload"]["schedule_run_id"] == placed["schedule_run_id"]


def test_insertion_refusals_say_why(api: Api, world: World, move: Mover) -> None:
    oid = urgent(api, world, move)
    body = {"work_order_id": oid, "date": DAY}
    answer = api.call("POST", INSERT, world.dispatcher, json=body, expect=409).json()
    assert f"no plan for {DAY}" in answer["detail"]
    plan_day(api, world.dispatcher)  # plans it: now it is scheduled
    answer = api.call("POST", INSERT, world.dispatcher, json=body, expect=409).json()
    assert answer["current"] == "scheduled"
    fresh = new_order(api, world)["id"]  # new: not triaged
    api.call(
        "POST", INSERT, world.dispatcher, json={"work_order_id": fresh, "date": DAY}, expect=409
    )
    api.call("POST", INSERT, world.dispatcher, json={"work_order_id": 99999}, expect=404)
    api.call("POST", INSERT, world.tech_token, json=body, expect=403)
    refused = api.call("POST", INSERT, world.dispatcher, json={"date": DAY}, expect=422).json()
    assert [e["field"] for e in refused["errors"]] == ["work_order_id"]


def test_an_order_nobody_may_do_is_not_placed_and_says_why(
    api: Api, world: World, move: Mover
) -> None:
    gas = api.call(
        "POST",
        "/api/v1/work-types",
        world.admin,
        json={"code": "GAS", "name": "Gas", "default_duration_min": 30, "required_skills": ["gas"]},
        expect=201,
    ).json()["id"]
    triaged(api, world, move, 2)
    plan_day(api, world.dispatcher)
    oid = urgent(api, world, move, work_type_id=gas)
    answer = api.call(
        "POST", INSERT, world.dispatcher, json={"work_order_id": oid, "date": DAY}, expect=200
    ).json()
    assert (answer["placed"], answer["code"]) == (False, "skill")
    assert "gas" in answer["reason"]
    assert order(api, world, oid)["status"] == "triaged"


def routes_of(run: dict[str, Any]) -> dict[int, list[tuple[int, str]]]:
    return {
        int(r["technician"]): [(int(s["job"]), s["start"]) for s in r["stops"]]
        for r in run["plan"]["routes"]
    }


def test_a_technician_unavailable_from_noon_hands_the_afternoon_over(
    api: Api, world: World, move: Mover
) -> None:
    triaged(api, world, move, 6)
    base = plan_day(api, world.dispatcher)
    tess = routes_of(base)[world.technician_id]
    answer = api.call(
        "POST",
        REPLAN,
        world.dispatcher,
        json={
            "date": DAY,
            "technician_id": world.technician_id,
            "unavailable_from": local(12).isoformat(),
            "as_of": local(7, 30).isoformat(),
            "time_limit_s": 1,
        },
        expect=200,
    ).json()
    assert "unavailable" in answer["change"]
    afternoon = [j for j, start in tess if datetime.fromisoformat(start) >= local(12)]
    moved = {m["work_order_id"]: m for m in answer["moved"]}
    assert set(afternoon) <= set(moved)
    for oid in afternoon:
        wo = order(api, world, oid)
        assert wo["technician_id"] != world.technician_id
        assert moved[oid]["outcome"] in ("rescheduled", "unscheduled")
        assert "unavailable" in moved[oid]["reason"]
    version = api.call("GET", f"{RUNS}/{answer['schedule_run_id']}", world.dispatcher).json()
    assert (version["kind"], version["based_on"]) == ("replan", base["id"])
    for route in version["plan"]["routes"]:
        if int(route["technician"]) == world.technician_id:
            assert all(datetime.fromisoformat(s["end"]) <= local(12) for s in route["stops"])


def test_a_job_running_late_keeps_started_work_and_lists_what_moved(
    api: Api, world: World, move: Mover
) -> None:
    triaged(api, world, move, 6)
    base = plan_day(api, world.dispatcher)
    [(first, start), *_rest] = routes_of(base)[world.technician_id]
    move(first, world.dispatcher, "dispatched")
    move(first, world.tech_token, "in_progress")
    as_of = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()
    answer = api.call(
        "POST",
        REPLAN,
        world.dispatcher,
        json={"date": DAY, "work_order_id": first, "late_minutes": 120, "as_of": as_of},
        expect=200,
    ).json()
    assert first in answer["kept"]
    assert "late" in answer["change"]
    assert answer["moved"], "two hours late must move something"
    for item in answer["moved"]:
        assert item["reason"] and item["outcome"] in ("rescheduled", "unscheduled", "within_window")
    assert order(api, world, first)["status"] == "in_progress"


def test_replan_refusals_name_the_field(api: Api, world: World) -> None:
    def fields(body: dict[str, Any], expect: int = 422) -> list[str]:
        answer = api.call("POST", REPLAN, world.dispatcher, json=body, expect=expect).json()
        return [e["field"] for e in answer.get("errors", [])]

    assert fields({"date": DAY}) == ["technician_id"]
    assert fields({"date": DAY, "technician_id": 1}) == ["unavailable_from"]
    assert fields({"date": DAY, "work_order_id": 1, "late_minutes": 0}) == ["late_minutes"]
    naive = local(12).replace(tzinfo=None).isoformat()
    assert fields({"date": DAY, "technician_id": 1, "unavailable_from": naive}) == [
        "unavailable_from"
    ]
    body = {"date": DAY, "technician_id": 1, "unavailable_from": local(12).isoformat()}
    assert fields(body, expect=409) == []  # no plan for the day yet
    api.call("POST", REPLAN, world.tech_token, json=body, expect=403)


def test_nothing_is_inserted_into_a_day_that_is_over(api: Api, world: World, move: Mover) -> None:
    triaged(api, world, move, 2)
    past = run_day(api, world.dispatcher, date="2026-06-10")
    oid = urgent(api, world, move)
    answer = api.call(
        "POST", INSERT, world.dispatcher, json={"work_order_id": oid, "date": past["day"]}
    ).json()
    assert (answer["placed"], answer["code"]) == (False, "window")
    assert order(api, world, oid)["status"] == "triaged"
