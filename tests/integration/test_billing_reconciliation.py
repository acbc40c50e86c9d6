"""Billing reconciliation: every closed order with its billing rows, their delivery state,
SAP's document id and the invoice SAP made of it; what is missing on either side first
(``sandbox/sap`` bills; the store is SQLite, and PostgreSQL where it answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, update

from connectors.sap import BillingItem, BillingRequest
from orchestrator.outbox import billing
from orchestrator.outbox.destinations import SAPBilling
from orchestrator.outbox.events import ERP_BILLING, FINANCE_TRIGGER
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from sandbox.sap import SAPSimulator
from tests.support.outbox import OUTBOX, Clock, closed_orders, deliver_all, relay
from tests.support.simulators import sap_connector

NOT_OURS = "WO-NOT-OURS-1"


@pytest.fixture
def sim() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=6, customers=12, stocks=0, malformed=0.0) as simulator:
        yield simulator


def _codes(container: Container, ids: list[int]) -> dict[int, str]:
    with container.new_uow() as uow:
        return {i: uow.session.get_one(models.WorkOrder, i).tracking_code for i in ids}


def _world(container: Container, sim: SAPSimulator) -> dict[str, Any]:
    """Seven closed orders, each left in one state, and an invoice for a document not ours."""
    with container.new_uow() as uow:
        uow.session.add(models.WebhookSubscription(
            url="https://finance.example/hook", secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            active=True, created_by="ada",
        ))  # fmt: skip
        uow.commit()
    buyers = [r["InternalID"] for r in sim.records()][:6]
    inv1, inv2, not_invoiced, missing, fin_dead = closed_orders(container, buyers[:5])
    (dead,) = closed_orders(container, ["9999999"])  # no such business partner: SAP refuses
    with container.new_uow() as uow:  # the closing's billing rows lost: nothing will bill it
        uow.connection().execute(delete(OUTBOX).where(OUTBOX.c.work_order_id == missing))
        uow.commit()
    clock = Clock()
    deliver_all(
        relay(container, {"sap": SAPBilling(sap_connector(sim, max_attempts=2))}, clock), clock
    )
    with container.new_uow() as uow:  # the finance webhooks: delivered, one refused for good
        columns = OUTBOX.c
        finance = (columns.event == FINANCE_TRIGGER) & (columns.state == "pending")
        uow.connection().execute(
            update(OUTBOX).where(finance & (columns.work_order_id == fin_dead))
            .values(state="dead", attempts=5, last_error="410 Gone", dead_at=clock.now)
        )  # fmt: skip
        uow.connection().execute(
            update(OUTBOX).where(finance).values(state="delivered", delivered_at=clock.now)
        )
        uow.commit()
    (pending,) = closed_orders(container, [buyers[5]])  # closed after the relay's round
    ids = {
        "inv1": inv1, "inv2": inv2, "not_invoiced": not_invoiced, "missing": missing,
        "fin_dead": fin_dead, "dead": dead, "pending": pending,
    }  # fmt: skip
    codes = _codes(container, list(ids.values()))
    sim.bill([codes[inv1], codes[inv2], codes[fin_dead]])
    # someone else's billing request, billed too
    sap_connector(sim, max_attempts=2).request_billing(
        BillingRequest(
            message_uuid=str(uuid.uuid4()), document_id=NOT_OURS, buyer_id=buyers[1],
            name="not one of ours", items=(BillingItem("S-FIELD-LABOUR", "x", Decimal(1), "HUR"),),
        )
    )  # fmt: skip
    sim.bill([NOT_OURS])
    return {"ids": ids, "codes": {name: codes[i] for name, i in ids.items()}}


def test_reconciliation_lists_what_is_missing_on_either_side_first(
    container: Container, sim: SAPSimulator
) -> None:
    world = _world(container, sim)
    ids, codes = world["ids"], world["codes"]
    read = sap_connector(sim, max_attempts=2).invoices_for([*codes.values(), NOT_OURS])
    assert len(read) == 4
    with container.new_uow() as uow:
        report = billing.reconciliation(uow, invoices=billing.by_document(read))
    shown = [(e["status"], e["tracking_code"]) for e in report["orders"]]
    assert shown == [
        ("missing_trigger", codes["missing"]),
        ("dead", codes["fin_dead"]),  # problems by kind, then by closing time
        ("dead", codes["dead"]),
        ("unknown_invoice", NOT_OURS),
        ("delivered_not_invoiced", codes["not_invoiced"]),
        ("invoiced", codes["inv1"]),  # the rest by closing time
        ("invoiced", codes["inv2"]),
        ("pending", codes["pending"]),
    ]
    assert [e["problem"] for e in report["orders"]] == [True] * 5 + [False] * 3
    assert report["read_back"] is True and report["total"] == report["shown"] == 8
    assert report["summary"] == {
        "missing_trigger": 1, "dead": 2, "unknown_invoice": 1, "delivered_not_invoiced": 1,
        "line_mismatch": 0, "pending": 1, "delivered": 0, "invoiced": 2, "orders": 7,
        "problems": 5,
    }  # fmt: skip
    by_code = {e["tracking_code"]: e for e in report["orders"]}
    missing = by_code[codes["missing"]]
    assert missing["triggers"] == [] and missing["customer"]["source_system"] == "sap"
    dead = by_code[codes["dead"]]
    assert [t["event"] for t in dead["triggers"]] == [ERP_BILLING, FINANCE_TRIGGER]
    assert "Business partner 9999999 does not exist" in dead["triggers"][0]["last_error"]
    assert by_code[codes["fin_dead"]]["triggers"][1]["last_error"] == "410 Gone"
    requests = {r["BaseBusinessTransactionDocumentID"]: r for r in sim.invoice_requests()}
    sap_invoices = {i["ReferenceBusinessTransactionDocumentID"]: i for i in sim.invoices()}
    invoiced = by_code[codes["inv1"]]
    erp = invoiced["triggers"][0]
    assert erp["key"] == f"{ERP_BILLING}|{ids['inv1']}" and erp["state"] == "delivered"
    assert erp["remote_id"] == requests[codes["inv1"]]["UUID"], "SAP's document id"
    assert invoiced["invoice"]["id"] == sap_invoices[codes["inv1"]]["ID"]
    assert invoiced["invoice"]["request_ids"] == [requests[codes["inv1"]]["ID"]]
    assert invoiced["mismatches"] == [], "SAP invoiced what the order owed"
    assert invoiced["closed_at"] is not None and invoiced["work_order_id"] == ids["inv1"]
    unknown = by_code[NOT_OURS]
    assert unknown["work_order_id"] is None and unknown["invoice"]["document_id"] == NOT_OURS
    assert by_code[codes["pending"]]["invoice"] is None


def test_without_a_read_back_the_store_side_is_shown_bounded_with_counts_over_all(
    container: Container, sim: SAPSimulator
) -> None:
    codes = _world(container, sim)["codes"]
    with container.new_uow() as uow:
        report = billing.reconciliation(uow, limit=3)
    assert report["read_back"] is False
    assert [(e["status"], e["tracking_code"]) for e in report["orders"]] == [
        ("missing_trigger", codes["missing"]),
        ("dead", codes["fin_dead"]),
        ("dead", codes["dead"]),
    ]
    assert (report["total"], report["shown"]) == (7, 3)
    summary = report["summary"]
    assert (summary["delivered"], summary["pending"], summary["invoiced"], summary["problems"]) == (
        3,
        1,
        0,
        3,
    )
    assert summary["unknown_invoice"] == summary["delivered_not_invoiced"] == 0
