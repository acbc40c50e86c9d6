"""``SAPConnector.request_billing`` and ``invoices_for`` against recorded-style answers
(``responses``), never the network. Answers are made by zeep from the project's
ManageCustomerInvoiceRequestIn and QueryCustomerInvoiceIn WSDLs (faults by the simulator's
renderer, which uses zeep for the detail), never written by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses
from lxml import etree

from connectors.errors import AuthExpired, Permanent, Retryable
from connectors.sap import BillingItem, BillingRequest, BillingResult
from connectors.sap.settings import DEFAULT_WSDL_DIR
from sandbox.sap.app import SoapService
from tests.support.sap_answers import URL, connector
from tests.support.sap_billing import (
    ENDPOINT,
    MESSAGE_UUID,
    SAP_UUID,
    WSDL,
    add_xml,
    confirmation,
    operation,
    sent,
)

SOAP_ACTION = "http://sap.com/xi/A1S/Global/ManageCustomerInvoiceRequestIn/MaintainBundleRequest"


@pytest.fixture(scope="module")
def soap() -> SoapService:
    return SoapService(WSDL)


def billing(**over: Any) -> BillingRequest:
    values: dict[str, Any] = {
        "message_uuid": MESSAGE_UUID,
        "document_id": "WO-2026-000417",
        "buyer_id": "1000101",
        "name": "Boiler service, 12 Park Row",
        "items": (
            BillingItem("SRV-LABOUR", "Labour", Decimal("1.5"), "HUR"),
            BillingItem("P-VALVE-22", "Valve 22 mm", Decimal(2), "EA"),
        ),
        "currency": "GBP",
    }
    return BillingRequest(**values | over)


def refusal(soap: SoapService, *notes: str) -> bytes:
    log = {
        "BusinessDocumentProcessingResultCode": "5",
        "MaximumLogItemSeverityCode": "3",
        "Item": [{"SeverityCode": "3", "Note": n} for n in notes],
    }
    message = operation(soap).output.serialize(Log=log)
    return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


def test_the_request_carries_the_message_uuid_and_the_document(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, confirmation(soap))
    sap = connector()
    result = sap.request_billing(billing())
    assert result == BillingResult(
        message_uuid=MESSAGE_UUID,
        document_id="WO-2026-000417",
        uuid=SAP_UUID,
        change_state_id="20261203101500.0000000",
        attempts=1,
    )
    call = mocked.calls[0]
    assert call.request.url == ENDPOINT
    assert call.request.headers["SOAPAction"].strip('"') == SOAP_ACTION
    bundle = sent(soap, call)
    header = bundle.BusinessDocumentBasicMessageHeader
    assert header.UUID._value_1 == MESSAGE_UUID
    assert header.ID._value_1 == MESSAGE_UUID.replace("-", "").upper()
    [request] = bundle.CustomerInvoiceRequest
    assert request.actionCode == "01"
    assert request.BaseBusinessTransactionDocumentID._value_1 == "WO-2026-000417"
    assert request.ObjectNodeSenderTechnicalID == "WO-2026-000417"
    assert request.Name == "Boiler service, 12 Park Row"
    assert request.ReferenceBusinessTransactionDocumentID._value_1 == "WO-2026-000417"
    assert request.BuyerParty.InternalID._value_1 == "1000101"
    assert request.PricingTerms.PricingProcedureCode._value_1 == "PPSTD1"
    assert request.PricingTerms.CurrencyCode == "GBP"
    lines = [
        (
            i.BaseBusinessTransactionDocumentItemID,
            i.Description._value_1,
            i.Product.InternalID._value_1,
            i.Quantity._value_1,
            i.Quantity.unitCode,
            i.QuantityTypeCode._value_1,
        )
        for i in request.Item
    ]
    assert lines == [
        ("10", "Labour", "SRV-LABOUR", Decimal("1.5"), "HUR", "HUR"),
        ("20", "Valve 22 mm", "P-VALVE-22", Decimal(2), "EA", "EA"),
    ]


def test_a_lost_answer_is_retried_with_the_same_message(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    mocked.add(
        responses.POST, ENDPOINT, body="<html>500</html>", status=500, content_type="text/html"
    )
    add_xml(mocked, confirmation(soap))
    sleeps: list[float] = []
    sap = connector(sleeps)
    result = sap.request_billing(billing())
    assert result.uuid == SAP_UUID and result.attempts == 2 and len(sleeps) == 1
    first, second = (c.request.body for c in mocked.calls)
    assert first == second  # the same UUID: SAP answers the repeat with its first answer


def test_passing_soap_faults_are_retried(mocked: responses.RequestsMock, soap: SoapService) -> None:
    add_xml(mocked, soap.fault("Server", "The system is temporarily unavailable"), 500)
    add_xml(mocked, confirmation(soap))
    sap = connector()
    assert sap.request_billing(billing()).attempts == 2 and sap.api_calls == 2


def test_retries_spent_are_retryable(mocked: responses.RequestsMock) -> None:
    mocked.add(responses.POST, ENDPOINT, body="", status=503)
    sap = connector(max_attempts=3)
    with pytest.raises(Retryable):
        sap.request_billing(billing())
    assert sap.api_calls == 3


def test_a_refusal_in_the_log_is_permanent_with_sap_notes(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, refusal(soap, "Business partner 1000999 does not exist"))
    sap = connector()
    with pytest.raises(Permanent) as caught:
        sap.request_billing(billing(buyer_id="1000999"))
    assert "Business partner 1000999 does not exist" in caught.value.message
    assert caught.value.code == "LOG_ERROR" and sap.api_calls == 1


def test_a_soap_fault_is_permanent_with_its_notes(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, soap.fault("Client", "Invalid request", ["Product P-X is unknown"]), 500)
    sap = connector()
    with pytest.raises(Permanent) as caught:
        sap.request_billing(billing())
    assert "Invalid request" in caught.value.message
    assert "Product P-X is unknown" in caught.value.message and sap.api_calls == 1


def test_warnings_pass_as_notes(mocked: responses.RequestsMock, soap: SoapService) -> None:
    log = {"MaximumLogItemSeverityCode": "2", "Item": [{"SeverityCode": "2", "Note": "No tax"}]}
    add_xml(mocked, confirmation(soap, **log))
    assert connector().request_billing(billing()).notes == ("No tax",)


def test_a_confirmation_of_nothing_is_permanent(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    message = operation(soap).output.serialize(Log={"BusinessDocumentProcessingResultCode": "3"})
    add_xml(mocked, bytes(etree.tostring(message.content)))
    with pytest.raises(Permanent, match="confirmed no customer invoice request"):
        connector().request_billing(billing())


def test_credentials_refused(mocked: responses.RequestsMock) -> None:
    mocked.add(responses.POST, ENDPOINT, body="<html>Logon failed</html>", status=401)
    sap = connector()
    with pytest.raises(AuthExpired):
        sap.request_billing(billing())
    assert sap.api_calls == 1


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"message_uuid": "WO-1"}, "message_uuid must be a UUID"),
        ({"document_id": "W" * 36}, "document_id must be at most 35"),
        ({"buyer_id": " "}, "buyer_id must be a non-empty string"),
        ({"items": ()}, "items must be one or more"),
        ({"currency": "POUNDS"}, "currency"),
    ],
)
def test_billing_requests_are_checked(over: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        billing(**over)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("P", "d" * 41, 1, "EA"), "description must be at most 40"),
        (("P", "d", 0, "EA"), "quantity must be a positive"),
        (("P", "d", 1, "EACH"), "unit must be at most 3"),
    ],
)
def test_billing_items_are_checked(args: tuple[Any, ...], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        BillingItem(*args)


def test_the_message_uuid_is_normalised() -> None:
    request = billing(message_uuid=MESSAGE_UUID.upper(), items=[BillingItem("P", "d", 1, "EA")])
    assert request.message_uuid == MESSAGE_UUID and isinstance(request.items, tuple)
    with pytest.raises(ValueError, match="must be a BillingRequest"):
        connector().request_billing({"message_uuid": MESSAGE_UUID})  # type: ignore[arg-type]


# -- invoices_for (QueryCustomerInvoiceIn.FindByElements) -------------------------------------

INVOICES = URL + "/sap/bc/srt/scs/sap/querycustomerinvoicein"


@pytest.fixture(scope="module")
def query() -> SoapService:
    return SoapService(DEFAULT_WSDL_DIR / "QueryCustomerInvoiceIn.wsdl")


def invoice(number: int, document_id: str) -> dict[str, Any]:
    return {
        "ID": str(1000000 + number),
        "UUID": f"00163e8c-7f04-1eea-b0ca-{number:012d}",
        "SystemAdministrativeData": {"CreationDateTime": datetime(2026, 12, 3, 9, 0, tzinfo=UTC)},
        "Date": date(2026, 12, 3),
        "ReferenceBusinessTransactionDocumentID": document_id,
        "Status": {"ReleaseStatusCode": "3"},
        "BuyerParty": {"PartyID": "1000101"},
        "Item": [
            {
                "ID": "10",
                "Description": "Labour",
                "Quantity": {"Quantity": {"_value_1": Decimal("1.5"), "unitCode": "HUR"}},
                "Product": {"InternalID": "SRV-LABOUR"},
                "CustomerInvoiceRequestReference": [{"ID": str(9000000 + number), "ItemID": "10"}],
            }
        ],
    }


def found(query: SoapService, invoices: list[dict[str, Any]], more: bool) -> bytes:
    processing: dict[str, Any] = {
        "ReturnedQueryHitsNumberValue": len(invoices),
        "MoreHitsAvailableIndicator": more,
    }
    if invoices:
        processing["LastReturnedObjectID"] = invoices[-1]["ID"]
    op = query.binding._operations["FindByElements"]
    message = op.output.serialize(CustomerInvoice=invoices, ProcessingConditions=processing)
    return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


def test_invoices_are_selected_by_base_document_page_by_page(
    mocked: responses.RequestsMock, query: SoapService
) -> None:
    for body in (
        found(query, [invoice(1, "WO-1")], True),
        found(query, [invoice(2, "WO-2")], False),
    ):
        mocked.add(responses.POST, INVOICES, body=body, content_type="text/xml; charset=utf-8")
    sap = connector()
    got = sap.invoices_for(["WO-1", "WO-2", "WO-1"], page_size=1)
    assert [i["ReferenceBusinessTransactionDocumentID"] for i in got] == ["WO-1", "WO-2"]
    assert got[0]["Item"][0]["CustomerInvoiceRequestReference"] == [
        {"ID": "9000001", "ItemID": "10"}
    ]
    op = query.binding._operations["FindByElements"]
    first, second = (op.input.deserialize(etree.fromstring(c.request.body)) for c in mocked.calls)
    picked = first.CustomerInvoiceSelectionByElements.SelectionByBaseBTDReferenceID
    assert [
        (s.InclusionExclusionCode, s.IntervalBoundaryTypeCode, s.LowerBoundaryIdentifier)
        for s in picked
    ] == [
        ("I", "1", "WO-1"),
        ("I", "1", "WO-2"),
    ]
    assert first.ProcessingConditions.LastReturnedObjectID is None
    assert second.ProcessingConditions.LastReturnedObjectID._value_1 == "1000001"


def test_no_documents_asks_nothing(mocked: responses.RequestsMock) -> None:
    sap = connector()
    assert sap.invoices_for([]) == [] and sap.api_calls == 0
    with pytest.raises(ValueError, match="non-empty strings"):
        sap.invoices_for(["WO-1", ""])
