"""Reference data over HTTP: create, read, update, list; keys, references, validation by field."""

from __future__ import annotations

from tests.support.http import Api, World


def test_create_read_update_list_a_site(api: Api, world: World) -> None:
    body = {
        "customer_id": world.customer_id,
        "name": "Reservoir gate",
        "address": "Dam Rd 1",
        "latitude": 40.7,
        "longitude": -74.0,
        "time_zone": "America/New_York",
        "access_notes": "Key at the lodge",
        "source_system": "salesforce",
        "external_id": "001XX0001",
    }
    created = api.call("POST", "/api/v1/sites", world.dispatcher, json=body, expect=201)
    site = created.json()
    assert created.headers["location"] == f"/api/v1/sites/{site['id']}"
    assert {k: site[k] for k in body} == body and site["version"] == 1
    read = api.call("GET", f"/api/v1/sites/{site['id']}", world.supervisor, expect=200)
    assert read.json() == site and read.headers["etag"] == '"1"'
    patched = api.call(
        "PATCH",
        f"/api/v1/sites/{site['id']}",
        world.admin,
        json={"access_notes": "Code 1234"},
        headers={"If-Match": read.headers["etag"]},
        expect=200,
    ).json()
    assert patched["access_notes"] == "Code 1234" and patched["version"] == 2
    assert patched["name"] == "Reservoir gate"
    found = api.call(
        "GET", "/api/v1/sites?source_system=salesforce&external_id=001XX0001", world.dispatcher
    ).json()["items"]
    assert [s["id"] for s in found] == [site["id"]]


def test_source_system_and_external_id_are_unique_together(api: Api, world: World) -> None:
    body = {"name": "Globex", "source_system": "sap", "external_id": "C-100"}
    api.call("POST", "/api/v1/customers", world.dispatcher, json=body, expect=201)
    again = api.call("POST", "/api/v1/customers", world.dispatcher, json=body)
    assert again.status_code == 409
    assert again.json()["fields"] == ["source_system", "external_id"]
    other_system = {**body, "source_system": "salesforce"}
    api.call("POST", "/api/v1/customers", world.dispatcher, json=other_system, expect=201)
    half = api.call(
        "POST", "/api/v1/customers", world.dispatcher, json={"name": "X", "external_id": "1"}
    )
    assert half.status_code == 422


def test_codes_are_unique(api: Api, world: World) -> None:
    response = api.call(
        "POST", "/api/v1/divisions", world.admin, json={"code": "N", "name": "Again"}
    )
    assert response.status_code == 409 and response.json()["fields"] == ["code"]


def test_references_must_point_at_rows(api: Api, world: World) -> None:
    response = api.call(
        "POST", "/api/v1/assets", world.dispatcher, json={"site_id": 4242, "serial": "SN-1"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "site_id", "reason": "no site with id 4242"}]


def test_equipment_can_wait_unplaced_until_a_dispatcher_places_it(api: Api, world: World) -> None:
    body = {"serial": "23L63924", "model": "HP-ME-PUZWM112", "source_system": "sap",
            "external_id": "EQ-4100021"}  # fmt: skip
    unplaced = api.call("POST", "/api/v1/assets", world.dispatcher, json=body, expect=201).json()
    assert unplaced["site_id"] is None
    placed = api.call(
        "PATCH",
        f"/api/v1/assets/{unplaced['id']}",
        world.dispatcher,
        json={"site_id": world.site_id},
        headers={"If-Match": '"1"'},
        expect=200,
    ).json()
    assert placed["site_id"] == world.site_id and placed["version"] == 2


def test_every_reference_that_points_at_nothing_is_named_and_nothing_is_created(
    api: Api, world: World
) -> None:
    before = api.call("GET", "/api/v1/work-orders", world.admin).json()["items"]
    body = {
        "summary": "Pump 3 vibrates",
        "customer_id": world.customer_id,
        "site_id": 4242,
        "division_id": world.division_id,
        "work_type_id": 777,
    }
    response = api.call("POST", "/api/v1/work-orders", world.dispatcher, json=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "site_id", "reason": "no site with id 4242"},
        {"field": "work_type_id", "reason": "no work type with id 777"},
    ]
    assert api.call("GET", "/api/v1/work-orders", world.admin).json()["items"] == before


def test_bad_fields_are_named(api: Api, world: World) -> None:
    response = api.call(
        "POST",
        "/api/v1/technicians",
        world.admin,
        json={
            "name": "Ned",
            "home_latitude": 123,
            "home_longitude": 13,
            "time_zone": "Europe/Berlin",
            "weekly_hours": {"mon": [{"start": "17:00", "end": "08:00"}], "funday": []},
            "certifications": [
                {"code": "X", "issued_on": "2026-01-02", "expires_on": "2025-01-01"}
            ],
            "van_stock": {"valve": -1},
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"home_latitude", "weekly_hours.mon.0", "weekly_hours.funday.[key]"} <= fields
    assert "certifications.0" in fields
    assert "van_stock.valve" in fields


def test_technician_certifications_round_trip(api: Api, world: World) -> None:
    tech = api.call("GET", f"/api/v1/technicians/{world.technician_id}", world.dispatcher).json()
    cert = tech["certifications"][0]
    assert cert["code"] == "ELEC-1" and cert["expires_on"] == "2030-01-01" and cert["id"] > 0
    updated = api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.admin,
        json={
            "certifications": [
                {
                    "code": "ELEC-1",
                    "issuer": "TUV",
                    "issued_on": "2025-01-01",
                    "expires_on": "2031-01-01",
                },
                {"code": "GAS-2", "expires_on": "2027-05-31"},
            ],
            "van_stock": {"impeller-7": 2, "gasket": 10},
        },
        headers={"If-Match": f'"{tech["version"]}"'},
        expect=200,
    ).json()
    assert [c["code"] for c in updated["certifications"]] == ["ELEC-1", "GAS-2"]
    assert updated["van_stock"] == {"impeller-7": 2, "gasket": 10}
    stale = api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.admin,
        json={"name": "Lost"},
        headers={"If-Match": f'"{tech["version"]}"'},
    )
    assert stale.status_code == 412


def test_lists_page_with_an_opaque_cursor(api: Api, world: World) -> None:
    for index in range(5):
        api.call(
            "POST", "/api/v1/customers", world.dispatcher, json={"name": f"C{index}"}, expect=201
        )
    seen: list[int] = []
    cursor = None
    while True:
        url = "/api/v1/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", url, world.dispatcher, expect=200).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and seen == sorted(set(seen))
    bad = api.call("GET", "/api/v1/customers?cursor=garbage!", world.dispatcher)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_work_orders_filter_and_page(api: Api, world: World) -> None:
    other_customer = api.call(
        "POST", "/api/v1/customers", world.dispatcher, json={"name": "B"}
    ).json()
    ids = []
    for index in range(7):
        body = {
            "summary": f"job {index}",
            "customer_id": world.customer_id if index % 2 == 0 else other_customer["id"],
            "site_id": world.site_id,
            "priority": 1 + index % 3,
        }
        ids.append(
            api.call("POST", "/api/v1/work-orders", world.dispatcher, json=body).json()["id"]
        )
    by_customer = api.call(
        "GET", f"/api/v1/work-orders?customer={world.customer_id}", world.dispatcher
    ).json()["items"]
    assert [o["id"] for o in by_customer] == ids[0::2]
    by_priority = api.call("GET", "/api/v1/work-orders?priority=1", world.dispatcher).json()[
        "items"
    ]
    assert [o["id"] for o in by_priority] == ids[0::3]
    by_territory = api.call(
        "GET", f"/api/v1/work-orders?territory={world.territory_id}&limit=3", world.dispatcher
    ).json()
    assert len(by_territory["items"]) == 3 and by_territory["next_cursor"]
    rest = api.call(
        "GET",
        f"/api/v1/work-orders?territory={world.territory_id}&limit=10&cursor={by_territory['next_cursor']}",
        world.dispatcher,
    ).json()
    assert [o["id"] for o in by_territory["items"] + rest["items"]] == ids
    assert api.call("GET", "/api/v1/work-orders?status=bogus", world.dispatcher).status_code == 422
    none = api.call("GET", "/api/v1/work-orders?status=closed&status=cancelled", world.dispatcher)
    assert none.json()["items"] == []


def test_patching_a_closed_order_is_refused(api: Api, world: World) -> None:
    order = api.call("POST", "/api/v1/work-orders", world.dispatcher, json={"summary": "x"}).json()
    api.call(
        "POST",
        f"/api/v1/work-orders/{order['id']}/transitions",
        world.dispatcher,
        json={"to": "cancelled", "reason": "dup"},
        headers={"If-Match": '"1"'},
        expect=200,
    )
    response = api.call(
        "PATCH",
        f"/api/v1/work-orders/{order['id']}",
        world.dispatcher,
        json={"summary": "y"},
        headers={"If-Match": '"2"'},
    )
    assert response.status_code == 409 and response.json()["current"] == "cancelled"
