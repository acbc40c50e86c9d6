"""SAP's billing service (``ManageCustomerInvoiceRequestIn.MaintainBundle``) answering the
connector through ``responses``: answers made by zeep from the project's WSDL, never written by
hand, and the requests the connector sent read back by zeep."""

from __future__ import annotations

from typing import Any

import responses
from lxml import etree

from connectors.sap.settings import DEFAULT_WSDL_DIR
from sandbox.sap.app import SoapService
from tests.support.sap_answers import URL, add_xml_at, sent_to

ENDPOINT = URL + "/sap/bc/srt/scs/sap/managecustomerinvoicerequesti4"
WSDL = DEFAULT_WSDL_DIR / "ManageCustomerInvoiceRequestIn.wsdl"
MESSAGE_UUID = "5c0f9a6e-2b1d-4c3e-9f10-0a1b2c3d4e5f"
SAP_UUID = "00163e8c-7f04-1eea-b0ca-5d5bbdcdf409"


def operation(soap: SoapService) -> Any:
    return soap.binding._operations["MaintainBundle"]


def confirmation(soap: SoapService, document_id: str = "WO-2026-000417", **log: Any) -> bytes:
    message = operation(soap).output.serialize(
        CustomerInvoiceRequest=[
            {
                "ReferenceObjectNodeSenderTechnicalID": document_id,
                "ChangeStateID": "20261203101500.0000000",
                "UUID": SAP_UUID,
                "BaseBusinessTransactionDocumentID": document_id,
            }
        ],
        Log=log or {"BusinessDocumentProcessingResultCode": "3"},
    )
    return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


def add_xml(mocked: responses.RequestsMock, body: bytes, status: int = 200) -> None:
    add_xml_at(ENDPOINT, mocked, body, status)


def sent(soap: SoapService, call: Any) -> Any:
    """A request the connector sent, read back by zeep."""
    return sent_to(operation(soap), call)
