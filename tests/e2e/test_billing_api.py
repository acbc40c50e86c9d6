"""Billing reconciliation over HTTP (the store's side: roles, problems first, a limit with
counts over all) and ``fieldbridge billing reconcile`` reading SAP's invoices back
(``sandbox/sap`` bills)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from orchestrator.outbox.destinations import SAPBilling
from orchestrator.store import models
from sandbox.sap import SAPSimulator
from tests.support.cli import cli_env, run
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import close_one
from tests.support.outbox import OUTBOX, Clock, closed_orders, deliver_all, relay
from tests.support.simulators import sap_connector

URL = "/api/v1/billing/reconciliation"


def test_reconciliation_shows_the_store_side_problems_first_to_finance_roles(
    api: Api, world: World, move: Mover
) -> None:
    closed = close_one(api, world, move)
    refused, lost = closed_orders(api.container, ["B1", "B2"])
    with api.container.new_uow() as uow:
        columns = OUTBOX.c
        uow.connection().execute(delete(OUTBOX).where(columns.work_order_id == lost))
        uow.connection().execute(
            update(OUTBOX)
            .where((columns.work_order_id == refused) & (columns.event == "erp.billing_request"))
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
        deliver_all(
            relay(api.container, {"sap": SAPBilling(sap_connector(sim, max_attempts=2))}, clock),
            clock,
        )
        with api.container.new_uow() as uow:
            first = uow.session.get_one(models.WorkOrder, ids[0]).tracking_code
        sim.bill([first])
        env = cli_env(database_url, tmp_path, COLUMNS="200") | sim.env()
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
    future = run(no_sap, "billing", "reconcile", "--no-sap", "--closed-from", "2999-01-01")
    assert future.returncode == 0, future.stderr
    assert "0 closed orders (closed from 2999-01-01 00:00:00Z)" in future.stderr
    until = run(no_sap, "billing", "reconcile", "--no-sap", "--closed-to", "2999-01-01T01:00+01:00")
    assert "2 closed orders (closed before 2999-01-01 00:00:00Z)" in until.stderr
    bad = run(no_sap, "billing", "reconcile", "--no-sap", "--closed-from", "soon")
    assert bad.returncode == 2 and "--closed-from: 'soon' is not a date" in bad.stderr
    backwards = run(no_sap, "billing", "reconcile", "--no-sap", "--closed-from", "2026-12-01",
                    "--closed-to", "2026-11-01")  # fmt: skip
    assert backwards.returncode == 2 and "must come after --closed-from" in backwards.stderr


def test_a_period_shows_only_the_orders_closed_in_it(api: Api, world: World) -> None:
    """A month's reconciliation reads that month: orders closed before or after it, their
    triggers and their problems, are neither shown nor counted."""
    early, inside, late = closed_orders(api.container, ["B1", "B2", "B3"])
    closed_at = {early: "2026-10-31T23:59:59+00:00", inside: "2026-11-15T12:00:00+00:00",
                 late: "2026-12-01T00:00:00+00:00"}  # fmt: skip
    with api.container.new_uow() as uow:
        orders = models.table_of(models.WorkOrder)
        for ident, moment in closed_at.items():
            uow.connection().execute(
                update(orders)
                .where(orders.c.id == ident)
                .values(closed_at=datetime.fromisoformat(moment))
            )
        uow.connection().execute(delete(OUTBOX).where(OUTBOX.c.work_order_id == early))
        uow.commit()
    november = {"closed_from": "2026-11-01T00:00:00+00:00", "closed_to": "2026-12-01T00:00:00Z"}
    month = api.call("GET", URL, world.supervisor, params=november, expect=200).json()
    assert [o["work_order_id"] for o in month["orders"]] == [inside]
    assert month["summary"]["orders"] == 1 and month["summary"]["problems"] == 0
    triggers = month["orders"][0]["triggers"]
    assert triggers[0]["key"] == f"erp.billing_request|{inside}"
    assert all(f"|{inside}" in t["key"] for t in triggers)
    assert month["period"] == {
        "closed_from": "2026-11-01T00:00:00Z",
        "closed_to": "2026-12-01T00:00:00Z",
    }
    since = api.call(
        "GET", URL, world.supervisor, params={"closed_from": november["closed_from"]}
    ).json()
    assert {o["work_order_id"] for o in since["orders"]} == {inside, late}
    everything = api.call("GET", URL, world.supervisor, expect=200).json()
    assert everything["summary"]["missing_trigger"] == 1  # the early one, outside the month

    def refused(params: dict[str, str]) -> list[str]:
        answer = api.call("GET", URL, world.supervisor, params=params, expect=422)
        return [e["field"] for e in answer.json()["errors"]]

    assert refused({"closed_from": "2026-11-01T00:00:00"}) == ["closed_from"]  # no offset
    assert refused({"closed_to": "yesterday"}) == ["closed_to"]
    assert refused(
        {"closed_from": november["closed_to"], "closed_to": november["closed_from"]}
    ) == ["closed_to"]
