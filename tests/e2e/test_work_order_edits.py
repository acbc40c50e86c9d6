"""Editing an order (PATCH) over HTTP: who may change which field in which state, and why no
edit gets around the lifecycle's checks (issue 18, items 2, 3 and 5).

The table itself is ``orchestrator/work_orders/edits.py`` (README's "Editing an order");
these are the issue's reproducers, each once refused as it should be.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, close_one, document, new_order, to_in_progress

PROBLEM = "application/problem+json"


def patch(
    api: Api, world: World, token: str, oid: int, body: dict[str, Any], expect: int
) -> httpx.Response:
    """PATCH the order's current version (read by the admin, who sees every order)."""
    path = f"/api/v1/work-orders/{oid}"
    etag = api.call("GET", path, world.admin, expect=200).headers["etag"]
    response = api.call("PATCH", path, token, json=body, headers={"If-Match": etag}, expect=expect)
    if expect >= 400:
        assert response.headers["content-type"].startswith(PROBLEM)
    return response


def work_type(api: Api, world: World, code: str, skills: list[str]) -> int:
    """A work type that asks for no proof of work at all: the one an edit would swap in."""
    body = {
        "code": code,
        "name": f"{code} (no proof)",
        "default_duration_min": 30,
        "required_skills": skills,
    }
    return api.call("POST", "/api/v1/work-types", world.admin, json=body, expect=201).json()["id"]


def order_in(api: Api, world: World, move: Mover, state: str) -> int:
    """An order brought to ``state`` along the happy path (no proof of work yet, but from
    ``completed`` on)."""
    if state in ("new", "triaged", "scheduled", "dispatched"):
        oid = new_order(api, world)["id"]
        return oid if state == "new" else advance(api, world, move, oid, state)
    if state == "closed":
        return int(close_one(api, world, move)["id"])
    if state == "cancelled":
        oid = new_order(api, world)["id"]
        move(oid, world.supervisor, "cancelled", reason="duplicate")
        return oid
    oid = to_in_progress(api, world, move)
    if state in ("on_hold", "cannot_complete"):
        move(oid, world.tech_token, state, reason="no parts")
    elif state == "completed":
        document(api, world, oid)
        move(oid, world.tech_token, "completed")
    return oid


@pytest.mark.parametrize("state", ["dispatched", "in_progress", "on_hold", "cannot_complete"])
def test_the_work_type_is_frozen_from_dispatch_so_the_proof_cannot_be_dodged(
    api: Api, world: World, move: Mover, state: str
) -> None:
    oid = order_in(api, world, move, state)
    free = work_type(api, world, "LOOK", ["pumps"])
    bot = api.token("integration", "crm-bot")
    for body in ({"work_type_id": None}, {"work_type_id": free}):
        for token in (world.dispatcher, world.supervisor, world.admin):
            problem = patch(api, world, token, oid, body, expect=409).json()
            assert problem["current"] == state
            assert "work_type_id" in problem["detail"] and state in problem["detail"]
        assert "work_type_id" in patch(api, world, bot, oid, body, expect=403).json()["detail"]
    shown = api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json()
    assert shown["work_type_id"] == world.work_type_id
    if state == "in_progress":
        missing = move(oid, world.tech_token, "completed", expect=422).json()["missing"]
        assert {m["kind"] for m in missing} == {"checklist", "photos", "signature"}


@pytest.mark.parametrize("state", ["completed", "closed", "cancelled"])
def test_completed_closed_and_cancelled_orders_refuse_every_patch(
    api: Api, world: World, move: Mover, state: str
) -> None:
    oid = order_in(api, world, move, state)
    before = api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json()
    free = work_type(api, world, "LOOK", ["pumps"])
    for body in ({"work_type_id": free}, {"summary": "Reworded afterwards"}, {}):
        problem = patch(api, world, world.admin, oid, body, expect=409).json()
        assert problem["current"] == state
        assert problem["detail"].startswith(f"the order is {state}")
    assert api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json() == before


def test_a_new_work_type_on_a_scheduled_order_is_checked_against_its_technician(
    api: Api, world: World, move: Mover
) -> None:
    oid = order_in(api, world, move, "scheduled")
    gas = work_type(api, world, "GAS", ["gas"])
    problem = patch(api, world, world.dispatcher, oid, {"work_type_id": gas}, expect=422).json()
    assert problem["errors"][0]["field"] == "technician_id"
    assert "lacks skill gas" in problem["errors"][0]["reason"]
    free = work_type(api, world, "LOOK", ["pumps"])
    changed = patch(api, world, world.dispatcher, oid, {"work_type_id": free}, expect=200).json()
    assert changed["work_type_id"] == free and changed["status"] == "scheduled"


def test_triage_fields_of_a_scheduled_order_cannot_be_emptied(
    api: Api, world: World, move: Mover
) -> None:
    oid = order_in(api, world, move, "scheduled")
    body = {"priority": None, "division_id": None, "site_id": None}
    problem = patch(api, world, world.dispatcher, oid, body, expect=422).json()
    assert {e["field"] for e in problem["errors"]} == {"priority", "division_id", "site_id"}
    problem = patch(api, world, world.admin, oid, {"work_type_id": None}, expect=422).json()
    assert [e["field"] for e in problem["errors"]] == ["work_type_id"]
    code = api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json()["tracking_code"]
    status = api.call("GET", f"/status/{code}", None, expect=200).json()
    assert status["appointment_window"]["time_zone"] == "Europe/Berlin"
    # Changed, not emptied, they are taken.
    changed = patch(api, world, world.dispatcher, oid, {"priority": 1}, expect=200).json()
    assert changed["priority"] == 1


def test_integration_may_reword_an_order_but_not_triage_it(
    api: Api, world: World, move: Mover
) -> None:
    bot = api.token("integration", "crm-bot")
    oid = order_in(api, world, move, "triaged")
    free = work_type(api, world, "LOOK", ["pumps"])
    for body in (
        {"priority": 5},
        {"division_id": world.division_id, "priority": 1},
        {"work_type_id": free},
    ):
        problem = patch(api, world, bot, oid, body, expect=403).json()
        assert "integration" in problem["detail"]
        assert all(name in problem["detail"] for name in body if name != "division_id")
    changed = patch(api, world, bot, oid, {"summary": "Pump 3 vibrates loudly"}, expect=200).json()
    assert changed["summary"] == "Pump 3 vibrates loudly" and changed["priority"] == 2


def test_an_emptied_summary_is_422_naming_it_not_a_server_error(
    api: Api, world: World, move: Mover
) -> None:
    for state in ("new", "in_progress"):
        oid = order_in(api, world, move, state)
        problem = patch(api, world, world.dispatcher, oid, {"summary": None}, expect=422).json()
        assert [e["field"] for e in problem["errors"]] == ["summary"]
    # While new, the triage fields are not set yet: emptying one is an ordinary edit.
    oid = new_order(api, world, priority=3)["id"]
    assert (
        patch(api, world, world.dispatcher, oid, {"priority": None}, expect=200).json()["priority"]
        is None
    )


def test_the_site_is_fixed_once_the_technician_is_sent(api: Api, world: World, move: Mover) -> None:
    oid = order_in(api, world, move, "dispatched")
    problem = patch(api, world, world.dispatcher, oid, {"site_id": None}, expect=409).json()
    assert problem["current"] == "dispatched" and "site_id" in problem["detail"]
    move(oid, world.dispatcher, "scheduled", reason="wrong site")  # a recall opens it again
    problem = patch(api, world, world.dispatcher, oid, {"site_id": None}, expect=422).json()
    assert [e["field"] for e in problem["errors"]] == ["site_id"]
    reworded = patch(api, world, world.dispatcher, oid, {"description": "at the back"}, expect=200)
    assert reworded.json()["description"] == "at the back"
