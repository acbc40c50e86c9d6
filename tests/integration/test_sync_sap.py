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

from connectors.sap import SAPConnector, SAPSettings
from mappings.errors import MappingError
from mappings.sap import SAPMapping
from orchestrator import models
from orchestrator.bootstrap import Container
from orchestrator.sync import StreamResult, cursors, reconcile, run_stream, sap_streams
from orchestrator.sync.streams import json_safe
from sandbox.sap import SAPSimulator

MAPPING = SAPMapping()
STREAM = sap_streams()["customers"]


@pytest.fixture
def sim() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=9, customers=240, malformed=0.04) as s:
        yield s


def connector(sim: SAPSimulator) -> SAPConnector:
    env = {k.removeprefix("FIELDBRIDGE_SAP_").lower(): v for k, v in sim.env().items()}
    return SAPConnector(SAPSettings(**env, max_attempts=12), sleep=lambda _: None)  # type: ignore[arg-type]


def sync(container: Container, source: Any, **options: Any) -> StreamResult:
    return run_stream(container.uow, source, STREAM, MAPPING, batch_size=50, **options)


def expected(sim: SAPSimulator) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    store, held = {}, {}
    for raw in sim.records():
        try:
            m = MAPPING.to_canonical("customer", json_safe(raw))
        except MappingError as exc:
            held[raw["InternalID"]] = exc.field
            continue
        if not m.deleted:
            store[m.external_id] = (m.data["name"], m.data["email"], m.data["phone"])
    return store, held


def stored(container: Container) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Customer)
    with container.uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.source_system == "sap") & table.c.deleted_at.is_(None))
        )
        return {r.external_id: (r.name, r.email, r.phone) for r in found}


def quarantined(container: Container) -> dict[str, str]:
    table = models.table_of(models.QuarantinedRecord)
    with container.uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.system == "sap") & table.c.resolved_at.is_(None))
        )
        return {r.external_id: r.field for r in found}


def test_a_first_sync_stores_every_customer_and_holds_the_malformed(
    container: Container, sim: SAPSimulator
) -> None:
    with connector(sim) as sap:
        result = sync(container, sap)
    want, held = expected(sim)
    assert stored(container) == want and len(want) > 200
    assert quarantined(container) == held
    reasons = sim.malformed_reasons()
    assert {i for i, why in reasons.items() if why != "invalid_country"} <= set(held)
    assert result.read == sim.count() and result.pages == -(-sim.count() // 50)
    with container.uow() as uow:
        (cursor,) = [c for c in cursors(uow) if c["system"] == "sap"]
    newest = max(r["SystemAdministrativeData"]["LastChangeDateTime"] for r in sim.records())
    assert cursor["cursor_stamp"] == min(newest, result.started_at)


def test_retryable_faults_change_nothing_of_the_result(
    container: Container, sim: SAPSimulator
) -> None:
    sim.set_faults(rate=0.3, kinds=["500", "fault"], seed=3)
    with connector(sim) as sap:
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
        for n, page in enumerate(self.inner.customer_pages(*args, **options)):
            if n == self.pages:
                raise KeyboardInterrupt("stopped")
            yield page


def test_a_stopped_run_keeps_its_cursor_and_the_next_loses_nothing(
    container: Container, sim: SAPSimulator
) -> None:
    with connector(sim) as sap:
        sync(container, sap)
        with container.uow() as uow:
            (before,) = [c for c in cursors(uow) if c["system"] == "sap"]
        touched = sim.touch(sorted(stored(container))[:120], {"CityName": "Leeds"})
        renamed = sim.touch(sorted(stored(container))[-5:], {"FirstLineName": "Renamed Ltd"})
        with pytest.raises(KeyboardInterrupt):
            sync(container, StopsAfter(sap, 1))
        with container.uow() as uow:
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
    with connector(sim) as sap:
        sync(container, sap)
        first, second = sorted(stored(container))[:2]
        sim.touch([first], {"LifeCycleStatusCode": "4"})
        sim.delete(second)
        sync(container, sap)
        assert first not in stored(container) and second in stored(container)
        report = reconcile(container.uow, sap, STREAM)
    assert (report.tombstoned, report.tombstoned_ids) == (1, [second])
    assert second not in stored(container)
    assert report.remote == sim.count()
