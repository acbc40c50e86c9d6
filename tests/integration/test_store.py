"""The store on every backend: UTC times, an append-only audit table, chains that re-hash."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, StatementError

from mappings import canonical
from orchestrator.domain.audit import GENESIS, EventBody, canonical_json, sha256_hex
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.store import models
from orchestrator.store.db import checkpoint
from orchestrator.work_orders import attachments, audit_trail
from orchestrator.work_orders import commands as wo_h
from tests.support.databases import make_settings
from tests.support.lifecycle_world import World

DISPATCHER = Actor("dan", Role.DISPATCHER)
SUPERVISOR = Actor("sue", Role.SUPERVISOR)
GUARD = "audit_events is append-only"


def new_order(container: Container, summary: str = "Pump 3 vibrates") -> dict[str, Any]:
    with container.new_uow() as uow:
        return wo_h.create(
            uow, wo_h.CreateWorkOrder(canonical.WorkOrder(summary=summary), DISPATCHER)
        )


def move(container: Container, order: dict[str, Any], to: State, actor: Actor, **fields: Any):
    with container.new_uow() as uow:
        return wo_h.transition(
            uow,
            wo_h.TransitionWorkOrder(order["id"], to, fields, actor, order["version"]),
        )


def stored_events(container: Container) -> list[models.AuditEvent]:
    """Every event as read back from the database (detached, fully loaded)."""
    with container.new_uow() as uow:
        events = list(
            uow.session.scalars(
                select(models.AuditEvent).order_by(
                    models.AuditEvent.work_order_id, models.AuditEvent.seq
                )
            )
        )
        uow.session.expunge_all()
        return events


# --- UTCDateTime ---------------------------------------------------------------------------------

INSTANTS = [
    datetime(2026, 3, 29, 0, 30, 0, 123456, tzinfo=UTC),
    # The first 02:30 of Berlin's fall-back night, given with its offset.
    datetime(2026, 10, 25, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=lambda d: d.isoformat())
def test_utc_datetime_round_trip_is_aware_utc(container: Container, instant: datetime) -> None:
    order = new_order(container)
    with container.new_uow() as uow:
        note = models.Note(
            work_order_id=order["id"], kind="reason", text="x", sha256="0" * 64, created_at=instant
        )
        uow.session.add(note)
        uow.commit()
        note_id = note.id
    with container.new_uow() as uow:
        back = uow.session.get(models.Note, note_id)
        assert back is not None
        assert back.created_at == instant
        assert back.created_at.tzinfo is UTC
        assert back.created_at.utcoffset() == timedelta(0)
        assert back.created_at.microsecond == instant.microsecond
        # What the database holds is the UTC wall time, whatever offset came in.
        raw = uow.session.execute(
            text("SELECT created_at FROM notes WHERE id = :i"), {"i": note_id}
        ).scalar_one()
    expected_wall = instant.astimezone(UTC).replace(tzinfo=None)
    if isinstance(raw, str):  # SQLite keeps text
        assert datetime.fromisoformat(raw) == expected_wall
    else:
        assert raw == instant


def test_naive_datetime_is_refused_by_the_column(container: Container) -> None:
    order = new_order(container)
    with container.new_uow() as uow:
        uow.session.add(
            models.Note(
                work_order_id=order["id"],
                kind="reason",
                text="x",
                sha256="0" * 64,
                created_at=datetime(2026, 1, 1, 12, 0),
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            uow.commit()


def test_order_times_read_back_as_aware_utc(container: Container) -> None:
    order = new_order(container)
    with container.new_uow() as uow:
        wo = uow.session.get(models.WorkOrder, order["id"])
        assert wo is not None
        for name in ("created_at", "updated_at", "status_changed_at"):
            value = getattr(wo, name)
            assert value.tzinfo is UTC, name
        assert abs(wo.created_at - datetime.now(UTC)) < timedelta(minutes=5)


# --- the audit table is append-only --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory'",
        "UPDATE audit_events SET payload = '{}' WHERE seq = 1",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE seq = 1",
    ],
)
def test_audit_events_refuse_update_and_delete(container: Container, statement: str) -> None:
    order = new_order(container)
    before = [(e.id, e.actor, e.payload, e.hash) for e in stored_events(container)]
    assert len(before) == 1
    with container.engine.connect() as conn, pytest.raises(DBAPIError, match=GUARD):
        conn.execute(text(statement))
        conn.commit()
    after = [(e.id, e.actor, e.payload, e.hash) for e in stored_events(container)]
    assert after == before
    with container.new_uow() as uow:
        assert audit_trail.verify_all(uow)["ok"] is True
    with container.new_uow() as uow:
        assert [
            e["seq"] for e in audit_trail.audit_trail(uow, order["id"], DISPATCHER)["events"]
        ] == [1]


def test_orm_update_of_an_event_is_refused(container: Container) -> None:
    new_order(container)
    with container.new_uow() as uow:
        event = uow.session.scalars(select(models.AuditEvent)).one()
        event.actor = "mallory"
        with pytest.raises(DBAPIError, match=GUARD):
            uow.commit()
    assert [e.actor for e in stored_events(container)] == ["dan"]


def test_appending_is_allowed(container: Container) -> None:
    order = new_order(container)
    move(container, order, State.CANCELLED, DISPATCHER, reason="duplicate")
    assert [(e.seq, e.kind, e.to_state) for e in stored_events(container)] == [
        (1, "created", "new"),
        (2, "transition", "cancelled"),
    ]


# --- chains --------------------------------------------------------------------------------------


def test_a_written_chain_verifies(container: Container) -> None:
    boiler = new_order(container, "Boiler leaks — Müller's house")
    door = new_order(container, "Door sticks")
    alarm = new_order(container, "Alarm beeps")
    move(container, door, State.CANCELLED, DISPATCHER, reason="customer withdrew")
    move(container, alarm, State.CANCELLED, SUPERVISOR, reason="duplicate of another")
    with container.new_uow() as uow:
        report = audit_trail.verify_all(uow)
    assert report == {"ok": True, "chains": 3, "events": 5, "first_broken": None}
    with container.new_uow() as uow:
        trail = audit_trail.audit_trail(uow, boiler["id"], DISPATCHER)["events"]
    assert [e["seq"] for e in trail] == [1]
    assert trail[0]["prev_hash"] == GENESIS
    # Free text never enters the trail; its hash does.
    assert "Müller" not in json.dumps(trail, default=str)
    assert trail[0]["payload"]["summary_sha256"] == sha256_hex("Boiler leaks — Müller's house")


def test_each_event_links_to_the_previous_one(container: Container) -> None:
    order = new_order(container)
    move(container, order, State.CANCELLED, SUPERVISOR, reason="not needed")
    first, second = stored_events(container)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert second.seq == first.seq + 1


def _disable_guard(container: Container) -> None:
    with container.engine.begin() as conn:
        if container.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))


def test_verify_all_reports_a_tampered_event(container: Container) -> None:
    """Someone with the database's owner rights bypasses the trigger: the chain still tells."""
    first = new_order(container, "first")
    second = new_order(container, "second")
    move(container, second, State.CANCELLED, DISPATCHER, reason="one")
    _disable_guard(container)
    with container.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET actor = 'mallory' WHERE work_order_id = :w AND seq = 2"),
            {"w": second["id"]},
        )
    with container.new_uow() as uow:
        report = audit_trail.verify_all(uow)
    assert report["ok"] is False
    assert report["first_broken"]["work_order_id"] == second["id"]
    assert report["first_broken"]["seq"] == 2
    assert "hash does not match" in report["first_broken"]["reason"]
    assert first["id"] != second["id"]


@pytest.mark.parametrize("batch", [1, 2, 3, 2000])
def test_verify_all_reads_page_by_page_and_in_a_read_only_unit_of_work(
    container: Container, batch: int
) -> None:
    """Pages of any size, split inside a chain or between chains, give the same report; on
    PostgreSQL the read-only unit of work is autocommit, so nothing may need a transaction."""
    orders = [new_order(container, f"order {i}") for i in range(3)]
    move(container, orders[0], State.CANCELLED, DISPATCHER, reason="one")
    move(container, orders[2], State.CANCELLED, DISPATCHER, reason="two")
    with container.new_uow(read_only=True) as uow:
        assert audit_trail.verify_all(uow, batch=batch) == {
            "ok": True,
            "chains": 3,
            "events": 5,
            "first_broken": None,
        }
    _disable_guard(container)
    with container.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET kind = 'forged' WHERE work_order_id = :w AND seq = 2"),
            {"w": orders[2]["id"]},
        )
    with container.new_uow(read_only=True) as uow:
        report = audit_trail.verify_all(uow, batch=batch)
    assert report["ok"] is False
    assert (report["first_broken"]["work_order_id"], report["first_broken"]["seq"]) == (
        orders[2]["id"],
        2,
    )


# --- re-hashing what was read back ---------------------------------------------------------------

AT = datetime(2026, 3, 29, 1, 30, 0, 654321, tzinfo=UTC)
TRICKY_PAYLOAD = {
    "zeta": [3, 2, 1],
    "alpha": {"nested_b": None, "nested_a": True, "empty": {}},
    "text_sha256": sha256_hex("Grüße, 東京"),
    "name": 'Grüße, 東京 — "quoted" \\ back',
    "small": 1e-07,
    "tenth": 0.1,
    "big": 2**53 + 1,
    "negative": -42,
    "float_whole": 2.0,
}


def expected_canonical(work_order_id: int) -> bytes:
    """The canonical text of the fixed event, written out by hand."""
    payload = (
        '{"alpha":{"empty":{},"nested_a":true,"nested_b":null},"big":9007199254740993,'
        '"float_whole":2.0,"name":"Grüße, 東京 — \\"quoted\\" \\\\ back","negative":-42,'
        '"small":1e-07,"tenth":0.1,'
        f'"text_sha256":"{sha256_hex("Grüße, 東京")}","zeta":[3,2,1]}}'
    )
    return (
        '{"actor":"sap-connector","at":"2026-03-29T01:30:00.654321Z","from":"triaged",'
        f'"kind":"transition","payload":{payload},"prev_hash":"{GENESIS}","role":"integration",'
        f'"seq":1,"to":"scheduled","work_order_id":{work_order_id}}}'
    ).encode()


def test_a_stored_event_rehashes_to_its_stored_hash(container: Container) -> None:
    order = new_order(container)
    wid = order["id"]
    # A second order's chain is independent; write the fixed event on its own order.
    with container.new_uow() as uow:
        fixed_order = models.WorkOrder(
            tracking_code="FB-TEST0-TEST0",
            status="scheduled",
            summary="fixed",
            checklist_state={},
            visits=0,
            version=1,
        )
        uow.session.add(fixed_order)
        uow.session.flush()
        fid = fixed_order.id
        payload = json.loads(canonical_json(TRICKY_PAYLOAD))
        body = EventBody(
            work_order_id=fid,
            seq=1,
            at=AT,
            actor="sap-connector",
            role="integration",
            kind="transition",
            from_state="triaged",
            to_state="scheduled",
            payload=payload,
            prev_hash=GENESIS,
        )
        uow.session.add(
            models.AuditEvent(
                work_order_id=fid,
                seq=1,
                at=AT,
                actor=body.actor,
                role=body.role,
                kind=body.kind,
                from_state=body.from_state,
                to_state=body.to_state,
                payload=payload,
                prev_hash=GENESIS,
                hash=body.digest(),
            )
        )
        uow.commit()

    events = {(e.work_order_id, e.seq): e for e in stored_events(container)}
    fixed = events[(fid, 1)]
    back = audit_trail.event_body(fixed)
    assert back.at == AT and back.at.tzinfo is UTC
    assert back.payload == TRICKY_PAYLOAD
    # The same bytes on SQLite and PostgreSQL: written out by hand, not computed by the code.
    assert canonical_json(back.as_dict()) == expected_canonical(fid)
    assert sha256_hex(expected_canonical(fid)) == fixed.hash == back.digest()
    # And the handler-written event re-hashes too.
    created = events[(wid, 1)]
    assert audit_trail.event_body(created).digest() == created.hash
    with container.new_uow() as uow:
        assert audit_trail.verify_all(uow)["ok"] is True


def test_handler_written_events_rehash_after_reading_back(container: Container) -> None:
    order = new_order(container, "Heat pump — Ölwechsel")
    order = move(container, order, State.CANCELLED, SUPERVISOR, reason="Kunde hat storniert")
    events = stored_events(container)
    assert len(events) == 2
    for event in events:
        body = audit_trail.event_body(event)
        assert body.at.tzinfo is UTC
        assert sha256_hex(canonical_json(body.as_dict())) == event.hash
    # The public trail shows the same hashes.
    with container.new_uow() as uow:
        trail = audit_trail.audit_trail(uow, order["id"], SUPERVISOR)["events"]
    assert [e["hash"] for e in trail] == [e.hash for e in events]


def test_a_whole_visit_rehashes_after_reading_back(container: Container, world: World) -> None:
    """Times inside payloads (the appointment window) are stored in their canonical form."""
    tech_id = world.tech_ids[0]
    tech = Actor("tom", Role.TECHNICIAN, technician_id=tech_id)
    order = new_order(container, "Chiller trips")
    order = move(
        container,
        order,
        State.TRIAGED,
        DISPATCHER,
        priority=1,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    )
    berlin = timezone(timedelta(hours=2))
    order = move(
        container,
        order,
        State.SCHEDULED,
        DISPATCHER,
        technician_id=tech_id,
        window_start=datetime(2030, 6, 4, 9, 0, tzinfo=berlin),
        window_end=datetime(2030, 6, 4, 11, 30, 0, 250000, tzinfo=berlin),
    )
    order = move(container, order, State.DISPATCHED, SUPERVISOR)
    order = move(container, order, State.IN_PROGRESS, tech, position={"lat": 53.54, "lon": 9.98})
    with container.new_uow() as uow:
        order = wo_h.update_checklist(
            uow, wo_h.UpdateChecklist(order["id"], {"isolate": True}, tech, order["version"])
        )
    with container.new_uow() as uow:
        attachments.add_attachment(
            uow,
            attachments.AddAttachment(
                order["id"], "photo", "ab" * 32, "image/jpeg", 1234, tech, order["version"]
            ),
        )

    events = stored_events(container)
    assert [(e.seq, e.kind, e.to_state) for e in events] == [
        (1, "created", "new"),
        (2, "transition", "triaged"),
        (3, "transition", "scheduled"),
        (4, "transition", "dispatched"),
        (5, "transition", "in_progress"),
        (6, "checklist_updated", None),
        (7, "attachment_added", None),
    ]
    scheduled = events[2].payload
    assert scheduled["window_start"] == "2030-06-04T07:00:00.000000Z"
    assert scheduled["window_end"] == "2030-06-04T09:30:00.250000Z"
    assert scheduled["technician_id"] == tech_id
    # Coordinates stay out of the trail; the check-in carries their hash and the visit number.
    assert "lat" not in json.dumps(events[4].payload) and events[4].payload["visit"] == 1
    for prev, event in zip([None, *events], events, strict=False):
        assert event.prev_hash == (prev.hash if prev else GENESIS)
        assert sha256_hex(canonical_json(audit_trail.event_body(event).as_dict())) == event.hash, (
            event.seq
        )
    with container.new_uow() as uow:
        assert audit_trail.verify_all(uow) == {
            "ok": True,
            "chains": 1,
            "events": 7,
            "first_broken": None,
        }


# --- SQLite's write-ahead log ------------------------------------------------------------------


def test_the_api_process_checkpoints_the_wal_itself(database_url: str, tmp_path: Any) -> None:
    """The API's connections never checkpoint in a commit; ``checkpoint`` copies the log back
    into the database file (SQLite); on PostgreSQL it does nothing and fails nothing."""
    container = bootstrap(make_settings(database_url, tmp_path), checkpoint_in_background=True)

    def orders_in_the_main_file() -> int:
        copy = tmp_path / "main-file-only.db"  # the database file without its log
        shutil.copyfile(str(container.engine.url.database), copy)
        with contextlib.closing(sqlite3.connect(copy)) as conn:
            return int(conn.execute("SELECT count(*) FROM work_orders").fetchone()[0])

    try:
        sqlite = container.engine.dialect.name == "sqlite"
        for index in range(3):
            new_order(container, f"order {index}")
        if sqlite:
            raw = container.engine.raw_connection()
            try:
                assert raw.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            finally:
                raw.close()
            assert orders_in_the_main_file() == 0  # still only in the log
        checkpoint(container.engine)
        if sqlite:
            assert orders_in_the_main_file() == 3
        with container.new_uow(read_only=True) as uow:
            assert audit_trail.verify_all(uow)["events"] == 3
    finally:
        container.dispose()
