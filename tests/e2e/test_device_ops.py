"""A technician's device uploads what it did offline (``POST /api/v1/me/ops``): each op applied
once, facts never lost, transitions judged on the order's current state."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import func, select

from orchestrator.access import tokens as auth
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import ops as device_ops
from orchestrator.store import models
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order, to_in_progress

AT = "2026-06-10T09:30:00+02:00"


def op(oid: int, kind: str, base_version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "op_id": str(uuid.uuid4()),
        "at": AT,
        "work_order_id": oid,
        "base_version": base_version,
        "kind": kind,
        **fields,
    }


def send(api: Api, token: str, ops: list[dict[str, Any]], expect: int = 200) -> dict[str, Any]:
    body = {"device_id": "tess-phone", "ops": ops}
    answer = api.call("POST", "/api/v1/me/ops", token, json=body, expect=expect).json()
    if expect == 200:
        assert [r["op_id"] for r in answer["results"]] == [o.get("op_id") for o in ops]
    return answer


def statuses(answer: dict[str, Any]) -> list[str]:
    return [r["status"] for r in answer["results"]]


def count(api: Api, model: type[models.Base]) -> int:
    with api.container.new_uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def add_parts(api: Api, world: World, van: dict[str, float]) -> None:
    for code, name, unit in (("FLT-1", "Filter", "EA"), ("CBL-2", "Cable", "M")):
        body = {"code": code, "name": name, "unit": unit, "sap_product_id": f"MAT-{code}"}
        api.call("POST", "/api/v1/parts", world.admin, json=body, expect=201)
    tech = api.call("GET", f"/api/v1/technicians/{world.technician_id}", world.admin)
    api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.admin,
        json={"van_stock": van},
        headers={"If-Match": tech.headers["etag"]},
        expect=200,
    )


def van(api: Api, world: World) -> dict[str, float]:
    tech = api.call("GET", f"/api/v1/technicians/{world.technician_id}", world.admin).json()
    return tech["van_stock"]


def test_facts_apply_whatever_the_base_version_and_the_van_keeps_count(
    api: Api, world: World, move: Mover
) -> None:
    add_parts(api, world, {"FLT-1": 2, "CBL-2": 10})
    oid = to_in_progress(api, world, move)
    start, end = "2026-06-10T09:00:00+02:00", "2026-06-10T10:15:00+02:00"
    ops = [
        op(oid, "part_used", part_code="FLT-1", quantity=1, from_van=True),
        op(oid, "part_used", part_code="FLT-1", quantity=2, from_van=True),  # one short
        op(oid, "part_used", part_code="CBL-2", quantity=2.5, from_van=True),
        op(oid, "part_used", part_code="CBL-2", quantity=1, from_van=False),
        op(oid, "labour", activity="work", start=start, end=end),
        op(oid, "note", text="Impeller worn on one side"),
        op(oid, "reading", asset_id=1, measure="hours", value=1200, unit="h"),
        op(oid, "checklist", items={"isolate": True}),
        op(oid, "checklist", items={"inspect": True}),
        op(oid, "signature_signer", name="Pat Owner"),
    ]
    asset = api.call(
        "POST",
        "/api/v1/assets",
        world.dispatcher,
        json={"site_id": world.site_id, "serial": "P-3", "model": "KSB"},
        expect=201,
    ).json()
    ops[6]["asset_id"] = asset["id"]
    answer = send(api, world.tech_token, ops)

    assert statuses(answer) == ["applied"] * len(ops)
    assert all(r["stale"] for r in answer["results"])  # base_version 1: the order had moved on
    versions = [r["version"] for r in answer["results"]]
    assert versions == sorted(versions) and len(set(versions)) == len(ops)
    order = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()
    assert order["version"] == versions[-1]
    assert order["checklist"] == {"isolate": True, "inspect": True, "notes": False}  # merged
    assert van(api, world) == {"FLT-1": 0, "CBL-2": 7.5}
    with api.container.new_uow() as uow:
        uses = uow.session.scalars(select(models.PartUse).order_by(models.PartUse.id)).all()
        assert [(u.part_code, u.quantity, u.from_van, u.off_van) for u in uses] == [
            ("FLT-1", 1, True, False),
            ("FLT-1", 2, True, True),  # the van held 1 of the 2: flagged, stock at 0, not -1
            ("CBL-2", 2.5, True, False),
            ("CBL-2", 1, False, True),
        ]
        line = uow.session.scalars(select(models.LabourLine)).one()
        assert (line.activity, line.end - line.start) == ("work", timedelta(minutes=75))
        reading = uow.session.scalars(select(models.Reading)).one()
        assert (reading.asset_id, reading.value, reading.work_order_id) == (asset["id"], 1200, oid)
        notes = uow.session.scalars(select(models.Note).where(models.Note.op_id.is_not(None)))
        assert {(n.kind, n.text, n.author_role) for n in notes} == {
            ("note", "Impeller worn on one side", "technician"),
            ("signer", "Pat Owner", "technician"),
        }
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.tech_token).json()
    used = [e for e in trail["events"] if e["kind"] == "part_used"]
    assert len(used) == 4
    assert used[0]["payload"]["op_id"] == ops[0]["op_id"]
    device_time = datetime.fromisoformat(used[0]["payload"]["occurred_at"])
    assert device_time == datetime.fromisoformat(AT)  # the device's clock, beside the server's
    assert "Impeller" not in str(trail)  # free text stays out of the audit trail


def test_a_replay_answers_duplicate_with_the_first_result_and_changes_nothing(
    api: Api, world: World, move: Mover
) -> None:
    add_parts(api, world, {"FLT-1": 5})
    oid = to_in_progress(api, world, move)
    ops = [
        op(oid, "part_used", part_code="FLT-1", quantity=1, from_van=True),
        op(oid, "note", text="first"),
        op(oid, "part_used", part_code="NOPE", quantity=1, from_van=True),
    ]
    first = send(api, world.tech_token, ops)
    assert statuses(first) == ["applied", "applied", "rejected"]
    version = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["version"]

    # again, cut differently and twice over: the same answers, nothing new
    for batch in ([ops[2], ops[0]], [ops[1]], ops + ops):
        again = send(api, world.tech_token, batch)
        assert set(statuses(again)) == {"duplicate"}
        by_id = {r["op_id"]: r for r in first["results"]}
        for result in again["results"]:
            assert result["first"] == by_id[result["op_id"]]["status"]
            assert result["version"] == by_id[result["op_id"]]["version"]
            assert result["reason"] == by_id[result["op_id"]]["reason"]
    assert count(api, models.PartUse) == 1
    assert van(api, world) == {"FLT-1": 4}
    assert api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["version"] == (
        version
    )


def test_a_malformed_op_is_rejected_by_itself_and_the_rest_applies(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    ops: list[Any] = [
        op(oid, "note", text="kept"),
        {"op_id": "not-a-uuid", "kind": "note", "text": "x"},
        op(oid, "labour", activity="lunch", start=AT, end=AT),
        op(oid, "note", text="no offset", at="2026-06-10T09:30:00"),
        op(oid, "teleport"),
        op(oid + 1000, "note", text="not my order"),
        op(oid, "checklist", items={"polish": True}),
        op(oid, "labour", activity="work", start=AT, end=AT),
        op(oid, "note", text="kept too"),
    ]
    answer = send(api, world.tech_token, ops)
    assert statuses(answer) == ["applied", *["rejected"] * 7, "applied"]
    results = answer["results"]
    assert "op_id" in results[1]["reason"]
    assert {e["field"] for e in results[2]["errors"]} == {"labour.activity"}
    assert {e["field"] for e in results[3]["errors"]} == {"note.at"}
    assert results[5]["errors"] == [
        {"field": "work_order_id", "reason": f"no order {oid + 1000} of yours"}
    ]
    assert results[6]["errors"][0]["field"] == "items.polish"
    assert results[7]["errors"][0]["field"] == "end"
    with api.container.new_uow() as uow:
        kept = uow.session.scalars(select(models.Note.text).where(models.Note.kind == "note"))
        assert sorted(kept) == ["kept", "kept too"]
        stored = uow.session.get(models.DeviceOp, ops[2]["op_id"])
        assert stored is not None and stored.status == "rejected"  # kept, with the op as sent
        assert stored.body["activity"] == "lunch"


def test_a_transition_is_judged_on_the_current_state_not_the_base_version(
    api: Api, world: World, move: Mover
) -> None:
    oid = advance(api, world, move, new_order(api, world)["id"], "dispatched")
    base = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["version"]
    # the office edits the description meanwhile: checking in is still legal
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.dispatcher).headers["etag"]
    api.call(
        "PATCH",
        f"/api/v1/work-orders/{oid}",
        world.dispatcher,
        json={"description": "bring the long ladder"},
        headers={"If-Match": etag},
        expect=200,
    )
    check_in = op(oid, "transition", base, to="in_progress", position={"lat": 52.5, "lon": 13.4})
    answer = send(api, world.tech_token, [check_in])
    assert answer["results"][0] | {"version": None} == {
        "op_id": check_in["op_id"],
        "status": "applied",
        "version": None,
        "reason": None,
        "current": "in_progress",
        "stale": True,
        "allowed": None,
        "first": None,
        "waiting": None,
        "errors": None,
        "missing": None,
    }
    # completing without the proof: refused by the same gate as every caller
    done = op(oid, "transition", to="completed")
    refused = send(api, world.tech_token, [done])["results"][0]
    assert refused["status"] == "rejected"
    assert {m["kind"] for m in refused["missing"]} == {"checklist", "photos", "signature"}
    # the office puts the order on hold; a second check-in from the device is a conflict
    move(oid, world.dispatcher, "on_hold", reason="parts")
    late = send(api, world.tech_token, [op(oid, "transition", to="on_hold", reason="x")])
    result = late["results"][0]
    assert result["status"] == "conflict"
    assert result["current"] == "on_hold" and result["allowed"] == ["in_progress"]


def test_facts_on_a_cancelled_order_are_kept_as_late_facts(
    api: Api, world: World, move: Mover
) -> None:
    add_parts(api, world, {"FLT-1": 3})
    oid = to_in_progress(api, world, move)
    move(oid, world.supervisor, "cancelled", reason="customer cancelled")
    ops = [
        op(oid, "note", text="was already here"),
        op(oid, "part_used", part_code="FLT-1", quantity=1, from_van=True),
        op(oid, "transition", to="completed"),
    ]
    answer = send(api, world.tech_token, ops)
    assert statuses(answer) == ["conflict", "conflict", "conflict"]
    assert all(r["current"] == "cancelled" for r in answer["results"])
    assert "late fact" in answer["results"][0]["reason"]
    assert count(api, models.PartUse) == 0  # not applied to the order
    assert van(api, world) == {"FLT-1": 2}  # but the filter did leave the van
    with api.container.new_uow() as uow:
        late = uow.session.scalars(
            select(models.DeviceOp.op_id)
            .where(models.DeviceOp.late)
            .order_by(models.DeviceOp.op_id)
        ).all()
    assert sorted(late) == sorted(o["op_id"] for o in ops[:2])
    review = api.call("GET", f"/api/v1/work-orders/{oid}", world.supervisor).json()
    assert [(f["op_id"], f["kind"], f["payload"]) for f in review["late_facts"]] == [
        (ops[0]["op_id"], "note", {"text": "was already here"}),
        (ops[1]["op_id"], "part_used", {"part_code": "FLT-1", "quantity": 1, "from_van": True}),
    ]
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.supervisor).json()["events"]
    assert [e["payload"]["kind"] for e in trail if e["kind"] == "late_fact"] == [
        "note",
        "part_used",
    ]


def test_completion_needs_the_work_types_resolution_code(
    api: Api, world: World, move: Mover
) -> None:
    wt = api.call("GET", f"/api/v1/work-types/{world.work_type_id}", world.admin)
    api.call(
        "PATCH",
        f"/api/v1/work-types/{world.work_type_id}",
        world.admin,
        json={"resolution_codes": ["FIXED", "TEMP"], "min_photos": 0, "signature_required": False},
        headers={"If-Match": wt.headers["etag"]},
        expect=200,
    )
    oid = to_in_progress(api, world, move)
    ticks = op(oid, "checklist", items={"isolate": True, "inspect": True})
    bare = op(oid, "transition", to="completed")
    wrong = op(oid, "transition", to="completed", resolution_code="MAGIC")
    right = op(
        oid, "transition", to="completed", resolution_code="FIXED", resolution_note="New seal"
    )
    answer = send(api, world.tech_token, [ticks, bare, wrong, right])
    assert statuses(answer) == ["applied", "rejected", "rejected", "applied"]
    assert answer["results"][1]["errors"][0]["field"] == "resolution_code"
    assert "FIXED, TEMP" in answer["results"][2]["errors"][0]["reason"]
    with api.container.new_uow() as uow:
        wo = uow.session.get(models.WorkOrder, oid)
        assert wo is not None and (wo.status, wo.resolution_code) == ("completed", "FIXED")
        note = uow.session.scalars(select(models.Note).where(models.Note.kind == "completion"))
        assert [(n.text, n.state) for n in note] == [("New seal", "completed")]


def test_only_a_technician_uploads_ops_and_an_expired_token_consumes_nothing(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    note = op(oid, "note", text="queued")
    api.call("POST", "/api/v1/me/ops", world.dispatcher, json={"device_id": "d", "ops": [note]},
             expect=403)  # fmt: skip
    claims = jwt.decode(world.tech_token, options={"verify_signature": False})
    secret = api.container.secret_key
    expired = jwt.encode(claims | {"exp": claims["iat"] - 60}, secret, algorithm=auth.ALGORITHM)
    send(api, expired, [note], expect=401)
    assert count(api, models.DeviceOp) == 0
    fresh = api.token("technician", "tess", world.technician_id)
    assert statuses(send(api, fresh, [note])) == ["applied"]


def test_the_same_upload_from_two_connections_at_once_applies_once(
    api: Api, world: World, move: Mover
) -> None:
    """A device that retries while its first upload is still being applied: whichever
    commits first applies each op, the other answers duplicate (on PostgreSQL the second
    waits on the first's op ids, then reads them)."""
    add_parts(api, world, {"FLT-1": 50})
    oid = to_in_progress(api, world, move)
    ops = [op(oid, "part_used", part_code="FLT-1", quantity=1, from_van=True) for _ in range(20)]
    actor = Actor("tess", Role.TECHNICIAN, technician_id=world.technician_id)
    start = threading.Barrier(2)

    def upload() -> list[str]:
        start.wait()
        with api.container.new_uow() as uow:
            return [r["status"] for r in device_ops.submit(uow, actor, "phone", ops)["results"]]

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: upload(), range(2)))
    assert sorted(sorted(set(a)) for a in answers) == [["applied"], ["duplicate"]]
    assert count(api, models.PartUse) == 20
    assert van(api, world) == {"FLT-1": 30}


def test_a_completion_that_waits_for_photos_becomes_a_conflict_once_the_order_is_gone(
    api: Api, world: World, move: Mover
) -> None:
    """Photos that can never arrive (a cancelled order takes none) leave no op pending for
    ever: a completion naming them on a cancelled order is a conflict at once, and one that
    was already waiting is settled as a conflict when the device sends it again."""
    oid = to_in_progress(api, world, move)
    photos = [str(uuid.uuid4()), str(uuid.uuid4())]
    waiting = op(oid, "transition", to="completed", attachment_ids=photos)
    assert statuses(send(api, world.tech_token, [waiting])) == ["pending"]
    move(oid, world.supervisor, "cancelled", reason="duplicate order")

    again = send(api, world.tech_token, [waiting])["results"][0]
    assert again["status"] == "duplicate" and again["first"] == "conflict"
    assert again["current"] == "cancelled" and again["allowed"] == []
    late = op(oid, "transition", to="completed", attachment_ids=[str(uuid.uuid4())])
    result = send(api, world.tech_token, [late])["results"][0]
    assert (result["status"], result["current"]) == ("conflict", "cancelled")
    with api.container.new_uow() as uow:
        kept = uow.session.scalars(select(models.DeviceOp.status)).all()
    assert sorted(kept) == ["conflict", "conflict"]  # nothing left pending
