"""The whole lifecycle over HTTP: intake to closed, the proof gate, revisits and first-time fix."""

from __future__ import annotations

from tests.support.http import PNG, Api, Mover, World
from tests.support.lifecycle import (
    WINDOW,
    advance,
    document,
    new_order,
    to_in_progress,
    upload,
)


def test_intake_to_closed_is_a_first_time_fix(api: Api, world: World, move: Mover) -> None:
    order = new_order(api, world)
    assert order["status"] == "new"
    assert order["tracking_code"].startswith("FB-")
    oid = to_in_progress(api, world, move)
    document(api, world, oid)
    done = move(oid, world.tech_token, "completed").json()
    assert done["status"] == "completed"
    closed = move(oid, world.supervisor, "closed").json()
    assert closed["status"] == "closed"
    assert closed["visits"] == 1
    assert closed["first_time_fix"] is True
    assert closed["allowed_transitions"] == []
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.supervisor, expect=200).json()
    kinds = [(e["kind"], e["from"], e["to"]) for e in trail["events"]]
    assert kinds[0] == ("created", None, "new")
    assert ("transition", "completed", "closed") in kinds
    assert [e["seq"] for e in trail["events"]] == list(range(1, len(kinds) + 1))
    verify = api.call("GET", "/api/v1/audit/verify", world.supervisor, expect=200).json()
    assert verify["ok"] is True and verify["first_broken"] is None


def test_completing_without_proof_names_what_is_missing(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    upload(api, world.tech_token, oid, "photo", PNG)
    response = move(oid, world.tech_token, "completed", expect=422)
    assert response.headers["content-type"].startswith("application/problem+json")
    missing = {m["kind"]: m for m in response.json()["missing"]}
    assert missing["checklist"]["items"] == ["isolate", "inspect"]
    assert missing["photos"] == {"kind": "photos", "required": 2, "present": 1}
    assert "signature" in missing
    assert (
        api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["status"]
        == "in_progress"
    )


def test_a_revisit_counts_a_second_visit_and_is_no_first_time_fix(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    move(oid, world.tech_token, "on_hold", reason="waiting for the customer")
    back = move(oid, world.tech_token, "in_progress").json()
    assert back["visits"] == 1, "resuming from on_hold is not a visit"
    move(oid, world.tech_token, "cannot_complete", reason="impeller part missing")
    again = move(oid, world.dispatcher, "triaged").json()
    assert again["technician_id"] is None and again["window_start"] is None
    move(oid, world.dispatcher, "scheduled", technician_id=world.technician_id, **WINDOW)
    move(oid, world.dispatcher, "dispatched")
    move(oid, world.tech_token, "in_progress")
    document(api, world, oid)
    move(oid, world.tech_token, "completed")
    closed = move(oid, world.supervisor, "closed").json()
    assert closed["visits"] == 2
    assert closed["first_time_fix"] is False


def test_illegal_transition_is_409_with_current_and_allowed(
    api: Api, world: World, move: Mover
) -> None:
    oid = new_order(api, world)["id"]
    response = move(oid, world.dispatcher, "dispatched", expect=409)
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["current"] == "new"
    assert body["allowed"] == ["triaged", "cancelled"]


def test_triage_requires_its_fields_by_name(api: Api, world: World, move: Mover) -> None:
    oid = new_order(api, world)["id"]
    body = move(oid, world.dispatcher, "triaged", expect=422, priority=3).json()
    assert {e["field"] for e in body["errors"]} == {"division_id", "work_type_id"}
    body = move(
        oid,
        world.dispatcher,
        "triaged",
        expect=422,
        priority=9,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    ).json()
    assert body["errors"][0]["field"] == "priority"


def test_fields_a_transition_does_not_take_are_refused(api: Api, world: World, move: Mover) -> None:
    oid = new_order(api, world)["id"]
    body = move(
        oid,
        world.dispatcher,
        "triaged",
        expect=422,
        priority=3,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
        technician_id=world.technician_id,
    ).json()
    assert body["errors"] == [
        {"field": "technician_id", "reason": "not taken when moving from new to triaged"}
    ]


def test_scheduling_checks_the_technicians_certification_on_the_day(
    api: Api, world: World, move: Mover
) -> None:
    tech = api.call(
        "POST",
        "/api/v1/technicians",
        world.admin,
        json={
            "name": "Una",
            "skills": ["pumps"],
            "home_latitude": 52.5,
            "home_longitude": 13.3,
            "time_zone": "Europe/Berlin",
            "certifications": [
                {"code": "ELEC-1", "issued_on": "2020-01-01", "expires_on": "2026-06-09"}
            ],
        },
        expect=201,
    ).json()
    oid = new_order(api, world)["id"]
    advance(api, world, move, oid, "triaged")
    body = move(
        oid, world.dispatcher, "scheduled", expect=422, technician_id=tech["id"], **WINDOW
    ).json()
    assert body["errors"][0]["field"] == "technician_id"
    assert "ELEC-1" in body["errors"][0]["reason"] and "2026-06-10" in body["errors"][0]["reason"]


def test_cancel_needs_a_reason_and_is_terminal(api: Api, world: World, move: Mover) -> None:
    oid = new_order(api, world)["id"]
    move(oid, world.dispatcher, "cancelled", expect=422)
    done = move(oid, world.dispatcher, "cancelled", reason="duplicate of another report").json()
    assert done["status"] == "cancelled" and done["allowed_transitions"] == []
    assert move(oid, world.supervisor, "triaged", expect=409).json()["allowed"] == []


def test_an_order_its_system_of_record_already_raised_is_a_409_naming_the_key(
    api: Api, world: World
) -> None:
    body = {"summary": "Pump 3", "source_system": "crm", "external_id": "WO-77"}
    first = api.call("POST", "/api/v1/work-orders", world.dispatcher, json=body, expect=201)
    again = api.call("POST", "/api/v1/work-orders", world.admin, json=body, expect=409)
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["fields"] == ["source_system", "external_id"]
    listed = api.call("GET", "/api/v1/work-orders", world.dispatcher).json()["items"]
    assert [o["id"] for o in listed] == [first.json()["id"]]
