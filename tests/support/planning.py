"""Schedule runs over HTTP: triaged orders to plan, a run asked for and waited on, its outcomes."""

from __future__ import annotations

import time
from typing import Any

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import new_order

DAY = "2026-06-10"  # a Wednesday: both technicians work 08:00-17:00 in Berlin
RUNS = "/api/v1/schedule/runs"


def triaged(api: Api, world: World, move: Mover, count: int, **triage: Any) -> list[int]:
    ids = []
    for index in range(count):
        oid = new_order(api, world, summary=f"Pump {index} vibrates")["id"]
        move(
            oid,
            world.dispatcher,
            "triaged",
            priority=triage.get("priority", 3),
            division_id=world.division_id,
            work_type_id=triage.get("work_type_id", world.work_type_id),
        )
        ids.append(oid)
    return ids


def run_day(api: Api, token: str, **body: Any) -> dict[str, Any]:
    """Ask for a run and wait for it to finish; the finished run."""
    asked = api.call("POST", RUNS, token, json={"date": DAY, "time_limit_s": 1, **body}, expect=202)
    assert asked.headers["location"] == f"{RUNS}/{asked.json()['id']}"
    assert asked.json()["status"] in ("queued", "running", "done")
    return wait(api, token, asked.headers["location"])


def wait(api: Api, token: str, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = api.call("GET", location, token, expect=200).json()
        assert 0 <= run["progress"]["fraction"] <= 1
        if run["status"] in ("done", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"{location} did not finish: {run}")


def order(api: Api, world: World, oid: int) -> dict[str, Any]:
    return api.call("GET", f"/api/v1/work-orders/{oid}", world.dispatcher, expect=200).json()


def outcomes(run: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {o["work_order_id"]: o for o in run["orders"]}
