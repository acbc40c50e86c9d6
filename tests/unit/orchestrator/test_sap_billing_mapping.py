"""A closed order's billing trigger mapped to SAP's customer invoice request
(``mappings.sap.billing``), and the outbox's SAP destination delivering an
``erp.billing_request`` row: the message SAP receives (``responses``), and every payload that
is not a trigger a dead letter naming its field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses

from connectors.errors import Permanent
from mappings.canonical import BillingTrigger, RecordRef
from mappings.errors import MappingError
from mappings.sap.billing import InvoiceLine, InvoiceRequest, invoice_request, read_trigger
from orchestrator.outbox.destinations import SAPBilling
from orchestrator.outbox.relay import Message
from sandbox.sap.app import SoapService
from tests.support.sap_answers import connector
from tests.support.sap_billing import MESSAGE_UUID, WSDL, add_xml, confirmation, sent

KEY = "erp.billing_request|417"


@pytest.fixture(scope="module")
def soap() -> SoapService:
    return SoapService(WSDL)


def payload(**over: Any) -> dict[str, Any]:
    """An ``erp.billing_request`` row's payload as closing an order writes it."""
    values: dict[str, Any] = {
        "work_order_id": 417,
        "tracking_code": "WO-2026-000417",
        "summary": "Boiler service, 12 Park Row",
        "customer": {"id": 12, "source_system": "sap", "external_id": "1000101"},
        "closed_at": "2026-03-02T16:45:00+00:00",
        "labour_minutes": 95,
        "visits": 2,
        "first_time_fix": False,
        "message_uuid": MESSAGE_UUID,
    }
    return values | over


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in payload().items() if k != name}


def row(body: dict[str, Any]) -> Message:
    return Message(1, KEY, "erp.billing_request", 417, body, 0, datetime(2026, 3, 2, tzinfo=UTC))


# -- the trigger -----------------------------------------------------------------------------


def test_a_payload_reads_as_a_billing_trigger() -> None:
    trigger = read_trigger(payload(type="finance.billing_trigger", subscription_id=3))
    assert trigger == BillingTrigger(
        work_order_id=417,
        tracking_code="WO-2026-000417",
        summary="Boiler service, 12 Park Row",
        customer=RecordRef(id=12, source_system="sap", external_id="1000101"),
        closed_at=datetime(2026, 3, 2, 16, 45, tzinfo=UTC),
        labour_minutes=95,
        visits=2,
        first_time_fix=False,
        message_uuid=uuid.UUID(MESSAGE_UUID),
    )  # a finance trigger's subscription is not billing's: ignored


@pytest.mark.parametrize("field", sorted(payload()))
def test_a_payload_missing_a_field_is_refused_naming_it(field: str) -> None:
    with pytest.raises(MappingError) as caught:
        read_trigger(without(field))
    error = caught.value
    assert (error.system, error.entity, error.field) == ("sap", "billing_trigger", field)
    assert error.reason == "Field required"
    assert error.external_id == ("?" if field == "tracking_code" else "WO-2026-000417")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"labour_minutes": "lots"}, "labour_minutes"),
        ({"labour_minutes": -5}, "labour_minutes"),
        ({"message_uuid": "not-a-uuid"}, "message_uuid"),
        ({"closed_at": "2026-03-02T16:45:00"}, "closed_at"),  # no offset
        ({"tracking_code": "  "}, "tracking_code"),
        ({"customer": {"source_system": "sap", "external_id": "1000101"}}, "customer.id"),
    ],
)
def test_a_field_that_does_not_validate_is_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError) as caught:
        read_trigger(payload(**changes))
    assert caught.value.field == field
    assert field in str(caught.value)


# -- the invoice request ---------------------------------------------------------------------


def test_a_trigger_bills_its_labour_to_its_sap_customer() -> None:
    trigger = read_trigger(payload())
    assert invoice_request(trigger, labour_product="S-FIELD-LABOUR", currency="EUR") == (
        InvoiceRequest(
            message_uuid=MESSAGE_UUID,
            document_id="WO-2026-000417",
            buyer_id="1000101",
            name="Boiler service, 12 Park Row",
            items=(InvoiceLine("S-FIELD-LABOUR", "Field service labour", Decimal("1.58"), "HUR"),),
            currency="EUR",
        )
    )


@pytest.mark.parametrize(
    ("minutes", "hours"),
    [(0, "0.02"), (1, "0.02"), (31, "0.52"), (45, "0.75"), (60, "1.00"), (601, "10.02")],
)
def test_labour_is_billed_in_hours_at_least_one_minutes_worth(minutes: int, hours: str) -> None:
    mapped = invoice_request(read_trigger(payload(labour_minutes=minutes)), labour_product="L")
    (line,) = mapped.items
    assert line.quantity == Decimal(hours) and str(line.quantity) == hours
    assert mapped.currency is None


def test_the_title_is_the_summary_else_the_tracking_code_cut_to_fit() -> None:
    untitled = invoice_request(read_trigger(payload(summary=None)), labour_product="L")
    assert untitled.name == "WO-2026-000417"
    long = invoice_request(read_trigger(payload(summary="x" * 300)), labour_product="L")
    assert long.name == "x" * 255


@pytest.mark.parametrize(
    ("customer", "shown"),
    [
        (None, "none"),
        ({"id": 12, "source_system": "salesforce", "external_id": "001A"}, "salesforce:001A"),
        ({"id": 12, "source_system": "sap", "external_id": None}, "sap:None"),
        ({"id": 12}, "None:None"),  # made here
    ],
)
def test_an_order_without_an_sap_customer_has_no_buyer(customer: Any, shown: str) -> None:
    with pytest.raises(MappingError) as caught:
        invoice_request(read_trigger(payload(customer=customer)), labour_product="L")
    assert (caught.value.field, caught.value.external_id) == ("customer", "WO-2026-000417")
    assert caught.value.reason == (
        f"the order's customer ({shown}) is not an SAP customer, so SAP has no buyer to bill"
    )


# -- the destination -------------------------------------------------------------------------


def test_the_destination_sends_the_mapped_request(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, confirmation(soap))
    sap = connector()
    (outcome,) = SAPBilling(sap, labour_product="S-FIELD-LABOUR", currency="GBP").deliver(
        [row(payload())]
    )
    assert outcome.delivered and outcome.remote_id == "00163e8c-7f04-1eea-b0ca-5d5bbdcdf409"
    bundle = sent(soap, mocked.calls[0])
    assert bundle.BusinessDocumentBasicMessageHeader.UUID._value_1 == MESSAGE_UUID
    (request,) = bundle.CustomerInvoiceRequest
    assert request.BaseBusinessTransactionDocumentID._value_1 == "WO-2026-000417"
    assert request.Name == "Boiler service, 12 Park Row"
    assert request.BuyerParty.InternalID._value_1 == "1000101"
    assert request.PricingTerms.CurrencyCode == "GBP"
    assert [
        (i.Description._value_1, i.Product.InternalID._value_1, i.Quantity._value_1,
         i.Quantity.unitCode)
        for i in request.Item
    ] == [("Field service labour", "S-FIELD-LABOUR", Decimal("1.58"), "HUR")]  # fmt: skip


def test_a_payload_that_is_not_a_trigger_is_a_dead_letter_naming_the_field() -> None:
    sap = connector()
    missing, foreign = SAPBilling(sap).deliver(
        [row(without("labour_minutes")), row(payload(customer=None))]
    )
    assert isinstance(missing.error, Permanent) and isinstance(foreign.error, Permanent)
    assert str(missing.error) == (
        f"sap: {KEY}: sap billing_trigger WO-2026-000417: labour_minutes: Field required"
    )
    assert "customer: the order's customer (none) is not an SAP customer" in str(foreign.error)
    assert sap.api_calls == 0, "nothing was sent"


# -- lines: the labour and the parts a closed order owes ----------------------------------------

PART = {
    "kind": "part", "part_code": "FD-16", "name": "Filter Drier FD-16", "sap_product_id": "P-FD16",
    "quantity": 3.0, "unit": "EA", "unit_price": 48.9, "currency": "EUR",
}  # fmt: skip
PIPE = {
    "kind": "part", "part_code": "CU-15", "name": "Copper pipe 15 mm, half-hard, in 5 m lengths",
    "sap_product_id": "P-CU15", "quantity": 2.5, "unit": "M", "unit_price": None,
    "currency": None,
}  # fmt: skip
LINES = [
    {"kind": "labour", "activity": "work", "quantity": 1.75, "unit": "HUR"},
    {"kind": "labour", "activity": "travel", "quantity": 0.5, "unit": "HUR"},
    PART,
    PIPE,
]


def test_a_trigger_with_lines_bills_an_item_per_line_in_its_units() -> None:
    mapped = invoice_request(read_trigger(payload(lines=LINES)), labour_product="S-FIELD-LABOUR")
    assert mapped.items == (
        InvoiceLine("S-FIELD-LABOUR", "Field service labour", Decimal("1.75"), "HUR"),
        InvoiceLine("S-FIELD-LABOUR", "Field service travel", Decimal("0.5"), "HUR"),
        InvoiceLine("P-FD16", "Filter Drier FD-16", Decimal("3.0"), "EA"),
        InvoiceLine("P-CU15", "Copper pipe 15 mm, half-hard, in 5 m len", Decimal("2.5"), "M"),
    )  # the description cut to SAP's 40 characters, the labour minutes not billed twice


def test_a_trigger_written_before_lines_bills_its_labour_minutes_only() -> None:
    old = read_trigger(payload())
    assert old.lines == ()
    (line,) = invoice_request(old, labour_product="L").items
    assert (line.product_id, line.quantity, line.unit) == ("L", Decimal("1.58"), "HUR")


@pytest.mark.parametrize(
    ("part", "field", "why"),
    [
        (
            {"sap_product_id": None},
            "sap_product_id",
            "has no sap_product_id in the parts catalogue",
        ),
        ({"sap_product_id": "P" * 41}, "sap_product_id", "longer than SAP's 40 characters"),
        ({"unit": None}, "unit", "has no unit in the parts catalogue"),
    ],
)
def test_a_part_sap_cannot_bill_refuses_the_whole_trigger_naming_it(
    part: dict[str, Any], field: str, why: str
) -> None:
    lines = [LINES[0], PIPE, PART | part]
    with pytest.raises(MappingError) as caught:
        invoice_request(read_trigger(payload(lines=lines)), labour_product="L")
    error = caught.value
    assert (error.field, error.external_id) == (f"lines[2].{field}", "WO-2026-000417")
    assert error.reason.startswith("part FD-16 ") and why in error.reason
    assert error.reason.endswith("so SAP cannot bill it")


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ({"kind": "part", "quantity": 1, "unit": "EA"}, "lines.0", "names its part_code"),
        ({"kind": "labour", "quantity": 1, "unit": "EA"}, "lines.0", "unit HUR"),
        (PART | {"quantity": 0}, "lines.0.quantity", "greater than 0"),
        (PART | {"unit": "each"}, "lines.0.unit", "pattern"),
        (PART | {"kind": "fee"}, "lines.0.kind", "'labour' or 'part'"),
    ],
)
def test_a_line_that_does_not_validate_is_named(
    line: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(MappingError) as caught:
        read_trigger(payload(lines=[line]))
    assert caught.value.field == field and reason in caught.value.reason


def test_the_destination_sends_every_line_and_refuses_a_part_without_material_unsent(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, confirmation(soap))
    sap = connector()
    billing = SAPBilling(sap, labour_product="S-FIELD-LABOUR")
    (outcome,) = billing.deliver([row(payload(lines=LINES))])
    assert outcome.delivered
    (request,) = sent(soap, mocked.calls[0]).CustomerInvoiceRequest
    assert [
        (i.BaseBusinessTransactionDocumentItemID, i.Product.InternalID._value_1,
         i.Quantity._value_1, i.Quantity.unitCode, i.QuantityTypeCode._value_1)
        for i in request.Item
    ] == [
        ("10", "S-FIELD-LABOUR", Decimal("1.75"), "HUR", "HUR"),
        ("20", "S-FIELD-LABOUR", Decimal("0.5"), "HUR", "HUR"),
        ("30", "P-FD16", Decimal("3.0"), "EA", "EA"),
        ("40", "P-CU15", Decimal("2.5"), "M", "M"),
    ]  # fmt: skip
    calls = sap.api_calls
    (refused,) = billing.deliver([row(payload(lines=[LINES[0], PART | {"sap_product_id": None}]))])
    assert isinstance(refused.error, Permanent)
    assert str(refused.error) == (
        f"sap: {KEY}: sap billing_trigger WO-2026-000417: lines[1].sap_product_id: part FD-16 "
        "has no sap_product_id in the parts catalogue, so SAP cannot bill it"
    )
    assert sap.api_calls == calls, "nothing of it was sent: never part of a bill"
