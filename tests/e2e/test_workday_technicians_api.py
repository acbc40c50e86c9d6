"""A technician Workday made, as the API shows it: not dispatchable, naming what the office
must fill in, until it does; then dispatchable. An order whose technician Workday
deactivated shows ``needs_attention`` and why, still assigned to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update

from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.sync.technicians import flag_orders
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order

OFFICE = {
    "home_latitude": 52.5,
    "home_longitude": 13.4,
    "time_zone": "Europe/Berlin",
    "weekly_hours": {"mon": [{"start": "08:00", "end": "17:00"}]},
}


def _from_workday(container: Container) -> int:
    """A technician as the technicians stream makes one: Workday's fields alone."""
    with container.new_uow() as uow:
        ident = (
            uow.connection()
            .execute(
                insert(models.table_of(models.Technician)).values(
                    source_system="workday",
                    external_id="21042",
                    name="Kaya Lewis",
                    email="kaya.lewis42@example.co.uk",
                    active=True,
                    unavailable=[],
                    remote_stamp=utcnow(),
                )
            )
            .inserted_primary_key[0]
        )
        uow.commit()
    return int(ident)


def test_a_technician_from_workday_waits_for_the_office(
    api: Api, world: World, container: Container
) -> None:
    ident = _from_workday(container)
    path = f"/api/v1/technicians/{ident}"
    shown = api.call("GET", path, world.admin, expect=200).json()
    assert (shown["dispatchable"], shown["active"], shown["unavailable"]) == (False, True, [])
    assert shown["missing"] == ["home_latitude", "home_longitude", "time_zone", "weekly_hours"]
    assert shown["home_latitude"] is None and shown["source_system"] == "workday"

    filled = api.call(
        "PATCH", path, world.admin, json=OFFICE, headers={"If-Match": '"1"'}, expect=200
    ).json()
    assert (filled["dispatchable"], filled["missing"]) == (True, [])
    assert filled["name"] == "Kaya Lewis"  # Workday's, kept


def test_an_order_of_a_technician_workday_deactivated_needs_attention(
    api: Api, world: World, container: Container
) -> None:
    ident = _from_workday(container)
    start = datetime.now(UTC) + timedelta(days=2)
    with container.new_uow() as uow:
        order = (
            uow.connection()
            .execute(
                insert(models.table_of(models.WorkOrder)).values(
                    tracking_code="WD-API-1",
                    status="scheduled",
                    priority=3,
                    summary="Boiler",
                    technician_id=ident,
                    window_start=start,
                    window_end=start + timedelta(hours=2),
                )
            )
            .inserted_primary_key[0]
        )
        table = models.table_of(models.Technician)
        uow.connection().execute(update(table).where(table.c.id == ident).values(active=False))
        assert flag_orders(uow, "workday", ["21042"], utcnow()) == 1
        uow.commit()
    shown = api.call("GET", f"/api/v1/work-orders/{order}", world.admin, expect=200).json()
    assert shown["needs_attention"] is True and shown["technician_id"] == ident
    assert shown["attention_reason"] == (
        f"technician {ident} (workday 21042) is no longer active in workday"
    )
    assert (
        api.call("GET", f"/api/v1/technicians/{ident}", world.admin).json()["dispatchable"] is False
    )


def test_planning_the_order_again_settles_its_attention(
    api: Api, world: World, container: Container, move: Mover
) -> None:
    """The dispatcher answers the flag by planning the order again: never onto a technician
    Workday says is away that day, and the flag goes, its reason kept in the audit trail."""
    order = advance(api, world, move, new_order(api, world)["id"], "scheduled")
    away = {"from": "2026-06-09", "to": None, "why": "terminated"}  # WINDOW is on 2026-06-10
    with container.new_uow() as uow:
        table = models.table_of(models.Technician)
        uow.connection().execute(
            update(table)
            .where(table.c.id == world.technician_id)
            .values(source_system="workday", external_id="21043", unavailable=[away])
        )
        assert flag_orders(uow, "workday", ["21043"], utcnow()) == 1
        uow.commit()
    flagged = api.call("GET", f"/api/v1/work-orders/{order}", world.dispatcher).json()
    assert flagged["needs_attention"] is True

    later = {"window_start": "2026-06-10T13:00:00+02:00", "window_end": "2026-06-10T15:00:00+02:00"}
    refused = move(order, world.dispatcher, "scheduled", expect=422, **later)
    assert [e["field"] for e in refused.json()["errors"]] == ["technician_id"]
    assert "unavailable on 2026-06-10 (terminated)" in refused.json()["errors"][0]["reason"]

    move(order, world.dispatcher, "scheduled", technician_id=world.other_technician_id)
    settled = api.call("GET", f"/api/v1/work-orders/{order}", world.dispatcher).json()
    assert (settled["needs_attention"], settled["attention_reason"]) == (False, None)
    assert settled["technician_id"] == world.other_technician_id
    trail = api.call("GET", f"/api/v1/work-orders/{order}/audit", world.supervisor).json()
    assert trail["events"][-1]["payload"]["attention_settled"] == flagged["attention_reason"]
