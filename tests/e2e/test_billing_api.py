"""Billing reconciliation over HTTP (the store's side: roles, problems first, a limit with
counts over all) and ``fieldbridge billing reconcile`` reading SAP's invoices back
(``sandbox/sap`` bills)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from orchestrator import models
from orchestrator.outbox.destinations import SAPBilling
from sandbox.sap import SAPSimulator
from tests.e2e.conftest import Api, Mover, World
from tests.e2e.test_cli_sync import run
from tests.e2e.test_outbox_api import close_one
from tests.integration.test_outbox import Clock, closed_orders, deliver_all, relay, sap_connector

OUTBOX = models.table_of(models.OutboxMessage)
URL = "/api/v1/billing/reconciliation"


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The command's environment: this test's store, no FIELDBRIDGE_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    return env | {
        "FIELDBRIDGE_DATABASE_URL": database_url,
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(tmp_path / "att"),
        "FIELDBRIDGE_SECRET_KEY_FILE": str(tmp_path / "key"),
        "COLUMNS": "200",
    }


def test_reconciliation_shows_the_store_side_problems_first_to_finance_roles(
    api: Api, world: World, move: Mover
) -> None:
    closed = close_one(api, world, move)
    refused, lost = closed_orders(api.container, ["B1", "B2"])
    with api.container.uow() as uow:
        c = OUTBOX.c
        uow.connection().execute(delete(OUTBOX).where(c.work_order_id == lost))
        uow.connection().execute(
            update(OUTBOX)
            .where((c.work_order_id == refused) & (c.event == "erp.billing_request"))
            .values(state="dead", attempts=1, last_error="Business partner B1 does not exist")
        )
        uow.commit()
    api.call("GET", URL, world.dispatcher, expect=403)
    api.call("GET", URL, None, expect=401)
    api.call("GET", f"{URL}?limit=0", world.supervisor, expect=422)
    integration = api.token("integration")
    shown = api.call("GET", f"{URL}?limit=2", integration, expect=200).json()
    assert [(o["status"], o["work_order_id"]) for o in shown["orders"]] == [
        ("missing_trigger", lost),
        ("dead", refused),
    ]
    assert (shown["total"], shown["shown"], shown["read_back"]) == (3, 2, False)
    assert shown["summary"]["orders"] == 3 and shown["summary"]["problems"] == 2
    assert shown["summary"]["pending"] == 1
    dead = shown["orders"][1]["triggers"][0]
    assert dead["key"] == f"erp.billing_request|{refused}" and "B1" in dead["last_error"]
    everything = api.call("GET", URL, world.admin, expect=200).json()
    last = everything["orders"][-1]
    assert (last["status"], last["tracking_code"]) == ("pending", closed["tracking_code"])
    assert last["customer"]["id"] == world.customer_id and last["invoice"] is None


@pytest.mark.parametrize("backend", ["sqlite"])  # the store is the API test's business
def test_the_cli_reads_the_invoices_back_and_exits_1_while_something_is_missing(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    with SAPSimulator(seed=3, customers=6, stocks=0, malformed=0.0) as sim:
        buyers = [r["InternalID"] for r in sim.records()][:2]
        ids = closed_orders(api.container, buyers)
        clock = Clock()
        deliver_all(relay(api.container, {"sap": SAPBilling(sap_connector(sim))}, clock), clock)
        with api.container.uow() as uow:
            first = uow.session.get_one(models.WorkOrder, ids[0]).tracking_code
        sim.bill([first])
        env = cli_env(database_url, tmp_path) | sim.env()
        report = tmp_path / "report.json"
        done = run(env, "billing", "reconcile", "--json", str(report))
    assert done.returncode == 1, done.stderr
    assert "2 closed orders, 1 problem" in done.stderr and "SAP read back" in done.stderr
    written = json.loads(report.read_text())
    assert [(o["status"], o["work_order_id"]) for o in written["orders"]] == [
        ("delivered_not_invoiced", ids[1]),
        ("invoiced", ids[0]),
    ]
    assert written["orders"][1]["invoice"]["document_id"] == first
    no_sap = {k: v for k, v in env.items() if not k.startswith("FIELDBRIDGE_SAP_")}
    refused = run(no_sap, "billing", "reconcile")
    assert refused.returncode == 2 and "the sap settings are incomplete" in refused.stderr
    store = run(no_sap, "billing", "reconcile", "--no-sap")
    assert store.returncode == 0, store.stderr
    assert "2 delivered" in store.stderr and "SAP not read" in store.stderr
