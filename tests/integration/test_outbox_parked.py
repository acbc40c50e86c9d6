"""Rows owed to a system that is not configured wait ``parked``: they raise no alert and keep
``/health`` ok, say why, and go out once the system is configured (the relay that can reach
it releases them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.outbox import admin
from orchestrator.runtime.bootstrap import Container, bootstrap, read_systems
from orchestrator.store.db import utcnow
from sandbox.sap import SAPSimulator
from tests.support.databases import make_settings
from tests.support.outbox import closed_orders, outbox_rows


@pytest.fixture
def sap() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=5, customers=4, stocks=0, malformed=0.0) as sim:
        yield sim


def states(container: Container) -> dict[str, str]:
    return {row.event: row.state for row in outbox_rows(container)}


def test_rows_for_an_unconfigured_system_park_quietly_and_go_out_once_it_is_configured(
    container: Container, sap: SAPSimulator, database_url: str, tmp_path: Path
) -> None:
    closed_orders(container, [r["InternalID"] for r in sap.records()][:1])
    relay = container.relay()  # no system is configured here (but webhooks need no settings)
    assert set(relay.parked) == {"salesforce", "sap"}
    assert "FIELDBRIDGE_SAP_URL" in relay.parked["sap"]
    relay.drain()
    assert states(container) == {
        "crm.work_order_completed": "parked",
        "erp.billing_request": "parked",
    }, "no finance subscription: no finance row"
    why = {row.event: row.last_error for row in outbox_rows(container)}
    assert "FIELDBRIDGE_SAP_URL" in why["erp.billing_request"]
    with container.new_uow(read_only=True) as uow:
        shown = admin.status(uow)
        a_day_later = utcnow() + timedelta(days=1)
        assert admin.alerts(uow, alert_age_s=60, now=a_day_later) == []
    assert shown["by_state"] == {"pending": 0, "parked": 2, "delivered": 0, "dead": 0}
    assert shown["oldest_pending_age_s"] is None

    settings, systems = make_settings(database_url, tmp_path), read_systems(sap.env())
    with bootstrap(settings, systems=systems) as configured:  # SAP configured now
        released = configured.relay()
        assert set(released.parked) == {"salesforce"}
        released.drain()
    assert states(container) == {
        "crm.work_order_completed": "parked",
        "erp.billing_request": "delivered",
    }
    assert len(sap.invoice_requests()) == 1
