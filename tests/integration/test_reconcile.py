"""Reconciliation (``orchestrator.sync.reconcile``): records deleted behind the sync's back.

A Salesforce record purged from the recycle bin, or a certification the HR feed simply stops
listing, leaves nothing an incremental sync could read. Reconciling the stream compares the
key sets, tombstones the rows whose record is gone (and no more), and reports what the system
of record has that the store lacks; the report is kept per stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mappings import canonical
from mappings.hr import HRMapping
from mappings.salesforce import SalesforceMapping
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import hr_streams, reconcile, reports, run_stream, salesforce_streams
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator
from tests.support.simulators import hr_connector, salesforce_connector

MAPPING = SalesforceMapping()
STREAMS = salesforce_streams(MAPPING)


@pytest.fixture
def sim() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(
        seed=13, customers=120, contacts=0, assets=150, malformed=0.0
    ) as simulator:
        yield simulator


def live(container: Container, model: type[models.Base], system: str) -> set[str]:
    table = models.table_of(model)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table.c.external_id).where(
                (table.c.source_system == system) & table.c.deleted_at.is_(None)
            )
        )
        return {r.external_id for r in found}


def test_records_purged_in_salesforce_become_tombstones_and_new_ones_are_reported(
    container: Container, sim: SalesforceSimulator
) -> None:
    with salesforce_connector(sim) as sf:
        for name in ("customers", "assets"):
            run_stream(container.new_uow, sf, STREAMS[name], MAPPING)
        accounts = sorted(live(container, models.Customer, "salesforce"))
        # accounts without assets, so nothing else points at them
        used = {
            sim.get("Asset", a)["AccountId"] for a in live(container, models.Asset, "salesforce")
        }  # type: ignore[index]
        purged = [a for a in accounts if a not in used][:3]
        assets = sorted(live(container, models.Asset, "salesforce"))[:2]
        sim.purge("Account", purged)
        sim.purge("Asset", assets)
        added = sim.create(
            "Account",
            {
                "Name": "Added behind the sync",
                "BillingCity": "Leeds",
                "BillingLatitude": 53.8,
                "BillingLongitude": -1.55,
            },
        )
        for name in ("customers", "assets"):
            run_stream(container.new_uow, sf, STREAMS[name], MAPPING, full=False)
        assert set(purged) <= live(container, models.Customer, "salesforce"), "nothing to read"

        calls = sf.api_calls
        customers = reconcile(container.new_uow, sf, STREAMS["customers"])
        assets_report = reconcile(container.new_uow, sf, STREAMS["assets"], bulk_threshold=50)
        assert sf.api_calls - calls == customers.api_calls + assets_report.api_calls
    # (the incremental runs above brought the added account in: it is in both key sets)
    assert (customers.tombstoned, sorted(customers.tombstoned_ids)) == (3, sorted(purged))
    assert customers.missing_here == 0 and added not in customers.tombstoned_ids
    assert customers.remote == sim.count("Account") and customers.local == len(accounts) + 1
    assert (assets_report.tombstoned, sorted(assets_report.tombstoned_ids)) == (2, assets)
    assert not set(purged) & live(container, models.Customer, "salesforce")
    assert not set(purged) & live(container, models.Site, "salesforce")
    assert not set(assets) & live(container, models.Asset, "salesforce")
    table = models.table_of(models.Customer)
    with container.new_uow() as uow:
        tomb = uow.connection().execute(select(table).where(table.c.external_id == purged[0])).one()
    assert tomb.deleted_at is not None and tomb.name  # the row and what it held stay

    with salesforce_connector(sim) as sf:
        again = reconcile(container.new_uow, sf, STREAMS["customers"])
        sim.create(
            "Account",
            {
                "Name": "Not synced yet",
                "BillingCity": "York",
                "BillingLatitude": 53.96,
                "BillingLongitude": -1.08,
            },
        )
        later = reconcile(container.new_uow, sf, STREAMS["customers"])
    assert again.tombstoned == 0 and again.missing_here == 0
    assert later.missing_here == 1 and len(later.missing_ids) == 1
    with container.new_uow() as uow:
        kept = {(r["system"], r["entity"]): r for r in reports(uow)}
    assert kept["salesforce", "customers"]["missing_here"] == 1  # the latest report per stream
    assert kept["salesforce", "assets"]["tombstoned"] == 2


def test_a_certification_the_hr_feed_stops_listing_stops_counting(container: Container) -> None:
    with HRSimulator(seed=2, workers=10, malformed=0.0) as hr:
        workers = sorted({r["worker_id"] for r in hr.records()})
        ids = {}
        for worker in workers:
            with container.new_uow() as uow:
                ids[worker] = reference.create(
                    uow,
                    reference.KINDS["technicians"],
                    canonical.Technician(
                        source_system="hr",
                        external_id=worker,
                        name=worker,
                        home_latitude=51.5,
                        home_longitude=-0.1,
                        time_zone="Europe/London",
                    ),
                )["id"]
        stream = hr_streams()["certifications"]
        with hr_connector(hr) as source:
            run_stream(container.new_uow, source, stream, HRMapping())
            record: dict[str, Any] = hr.records()[0]
            hr.delete(record["worker_id"], record["code"])
            assert run_stream(container.new_uow, source, stream, HRMapping()).written == 0
            report = reconcile(container.new_uow, source, stream)
    assert (report.tombstoned, report.tombstoned_ids) == (1, [record["id"]])
    assert report.remote == hr.count() and report.missing_here == 0
    with container.new_uow() as uow:
        row = uow.session.get(models.Technician, ids[record["worker_id"]])
        assert row is not None
        gone = [c for c in row.certifications if c.external_id == record["id"]]
        assert len(gone) == 1 and gone[0].deleted_at is not None and not gone[0].counts
        held = reference.technician_for_dispatch(row).certifications
    assert record["code"] not in {c.code for c in held}
