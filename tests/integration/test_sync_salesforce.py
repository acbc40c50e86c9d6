"""The inbound sync (``orchestrator.sync``) from the Salesforce simulator into the store.

Each test gets its own seeded org and its own migrated database (SQLite, and PostgreSQL where
it answers): a first sync makes the store equal the org record for record, malformed records
in quarantine; faults change nothing of the result; an incremental run writes what changed
and nothing else; a run stopped mid-way resumes from its last committed page; deletions
leave tombstones; a stale version is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.errors import Retryable
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.query import Compare, Query
from mappings.errors import MappingError
from mappings.salesforce import SalesforceMapping, to_canonical
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import StreamResult, cursors, run_stream, salesforce_streams
from sandbox.salesforce import SalesforceSimulator
from tests.support.simulators import salesforce_connector

MAPPING = SalesforceMapping()
STREAMS = salesforce_streams(MAPPING)
FAULTS = ["503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"]


@pytest.fixture
def sim() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(
        seed=31, customers=260, contacts=300, assets=320, work_orders=260, malformed=0.03
    ) as simulator:
        yield simulator


def sync_all(container: Container, source: Any, **options: Any) -> dict[str, StreamResult]:
    return {
        name: run_stream(container.new_uow, source, stream, MAPPING, **options)
        for name, stream in STREAMS.items()
    }


# -- what the org holds, and what the store holds ---------------------------------------------


def read_org(sf: SalesforceConnector) -> dict[str, list[dict[str, Any]]]:
    """Each stream's live records, and (under ``deleted``) the records deleted there."""
    org = {
        name: [r for page in sf.query_pages(s.query()) for r in page] for name, s in STREAMS.items()
    }
    org["deleted"] = [
        r
        for s in STREAMS.values()
        for page in sf.query_pages(s.query(Compare("IsDeleted", "=", True)), include_deleted=True)
        for r in page
    ]
    return org


def expected(
    org: dict[str, list[dict[str, Any]]],
) -> tuple[dict[str, dict[str, tuple[Any, ...]]], dict[tuple[str, str], str]]:
    """What a sync should store (entity -> external id -> values, references as the remote's
    ids), and what it should quarantine ((entity, id) -> the remote field)."""
    store: dict[str, dict[str, tuple[Any, ...]]] = {e: {} for e in models_by_entity}
    quarantine: dict[tuple[str, str], str] = {}
    for name in ("customers", "contacts", "assets"):
        for raw in org[name]:
            for entity in STREAMS[name].entities:
                try:
                    mapped = to_canonical(MAPPING, entity, raw)
                except MappingError as exc:
                    quarantine[entity, raw["Id"]] = exc.field
                    continue
                data, key = mapped.data, mapped.external_id
                if entity == "customer":
                    store[entity][key] = (data["name"], data.get("email"), data.get("phone"))
                elif entity == "site":
                    store[entity][key] = (
                        data["name"],
                        data["address"],
                        data["latitude"],
                        data["longitude"],
                        data["time_zone"],
                        raw["Id"],
                    )
                elif entity == "contact":
                    account = raw.get("AccountId")
                    if account is not None and account not in store["customer"]:
                        quarantine[entity, raw["Id"]] = "Contact.AccountId"
                        continue
                    store[entity][key] = (
                        data.get("first_name"),
                        data["last_name"],
                        data.get("email"),
                        data.get("phone"),
                        account,
                    )
                else:
                    if raw["AccountId"] not in store["site"]:
                        quarantine[entity, raw["Id"]] = "Asset.AccountId"
                        continue
                    store[entity][key] = (
                        data["serial"],
                        data.get("name"),
                        data.get("model"),
                        raw["AccountId"],
                    )
    for raw in org["work_orders"]:
        try:
            mapped = to_canonical(MAPPING, "work_order", raw)
        except MappingError as exc:
            quarantine["work_order", raw["Id"]] = exc.field
            continue
        if mapped.fieldbridge_id is None and raw["Status"] != "New":
            continue  # not intake: left in Salesforce
        refs = {"AccountId": "site", "AssetId": "asset", "ContactId": "contact"}
        gone = {r["Id"] for r in org["deleted"]}  # a tombstone still names its record
        missing = [
            f
            for f, e in refs.items()
            if raw[f] is not None and raw[f] not in store[e].keys() | gone
        ]
        if missing:
            quarantine["work_order", raw["Id"]] = f"WorkOrder.{missing[0]}"
            continue
        data = mapped.data
        store["work_order"][mapped.external_id] = (
            data["summary"],
            data.get("description"),
            data.get("priority"),
            raw["AccountId"],
            raw["AssetId"],
            raw["ContactId"],
        )
    return store, quarantine


models_by_entity: dict[str, type[models.Base]] = {
    "customer": models.Customer,
    "site": models.Site,
    "contact": models.Contact,
    "asset": models.Asset,
    "work_order": models.WorkOrder,
}


def rows(container: Container, entity: str) -> list[Any]:
    table = models.table_of(models_by_entity[entity])
    with container.new_uow() as uow:
        return list(uow.connection().execute(select(table).order_by(table.c.id)))


def stored(container: Container) -> dict[str, dict[str, tuple[Any, ...]]]:
    customers = {r.id: r.external_id for r in rows(container, "customer")}
    sites = {r.id: r.external_id for r in rows(container, "site")}
    out: dict[str, dict[str, tuple[Any, ...]]] = {e: {} for e in models_by_entity}
    for row in rows(container, "customer"):
        if row.deleted_at is None:
            out["customer"][row.external_id] = (row.name, row.email, row.phone)
    for row in rows(container, "site"):
        if row.deleted_at is None:
            out["site"][row.external_id] = (
                row.name,
                row.address,
                row.latitude,
                row.longitude,
                row.time_zone,
                customers[row.customer_id],
            )
    for row in rows(container, "contact"):
        if row.deleted_at is None:
            out["contact"][row.external_id] = (
                row.first_name,
                row.last_name,
                row.email,
                row.phone,
                customers.get(row.customer_id),
            )
    assets = {r.id: r.external_id for r in rows(container, "asset")}
    contacts = {r.id: r.external_id for r in rows(container, "contact")}
    for row in rows(container, "asset"):
        if row.deleted_at is None:
            out["asset"][row.external_id] = (row.serial, row.name, row.model, sites[row.site_id])
    for row in rows(container, "work_order"):
        assert row.status == "new" and row.source_system == "salesforce"
        assert customers.get(row.customer_id) == sites.get(row.site_id)  # the account's
        out["work_order"][row.external_id] = (
            row.summary,
            row.description,
            row.priority,
            sites.get(row.site_id),
            assets.get(row.asset_id),
            contacts.get(row.contact_id),
        )
    return out


def quarantined(container: Container) -> dict[tuple[str, str], Any]:
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        found = uow.connection().execute(select(table).where(table.c.resolved_at.is_(None)))
        return {(r.entity, r.external_id): r for r in found}


def versions(container: Container) -> dict[tuple[str, str], tuple[int, Any]]:
    return {
        (entity, r.external_id): (r.version, r.updated_at)
        for entity in models_by_entity
        for r in rows(container, entity)
    }


def stamps(container: Container) -> dict[tuple[str, str], Any]:
    return {
        (entity, r.external_id): r.remote_stamp
        for entity in ("customer", "site", "contact", "asset")
        for r in rows(container, entity)
    }


def assert_store_matches_org(container: Container, sf: SalesforceConnector) -> None:
    want, held = expected(read_org(sf))
    got = stored(container)
    for entity in models_by_entity:
        assert got[entity] == want[entity], entity
        assert len(want[entity]) > 100 or entity == "customer", entity
    in_quarantine = quarantined(container)
    assert {key: row.field for key, row in in_quarantine.items()} == held
    for (entity, external_id), row in in_quarantine.items():
        assert row.payload["Id"] == external_id and row.reason, (entity, external_id)
        assert row.field.split(".")[0] in ("Account", "Contact", "Asset", "WorkOrder")


# -- the tests ---------------------------------------------------------------------------------


def test_a_first_sync_stores_the_org_record_for_record(
    container: Container, sim: SalesforceSimulator
) -> None:
    with salesforce_connector(sim, max_attempts=12) as sf:
        results = sync_all(container, sf)
        assert_store_matches_org(container, sf)
    malformed = sim.malformed_reasons()
    in_quarantine = quarantined(container)
    for record_id, (obj, reason) in malformed.items():
        if obj == "Account":
            assert in_quarantine["site", record_id].field == "Account.BillingLatitude", reason
        elif obj == "Contact":
            assert in_quarantine["contact", record_id].reason == "not an e-mail address"
        elif obj == "Asset":
            assert "dangling reference" in in_quarantine["asset", record_id].reason
        elif obj == "WorkOrder":
            assert in_quarantine["work_order", record_id].field == "WorkOrder.EndDate"
    with container.new_uow() as uow:
        held = {c["entity"]: c for c in cursors(uow)}
    for name, result in results.items():
        assert result.read == sim.count(STREAMS[name].sobject)
        assert held[name]["read"] == result.read and held[name]["written"] == result.written
        assert held[name]["quarantined"] == result.quarantined > 0
        assert held[name]["api_calls"] == result.api_calls >= 1
        assert held[name]["cursor_stamp"] is not None
        assert held[name]["cursor_stamp"] <= result.started_at


@pytest.mark.parametrize("via", ["query", "bulk"])
def test_retryable_faults_change_nothing_of_the_result(
    container: Container, sim: SalesforceSimulator, via: str
) -> None:
    with salesforce_connector(sim, max_attempts=12) as clean:
        org = read_org(clean)
    sim.set_faults(rate=0.3, kinds=FAULTS, seed=11)
    with salesforce_connector(sim, max_attempts=12) as sf:
        threshold = 0 if via == "bulk" else None
        results = sync_all(container, sf, batch_size=200, bulk_threshold=threshold)
    assert all(r.bulk == (via == "bulk") for r in results.values())
    assert len(sim.fault_log) > 0
    assert sum(r.api_calls for r in results.values()) > sum(r.pages for r in results.values())
    sim.clear_faults()
    want, held = expected(org)
    assert stored(container) == want
    assert {k: r.field for k, r in quarantined(container).items()} == held


def test_an_incremental_run_writes_what_changed_and_nothing_else(
    container: Container, sim: SalesforceSimulator
) -> None:
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        before = versions(container)
        stamps_before = stamps(container)
        held_before = {k: (r.attempts, r.last_seen_at) for k, r in quarantined(container).items()}
        changed = {
            "Account": [r.external_id for r in rows(container, "site")[:4]],
            "Contact": [r.external_id for r in rows(container, "contact")[:5]],
            "Asset": [r.external_id for r in rows(container, "asset")[:6]],
        }
        for obj, ids in changed.items():
            sim.touch(obj, ids)  # a new Phone (the customer's, not the site's); a Status
        renamed = [r.external_id for r in rows(container, "asset")[6:9]]
        sim.touch("Asset", renamed, {"Name": "Boiler, renamed"})
        results = sync_all(container, sf)
        assert_store_matches_org(container, sf)
    after = versions(container)
    held_after = {k: (r.attempts, r.last_seen_at) for k, r in quarantined(container).items()}
    assert held_after == held_before, "the quarantine read again within the look-back is kept"
    bumped = {key for key in after if after[key] != before[key]}
    # Only what changed in a field we keep is written: a site's Account and an Asset whose
    # Status (which we do not map) changed get a new remote stamp, not a new version.
    assert bumped == (
        {("customer", i) for i in changed["Account"]}
        | {("contact", i) for i in changed["Contact"]}
        | {("asset", i) for i in renamed}
    )
    assert all(after[key][0] == before[key][0] + 1 for key in bumped)
    restamped = {("site", i) for i in changed["Account"]} | {("asset", i) for i in changed["Asset"]}
    assert all(stamps(container)[key] > stamps_before[key] for key in restamped)
    assert {n: r.written for n, r in results.items()} == {
        "customers": 4,
        "contacts": 5,
        "assets": 3,
        "work_orders": 0,  # our keys, written after intake, come back: recognised, no write
    }
    assert results["work_orders"].skipped >= len(rows(container, "work_order"))


class StopsAfter:
    """A source that raises once it has handed out ``pages`` pages (a run killed mid-way)."""

    def __init__(self, inner: SalesforceConnector, pages: int) -> None:
        self.inner, self.pages = inner, pages

    @property
    def api_calls(self) -> int:
        return self.inner.api_calls

    def update_many(self, sobject: str, records: Any) -> list[Any]:
        return self.inner.update_many(sobject, records)

    def query_pages(self, query: Query, **options: Any) -> Iterator[list[dict[str, Any]]]:
        for index, page in enumerate(self.inner.query_pages(query, **options)):
            if index == self.pages:
                raise KeyboardInterrupt("stopped")
            yield page


@pytest.mark.parametrize("lookback_s", [0.0, 300.0])
def test_a_stopped_run_resumes_from_its_cursor_across_one_shared_stamp(
    container: Container, sim: SalesforceSimulator, lookback_s: float
) -> None:
    stream = STREAMS["contacts"]
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        good = [r.external_id for r in rows(container, "contact")]
        assert len(good) > 250  # more than one page of 200, all stamped alike
        touched = sim.touch("Contact", good)
        phones = {i: sim.get("Contact", i)["Phone"] for i in good}  # type: ignore[index]
        with pytest.raises(KeyboardInterrupt):
            run_stream(
                container.new_uow,
                StopsAfter(sf, 1),
                stream,
                MAPPING,
                lookback_s=lookback_s,
                batch_size=200,
            )
        held = {r.external_id: r.phone for r in rows(container, "contact")}
        done = {i for i in good if held[i] == phones[i]}
        assert len(done) == 200 or (lookback_s and len(done) >= 200 - 40)
        with container.new_uow() as uow:
            (cursor,) = [c for c in cursors(uow) if c["entity"] == "contacts"]
        assert cursor["cursor_stamp"].strftime("%Y-%m-%dT%H:%M:%S") == touched.stamp[:19]
        resumed = run_stream(
            container.new_uow, sf, stream, MAPPING, lookback_s=lookback_s, batch_size=200
        )
        assert resumed.written == len(good) - len(done)
        assert {r.external_id: r.phone for r in rows(container, "contact")} == {
            **held,
            **phones,
        }
        assert_store_matches_org(container, sf)


def test_a_deletion_leaves_a_tombstone_and_a_fixed_record_leaves_quarantine(
    container: Container, sim: SalesforceSimulator
) -> None:
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        asset = rows(container, "asset")[0]
        contact = rows(container, "contact")[0]
        sim.delete("Asset", asset.external_id)
        sim.delete("Contact", contact.external_id)
        (bad,) = sorted(sim.malformed_ids("Contact"))[:1]
        sim.update("Contact", bad, {"Email": "fixed@example.com"})
        sync_all(container, sf)
        assert_store_matches_org(container, sf)
    gone = {r.external_id: r for r in rows(container, "asset")}[asset.external_id]
    assert gone.deleted_at is not None and gone.version == asset.version + 1
    assert gone.serial == asset.serial  # the row and what it held stay
    tomb = {r.external_id: r for r in rows(container, "contact")}[contact.external_id]
    assert tomb.deleted_at is not None
    fixed = {r.external_id: r for r in rows(container, "contact")}[bad]
    assert fixed.email == "fixed@example.com"
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        record = uow.connection().execute(select(table).where(table.c.external_id == bad)).one()
    assert record.resolved_at is not None


class OnePage:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records, self.api_calls = records, 0

    def query_pages(self, query: Query, **options: Any) -> Iterator[list[dict[str, Any]]]:
        self.api_calls += 1
        yield self.records


def test_a_stale_version_is_ignored_and_the_same_version_writes_nothing(
    container: Container, sim: SalesforceSimulator
) -> None:
    stream = STREAMS["contacts"]
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        current = rows(container, "contact")[0]
        query = stream.query(Compare("Id", "=", current.external_id))
        (raw,) = [r for page in sf.query_pages(query) for r in page]
    older = current.remote_stamp - timedelta(minutes=5)
    stale = {
        **raw,
        "Phone": "+49 30 0000000",
        "SystemModstamp": older.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }
    before = versions(container)
    for page in ([stale], [raw]):
        result = run_stream(container.new_uow, OnePage(page), stream, MAPPING, full=True)
        assert (result.read, result.written, result.skipped) == (1, 0, 1)
    assert versions(container) == before
    assert {r.external_id: r.phone for r in rows(container, "contact")}[current.external_id] == raw[
        "Phone"
    ]


def test_a_record_held_for_a_missing_reference_comes_in_once_the_reference_does(
    container: Container, sim: SalesforceSimulator
) -> None:
    bad_account = sorted(sim.malformed_ids("Account"))[0]
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        assert ("site", bad_account) in quarantined(container)
        asset = rows(container, "asset")[0]
        sim.update("Asset", asset.external_id, {"AccountId": bad_account})
        sync_all(container, sf)
        waiting = {
            i
            for (e, i), r in quarantined(container).items()
            if e == "asset" and r.payload["AccountId"] == bad_account
        }
        held = quarantined(container)["asset", asset.external_id]
        assert held.field == "Asset.AccountId" and "dangling reference" in held.reason
        assert {r.external_id: r for r in rows(container, "asset")}[
            asset.external_id
        ].version == asset.version, "the stored version stays until the new one applies"
        sim.update("Account", bad_account, {"BillingLatitude": 52.52, "BillingLongitude": 13.405})
        results = sync_all(container, sf, lookback_s=0)  # the asset is behind the cursor now
        assert asset.external_id in waiting
        assert results["assets"].read == 0 and results["assets"].written == len(waiting)
        assert not waiting & {i for (e, i) in quarantined(container) if e == "asset"}
        assert_store_matches_org(container, sf)
    sites = {r.id: r.external_id for r in rows(container, "site")}
    moved = {r.external_id: r for r in rows(container, "asset")}[asset.external_id]
    assert sites[moved.site_id] == bad_account and moved.version == asset.version + 1


def test_versions_of_one_record_in_one_page_apply_in_their_order(
    container: Container, sim: SalesforceSimulator
) -> None:
    stream = STREAMS["customers"]
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        account = rows(container, "site")[0].external_id
        by_id = stream.query(Compare("Id", "=", account))
        (raw,) = [r for page in sf.query_pages(by_id) for r in page]
    before = {r.external_id: r for r in rows(container, "customer")}[account]

    def version(minutes: int, phone: str) -> dict[str, Any]:
        stamp = before.remote_stamp + timedelta(minutes=minutes)
        return {
            **raw,
            "Phone": phone,
            "SystemModstamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        }

    newer, newest, stale = (
        version(1, "+4930111111"),
        version(2, "+4930222222"),
        version(1, "+4930333333"),
    )
    result = run_stream(
        container.new_uow, OnePage([newer, newest, stale]), stream, MAPPING, full=True
    )
    # the customer written twice and the stale version skipped; the site, whose fields a
    # new Phone leaves alone, skipped each time
    assert (result.read, result.written, result.skipped) == (3, 2, 4)
    after = {r.external_id: r for r in rows(container, "customer")}[account]
    assert after.phone == to_canonical(MAPPING, "customer", newest).data["phone"]
    assert after.version == before.version + 2


# -- work orders: intake once, then the ownership policy ---------------------------------------


def events(container: Container, order_id: int) -> list[Any]:
    table = models.table_of(models.AuditEvent)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table).where(table.c.work_order_id == order_id).order_by(table.c.seq)
        )
        return list(found)


def test_intake_writes_our_key_back_and_later_edits_follow_the_ownership_policy(
    container: Container, sim: SalesforceSimulator
) -> None:
    stream = STREAMS["work_orders"]
    with salesforce_connector(sim, max_attempts=12) as sf:
        sync_all(container, sf)
        orders = {r.external_id: r for r in rows(container, "work_order")}
        assert len(orders) > 100
        # each order's key (its tracking code) went into the record it came from, once
        for external_id, row in orders.items():
            assert sim.get("WorkOrder", external_id)["Fieldbridge_Id__c"] == row.tracking_code  # type: ignore[index]
            assert row.remote_key_written_at is not None and row.remote_status == "New"
            (created,) = events(container, row.id)
            assert (created.kind, created.actor, created.to_state) == (
                "created",
                "sync:salesforce",
                "new",
            )
        not_new = stream.query(Compare("Status", "!=", "New"))
        left = [r for page in sf.query_pages(not_new) for r in page]
        assert left and all(r["Fieldbridge_Id__c"] is None for r in left)  # not intake
        assert not {r["Id"] for r in left} & orders.keys()

        edited, status_edited, deleted = sorted(orders)[:3]
        contact = rows(container, "contact")[-1]
        sim.update(
            "WorkOrder",
            edited,
            {
                "Subject": "Pump 3: loud bearing",
                "Description": None,
                "ContactId": contact.external_id,
            },
        )
        sim.update("WorkOrder", status_edited, {"Status": "Canceled", "Subject": "Moved"})
        sim.delete("WorkOrder", deleted)
        again = run_stream(container.new_uow, sf, stream, MAPPING)
        assert again.written == 3
        third = run_stream(container.new_uow, sf, stream, MAPPING)
        assert third.written == 0, "what was applied or ignored is not applied or logged twice"

    after = {r.external_id: r for r in rows(container, "work_order")}
    one = after[edited]
    assert (one.summary, one.description, one.contact_id) == (
        "Pump 3: loud bearing",
        None,
        contact.id,
    )
    assert one.version == orders[edited].version + 1 and one.status == "new"
    assert [e.kind for e in events(container, one.id)] == ["created", "updated"]
    assert events(container, one.id)[-1].payload["contact_id"] == contact.id

    two = after[status_edited]
    assert (two.status, two.summary, two.remote_status) == ("new", "Moved", "Canceled")
    kinds = [(e.kind, e.payload.get("status")) for e in events(container, two.id)]
    assert kinds == [("created", None), ("updated", None), ("remote_change_ignored", "Canceled")]

    three = after[deleted]
    assert three.status == "new" and three.version == orders[deleted].version
    (_, ignored) = events(container, three.id)
    assert ignored.kind == "remote_change_ignored" and ignored.payload["deleted"] is True
    untouched = set(after) - {edited, status_edited, deleted}
    assert all(after[i].version == orders[i].version for i in untouched)


class KeysFail:
    """The connector, but every key write fails as a Salesforce outage would, after retries."""

    def __init__(self, inner: SalesforceConnector) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update_many(self, sobject: str, records: Any) -> list[Any]:
        raise Retryable("salesforce", "503 Service Unavailable (after 12 attempts)")


def test_an_order_whose_key_could_not_be_written_is_taken_in_once_and_keyed_next_run(
    container: Container, sim: SalesforceSimulator
) -> None:
    stream = STREAMS["work_orders"]
    with salesforce_connector(sim, max_attempts=12) as sf:
        for name in ("customers", "contacts", "assets"):
            run_stream(container.new_uow, sf, STREAMS[name], MAPPING)
        with pytest.raises(Retryable):
            run_stream(container.new_uow, KeysFail(sf), stream, MAPPING)
        taken = {r.external_id: r for r in rows(container, "work_order")}
        assert taken and all(r.remote_key_written_at is None for r in taken.values())
        assert all(sim.get("WorkOrder", i)["Fieldbridge_Id__c"] is None for i in taken)  # type: ignore[index]
        later = run_stream(container.new_uow, sf, stream, MAPPING)
        assert later.keys_written == len(taken) and later.keys_refused == 0
        after = {r.external_id: r for r in rows(container, "work_order")}
        assert after.keys() == taken.keys(), "read again, nothing taken in twice"
        for external_id, row in after.items():
            assert sim.get("WorkOrder", external_id)["Fieldbridge_Id__c"] == row.tracking_code  # type: ignore[index]
            assert row.remote_key_written_at is not None
