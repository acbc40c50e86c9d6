"""The audit trail: tampering behind the API's back is found, and payloads hold no personal data."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import document, new_order, to_in_progress

NAME, PHONE, EMAIL = "Zebedee Quartermain", "+44 7700 900123", "zeb@example.org"
SECRET_REASON = "the dog bit me near the shed"
HASH = re.compile(r"[0-9a-f]{64}")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _tamper(api: Api, sql: str, **params: object) -> None:
    """What an attacker with database access would do: lift the guard, then edit."""
    with api.container.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text(sql), params)


def test_verify_names_the_first_event_altered_behind_the_apis_back(
    api: Api, world: World, move: Mover
) -> None:
    untouched = to_in_progress(api, world, move)
    tampered = to_in_progress(api, world, move)
    assert api.call("GET", "/api/v1/audit/verify", world.supervisor).json()["ok"] is True
    trail = api.call("GET", f"/api/v1/work-orders/{tampered}/audit", world.supervisor).json()[
        "events"
    ]
    triage = next(e for e in trail if e["to"] == "triaged")
    _tamper(
        api,
        "UPDATE audit_events SET payload = :p WHERE work_order_id = :wo AND seq = :seq",
        p=json.dumps({**triage["payload"], "priority": 5}),
        wo=tampered,
        seq=triage["seq"],
    )
    report = api.call("GET", "/api/v1/audit/verify", world.supervisor, expect=200).json()
    assert report["ok"] is False
    broken = report["first_broken"]
    assert (broken["work_order_id"], broken["seq"]) == (tampered, triage["seq"])
    assert "hash" in broken["reason"]
    assert untouched != tampered


def test_verify_finds_a_rewritten_chain_link(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    _tamper(
        api,
        "UPDATE audit_events SET actor = 'mallory' WHERE work_order_id = :wo AND seq = 2",
        wo=oid,
    )
    broken = api.call("GET", "/api/v1/audit/verify", world.supervisor).json()["first_broken"]
    assert broken["work_order_id"] == oid and broken["seq"] == 2


def test_the_database_refuses_to_edit_or_delete_events(api: Api, world: World) -> None:
    oid = new_order(api, world)["id"]
    for sql in (
        "UPDATE audit_events SET actor = 'mallory' WHERE work_order_id = :wo",
        "DELETE FROM audit_events WHERE work_order_id = :wo",
    ):
        try:
            with api.container.engine.begin() as conn:
                conn.execute(text(sql), {"wo": oid})
        except Exception as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"the database allowed: {sql}")


def test_no_payload_holds_a_name_phone_free_text_or_position(
    api: Api, world: World, move: Mover
) -> None:
    api.call(
        "POST",
        "/api/v1/service-requests",
        None,
        json={
            "description": f"Water everywhere, call {NAME} on {PHONE}",
            "contact": {"name": NAME, "phone": PHONE, "email": EMAIL},
            "address": "12 Secret Lane",
        },
        expect=201,
    )
    oid = to_in_progress(api, world, move)  # checks in with a GPS position
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.dispatcher).headers["etag"]
    api.call(
        "PATCH",
        f"/api/v1/work-orders/{oid}",
        world.dispatcher,
        json={"description": f"Ask for {NAME}"},
        headers={"If-Match": etag},
        expect=200,
    )
    move(oid, world.tech_token, "on_hold", reason=SECRET_REASON)
    move(oid, world.tech_token, "in_progress", position={"lat": 48.137154, "lon": 11.576124})
    document(api, world, oid)
    move(oid, world.tech_token, "completed")
    move(oid, world.supervisor, "triaged", reason=f"rework: {SECRET_REASON}")

    with api.container.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM audit_events")).all()
    assert len(rows) > 10
    phone_like = re.compile(r"\+?\d[\d ()-]{7,}\d")
    for (raw,) in rows:
        payload = raw if isinstance(raw, dict) else json.loads(raw)
        flat = json.dumps(payload)
        for needle in (NAME, "Zebedee", PHONE, EMAIL, "Secret Lane", "dog bit", "Water everywhere"):
            assert needle not in flat, (needle, payload)
        assert not {"lat", "lon", "latitude", "longitude", "reason", "text"} & set(payload), payload
        for value in payload.values():
            if not isinstance(value, str) or HASH.fullmatch(value) or STAMP.fullmatch(value):
                continue
            assert " " not in value, f"free text in an audit payload: {payload}"
            assert not phone_like.search(value), f"a phone number in an audit payload: {payload}"
        for coordinate in ("52.52", "13.4", "48.137154", "11.576124"):
            assert coordinate not in flat, payload
    # The texts live in their own rows, and the event holds their hash.
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.supervisor).json()["events"]
    hold = next(e for e in trail if e["to"] == "on_hold")
    assert set(hold["payload"]) == {"reason_note_id", "reason_sha256"}
    checkin = next(e for e in trail if e["to"] == "in_progress" and "position_id" in e["payload"])
    assert len(checkin["payload"]["position_sha256"]) == 64
