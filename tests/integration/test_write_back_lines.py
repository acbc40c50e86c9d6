"""The write-back carries what the field recorded: an order closed with parts used (one part
twice), labour lines and notes reaches Salesforce as one ProductConsumed per part code with
the uses added up and the notes in order, SAP as one billing request whose items are the
labour hours and each part's material, and finance as a webhook listing the lines; a replay
changes nothing anywhere; a part SAP has no material for dead-letters the bill (naming the
part) while the CRM still gets the job; and billing reconciliation names a line SAP billed
otherwise (``sandbox/salesforce``, ``sandbox/sap`` and ``sandbox/finance`` answer; the store
is SQLite, and PostgreSQL where it answers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.webhooks import WebhookConnector, WebhookSettings
from mappings import canonical
from mappings.salesforce import SalesforceMapping
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.outbox import admin as outbox_h
from orchestrator.outbox import billing
from orchestrator.outbox.destinations import FinanceWebhooks, SalesforceJobs, SAPBilling
from orchestrator.outbox.events import CRM_COMPLETED, ERP_BILLING, FINANCE_TRIGGER
from orchestrator.outbox.relay import Relay, RelayPolicy
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.work_orders import commands as wo_h
from orchestrator.work_orders import queries
from sandbox.finance import FinanceSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator
from tests.support.cli import cli_env, run
from tests.support.lifecycle_world import World, order_in
from tests.support.outbox import Clock, deliver_all, outbox_rows
from tests.support.simulators import salesforce_connector, sap_connector

MAPPING = SalesforceMapping()
ROUTES = {CRM_COMPLETED: "salesforce", ERP_BILLING: "sap", FINANCE_TRIGGER: "webhooks"}
DAY = datetime(2030, 6, 4, tzinfo=UTC)
SUPERVISOR = Actor("sue", Role.SUPERVISOR)
FAN = canonical.Part(
    code="FM-250", name="Fan Motor FM-250", unit="EA", sap_product_id="P-FM250",
    unit_price=342.5, currency="EUR",
)  # fmt: skip
PIPE = canonical.Part(code="CU-15", name="Copper pipe 15 mm", unit="M", sap_product_id="P-CU15")
DRIER = canonical.Part(code="FD-16", name="Filter Drier FD-16", unit="EA")  # no SAP material
LINES = [  # what the order below owes, as its rows list it
    {"kind": "labour", "activity": "work", "quantity": 1.75, "unit": "HUR"},
    {"kind": "labour", "activity": "travel", "quantity": 0.5, "unit": "HUR"},
    {"kind": "part", "part_code": "FM-250", "name": "Fan Motor FM-250", "quantity": 3.0,
     "unit": "EA", "sap_product_id": "P-FM250", "unit_price": 342.5, "currency": "EUR"},
    {"kind": "part", "part_code": "CU-15", "name": "Copper pipe 15 mm", "quantity": 2.5,
     "unit": "M", "sap_product_id": "P-CU15", "unit_price": None, "currency": None},
]  # fmt: skip
NOTES = (
    "note: Fan motor seized, bearings gone\n"
    "completion (completed): Replaced the fan motor and 2.5 m of pipe; ran it for 20 minutes"
)


@pytest.fixture
def sap() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=9, customers=10, stocks=0, malformed=0.0) as simulator:
        yield simulator


@pytest.fixture
def sf() -> Iterator[SalesforceSimulator]:
    """An org with the catalogue the seed makes (FM-250 and FD-16 among it, each with its
    price book entry under our part code) and a copper pipe its users added."""
    with SalesforceSimulator(seed=9) as simulator:
        simulator.seed()
        (book,) = simulator.find("Pricebook2", "IsStandard", True)
        pipe = simulator.create(
            "Product2", {"Name": "Copper pipe 15 mm", "ProductCode": "CU-15", "IsActive": True}
        )
        simulator.create("PricebookEntry", {
            "Pricebook2Id": book["Id"], "Product2Id": pipe, "UnitPrice": 12.4, "IsActive": True,
            "Fieldbridge_Id__c": "CU-15",
        })  # fmt: skip
        yield simulator


@pytest.fixture
def finance() -> Iterator[FinanceSimulator]:
    with FinanceSimulator(seed=9) as simulator:
        yield simulator


@dataclass(frozen=True)
class Closed:
    work_order_id: int
    tracking_code: str


def _fact(work_order: int, technician: int | None, at: datetime) -> dict[str, Any]:
    return {"work_order_id": work_order, "actor": "tom", "role": "technician",
            "technician_id": technician, "at": at}  # fmt: skip


def _note(work_order: int, kind: str, text: str, at: datetime, state: str | None) -> models.Note:
    return models.Note(
        work_order_id=work_order, kind=kind, text=text, state=state, at=at, author="tom",
        author_role="technician", sha256=hashlib.sha256(text.encode()).hexdigest(),
    )  # fmt: skip


def close_with_field_facts(
    container: Container, world: World, buyer: str, uses: list[tuple[str, float]]
) -> Closed:
    """An order done through the lifecycle for an SAP customer, with what its technician
    recorded (as the device API stores it): ``uses`` (part code, quantity), three labour
    lines (work 90 + 15 minutes, travel 30) and two notes; then closed by the supervisor."""
    wid = order_in(container, world, "completed")
    with container.new_uow() as uow:
        customer = models.Customer(name=f"Customer {buyer}", source_system="sap", external_id=buyer)
        uow.session.add(customer)
        uow.session.flush()
        wo = uow.session.get_one(models.WorkOrder, wid)
        wo.customer_id = customer.id
        tech = wo.technician_id
        start = DAY.replace(hour=8)
        for index, (code, quantity) in enumerate(uses):
            uow.session.add(models.PartUse(
                part_code=code, quantity=quantity, from_van=True,
                **_fact(wid, tech, start + timedelta(minutes=10 * index)),
            ))  # fmt: skip
        for activity, begin, minutes in (("travel", -30, 30), ("work", 0, 90), ("work", 180, 15)):
            at = start + timedelta(minutes=begin)
            uow.session.add(models.LabourLine(
                activity=activity, start=at, end=at + timedelta(minutes=minutes),
                **_fact(wid, tech, at),
            ))  # fmt: skip
        # the completion account written last, the remark from the field before it
        text = "Replaced the fan motor and 2.5 m of pipe; ran it for 20 minutes"
        uow.session.add(_note(wid, "completion", text, start + timedelta(hours=4), "completed"))
        uow.session.add(_note(wid, "note", "Fan motor seized, bearings gone", start, None))
        uow.commit()
    with container.new_uow() as uow:
        version = queries.get(uow, wid, SUPERVISOR)["version"]
    with container.new_uow() as uow:
        closed = wo_h.transition(
            uow, wo_h.TransitionWorkOrder(wid, State.CLOSED, {}, SUPERVISOR, version)
        )
    return Closed(wid, closed["tracking_code"])


def add_parts(container: Container, *parts: canonical.Part) -> None:
    for part in parts:
        with container.new_uow() as uow:
            reference.create(uow, reference.KINDS["parts"], part)


def subscribe(container: Container, finance: FinanceSimulator) -> None:
    with container.new_uow() as uow:
        uow.session.add(models.WebhookSubscription(
            url=finance.endpoint, secret=finance.secret, active=True, created_by="ada"
        ))  # fmt: skip
        uow.commit()


def relay(
    container: Container, sf: SalesforceSimulator, sap: SAPSimulator, finance: FinanceSimulator
) -> tuple[Relay, Clock]:
    clock = Clock()
    settings = WebhookSettings(allow_private=True, ca_bundle=finance.ca_path, max_attempts=2)
    destinations: dict[str, Any] = {
        "salesforce": SalesforceJobs(salesforce_connector(sf, max_attempts=2), MAPPING),
        "sap": SAPBilling(sap_connector(sap, max_attempts=2)),
        "webhooks": FinanceWebhooks(
            WebhookConnector(settings, sleep=lambda _: None), container.new_uow
        ),
    }
    return Relay(container.new_uow, destinations, ROUTES, RelayPolicy(), clock=clock), clock


def consumed(sf: SalesforceSimulator, key: str) -> list[tuple[str, Any, Any]]:
    """The ProductConsumed records on the order: (our key, quantity, price book entry)."""
    (order,) = sf.find("WorkOrder", "Fieldbridge_Id__c", key)
    return sorted(
        (r["Fieldbridge_Id__c"], r["QuantityConsumed"], r["PricebookEntryId"])
        for r in sf.find("ProductConsumed", "WorkOrderId", order["Id"])
    )


def requested(sap: SAPSimulator, document: str) -> list[tuple[str, Any, Any]]:
    """The items of the billing requests SAP holds for the document: (product, quantity,
    unit)."""
    return [
        (item["ProductID"], item["Quantity"], item["unitCode"])
        for request in sap.invoice_requests()
        if request["BaseBusinessTransactionDocumentID"] == document
        for item in request["Item"]
    ]


def entry_of(sf: SalesforceSimulator, code: str) -> str:
    (entry,) = sf.find("PricebookEntry", "Fieldbridge_Id__c", code)
    return str(entry["Id"])


# -- every remote gets the lines, once ---------------------------------------------------------


def test_parts_labour_and_notes_reach_every_remote_once_and_a_replay_changes_nothing(
    container: Container,
    world: World,
    sf: SalesforceSimulator,
    sap: SAPSimulator,
    finance: FinanceSimulator,
) -> None:
    add_parts(container, FAN, PIPE)
    subscribe(container, finance)
    buyer = sap.records()[0]["InternalID"]
    order = close_with_field_facts(
        container, world, buyer, [("FM-250", 1), ("CU-15", 2.5), ("FM-250", 2)]
    )
    rows = {row.event: row for row in outbox_rows(container)}
    assert rows[ERP_BILLING].payload["lines"] == LINES
    assert rows[ERP_BILLING].payload["labour_minutes"] == 135, "the labour lines, not the clock"
    outbox_relay, clock = relay(container, sf, sap, finance)
    deliver_all(outbox_relay, clock)
    assert {row.state for row in outbox_rows(container)} == {"delivered"}

    # Salesforce: the job with its labour and notes, one ProductConsumed per part code
    (job,) = sf.find("WorkOrder", "Fieldbridge_Id__c", order.tracking_code)
    assert job["Status"] == "Closed" and job["Fieldbridge_Labour_Minutes__c"] == 135
    assert job["Fieldbridge_First_Time_Fix__c"] is True
    assert job["Fieldbridge_Notes__c"] == NOTES, "every note, oldest first, with its state"
    parts = consumed(sf, order.tracking_code)
    assert parts == [
        (f"{order.tracking_code}:CU-15", 2.5, entry_of(sf, "CU-15")),
        (f"{order.tracking_code}:FM-250", 3, entry_of(sf, "FM-250")),  # 1 + 2, one record
    ]
    # SAP: one billing request, the labour hours and both parts' materials
    assert len(sap.invoice_requests()) == 1
    items = requested(sap, order.tracking_code)
    assert items == [
        ("S-FIELD-LABOUR", Decimal("1.75"), "HUR"),
        ("S-FIELD-LABOUR", Decimal("0.5"), "HUR"),
        ("P-FM250", Decimal("3.0"), "EA"),
        ("P-CU15", Decimal("2.5"), "M"),
    ]
    # finance: the trigger lists the lines
    (delivery,) = finance.deliveries()
    assert delivery["webhook_id"] == f"{FINANCE_TRIGGER}|{order.work_order_id}|1"
    assert delivery["payload"]["tracking_code"] == order.tracking_code
    assert delivery["payload"]["lines"] == LINES

    # a replay: every row delivered again, nothing changes at any remote
    records, writes = sf.count("ProductConsumed"), len(sf.writes("ProductConsumed"))
    with container.new_uow() as uow:
        assert outbox_h.replay(uow, clock.now - timedelta(days=1)) == 3
    deliver_all(outbox_relay, clock)
    assert {row.state for row in outbox_rows(container)} == {"delivered"}
    assert len(sf.writes("ProductConsumed")) == writes + 2, "sent again"
    assert sf.count("ProductConsumed") == records and consumed(sf, order.tracking_code) == parts
    assert len(sap.invoice_requests()) == 1 and requested(sap, order.tracking_code) == items
    assert len(finance.deliveries()) == 1


def test_a_part_without_an_sap_material_dead_letters_the_bill_while_the_crm_gets_it(
    container: Container,
    world: World,
    sf: SalesforceSimulator,
    sap: SAPSimulator,
    finance: FinanceSimulator,
) -> None:
    add_parts(container, FAN, DRIER)
    buyer = sap.records()[1]["InternalID"]
    order = close_with_field_facts(container, world, buyer, [("FM-250", 1), ("FD-16", 2)])
    outbox_relay, clock = relay(container, sf, sap, finance)
    deliver_all(outbox_relay, clock)
    rows = {row.event: row for row in outbox_rows(container)}
    erp = rows[ERP_BILLING]
    assert (erp.state, erp.attempts) == ("dead", 1), "permanent: not tried again"
    assert erp.last_error == (
        f"Permanent: sap: {ERP_BILLING}|{order.work_order_id}: sap billing_trigger "
        f"{order.tracking_code}: "
        "lines[3].sap_product_id: part FD-16 has no sap_product_id in the parts catalogue, "
        "so SAP cannot bill it"
    )
    assert sap.invoice_requests() == [] and sap.ledger() == [], "no part of a bill was sent"
    assert rows[CRM_COMPLETED].state == "delivered"
    assert consumed(sf, order.tracking_code) == [
        (f"{order.tracking_code}:FD-16", 2, entry_of(sf, "FD-16")),
        (f"{order.tracking_code}:FM-250", 1, entry_of(sf, "FM-250")),
    ]
    with container.new_uow() as uow:
        shown = outbox_h.status(uow)
    (dead,) = shown["dead_letters"]
    assert dead["key"] == erp.key and "part FD-16" in dead["last_error"]


# -- reconciliation compares the lines ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # the CLI's store: one backend is enough
def test_reconciliation_names_the_lines_sap_billed_otherwise(
    container: Container,
    world: World,
    sap: SAPSimulator,
    sf: SalesforceSimulator,
    finance: FinanceSimulator,
    database_url: str,
    tmp_path: Path,
) -> None:
    add_parts(container, FAN, PIPE)
    buyers = [r["InternalID"] for r in sap.records()][:2]
    uses = [("FM-250", 1), ("CU-15", 2.5), ("FM-250", 2)]
    kept = close_with_field_facts(container, world, buyers[0], uses)
    edited = close_with_field_facts(container, world, buyers[1], uses)
    outbox_relay, clock = relay(container, sf, sap, finance)
    deliver_all(outbox_relay, clock)
    # before billing runs, someone at SAP edits one request: the travel item goes, and the
    # pipe is billed at 2 m (items 10, 20, 30, 40 as sent: work, travel, fan, pipe)
    sap.amend_request(edited.tracking_code, "20", remove=True)
    sap.amend_request(edited.tracking_code, "40", quantity=Decimal(2))
    with pytest.raises(KeyError, match="no item 90"):
        sap.amend_request(edited.tracking_code, "90", remove=True)
    sap.bill()
    with pytest.raises(ValueError, match="invoiced already"):
        sap.amend_request(kept.tracking_code, "10", quantity=Decimal(9))
    read = sap_connector(sap, max_attempts=2).invoices_for(
        [kept.tracking_code, edited.tracking_code]
    )
    with container.new_uow() as uow:
        report = billing.reconciliation(uow, invoices=billing.by_document(read))
    shown = [(e["status"], e["tracking_code"], e["problem"]) for e in report["orders"]]
    assert shown == [
        ("line_mismatch", edited.tracking_code, True),
        ("invoiced", kept.tracking_code, False),
    ]
    assert report["summary"]["line_mismatch"] == 1 and report["summary"]["problems"] == 1
    mismatches = report["orders"][0]["mismatches"]
    assert mismatches == [
        {"line": "labour (work), labour (travel)", "product_id": "S-FIELD-LABOUR",
         "owed": "2.25 HUR", "invoiced": "1.75 HUR", "why": "another quantity"},
        {"line": "part CU-15", "product_id": "P-CU15", "owed": "2.5 M", "invoiced": "2 M",
         "why": "another quantity"},
    ]  # fmt: skip
    assert report["orders"][1]["mismatches"] == []
    with container.new_uow() as uow:  # another tenant's labour product: every labour item differs
        other = billing.reconciliation(
            uow, invoices=billing.by_document(read), labour_product="S-OTHER"
        )
    kept_entry = next(e for e in other["orders"] if e["tracking_code"] == kept.tracking_code)
    assert [(m["product_id"], m["why"]) for m in kept_entry["mismatches"]] == [
        ("S-OTHER", "missing from the invoice"),
        ("S-FIELD-LABOUR", "not owed"),
    ]
    with container.new_uow() as uow:  # the store alone (HTTP): no lines to compare
        assert "mismatches" not in billing.reconciliation(uow)["orders"][0]

    # the command reads SAP back and shows the same
    env = cli_env(database_url, tmp_path, COLUMNS="250") | sap.env()
    written = tmp_path / "report.json"
    done = run(env, "billing", "reconcile", "--json", str(written))
    assert done.returncode == 1, done.stderr
    assert "2 closed orders, 1 problem: 1 line_mismatch, 1 invoiced" in done.stderr
    assert "part CU-15 (P-CU15): another quantity: owed 2.5 M, invoiced 2 M" in done.stderr
    assert json.loads(written.read_text())["orders"][0]["mismatches"] == mismatches


def test_without_field_facts_the_clock_is_the_labour_and_long_notes_are_cut_to_fit(
    container: Container, world: World
) -> None:
    """An order closed with no labour lines and no parts owes its time in progress as one
    labour line; notes longer than the CRM's 32,000 characters are cut, never refused (the
    close must not fail on them)."""
    wid = order_in(container, world, "completed")
    with container.new_uow() as uow:
        uow.session.add(_note(wid, "note", "x" * 40_000, DAY, None))
        uow.commit()
    with container.new_uow() as uow:
        version = queries.get(uow, wid, SUPERVISOR)["version"]
    with container.new_uow() as uow:
        wo_h.transition(uow, wo_h.TransitionWorkOrder(wid, State.CLOSED, {}, SUPERVISOR, version))
    rows = {row.event: row for row in outbox_rows(container)}
    job, bill = rows[CRM_COMPLETED].payload, rows[ERP_BILLING].payload
    assert job["parts"] == [] and job["labour_minutes"] == bill["labour_minutes"]
    (labour,) = bill["lines"]
    assert labour == canonical.BillingLine.labour(bill["labour_minutes"]).model_dump(
        mode="json", exclude_none=True
    )
    assert "activity" not in labour and labour["unit"] == "HUR"
    assert len(job["notes"]) == 32_000 and job["notes"].startswith("note: xxx")
    assert job["notes"].endswith("x…")
