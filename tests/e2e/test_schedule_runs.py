"""Schedule runs over HTTP: plan a day from the store, in the background, and see it applied."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.planning import leases
from orchestrator.planning import runs as scheduling
from orchestrator.store import models
from orchestrator.store.db import utcnow
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order
from tests.support.planning import DAY, RUNS, order, outcomes, run_day, triaged, wait


def test_a_run_schedules_triaged_orders_with_a_technician_and_a_window(
    api: Api, world: World, move: Mover
) -> None:
    ids = triaged(api, world, move, 6)
    run = run_day(api, world.dispatcher)
    assert run["status"] == "done", run.get("error")
    assert run["progress"] == {"phase": "done", "fraction": 1.0}
    assert run["summary"]["outcomes"] == {"scheduled": 6}
    assert run["plan"]["totals"]["assigned"] == 6
    technicians = {world.technician_id, world.other_technician_id}
    for oid in ids:
        wo = order(api, world, oid)
        assert wo["status"] == "scheduled"
        assert wo["technician_id"] in technicians
        start = datetime.fromisoformat(wo["window_local"]["start"])
        end = datetime.fromisoformat(wo["window_local"]["end"])
        assert (start.date().isoformat(), end - start) == (DAY, timedelta(hours=2))
        assert start.minute % 15 == 0
        # the planned start lies inside the window the customer is told
        planned = datetime.fromisoformat(outcomes(run)[oid]["start"])
        assert start <= planned <= end
    # 6 x 90 min do not fit one 9-hour day with driving: both technicians work
    assert {int(r["technician"]) for r in run["plan"]["routes"]} == technicians
    events = api.call("GET", f"/api/v1/work-orders/{ids[0]}/audit", world.dispatcher).json()
    assert events["events"][-1]["payload"]["schedule_run_id"] == run["id"]
    assert events["events"][-1]["actor"] == "dora"


def test_orders_nobody_may_do_stay_triaged_with_the_reason(
    api: Api, world: World, move: Mover
) -> None:
    gas = api.call(
        "POST",
        "/api/v1/work-types",
        world.admin,
        json={
            "code": "GAS",
            "name": "Gas boiler",
            "default_duration_min": 60,
            "required_certifications": ["GAS-SAFE"],
        },
        expect=201,
    ).json()["id"]
    [fine] = triaged(api, world, move, 1)
    [gassy] = triaged(api, world, move, 1, work_type_id=gas)
    run = run_day(api, world.supervisor)
    assert run["status"] == "done"
    fates = outcomes(run)
    assert fates[fine]["outcome"] == "scheduled"
    assert fates[gassy]["outcome"] == "unassigned"
    assert fates[gassy]["code"] == "certification"
    assert "GAS-SAFE" in fates[gassy]["reason"]
    assert order(api, world, gassy)["status"] == "triaged"


def test_dispatched_work_is_kept_and_a_second_run_changes_nothing(
    api: Api, world: World, move: Mover
) -> None:
    oid = new_order(api, world)["id"]
    advance(api, world, move, oid, "dispatched")  # Tess, 09:00-11:00 on the day
    before = order(api, world, oid)
    ids = triaged(api, world, move, 3)
    first = run_day(api, world.dispatcher)
    assert outcomes(first)[oid]["outcome"] == "kept"
    kept = outcomes(first)[oid]
    assert kept["technician_id"] == world.technician_id
    assert before["window_start"] <= kept["start"].replace("+00:00", "Z")
    after = order(api, world, oid)
    assert (after["status"], after["version"]) == ("dispatched", before["version"])
    assert {outcomes(first)[i]["outcome"] for i in ids} == {"scheduled"}

    second = run_day(api, world.dispatcher)
    assert {outcomes(second)[i]["outcome"] for i in ids} == {"unchanged"}
    assert second["summary"]["outcomes"] == {"kept": 1, "unchanged": 3}


def test_territories_limit_the_run(api: Api, world: World, move: Mover) -> None:
    api.call(
        "POST",
        "/api/v1/territories",
        world.admin,
        json={"code": "S1", "name": "South 1", "division_id": world.division_id},
        expect=201,
    )
    ids = triaged(api, world, move, 2)
    south = run_day(api, world.dispatcher, territories=["S1"])
    assert south["status"] == "done"
    assert south["orders"] == [] and south["territories"] == ["S1"]
    assert {order(api, world, i)["status"] for i in ids} == {"triaged"}
    north = run_day(api, world.dispatcher, territories=["N1"])
    assert {outcomes(north)[i]["outcome"] for i in ids} == {"scheduled"}


def test_an_engine_that_cannot_plan_the_day_fails_the_run_with_its_reason(
    api: Api, world: World, move: Mover
) -> None:
    etag = api.call("GET", f"/api/v1/technicians/{world.technician_id}", world.admin)
    api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.admin,
        json={"break_rule": {"window": {"start": "12:00", "end": "13:00"}, "minutes": 30}},
        headers={"If-Match": etag.headers["etag"]},
        expect=200,
    )
    ids = triaged(api, world, move, 2)
    run = run_day(api, world.dispatcher, engine="pyvrp")
    assert run["status"] == "failed"
    assert run["progress"]["phase"] == "failed"
    assert "break" in run["error"]
    assert {order(api, world, i)["status"] for i in ids} == {"triaged"}
    assert run_day(api, world.dispatcher)["status"] == "done"  # auto plans it


def test_the_gantt_chart_shows_one_row_per_working_technician(
    api: Api, world: World, move: Mover
) -> None:
    triaged(api, world, move, 6)
    run = run_day(api, world.dispatcher)
    svg = api.call("GET", f"{RUNS}/{run['id']}/gantt", world.dispatcher, expect=200)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    # a picture that could carry script: opened in a tab, nothing in it runs
    policy = svg.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert svg.headers["x-content-type-options"] == "nosniff"
    root = ElementTree.fromstring(svg.text)
    assert root.tag.endswith("svg")
    titles = [el.text or "" for el in root.iter() if el.tag.endswith("title")]
    for stop in (s for r in run["plan"]["routes"] for s in r["stops"]):
        assert any(stop["job"] in t for t in titles)


def test_bad_requests_are_refused_by_name(api: Api, world: World) -> None:
    def refused(body: dict[str, Any]) -> list[str]:
        answer = api.call("POST", RUNS, world.dispatcher, json=body, expect=422)
        assert answer.headers["content-type"].startswith("application/problem+json")
        return [e["field"] for e in answer.json()["errors"]]

    assert refused({}) == ["date"]
    assert refused({"date": "2026-02-30"}) == ["date"]
    assert refused({"date": DAY, "territories": ["N1", "nope"]}) == ["territories.1"]
    assert refused({"date": DAY, "time_limit_s": 0}) == ["time_limit_s"]
    assert refused({"date": DAY, "engine": "magic"}) == ["engine"]
    api.call("POST", RUNS, world.tech_token, json={"date": DAY}, expect=403)
    api.call("GET", f"{RUNS}/1", world.tech_token, expect=403)
    api.call("GET", f"{RUNS}/999", world.dispatcher, expect=404)
    api.call("GET", f"{RUNS}/999/gantt", world.dispatcher, expect=404)


def test_a_restart_fails_the_interrupted_run_and_runs_the_queued_one(
    api: Api, world: World, move: Mover
) -> None:
    [oid] = triaged(api, world, move, 1)
    container = api.container
    with container.new_uow() as uow:
        interrupted = models.ScheduleRun(
            kind="plan",
            day=datetime.fromisoformat(DAY).date(),
            territories=[],
            engine="auto",
            time_limit_s=1,
            status="running",
            phase="solving",
            progress=0.4,
            requested_by="dora",
            requested_role="dispatcher",
        )
        queued = scheduling.request_run(
            uow,
            scheduling.RequestScheduleRun(
                day=interrupted.day,
                actor=Actor(subject="dora", role=Role.DISPATCHER),
                time_limit_s=1,
            ),
        )
        uow.session.add(interrupted)
        uow.commit()
    container.background.start()
    failed = wait(api, world.dispatcher, f"{RUNS}/{interrupted.id}")
    assert (failed["status"], failed["error"][:11]) == ("failed", "interrupted")
    done = wait(api, world.dispatcher, f"{RUNS}/{queued['id']}")
    assert outcomes(done)[oid]["outcome"] == "scheduled"


def test_runs_are_listed_latest_first_by_day(api: Api, world: World, move: Mover) -> None:
    triaged(api, world, move, 1)
    first = run_day(api, world.dispatcher)
    other = run_day(api, world.dispatcher, date="2026-06-11")
    listed = api.call("GET", RUNS, world.supervisor, expect=200).json()["items"]
    assert [r["id"] for r in listed] == [other["id"], first["id"]]
    assert all("plan" not in r for r in listed)
    day = api.call("GET", RUNS, world.supervisor, params={"date": DAY}, expect=200).json()
    assert [r["id"] for r in day["items"]] == [first["id"]]
    api.call("GET", RUNS, world.tech_token, expect=403)


def _stored_run(api: Api, status: str, **lease: Any) -> int:
    """A run as another process left it (queued, or running under its lease)."""
    with api.container.new_uow() as uow:
        run = models.ScheduleRun(kind="plan", day=datetime.fromisoformat(DAY).date(),
                                 territories=[], engine="auto", time_limit_s=1, status=status,
                                 phase="solving" if status == "running" else "queued",
                                 requested_by="dora", requested_role="dispatcher",
                                 **lease)  # fmt: skip
        uow.session.add(run)
        uow.commit()
        return run.id


def test_a_run_whose_process_died_is_taken_over_once_its_lease_runs_out(
    api: Api, world: World, move: Mover
) -> None:
    ids = triaged(api, world, move, 2)
    now = utcnow()
    dead = _stored_run(api, "running", attempts=1, lease_owner="w1:4242:dead",
                       lease_until=now - timedelta(seconds=1))  # fmt: skip
    alive = _stored_run(api, "running", attempts=1, lease_owner="w2:4343:live",
                        lease_until=now + timedelta(seconds=60))  # fmt: skip
    young = _stored_run(api, "queued")
    with api.container.new_uow() as uow:
        assert leases.orphaned(uow, queued_for_s=60) == [dead]
        # a queued run nobody took for a lease's length: its task was lost
        assert leases.orphaned(uow, queued_for_s=0, now=now + timedelta(seconds=1)) == [
            dead,
            young,
        ]

    scheduling.execute(api.container.new_uow, alive, lease_s=5)  # its process is still at it
    untouched = api.call("GET", f"{RUNS}/{alive}", world.dispatcher, expect=200).json()
    assert (untouched["status"], untouched["attempts"]) == ("running", 1)

    scheduling.execute(api.container.new_uow, dead, lease_s=5)
    run = api.call("GET", f"{RUNS}/{dead}", world.dispatcher, expect=200).json()
    assert (run["status"], run["attempts"]) == ("done", 2), run.get("error")
    assert {outcomes(run)[i]["outcome"] for i in ids} == {"scheduled"}
    with api.container.new_uow() as uow:
        stored = uow.session.get(models.ScheduleRun, dead)
        assert stored is not None and stored.lease_until is None
        assert stored.lease_owner is not None and stored.lease_owner != "w1:4242:dead"
        assert leases.orphaned(uow, queued_for_s=60) == []


class _TakenOver(ThreadPoolExecutor):
    """The solver's parts run here; while they run, another process takes the run over (this
    one's lease ran out unseen)."""

    def __init__(self, api: Api, run_id: int) -> None:
        super().__init__(2)
        self.api, self.run_id = api, run_id

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        taken, self.run_id = self.run_id, 0  # once, by the first part sent
        with self.api.container.new_uow() as uow:
            run = uow.session.get(models.ScheduleRun, taken)
            if run is not None:
                run.lease_owner, run.attempts = "w9:99:other", run.attempts + 1
                uow.commit()
        return super().submit(fn, *args, **kwargs)


def test_a_process_that_lost_its_run_stops_without_writing_to_it(
    api: Api, world: World, move: Mover
) -> None:
    [oid] = triaged(api, world, move, 1)
    with api.container.new_uow() as uow:
        asked = scheduling.request_run(
            uow, scheduling.RequestScheduleRun(datetime.fromisoformat(DAY).date(),
                                               Actor("dora", Role.DISPATCHER), time_limit_s=1)
        )  # fmt: skip
    with _TakenOver(api, asked["id"]) as parts:
        scheduling.execute(api.container.new_uow, asked["id"], executor=parts, workers=2, lease_s=5)
    run = api.call("GET", f"{RUNS}/{asked['id']}", world.dispatcher, expect=200).json()
    # the other process's run: no plan, no outcome and no order changed by the first one
    assert (run["status"], run["attempts"], run["progress"]["phase"]) == ("running", 2, "solving")
    assert "plan" not in run and "orders" not in run
    assert order(api, world, oid)["status"] == "triaged"
