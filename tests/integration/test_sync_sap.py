"""SAP's customers (QueryCustomerIn, ``sandbox/sap``) synced into the store by the shared engine.

Each test gets its own seeded SAP system and its own migrated database (SQLite, and PostgreSQL
where it answers): a first sync stores every customer, malformed ones in quarantine; faults
change nothing of the result; SAP pages by ID, not by change date, so a run stopped mid-way
has not moved its cursor and the next run loses nothing; an obsolete customer becomes a
tombstone; one that disappears is found by reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sap import SAPConnector
from mappings.errors import MappingError
from mappings.sap.inbound import READ_AT, SAPMapping
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import StreamResult, cursors, reconcile, run_stream, sap_streams
from orchestrator.sync.streams import json_safe
from sandbox.sap import SAPSimulator
from tests.support.simulators import sap_connector

MAPPING = SAPMapping()
STREAM = sap_streams()["customers"]


@pytest.fixture
def sim() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=9, customers=240, malformed=0.04) as simulator:
        yield simulator


def sync(container: Container, source: Any, **options: Any) -> StreamResult:
    return run_stream(container.new_uow, source, STREAM, MAPPING, batch_size=50, **options)


def expected(sim: SAPSimulator) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    store, held = {}, {}
    for raw in sim.records():
        try:
            mapped = MAPPING.to_canonical("customer", json_safe(raw))
        except MappingError as exc:
            held[raw["InternalID"]] = exc.field
            continue
        if not mapped.deleted:
            store[mapped.external_id] = (
                mapped.data["name"],
                mapped.data["email"],
                mapped.data["phone"],
            )
    return store, held


def stored(container: Container) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Customer)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.source_system == "sap") & table.c.deleted_at.is_(None))
        )
        return {r.external_id: (r.name, r.email, r.phone) for r in found}


def quarantined(container: Container) -> dict[str, str]:
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.system == "sap") & table.c.resolved_at.is_(None))
        )
        return {r.external_id: r.field for r in found}


def test_a_first_sync_stores_every_customer_and_holds_the_malformed(
    container: Container, sim: SAPSimulator
) -> None:
    with sap_connector(sim, max_attempts=12) as sap:
        result = sync(container, sap)
    want, held = expected(sim)
    assert stored(container) == want and len(want) > 200
    assert quarantined(container) == held
    reasons = sim.malformed_reasons()
    assert {i for i, why in reasons.items() if why != "invalid_country"} <= set(held)
    assert result.read == sim.count() and result.pages == -(-sim.count() // 50)
    with container.new_uow() as uow:
        (cursor,) = [c for c in cursors(uow) if c["system"] == "sap"]
    newest = max(r["SystemAdministrativeData"]["LastChangeDateTime"] for r in sim.records())
    assert cursor["cursor_stamp"] == min(newest, result.started_at)


def test_retryable_faults_change_nothing_of_the_result(
    container: Container, sim: SAPSimulator
) -> None:
    sim.set_faults(rate=0.3, kinds=["500", "fault"], seed=3)
    with sap_connector(sim, max_attempts=12) as sap:
        result = sync(container, sap)
    assert len(sim.fault_log) > 0 and result.api_calls > result.pages
    sim.clear_faults()
    want, held = expected(sim)
    assert stored(container) == want and quarantined(container) == held


class StopsAfter:
    """The connector, but the read stops (a process killed) after ``pages`` pages."""

    def __init__(self, inner: SAPConnector, pages: int) -> None:
        self.inner, self.pages = inner, pages

    @property
    def api_calls(self) -> int:
        return self.inner.api_calls

    def customer_pages(self, *args: Any, **options: Any) -> Iterator[list[dict[str, Any]]]:
        for index, page in enumerate(self.inner.customer_pages(*args, **options)):
            if index == self.pages:
                raise KeyboardInterrupt("stopped")
            yield page


def test_a_stopped_run_keeps_its_cursor_and_the_next_loses_nothing(
    container: Container, sim: SAPSimulator
) -> None:
    with sap_connector(sim, max_attempts=12) as sap:
        sync(container, sap)
        with container.new_uow() as uow:
            (before,) = [c for c in cursors(uow) if c["system"] == "sap"]
        touched = sim.touch(sorted(stored(container))[:120], {"CityName": "Leeds"})
        renamed = sim.touch(sorted(stored(container))[-5:], {"FirstLineName": "Renamed Ltd"})
        with pytest.raises(KeyboardInterrupt):
            sync(container, StopsAfter(sap, 1))
        with container.new_uow() as uow:
            (after,) = [c for c in cursors(uow) if c["system"] == "sap"]
        # pages come by ID, not by change date: nothing says all before a stamp is in yet
        assert after["cursor_stamp"] == before["cursor_stamp"]
        sync(container, sap)
    assert touched.ids and all(stored(container)[i][0] == "Renamed Ltd" for i in renamed.ids)
    want, _ = expected(sim)
    assert stored(container) == want


def test_obsolete_and_vanished_customers_become_tombstones(
    container: Container, sim: SAPSimulator
) -> None:
    with sap_connector(sim, max_attempts=12) as sap:
        sync(container, sap)
        first, second = sorted(stored(container))[:2]
        sim.touch([first], {"LifeCycleStatusCode": "4"})
        sim.delete(second)
        sync(container, sap)
        assert first not in stored(container) and second in stored(container)
        report = reconcile(container.new_uow, sap, STREAM)
    assert (report.tombstoned, report.tombstoned_ids) == (1, [second])
    assert second not in stored(container)
    assert report.remote == sim.count()


# -- equipment (QueryIdentifiedStocksIn) -> assets ---------------------------------------------

EQUIPMENT = sap_streams()["assets"]


def assets(container: Container) -> dict[str, Any]:
    """The live SAP assets by IdentifiedStockID: (serial, model, name, site_id, version)."""
    table = models.table_of(models.Asset)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.source_system == "sap") & table.c.deleted_at.is_(None))
        )
        return {r.external_id: r for r in found}


def equipment_of(sim: SAPSimulator) -> dict[str, tuple[Any, ...]]:
    """What the store should hold: every unit SAP has that is not obsolete."""
    want = {}
    for raw in sim.stock_records():
        mapped = MAPPING.to_canonical("asset", json_safe(raw) | {READ_AT: "2026-12-03T00:00:00Z"})
        if not mapped.deleted:
            want[mapped.external_id] = (
                mapped.data["serial"],
                mapped.data["model"],
                mapped.data["name"],
            )
    return want


def sync_equipment(container: Container, sap: Any, **options: Any) -> StreamResult:
    return run_stream(container.new_uow, sap, EQUIPMENT, MAPPING, batch_size=40, **options)


def test_equipment_arrives_unplaced_and_keeps_the_site_a_dispatcher_gives_it(
    container: Container, sim: SAPSimulator
) -> None:
    with container.new_uow() as uow:  # a site of ours to place a unit at
        site = models.Site(
            name="Leeds depot", address="1 Park Row, Leeds", latitude=53.8, longitude=-1.55,
            time_zone="Europe/London",
        )  # fmt: skip
        uow.session.add(site)
        uow.commit()
        site_id = site.id
    with sap_connector(sim, max_attempts=12) as sap:
        first = sync_equipment(container, sap)
        got = assets(container)
        assert {i: (r.serial, r.model, r.name) for i, r in got.items()} == equipment_of(sim)
        assert first.read == sim.stock_count() and not quarantined(container)
        assert all(r.site_id is None for r in got.values())
        placed, renamed, untouched = sorted(got)[:3]
        table = models.table_of(models.Asset)
        with container.new_uow() as uow:
            uow.connection().execute(
                table.update().where(table.c.external_id == placed).values(site_id=site_id)
            )
            uow.commit()
        sim.touch_stock([placed, renamed], {"Description": "Condensing boiler, serviced"})
        sim.touch_stock([untouched], {"SupplierID": "300999"})  # a field we do not keep
        second = sync_equipment(container, sap)
    after = assets(container)
    assert after[placed].site_id == site_id, "SAP does not say where a unit stands: ours stays"
    assert after[placed].name == after[renamed].name == "Condensing boiler, serviced"
    assert after[renamed].version == got[renamed].version + 1
    # read again under the run's new stamp, unchanged in what we keep: no new version
    assert after[untouched].version == got[untouched].version
    assert after[untouched].remote_stamp > got[untouched].remote_stamp
    assert second.read == 3 and second.written == 2


def test_obsolete_and_vanished_equipment_become_tombstones(
    container: Container, sim: SAPSimulator
) -> None:
    with sap_connector(sim, max_attempts=12) as sap:
        sync_equipment(container, sap)
        obsolete, gone = sorted(assets(container))[:2]
        sim.touch_stock([obsolete], {"LifeCycleStatusCode": "4"})
        sim.delete_stock(gone)
        sync_equipment(container, sap)
        assert obsolete not in assets(container) and gone in assets(container)
        report = reconcile(container.new_uow, sap, EQUIPMENT)
    assert (report.tombstoned, report.tombstoned_ids) == (1, [gone])
    assert set(assets(container)) == set(equipment_of(sim))
    assert report.remote == sim.stock_count()
