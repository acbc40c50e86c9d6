"""What a technician's device may read: the site, asset, customer and contact an order
assigned to them names, the work types, the parts catalogue and their own record (van stock);
nothing else (404, or 403 for the lists). An asset's meter readings, newest first. The
requester's contact details on an order, for the office only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order

PART = {"code": "FD-16", "name": "Filter drier 16 mm", "unit": "EA", "sap_product_id": "M-1016"}
T0 = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)


@dataclass
class Day:
    """An order scheduled for Tess and what it names, and a site none of her orders names."""

    order_id: int
    site_id: int
    asset_id: int
    contact_id: int
    other_site_id: int
    other_asset_id: int


def _site(api: Api, world: World, name: str, notes: str | None) -> int:
    body = {
        "customer_id": world.customer_id,
        "name": name,
        "address": f"{name}, Hafenweg 3, Berlin",
        "latitude": 52.51,
        "longitude": 13.41,
        "time_zone": "Europe/Berlin",
        "access_notes": notes,
    }
    return api.call("POST", "/api/v1/sites", world.dispatcher, json=body, expect=201).json()["id"]


def _asset(api: Api, world: World, site_id: int, serial: str) -> int:
    body = {"site_id": site_id, "serial": serial, "model": "KSB Etanorm", "name": "Pump 3"}
    return api.call("POST", "/api/v1/assets", world.dispatcher, json=body, expect=201).json()["id"]


def _contact(container: Container, world: World) -> int:
    """A contact as the CRM sync stores it (contacts come from no other way)."""
    with container.new_uow() as uow:
        contact = models.Contact(
            customer_id=world.customer_id,
            first_name="Karl",
            last_name="Brandt",
            phone="+49 30 555 0101",
            source_system="salesforce",
            external_id="003XX0000001",
        )
        uow.session.add(contact)
        uow.commit()
        return contact.id


def _day(api: Api, world: World, move: Mover, container: Container) -> Day:
    site = _site(api, world, "Lift station 7", "Gate code 4711; dog on site")
    asset = _asset(api, world, site, "SN-7001")
    contact = _contact(container, world)
    other_site = _site(api, world, "Reservoir", "Key at the lodge")
    other_asset = _asset(api, world, other_site, "SN-9001")
    order = new_order(api, world, site_id=site, asset_id=asset, contact_id=contact)
    advance(api, world, move, order["id"], "scheduled")
    return Day(order["id"], site, asset, contact, other_site, other_asset)


def _get(api: Api, token: str, path: str, expect: int | None = 200) -> Any:
    return api.call("GET", path, token, expect=expect).json()


def test_a_technician_reads_what_the_order_assigned_to_them_names(
    api: Api, world: World, move: Mover, container: Container
) -> None:
    day = _day(api, world, move, container)
    tess = world.tech_token
    site = _get(api, tess, f"/api/v1/sites/{day.site_id}")
    assert site["address"] == "Lift station 7, Hafenweg 3, Berlin"
    assert site["access_notes"] == "Gate code 4711; dog on site"
    asset = _get(api, tess, f"/api/v1/assets/{day.asset_id}")
    assert (asset["serial"], asset["site_id"]) == ("SN-7001", day.site_id)
    customer = _get(api, tess, f"/api/v1/customers/{world.customer_id}")
    assert (customer["name"], customer["phone"]) == ("Acme Water Ltd", "+44 20 7946 0000")
    contact = _get(api, tess, f"/api/v1/contacts/{day.contact_id}")
    assert (contact["last_name"], contact["phone"]) == ("Brandt", "+49 30 555 0101")
    work_type = _get(api, tess, f"/api/v1/work-types/{world.work_type_id}")
    labels = [item["label"] for item in work_type["checklist"]]
    assert labels == ["Isolate power", "Inspect impeller", "Extra notes"]
    listed = _get(api, tess, "/api/v1/work-types")["items"]
    assert [w["code"] for w in listed] == ["PUMP-SVC"]


def test_a_technician_reads_their_own_record_with_the_vans_stock(api: Api, world: World) -> None:
    path = f"/api/v1/technicians/{world.technician_id}"
    api.call(
        "PATCH",
        path,
        world.admin,
        json={"van_stock": {"FD-16": 3, "CU-PIPE-15": 12.5}},
        headers={"If-Match": '"1"'},
        expect=200,
    )
    mine = api.call("GET", path, world.tech_token, expect=200)
    assert mine.json()["name"] == "Tess"
    assert mine.json()["van_stock"] == {"FD-16": 3, "CU-PIPE-15": 12.5}
    assert mine.headers["etag"] == '"2"'
    theirs = api.call("GET", f"/api/v1/technicians/{world.other_technician_id}", world.tech_token)
    assert theirs.status_code == 404
    assert api.call("GET", "/api/v1/technicians", world.tech_token).status_code == 403


def test_what_no_order_of_theirs_names_does_not_exist_for_a_technician(
    api: Api, world: World, move: Mover, container: Container
) -> None:
    day = _day(api, world, move, container)
    tess, theo = world.tech_token, world.other_tech_token
    named = {
        "sites": day.site_id,
        "assets": day.asset_id,
        "customers": world.customer_id,
        "contacts": day.contact_id,
    }
    for collection, ident in named.items():
        path = f"/api/v1/{collection}/{ident}"
        assert api.call("GET", path, theo).status_code == 404, path  # not Theo's order
        assert api.call("GET", path, world.dispatcher).status_code == 200, path
        assert api.call("GET", f"/api/v1/{collection}", tess).status_code == 403, collection
    for path in (f"/api/v1/sites/{day.other_site_id}", f"/api/v1/assets/{day.other_asset_id}",
                 "/api/v1/sites/99999"):  # fmt: skip
        refused = api.call("GET", path, tess)
        assert refused.status_code == 404, path
        assert refused.headers["content-type"].startswith("application/problem+json")
    requester = api.token("requester", "rita")
    assert api.call("GET", f"/api/v1/sites/{day.site_id}", requester).status_code == 403


def test_only_what_the_order_names_now(
    api: Api, world: World, move: Mover, container: Container
) -> None:
    """The office swaps the asset on the order: the old one is no longer Tess's to read."""
    day = _day(api, world, move, container)
    path = f"/api/v1/work-orders/{day.order_id}"
    etag = api.call("GET", path, world.dispatcher).headers["etag"]
    api.call(
        "PATCH",
        path,
        world.dispatcher,
        json={"asset_id": day.other_asset_id},
        headers={"If-Match": etag},
        expect=200,
    )
    assert api.call("GET", f"/api/v1/assets/{day.asset_id}", world.tech_token).status_code == 404
    now = _get(api, world.tech_token, f"/api/v1/assets/{day.other_asset_id}")
    assert now["serial"] == "SN-9001"


def test_only_an_admin_writes_the_parts_catalogue_and_technicians_read_it(
    api: Api, world: World
) -> None:
    for token in (world.dispatcher, world.supervisor, world.tech_token):
        refused = api.call("POST", "/api/v1/parts", token, json=PART)
        assert refused.status_code == 403
    made = api.call("POST", "/api/v1/parts", world.admin, json=PART, expect=201)
    part = made.json()
    assert made.headers["location"] == f"/api/v1/parts/{part['id']}"
    path = f"/api/v1/parts/{part['id']}"
    rename = {"name": "Filter drier"}
    refused = api.call("PATCH", path, world.dispatcher, json=rename, headers={"If-Match": '"1"'})
    assert refused.status_code == 403
    assert api.call("GET", path, world.tech_token, expect=200).json() == part
    listed = _get(api, world.tech_token, "/api/v1/parts")["items"]
    assert [(p["code"], p["unit"], p["sap_product_id"]) for p in listed] == [
        ("FD-16", "EA", "M-1016")
    ]
    for token in (world.dispatcher, world.supervisor, api.token("integration", "bot")):
        assert _get(api, token, path)["code"] == "FD-16"
    assert api.call("GET", "/api/v1/parts", api.token("requester", "rita")).status_code == 403
    renamed = api.call(
        "PATCH", path, world.admin, json=rename, headers={"If-Match": '"1"'}, expect=200
    ).json()
    assert (renamed["name"], renamed["version"]) == ("Filter drier", 2)


def _readings(container: Container, world: World, day: Day, *rows: tuple[str, float, int]) -> None:
    """Readings as the field's ops store them: (measure, value, minutes after T0), in the
    order given (which is not the order they were taken in)."""
    with container.new_uow() as uow:
        for measure, value, minutes in rows:
            uow.session.add(
                models.Reading(
                    asset_id=day.asset_id,
                    work_order_id=day.order_id,
                    technician_id=world.technician_id,
                    actor="tess",
                    role="technician",
                    measure=measure,
                    value=value,
                    unit="bar" if measure == "pressure" else "h",
                    at=T0 + timedelta(minutes=minutes),
                )
            )
        uow.commit()


def test_an_assets_readings_newest_first_a_page_at_a_time(
    api: Api, world: World, move: Mover, container: Container
) -> None:
    day = _day(api, world, move, container)
    _readings(
        container,
        world,
        day,
        ("pressure", 2.1, 0),
        ("hours", 1200, 30),
        ("pressure", 2.4, 60),
        ("pressure", 2.2, 30),  # taken at the same time as the hours: the later id first
        ("hours", 1180, -600),
    )
    path = f"/api/v1/assets/{day.asset_id}/readings"
    whole = _get(api, world.dispatcher, path)
    assert whole["next_cursor"] is None
    shown = [(r["measure"], r["value"]) for r in whole["items"]]
    assert shown == [
        ("pressure", 2.4),
        ("pressure", 2.2),
        ("hours", 1200),
        ("pressure", 2.1),
        ("hours", 1180),
    ]
    first = whole["items"][0]
    assert first["unit"] == "bar" and first["at"].startswith("2026-06-10T08:00:00")
    assert (first["work_order_id"], first["technician_id"]) == (day.order_id, world.technician_id)
    assert set(first) == {"id", "measure", "value", "unit", "at", "work_order_id",
                          "technician_id", "recorded_at"}  # fmt: skip
    pages, cursor = [], None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = _get(api, world.supervisor, path + query)
        pages.append([r["id"] for r in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == [r["id"] for r in whole["items"]]
    assert [len(p) for p in pages] == [2, 2, 1]
    pressure = _get(api, world.tech_token, path + "?measure=pressure")["items"]
    assert [r["value"] for r in pressure] == [2.4, 2.2, 2.1]
    one = _get(api, world.admin, path + "?measure=pressure&limit=1")
    rest = _get(api, world.admin, f"{path}?measure=pressure&cursor={one['next_cursor']}")
    assert [r["value"] for r in rest["items"]] == [2.2, 2.1]
    assert _get(api, world.admin, path + "?measure=flow")["items"] == []


def test_readings_are_refused_as_the_asset_is(
    api: Api, world: World, move: Mover, container: Container
) -> None:
    day = _day(api, world, move, container)
    _readings(container, world, day, ("pressure", 2.0, 0), ("pressure", 2.3, 5))
    path = f"/api/v1/assets/{day.asset_id}/readings"
    assert api.call("GET", path, world.other_tech_token).status_code == 404
    assert api.call("GET", path, api.token("requester", "rita")).status_code == 403
    assert api.call("GET", path, api.token("integration", "bot")).status_code == 200
    assert api.call("GET", "/api/v1/assets/99999/readings", world.dispatcher).status_code == 404
    empty = _get(api, world.dispatcher, f"/api/v1/assets/{day.other_asset_id}/readings")
    assert empty == {"items": [], "next_cursor": None}
    # A cursor from this asset's readings means nothing for another asset's.
    cursor = _get(api, world.dispatcher, path + "?limit=1")["next_cursor"]
    elsewhere = f"/api/v1/assets/{day.other_asset_id}/readings?cursor={cursor}"
    refused = api.call("GET", elsewhere, world.dispatcher, expect=422).json()
    assert [e["field"] for e in refused["errors"]] == ["cursor"]
    bad = api.call("GET", path + "?cursor=nonsense", world.dispatcher, expect=422).json()
    assert [e["field"] for e in bad["errors"]] == ["cursor"]


CONTACT = {"name": "Zoe Citizen", "phone": "+49 30 1234567", "email": "zoe@example.org"}


def test_the_office_sees_who_to_call_back_and_no_one_else_does(
    api: Api, world: World, move: Mover
) -> None:
    body = {
        "description": "Pump house door forced open",
        "contact": CONTACT,
        "address": "Quay St 1, by the gate",
        "site_id": world.site_id,
        "customer_id": world.customer_id,
    }
    requested = api.call("POST", "/api/v1/service-requests", world.dispatcher, json=body,
                         expect=201).json()  # fmt: skip
    oid = requested["work_order_id"]
    path = f"/api/v1/work-orders/{oid}"
    for token in (world.dispatcher, world.supervisor, world.admin):
        assert _get(api, token, path)["requester_contact"] == {
            **CONTACT,
            "address": "Quay St 1, by the gate",
        }
    advance(api, world, move, oid, "scheduled")
    assert _get(api, world.tech_token, path)["requester_contact"] is None
    assert _get(api, api.token("integration", "bot"), path)["requester_contact"] is None
    listed = _get(api, world.dispatcher, "/api/v1/work-orders")["items"]
    assert [o["requester_contact"] for o in listed if o["id"] == oid] == [None]


def test_a_requester_does_not_get_their_own_details_back_and_a_plain_order_has_none(
    api: Api, world: World
) -> None:
    rita = api.token("requester", "rita")
    body = {"description": "Street light out on Elm St", "contact": {"phone": "+49 30 999"}}
    api.call("POST", "/api/v1/service-requests", rita, json=body, expect=201)
    [mine] = _get(api, rita, "/api/v1/work-orders")["items"]
    assert _get(api, rita, f"/api/v1/work-orders/{mine['id']}")["requester_contact"] is None
    shown = _get(api, world.dispatcher, f"/api/v1/work-orders/{mine['id']}")["requester_contact"]
    assert shown == {"name": None, "phone": "+49 30 999", "email": None, "address": None}
    plain = new_order(api, world)
    assert (
        _get(api, world.dispatcher, f"/api/v1/work-orders/{plain['id']}")["requester_contact"]
        is None
    )
