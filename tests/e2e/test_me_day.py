"""The technician's day (``GET /me/day``): one request gives a device everything the day's work
needs offline. The orders assigned to the technician whose window falls on the day in their
time zone, and their work under way, each with its site, customer, contact, asset and the
asset's last closed orders, its work type and the facts recorded so far; the van's stock and
the parts the day may use; and a sync token for what changes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.domain.audit import sha256_hex
from orchestrator.store import models
from tests.support.databases import statements
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, document, new_order

BERLIN = ZoneInfo("Europe/Berlin")
VALVE_SERVICE = {
    "code": "VALVE-SVC",
    "name": "Valve service",
    "default_duration_min": 60,
    "checklist": [
        {"code": "isolate", "label": "Isolate the line"},
        {"code": "flush", "label": "Flush the valve", "required": False},
    ],
    "min_photos": 1,
    "signature_required": False,
    "resolution_codes": ["fixed", "temporary"],
    "parts": {"GASKET-40": 2, "SEAL-KIT": 1},
}
PARTS = [
    {"code": "GASKET-40", "name": "Gasket 40 mm", "unit": "EA", "sap_product_id": "M-4001"},
    {"code": "SEAL-KIT", "name": "Seal kit", "unit": "EA", "unit_price": 12.5, "currency": "EUR"},
    {"code": "CABLE-3", "name": "Cable 3 core", "unit": "M"},
    {"code": "FUSE-10", "name": "Fuse 10 A", "unit": "EA"},
]
VAN = {"CABLE-3": 12.5, "GASKET-40": 4}


def in_a_week() -> date:
    return datetime.now(BERLIN).date() + timedelta(days=7)


def at_site(day: date, hour: int, minute: int = 0) -> str:
    """Wall-clock time at the world's site (Berlin), as the office types it in."""
    return datetime.combine(day, time(hour, minute)).isoformat()


def shown(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).isoformat()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def patched(api: Api, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    etag = api.call("GET", path, token, expect=200).headers["etag"]
    return api.call("PATCH", path, token, json=body, headers={"If-Match": etag}, expect=200).json()


def planned(
    api: Api, world: World, move: Mover, technician_id: int, start: str, end: str, **order: Any
) -> int:
    """A new order triaged for ``order['work_type_id']`` and scheduled for the technician."""
    work_type_id = order.pop("work_type_id", world.work_type_id)
    oid = new_order(api, world, **order)["id"]
    move(
        oid,
        world.dispatcher,
        "triaged",
        priority=3,
        division_id=world.division_id,
        work_type_id=work_type_id,
    )
    move(
        oid,
        world.dispatcher,
        "scheduled",
        technician_id=technician_id,
        window_start=start,
        window_end=end,
    )
    return oid


def closed_on_asset(api: Api, world: World, move: Mover, asset_id: int) -> dict[str, Any]:
    """A pump service on the asset, done by Tess, documented and closed: the closed order."""
    oid = advance(api, world, move, new_order(api, world, asset_id=asset_id)["id"], "in_progress")
    document(api, world, oid)
    move(oid, world.tech_token, "completed")
    return move(oid, world.supervisor, "closed").json()


def day_of(api: Api, token: str, day: date | None = None, expect: int = 200) -> dict[str, Any]:
    query = "" if day is None else f"?date={day.isoformat()}"
    return api.call("GET", f"/api/v1/me/day{query}", token, expect=expect).json()


def fact(model: type[models.Base], **values: Any) -> models.Base:
    """A fact as the device ops engine records it (the field's rows are its to write)."""
    return model(actor="tess", role="technician", **values)


def _reference(api: Api, world: World) -> dict[str, int]:
    """The valve service, the parts catalogue, Tess's van, a contact, a valve on the site."""
    for part in PARTS:
        api.call("POST", "/api/v1/parts", world.admin, json=part, expect=201)
    valve_type = api.call("POST", "/api/v1/work-types", world.admin, json=VALVE_SERVICE, expect=201)
    patched(api, world.admin, f"/api/v1/technicians/{world.technician_id}", {"van_stock": VAN})
    patched(
        api, world.dispatcher, f"/api/v1/sites/{world.site_id}", {"access_notes": "Key at gate"}
    )
    asset = {"serial": "V-100", "site_id": world.site_id, "name": "Valve 100", "model": "VX-2"}
    valve = api.call("POST", "/api/v1/assets", world.dispatcher, json=asset, expect=201).json()
    with api.container.new_uow() as uow:
        contact = models.Contact(
            customer_id=world.customer_id,
            first_name="Carla",
            last_name="Jones",
            phone="+49 30 5550 1234",
            email="carla.jones@acme.example",
        )
        uow.session.add(contact)
        uow.commit()
        contact_id = contact.id
    return {"work_type": valve_type.json()["id"], "asset": valve["id"], "contact": contact_id}


@dataclass
class BusyDay:
    """Tess's day a week from now, and what is around it (ids)."""

    day: date
    ref: dict[str, int]
    history: list[dict[str, Any]]
    """Two pump services on the valve, closed: the oldest first."""
    under_way: int
    """In progress since June: carried over to every day."""
    first: int
    """08:00 to 10:00, the valve service on the valve with the contact, in progress."""
    called_off: int
    """12:00 to 13:00, cancelled; a part sent for it afterwards is a late fact."""
    late_evening: int
    """23:30 to 23:55."""
    after_midnight: int
    """00:30 to 01:30 the next day."""
    yesterday: int
    theos: int
    facts_at: datetime


def _history(api: Api, world: World, move: Mover, asset_id: int) -> list[dict[str, Any]]:
    """Two closed orders on the asset; the first used two gaskets (sent one at a time) and a
    seal kit."""
    history = [closed_on_asset(api, world, move, asset_id) for _ in range(2)]
    with api.container.new_uow() as uow:
        for code in ("GASKET-40", "GASKET-40", "SEAL-KIT"):
            uow.session.add(
                fact(
                    models.PartUse,
                    work_order_id=history[0]["id"],
                    part_code=code,
                    quantity=1,
                    from_van=True,
                    technician_id=world.technician_id,
                    at=datetime.now(UTC),
                )
            )
        uow.commit()
    return history


def _busy_day(api: Api, world: World, move: Mover) -> BusyDay:
    ref = _reference(api, world)
    day, tess = in_a_week(), world.technician_id
    next_day, day_before = day + timedelta(days=1), day - timedelta(days=1)
    history = _history(api, world, move, ref["asset"])
    under_way = advance(api, world, move, new_order(api, world)["id"], "in_progress")
    valve = {
        "work_type_id": ref["work_type"],
        "asset_id": ref["asset"],
        "contact_id": ref["contact"],
    }
    first = planned(api, world, move, tess, at_site(day, 8), at_site(day, 10), **valve)
    move(first, world.dispatcher, "dispatched")
    move(first, world.tech_token, "in_progress", position={"lat": 52.52, "lon": 13.4})
    called_off = planned(api, world, move, tess, at_site(day, 12), at_site(day, 13))
    move(called_off, world.dispatcher, "cancelled", reason="Customer fixed it themselves")
    busy = BusyDay(
        day=day,
        ref=ref,
        history=history,
        under_way=under_way,
        first=first,
        called_off=called_off,
        late_evening=planned(api, world, move, tess, at_site(day, 23, 30), at_site(day, 23, 55)),
        after_midnight=planned(
            api, world, move, tess, at_site(next_day, 0, 30), at_site(next_day, 1, 30)
        ),
        yesterday=planned(api, world, move, tess, at_site(day_before, 9), at_site(day_before, 10)),
        theos=planned(
            api, world, move, world.other_technician_id, at_site(day, 9), at_site(day, 11)
        ),
        facts_at=datetime.now(UTC).replace(microsecond=0),
    )
    _record_facts(api, busy, tess)
    return busy


def _device_op(busy: BusyDay, tess: int, body: dict[str, Any], *, late: bool) -> models.DeviceOp:
    """An op the device sent about the cancelled order, as the ops engine keeps it."""
    return models.DeviceOp(
        op_id=body["op_id"],
        technician_id=tess,
        actor="tess",
        device_id="phone-1",
        work_order_id=busy.called_off,
        kind=body["kind"],
        at=busy.facts_at,
        body=body,
        status="applied",
        result={"status": "applied"},
        late=late,
    )


def _record_facts(api: Api, busy: BusyDay, tess: int) -> None:
    """What the device recorded on the first order; and for the cancelled one a note sent in
    time and a part sent after it was cancelled (a late fact)."""
    at = busy.facts_at
    envelope = {"at": at.isoformat(), "work_order_id": busy.called_off, "base_version": 4}
    in_time = {"op_id": "d2b8e8f3-9a5c-4c9f-8a3e-2f7c4b0d1e33", "kind": "note", "text": "On it"}
    too_late = {"op_id": "c1a7d7e2-8f4b-4b8e-9f2d-1e6b3a9c0d22", "kind": "part_used"}
    with api.container.new_uow() as uow:
        uow.session.add_all(
            [
                models.Attachment(
                    work_order_id=busy.first,
                    kind="photo",
                    sha256="ab" * 32,
                    content_type="image/jpeg",
                    size_bytes=2048,
                    client_id="5f0c8a52-3c56-4c47-9a5e-6f3d5f1b9e01",
                ),
                fact(
                    models.PartUse,
                    work_order_id=busy.first,
                    part_code="GASKET-40",
                    quantity=2,
                    from_van=True,
                    off_van=False,
                    technician_id=tess,
                    at=at,
                    op_id="0b7e2f7e-3d43-4e0f-8a0e-2f2a4f7f8a11",
                ),
                fact(
                    models.LabourLine,
                    work_order_id=busy.first,
                    activity="travel",
                    start=at - timedelta(minutes=40),
                    end=at - timedelta(minutes=10),
                    technician_id=tess,
                    at=at,
                ),
                fact(
                    models.Reading,
                    asset_id=busy.ref["asset"],
                    work_order_id=busy.first,
                    measure="pressure",
                    value=4.2,
                    unit="bar",
                    technician_id=tess,
                    at=at,
                ),
                models.Note(
                    work_order_id=busy.first,
                    kind="note",
                    text="Valve seized, freed it",
                    sha256=sha256_hex("Valve seized, freed it"),
                    author="tess",
                    author_role="technician",
                    at=at,
                ),
                _device_op(busy, tess, in_time | envelope, late=False),
                _device_op(
                    busy,
                    tess,
                    too_late | envelope | {"part_code": "SEAL-KIT", "quantity": 1},
                    late=True,
                ),
            ]
        )
        uow.commit()


def test_the_day_is_the_technicians_orders_on_their_local_day_and_their_work_under_way(
    api: Api, world: World, move: Mover
) -> None:
    busy = _busy_day(api, world, move)

    packet = day_of(api, world.tech_token, busy.day)

    assert packet["technician"] == {
        "id": world.technician_id,
        "name": "Tess",
        "time_zone": "Europe/Berlin",
    }
    assert packet["date"] == busy.day.isoformat()
    assert packet["sync_token"].startswith("c")
    ids = [o["id"] for o in packet["orders"]]  # by window start
    assert ids == [busy.under_way, busy.first, busy.called_off, busy.late_evening]
    statuses = [o["status"] for o in packet["orders"]]
    assert statuses == ["in_progress", "in_progress", "cancelled", "scheduled"]
    next_day = day_of(api, world.tech_token, busy.day + timedelta(days=1))
    assert [o["id"] for o in next_day["orders"]] == [
        busy.under_way,
        busy.first,
        busy.after_midnight,
    ]
    theo = day_of(api, world.other_tech_token, busy.day)
    assert [o["id"] for o in theo["orders"]] == [busy.theos]
    before = day_of(api, world.tech_token, busy.day - timedelta(days=1))
    assert [o["id"] for o in before["orders"]] == [busy.under_way, busy.yesterday, busy.first]


def test_each_order_carries_the_records_it_names(api: Api, world: World, move: Mover) -> None:
    busy = _busy_day(api, world, move)

    orders = {o["id"]: o for o in day_of(api, world.tech_token, busy.day)["orders"]}

    one = orders[busy.first]
    read = api.call("GET", f"/api/v1/work-orders/{busy.first}", world.tech_token).json()
    assert {k: one[k] for k in read} == read  # the order as the API shows it, and more
    assert one["window_local"] == {
        "start": shown(busy.day, 8),
        "end": shown(busy.day, 10),
        "time_zone": "Europe/Berlin",
    }
    assert one["site"] == {
        "id": world.site_id,
        "name": "Pump house",
        "address": "1 Quay St, Berlin",
        "latitude": 52.52,
        "longitude": 13.40,
        "time_zone": "Europe/Berlin",
        "access_notes": "Key at gate",
    }
    assert one["customer"] == {
        "id": world.customer_id,
        "name": "Acme Water Ltd",
        "phone": "+44 20 7946 0000",
    }
    assert one["contact"] == {
        "id": busy.ref["contact"],
        "first_name": "Carla",
        "last_name": "Jones",
        "phone": "+49 30 5550 1234",
        "email": "carla.jones@acme.example",
    }
    oldest, newest = busy.history
    assert one["asset"] == {
        "id": busy.ref["asset"],
        "serial": "V-100",
        "model": "VX-2",
        "name": "Valve 100",
        "history": [
            {
                "tracking_code": newest["tracking_code"],
                "closed_at": newest["closed_at"],
                "summary": "Pump 3 vibrates",
                "first_time_fix": True,
                "parts_used": [],
            },
            {
                "tracking_code": oldest["tracking_code"],
                "closed_at": oldest["closed_at"],
                "summary": "Pump 3 vibrates",
                "first_time_fix": True,
                "parts_used": [
                    {"part_code": "GASKET-40", "quantity": 2.0},
                    {"part_code": "SEAL-KIT", "quantity": 1.0},
                ],
            },
        ],
    }
    assert one["work_type"] == {
        "id": busy.ref["work_type"],
        "code": "VALVE-SVC",
        "name": "Valve service",
        "checklist": [
            {"code": "isolate", "label": "Isolate the line", "required": True},
            {"code": "flush", "label": "Flush the valve", "required": False},
        ],
        "min_photos": 1,
        "signature_required": False,
        "resolution_codes": ["fixed", "temporary"],
        "parts": {"GASKET-40": 2, "SEAL-KIT": 1},
    }
    evening = orders[busy.late_evening]  # no asset, no contact: none shown
    assert (evening["asset"], evening["contact"]) == (None, None)
    assert evening["work_type"]["code"] == "PUMP-SVC"


def test_each_order_carries_the_facts_recorded_on_it(api: Api, world: World, move: Mover) -> None:
    busy = _busy_day(api, world, move)

    orders = {o["id"]: o for o in day_of(api, world.tech_token, busy.day)["orders"]}

    one = orders[busy.first]
    assert [(n["kind"], n["text"]) for n in one["notes"]] == [("note", "Valve seized, freed it")]
    (photo,) = one["attachments"]
    assert photo["attachment_id"] == "5f0c8a52-3c56-4c47-9a5e-6f3d5f1b9e01"
    assert (photo["kind"], photo["sha256"], photo["size_bytes"]) == ("photo", "ab" * 32, 2048)
    (used,) = one["parts_used"]
    assert (used["part_code"], used["quantity"], used["from_van"], used["off_van"]) == (
        "GASKET-40",
        2.0,
        True,
        False,
    )
    assert used["op_id"] == "0b7e2f7e-3d43-4e0f-8a0e-2f2a4f7f8a11"
    assert instant(used["at"]) == busy.facts_at
    (travel,) = one["labour"]
    assert travel["activity"] == "travel"
    assert instant(travel["end"]) - instant(travel["start"]) == timedelta(minutes=30)
    (pressure,) = one["readings"]
    assert (pressure["asset_id"], pressure["measure"], pressure["value"], pressure["unit"]) == (
        busy.ref["asset"],
        "pressure",
        4.2,
        "bar",
    )
    assert one["late_facts"] == []

    cancelled = orders[busy.called_off]
    assert [(n["kind"], n["state"]) for n in cancelled["notes"]] == [("reason", "cancelled")]
    assert cancelled["late_facts"] == [
        {
            "op_id": "c1a7d7e2-8f4b-4b8e-9f2d-1e6b3a9c0d22",
            "kind": "part_used",
            "at": cancelled["late_facts"][0]["at"],
            "payload": {"part_code": "SEAL-KIT", "quantity": 1},
        }
    ]
    assert instant(cancelled["late_facts"][0]["at"]) == busy.facts_at
    assert cancelled["parts_used"] == [] and cancelled["attachments"] == []


def test_the_van_and_the_parts_the_day_may_use_come_along(
    api: Api, world: World, move: Mover
) -> None:
    busy = _busy_day(api, world, move)

    packet = day_of(api, world.tech_token, busy.day)

    assert packet["van_stock"] == VAN
    parts = {p["code"]: p for p in packet["parts"]}
    assert sorted(parts) == ["CABLE-3", "GASKET-40", "SEAL-KIT"]  # on the van, or taken today
    catalogue = api.call("GET", "/api/v1/parts", world.tech_token, expect=200).json()["items"]
    by_code = sorted((p for p in catalogue if p["code"] in parts), key=lambda p: p["code"])
    assert packet["parts"] == by_code  # as the catalogue shows them, by code
    # Theo's van is empty and his day's work type takes no parts.
    theo = day_of(api, world.other_tech_token, busy.day)
    assert (theo["van_stock"], theo["parts"]) == ({}, [])


def test_a_window_late_in_the_evening_belongs_to_that_local_day(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    tess = world.technician_id
    evening = planned(api, world, move, tess, at_site(day, 23, 30), at_site(day, 23, 50))
    # 00:15 in Berlin is still the day before in UTC: it belongs to the next day here.
    night = planned(
        api,
        world,
        move,
        tess,
        at_site(day + timedelta(days=1), 0, 15),
        at_site(day + timedelta(days=1), 0, 45),
    )
    assert [o["id"] for o in day_of(api, world.tech_token, day)["orders"]] == [evening]
    following = day_of(api, world.tech_token, day + timedelta(days=1))["orders"]
    assert [o["id"] for o in following] == [night]


def test_without_a_date_the_day_is_today_where_the_technician_is(
    api: Api, world: World, move: Mover
) -> None:
    today = datetime.now(BERLIN).date()
    now = planned(
        api, world, move, world.technician_id, at_site(today, 0, 5), at_site(today, 23, 55)
    )
    packet = day_of(api, world.tech_token)
    assert packet["date"] == today.isoformat()
    assert [o["id"] for o in packet["orders"]] == [now]


def test_a_technician_without_a_time_zone_yet_has_a_day_in_utc(api: Api) -> None:
    """Made by a sync from the HR system, before the office set their zone."""
    with api.container.new_uow() as uow:
        tech = models.Technician(name="Noor New", skills=[], weekly_hours={}, van_stock={})
        uow.session.add(tech)
        uow.commit()
        ident = tech.id
    packet = day_of(api, api.token("technician", "noor", technician_id=ident))
    assert packet["technician"] == {"id": ident, "name": "Noor New", "time_zone": "UTC"}
    assert packet["date"] == datetime.now(UTC).date().isoformat()
    assert packet["orders"] == []


def test_only_a_technician_has_a_day_and_asks_for_a_real_one(api: Api, world: World) -> None:
    for office in (world.dispatcher, world.supervisor, world.admin):
        problem = api.call("GET", "/api/v1/me/day", office, expect=403)
        assert problem.headers["content-type"] == "application/problem+json"
    api.call("GET", "/api/v1/me/day", None, expect=401)
    for wrong in ("2027-02-30", "tomorrow", "0001-01-01", "9999-12-31"):
        problem = api.call("GET", f"/api/v1/me/day?date={wrong}", world.tech_token, expect=422)
        assert [e["field"] for e in problem.json()["errors"]] == ["date"], wrong


def _closed_orders(api: Api, asset_id: int, count: int) -> list[str]:
    """``count`` orders on the asset closed a day apart, as another system left them: their
    tracking codes, newest first."""
    now = datetime.now(UTC)
    codes = []
    with api.container.new_uow() as uow:
        for ago in range(count, 0, -1):
            code = f"FB-HIST{ago:02d}-0000"
            uow.session.add(
                models.WorkOrder(
                    tracking_code=code,
                    status="closed",
                    summary=f"Service {ago} days ago",
                    asset_id=asset_id,
                    visits=1 + ago % 2,
                    closed_at=now - timedelta(days=ago),
                )
            )
            codes.append(code)
        uow.commit()
    return codes[::-1]


def test_an_assets_history_is_its_last_ten_closed_orders(
    api: Api, world: World, move: Mover
) -> None:
    asset = {"serial": "P-9", "site_id": world.site_id}
    asset_id = api.call("POST", "/api/v1/assets", world.dispatcher, json=asset, expect=201).json()
    newest_first = _closed_orders(api, asset_id["id"], 12)
    day = in_a_week()
    planned(
        api,
        world,
        move,
        world.technician_id,
        at_site(day, 9),
        at_site(day, 10),
        asset_id=asset_id["id"],
    )
    (order,) = day_of(api, world.tech_token, day)["orders"]
    history = order["asset"]["history"]
    assert [h["tracking_code"] for h in history] == newest_first[:10]
    assert [h["first_time_fix"] for h in history[:2]] == [False, True]  # 2 visits, then 1


def test_a_day_of_many_orders_takes_as_many_statements_as_a_day_of_one(
    api: Api, world: World, move: Mover
) -> None:
    ids = _reference(api, world)
    _closed_orders(api, ids["asset"], 2)
    day = in_a_week()
    tess = world.technician_id
    valve = {
        "work_type_id": ids["work_type"],
        "asset_id": ids["asset"],
        "contact_id": ids["contact"],
    }

    def counted() -> tuple[int, int]:
        with statements(api.container) as seen:
            orders = day_of(api, world.tech_token, day)["orders"]
        return len(orders), len(seen)

    planned(api, world, move, tess, at_site(day, 8), at_site(day, 9), **valve)
    one, for_one = counted()
    for hour in (10, 12, 14, 16):
        planned(api, world, move, tess, at_site(day, hour), at_site(day, hour + 1), **valve)
    many, for_many = counted()

    assert (one, many) == (1, 5)
    assert for_many == for_one
