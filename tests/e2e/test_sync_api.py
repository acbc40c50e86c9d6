"""The sync over HTTP: a sync against the Salesforce simulator, then what the API shows of it.

Each stream's status (cursor and the latest run's counts), the quarantine (filters, pages,
the raw payload), who may read them, and tombstones: a row deleted at its source is left out
of lists unless asked for, still read by id, and refused a PATCH.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from mappings.salesforce import SalesforceMapping
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import StreamResult, reconcile, run_stream, salesforce_streams
from sandbox.salesforce import SalesforceSimulator
from tests.support.http import Api, Mover, World
from tests.support.simulators import salesforce_connector

MAPPING = SalesforceMapping()
STREAMS = salesforce_streams(MAPPING)
KEYS = {
    "system",
    "entity",
    "cursor",
    "cursor_id",
    "last_run_at",
    "read",
    "written",
    "quarantined",
    "api_calls",
}
ITEM_KEYS = {
    "id",
    "system",
    "entity",
    "external_id",
    "field",
    "reason",
    "attempts",
    "first_seen_at",
    "last_seen_at",
    "remote_stamp",
    "payload",
}


@pytest.fixture
def sim() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(
        seed=5, customers=50, contacts=40, assets=40, work_orders=40, malformed=0.08
    ) as simulator:
        yield simulator


def sync_all(container: Container, sim: SalesforceSimulator) -> dict[str, StreamResult]:
    with salesforce_connector(sim, max_attempts=12) as sf:
        return {
            name: run_stream(container.new_uow, sf, stream, MAPPING)
            for name, stream in STREAMS.items()
        }


def open_quarantine(container: Container) -> int:
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        return len(
            list(uow.connection().execute(select(table.c.id).where(table.c.resolved_at.is_(None))))
        )


def stored(container: Container, model: type[models.Base]) -> list[Any]:
    table = models.table_of(model)
    with container.new_uow() as uow:
        return list(uow.connection().execute(select(table).order_by(table.c.id)))


def status(api: Api, token: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = api.call("GET", "/api/v1/sync/status", token, expect=200).json()
    return out


def test_status_shows_every_stream_before_and_after_a_sync(
    api: Api, world: World, container: Container, sim: SalesforceSimulator
) -> None:
    before = status(api, world.supervisor)
    assert [(s["system"], s["entity"]) for s in before] == [
        ("salesforce", "customers"),
        ("salesforce", "contacts"),
        ("salesforce", "assets"),
        ("salesforce", "work_orders"),
        ("sap", "customers"),
        ("sap", "assets"),
        ("hr", "certifications"),
        ("workday", "technicians"),
        ("workday", "certifications"),
    ]
    for entry in before:
        assert set(entry) == KEYS
        assert entry["cursor"] is None and entry["last_run_at"] is None
        assert (entry["read"], entry["written"], entry["quarantined"], entry["api_calls"]) == (
            0,
            0,
            0,
            0,
        )

    results = sync_all(container, sim)
    shown = status(api, world.dispatcher)
    assert [s["entity"] for s in shown if s["system"] == "salesforce"] == list(STREAMS)
    assert all(s["last_run_at"] is None for s in shown if s["system"] != "salesforce")
    after = {s["entity"]: s for s in shown if s["system"] == "salesforce"}
    for name, result in results.items():
        entry = after[name]
        assert set(entry) == KEYS
        assert entry["read"] == result.read == sim.count(STREAMS[name].sobject)
        assert entry["written"] == result.written > 0
        assert entry["quarantined"] == result.quarantined
        assert entry["api_calls"] == result.api_calls > 0
        assert result.cursor_stamp is not None
        assert datetime.fromisoformat(entry["cursor"]) == result.cursor_stamp
        assert entry["cursor_id"] == result.cursor_id
        assert datetime.fromisoformat(entry["last_run_at"]) == result.started_at
    assert sum(r.quarantined for r in results.values()) > 0
    assert sum(s["quarantined"] for s in after.values()) == open_quarantine(container)


def test_the_quarantine_lists_open_records_with_filters_pages_and_payloads(
    api: Api, world: World, container: Container, sim: SalesforceSimulator
) -> None:
    sync_all(container, sim)
    url = "/api/v1/sync/quarantine"
    everything = api.call("GET", f"{url}?limit=500", world.supervisor, expect=200).json()
    items = everything["items"]
    assert everything["next_cursor"] is None
    assert len(items) == open_quarantine(container) > 3
    for item in items:
        assert set(item) == ITEM_KEYS
        assert item["system"] == "salesforce" and item["attempts"] >= 1 and item["reason"]
        assert isinstance(item["payload"], dict) and item["payload"]["Id"]
        datetime.fromisoformat(item["first_seen_at"])
    malformed = sim.malformed_ids()
    assert malformed <= {i["payload"]["Id"] for i in items}

    pages, cursor = [], None
    while True:
        query = f"{url}?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", query, world.dispatcher, expect=200).json()
        assert len(page["items"]) <= 3
        pages.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == items

    for entity in {i["entity"] for i in items}:
        only = api.call(
            "GET", f"{url}?entity={entity}&system=salesforce", world.admin, expect=200
        ).json()["items"]
        assert only == [i for i in items if i["entity"] == entity]
    assert api.call("GET", f"{url}?system=sap", world.admin, expect=200).json()["items"] == []
    bad = api.call("GET", f"{url}?cursor=nope", world.admin)
    assert bad.status_code == 422

    # a fixed record leaves the list at the next sync
    fixed = next(i for i in items if i["entity"] == "contact" and i["field"] == "Contact.Email")
    sim.update("Contact", fixed["external_id"], {"Email": "fixed@example.com"})
    sync_all(container, sim)
    again = api.call("GET", f"{url}?entity=contact&limit=500", world.admin, expect=200).json()
    assert fixed["id"] not in {i["id"] for i in again["items"]}


def test_only_the_office_and_integrations_read_the_sync(api: Api, world: World) -> None:
    integration = api.token("integration", "etl")
    requester = api.token("requester", "rita")
    for path in ("/api/v1/sync/status", "/api/v1/sync/quarantine"):
        api.call("GET", path, integration, expect=200)
        for token in (world.tech_token, requester):
            refused = api.call("GET", path, token, expect=403)
            assert refused.headers["content-type"].startswith("application/problem+json")
        api.call("GET", path, None, expect=401)


def test_a_row_deleted_at_its_source_is_a_tombstone(
    api: Api, world: World, container: Container, sim: SalesforceSimulator
) -> None:
    sync_all(container, sim)
    customer = next(r for r in stored(container, models.Customer) if r.source_system)
    contact = next(r for r in stored(container, models.Contact) if r.customer_id != customer.id)
    alive_contacts = [r for r in stored(container, models.Contact) if r.deleted_at is None]
    listed = api.call("GET", "/api/v1/contacts?limit=500", world.supervisor, expect=200).json()
    assert len(listed["items"]) == len(alive_contacts)
    api.call("POST", "/api/v1/contacts", world.admin, json={"last_name": "X"}, expect=405)
    api.call("GET", "/api/v1/contacts", world.tech_token, expect=403)

    sim.delete("Account", customer.external_id)
    sim.delete("Contact", contact.external_id)
    sync_all(container, sim)

    token = world.dispatcher
    for kind, row in (("customers", customer), ("contacts", contact)):
        by_key = f"/api/v1/{kind}?source_system=salesforce&external_id={row.external_id}"
        assert api.call("GET", by_key, token, expect=200).json()["items"] == []
        ids = {i["id"] for i in api.call("GET", f"/api/v1/{kind}?limit=500", token).json()["items"]}
        assert row.id not in ids
        with_deleted = api.call("GET", by_key + "&include_deleted=true", token, expect=200)
        (tomb,) = with_deleted.json()["items"]
        assert tomb["id"] == row.id and tomb["deleted_at"] is not None
        read = api.call("GET", f"/api/v1/{kind}/{row.id}", token, expect=200).json()
        assert read["deleted_at"] == tomb["deleted_at"] and read["remote_stamp"] is not None
        assert read["external_id"] == row.external_id and read["version"] == row.version + 1
    site = next(r for r in stored(container, models.Site) if r.external_id == customer.external_id)
    assert site.deleted_at is not None
    sites = api.call("GET", "/api/v1/sites?limit=500", token, expect=200).json()["items"]
    assert site.id not in {s["id"] for s in sites}

    refused = api.call(
        "PATCH",
        f"/api/v1/customers/{customer.id}",
        token,
        json={"phone": "+44 1"},
        headers={"If-Match": f'"{customer.version}"'},
        expect=409,
    )
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "deleted at its source" in refused.json()["detail"]
    # rows never synced, and live synced rows, behave as before
    live = next(
        r for r in stored(container, models.Customer) if r.source_system and r.deleted_at is None
    )
    patched = api.call(
        "PATCH",
        f"/api/v1/customers/{live.id}",
        token,
        json={"phone": "+44 2"},
        headers={"If-Match": f'"{live.version}"'},
        expect=200,
    ).json()
    assert patched["deleted_at"] is None and patched["remote_stamp"] is not None
    mine = api.call("GET", f"/api/v1/customers/{world.customer_id}", token, expect=200).json()
    assert mine["deleted_at"] is None and mine["remote_stamp"] is None


def test_an_order_raised_in_salesforce_is_intake_a_dispatcher_works_on(
    api: Api, world: World, container: Container, sim: SalesforceSimulator, move: Mover
) -> None:
    sync_all(container, sim)
    token = world.dispatcher
    raised = [r for r in stored(container, models.WorkOrder) if r.source_system == "salesforce"]
    assert raised
    order = next(r for r in raised if r.contact_id is not None and r.asset_id is not None)
    listed = api.call("GET", "/api/v1/work-orders?status=new&limit=500", token).json()["items"]
    assert {o["external_id"] for o in listed} >= {r.external_id for r in raised}
    shown = api.call("GET", f"/api/v1/work-orders/{order.id}", token, expect=200).json()
    assert (shown["status"], shown["source_system"], shown["external_id"]) == (
        "new",
        "salesforce",
        order.external_id,
    )
    assert shown["contact_id"] == order.contact_id and shown["summary"] == order.summary
    trail = api.call("GET", f"/api/v1/work-orders/{order.id}/audit", token).json()["events"]
    assert [(e["kind"], e["actor"], e["to"]) for e in trail] == [
        ("created", "sync:salesforce", "new")
    ]
    assert sim.get("WorkOrder", order.external_id)["Fieldbridge_Id__c"] == shown["tracking_code"]  # type: ignore[index]

    # the dispatcher triages it; Salesforce later renames it and cancels it there
    move(
        order.id,
        token,
        "triaged",
        priority=2,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    )
    sim.update("WorkOrder", order.external_id, {"Subject": "Renamed there", "Status": "Canceled"})
    sync_all(container, sim)
    now = api.call("GET", f"/api/v1/work-orders/{order.id}", token, expect=200).json()
    assert (now["status"], now["summary"]) == ("triaged", "Renamed there")
    kinds = [
        e["kind"]
        for e in api.call("GET", f"/api/v1/work-orders/{order.id}/audit", token).json()["events"]
    ]
    assert kinds[-2:] == ["updated", "remote_change_ignored"]

    # a contact is a reference like the others: one that does not exist is named
    refused = api.call(
        "PATCH",
        f"/api/v1/work-orders/{order.id}",
        token,
        json={"contact_id": 999_999},
        headers={"If-Match": f'"{now["version"]}"'},
        expect=422,
    )
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "contact_id" in refused.text

    # its site deleted in Salesforce: a tombstone the order still names and shows
    sim.delete("Account", sim.get("WorkOrder", order.external_id)["AccountId"])  # type: ignore[index]
    sync_all(container, sim)
    still = api.call("GET", f"/api/v1/work-orders/{order.id}", token, expect=200).json()
    assert still["site_id"] == order.site_id and still["status"] == "triaged"
    site = api.call("GET", f"/api/v1/sites/{order.site_id}", token, expect=200).json()
    assert site["deleted_at"] is not None


def test_the_latest_reconciliation_of_each_stream_is_shown(
    api: Api, world: World, container: Container, sim: SalesforceSimulator
) -> None:
    assert api.call("GET", "/api/v1/sync/reconciliation", world.dispatcher).json() == []
    sync_all(container, sim)
    asset = next(r for r in stored(container, models.Asset) if r.deleted_at is None)
    sim.purge("Asset", [asset.external_id])
    with salesforce_connector(sim, max_attempts=12) as sf:
        reconcile(container.new_uow, sf, STREAMS["assets"])
        reconcile(container.new_uow, sf, STREAMS["contacts"])
    shown = api.call("GET", "/api/v1/sync/reconciliation", world.supervisor, expect=200).json()
    assert [(r["system"], r["entity"]) for r in shown] == [
        ("salesforce", "assets"),
        ("salesforce", "contacts"),
    ]
    assets = shown[0]
    assert (assets["tombstoned"], assets["tombstoned_ids"]) == (1, [asset.external_id])
    assert assets["remote"] == sim.count("Asset") and assets["missing_here"] == 0
    assert shown[1]["tombstoned"] == 0 and shown[1]["api_calls"] >= 1
    api.call("GET", "/api/v1/sync/reconciliation", world.tech_token, expect=403)
    read = api.call("GET", f"/api/v1/assets/{asset.id}", world.dispatcher, expect=200).json()
    assert read["deleted_at"] is not None
