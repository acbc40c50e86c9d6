"""Every role boundary over HTTP: who may read, create, change and move what."""

from __future__ import annotations

import pytest

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import WINDOW, advance, new_order, to_in_progress

REFERENCE = [
    "divisions",
    "territories",
    "customers",
    "sites",
    "assets",
    "technicians",
    "work-types",
]


def test_no_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    for path in ("/api/v1/work-orders", "/api/v1/customers", "/api/v1/audit/verify"):
        response = api.call("GET", path, None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_forged_or_garbled_token_is_401(api: Api, world: World) -> None:
    header, payload, _sig = world.admin.split(".")
    for token in (f"{header}.{payload}.AAAA", "not-a-jwt"):
        assert api.call("GET", "/api/v1/work-orders", token).status_code == 401
    response = api.client.get("/api/v1/work-orders", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


@pytest.mark.parametrize("resource", REFERENCE)
def test_reference_data_is_written_by_admins_and_dispatchers_only(
    api: Api, world: World, resource: str
) -> None:
    for role in ("supervisor", "technician", "requester", "integration"):
        token = world.tech_token if role == "technician" else api.token(role, f"{role}-x")
        response = api.call("POST", f"/api/v1/{resource}", token, json={})
        # 403 when the role may not write; body validation never runs first.
        assert response.status_code in (403, 422)
        if response.status_code == 422:
            pytest.fail(f"{role} reached validation of {resource}: {response.text}")
    assert api.call("GET", f"/api/v1/{resource}", world.dispatcher).status_code == 200
    assert api.call("GET", f"/api/v1/{resource}", world.supervisor).status_code == 200
    technician_reads = resource == "work-types"  # the checklist labels: not sensitive
    said = api.call("GET", f"/api/v1/{resource}", world.tech_token).status_code
    assert said == (200 if technician_reads else 403)
    assert api.call("GET", f"/api/v1/{resource}", api.token("requester", "rita")).status_code == 403


def test_work_orders_are_created_by_office_roles_and_integration(api: Api, world: World) -> None:
    body = {"summary": "Hydrant leaking", "site_id": world.site_id}
    for role in ("dispatcher", "supervisor", "admin", "integration"):
        api.call("POST", "/api/v1/work-orders", api.token(role, f"{role}-y"), json=body, expect=201)
    for token in (world.tech_token, api.token("requester", "rita")):
        assert api.call("POST", "/api/v1/work-orders", token, json=body).status_code == 403


def test_a_technician_sees_only_their_own_orders(api: Api, world: World, move: Mover) -> None:
    mine = to_in_progress(api, world, move)
    other = new_order(api, world)["id"]
    assert api.call("GET", f"/api/v1/work-orders/{mine}", world.tech_token).status_code == 200
    for path in ("", "/audit", "/attachments"):
        response = api.call("GET", f"/api/v1/work-orders/{other}{path}", world.tech_token)
        assert response.status_code == 404, path
        response = api.call("GET", f"/api/v1/work-orders/{mine}{path}", world.other_tech_token)
        assert response.status_code == 404, path
    listed = api.call("GET", "/api/v1/work-orders", world.tech_token).json()["items"]
    assert [o["id"] for o in listed] == [mine]
    assert api.call("GET", "/api/v1/work-orders", world.other_tech_token).json()["items"] == []
    # Changing another's order: 404, exactly as for an id that does not exist.
    response = api.call(
        "POST",
        f"/api/v1/work-orders/{mine}/transitions",
        world.other_tech_token,
        json={"to": "on_hold", "reason": "x"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 404
    assert response.json()["detail"] == api.call(
        "GET", "/api/v1/work-orders/987654", world.other_tech_token
    ).json()["detail"].replace("987654", str(mine))


def test_only_the_assigned_technician_checks_in_and_completes(
    api: Api, world: World, move: Mover
) -> None:
    oid = new_order(api, world)["id"]
    advance(api, world, move, oid, "dispatched")
    for token in (world.dispatcher, world.supervisor, world.admin):
        body = move(oid, token, "in_progress", expect=409).json()
        assert body["current"] == "dispatched"
        assert "in_progress" not in body["allowed"]
    move(oid, world.tech_token, "in_progress")
    assert "completed" not in move(oid, world.supervisor, "completed", expect=409).json()["allowed"]
    # The dispatcher may put it on hold; only the technician resumes it.
    move(oid, world.dispatcher, "on_hold", reason="storm warning")
    move(oid, world.dispatcher, "in_progress", expect=409)
    move(oid, world.tech_token, "in_progress")


def test_cancel_rights_follow_the_table(api: Api, world: World, move: Mover) -> None:
    dispatched = new_order(api, world)["id"]
    advance(api, world, move, dispatched, "dispatched")
    body = move(dispatched, world.dispatcher, "cancelled", expect=409, reason="x").json()
    assert "cancelled" not in body["allowed"]
    assert (
        move(dispatched, world.supervisor, "cancelled", reason="customer moved").json()["status"]
        == "cancelled"
    )
    assert move(dispatched, world.admin, "triaged", expect=409).json()["allowed"] == []


def test_a_requester_may_cancel_their_own_request_while_new_only(
    api: Api, world: World, move: Mover
) -> None:
    rita = api.token("requester", "rita")
    other = api.token("requester", "rob")
    sr = api.call(
        "POST",
        "/api/v1/service-requests",
        rita,
        json={"description": "Street light out on Elm St"},
        expect=201,
    ).json()
    oid = sr["work_order_id"]
    assert api.call("GET", f"/api/v1/work-orders/{oid}", other).status_code == 404
    assert api.call("GET", f"/api/v1/work-orders/{oid}", rita).json()["allowed_transitions"] == [
        "cancelled"
    ]
    move(oid, other, "cancelled", expect=404, reason="not mine")
    move(
        oid,
        rita,
        "triaged",
        expect=409,
        priority=1,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    )
    assert move(oid, rita, "cancelled", reason="fixed itself").json()["status"] == "cancelled"
    second = api.call(
        "POST",
        "/api/v1/service-requests",
        rita,
        json={"description": "Pothole on Oak Ave"},
        expect=201,
    ).json()["work_order_id"]
    advance(api, world, move, second, "triaged")
    assert move(second, rita, "cancelled", expect=409, reason="x").json()["allowed"] == []


def test_integration_may_schedule_but_not_triage_or_dispatch(
    api: Api, world: World, move: Mover
) -> None:
    bot = api.token("integration", "scheduler-bot")
    oid = new_order(api, world)["id"]
    move(
        oid,
        bot,
        "triaged",
        expect=409,
        priority=1,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    )
    advance(api, world, move, oid, "triaged")
    move(oid, bot, "scheduled", technician_id=world.technician_id, **WINDOW)
    replanned = move(oid, bot, "scheduled", technician_id=world.other_technician_id).json()
    assert replanned["technician_id"] == world.other_technician_id
    assert replanned["window_start"] is not None
    move(oid, bot, "dispatched", expect=409)


def test_audit_verify_is_for_supervisors_and_admins(api: Api, world: World) -> None:
    assert api.call("GET", "/api/v1/audit/verify", world.supervisor).status_code == 200
    assert api.call("GET", "/api/v1/audit/verify", world.admin).status_code == 200
    assert api.call("GET", "/api/v1/audit/verify", world.dispatcher).status_code == 403
    assert api.call("GET", "/api/v1/audit/verify", world.tech_token).status_code == 403


def test_a_revoked_token_is_refused_on_the_next_request(api: Api, world: World) -> None:
    from orchestrator.access import tokens as auth

    with api.container.new_uow() as uow:
        issued = auth.issue(uow, api.container.secret_key, role="admin", subject="dan")
    oid = new_order(api, world)["id"]
    assert api.call("GET", f"/api/v1/work-orders/{oid}", issued.token).status_code == 200
    with api.container.new_uow() as uow:
        auth.revoke(uow, issued.id)
    # Every operation that knows its caller, reads and writes alike, refuses the token now,
    # and a refused write changes nothing.
    before = api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json()
    calls = [
        ("GET", "/api/v1/work-orders", None, {}),
        ("GET", f"/api/v1/work-orders/{oid}", None, {}),
        ("GET", f"/api/v1/work-orders/{oid}/audit", None, {}),
        ("GET", f"/api/v1/work-orders/{oid}/attachments", None, {}),
        ("GET", "/api/v1/audit/verify", None, {}),
        ("POST", "/api/v1/work-orders", {"summary": "after revocation"}, {}),
        ("PATCH", f"/api/v1/work-orders/{oid}", {"summary": "changed"}, {"If-Match": '"1"'}),
        (
            "POST",
            f"/api/v1/work-orders/{oid}/transitions",
            {"to": "cancelled", "reason": "x"},
            {"If-Match": '"1"'},
        ),
        ("PUT", f"/api/v1/work-orders/{oid}/checklist", {"items": {}}, {"If-Match": '"1"'}),
        ("POST", "/api/v1/service-requests", {"description": "a leak"}, {}),
        # planning opens no unit of work: its token is checked by a read of its own
        ("POST", "/api/v1/plans", {"date": "2026-03-02", "technicians": [], "jobs": []}, {}),
    ]
    for resource in REFERENCE:
        calls += [
            ("GET", f"/api/v1/{resource}", None, {}),
            ("GET", f"/api/v1/{resource}/1", None, {}),
        ]
    calls += [("POST", "/api/v1/divisions", {"code": "R", "name": "Revoked"}, {})]
    calls += [("PATCH", "/api/v1/customers/1", {"name": "Renamed"}, {"If-Match": '"1"'})]
    for method, path, body, headers in calls:
        response = api.call(method, path, issued.token, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert "revoked" in response.json()["detail"], (method, path)
    assert api.call("GET", f"/api/v1/work-orders/{oid}", world.admin).json() == before
    divisions = api.call("GET", "/api/v1/divisions", world.admin).json()["items"]
    assert "R" not in {d["code"] for d in divisions}
