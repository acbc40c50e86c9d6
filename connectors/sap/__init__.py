"""SAP Business ByDesign: its SOAP web services through zeep (customers in, page by page by
``LastReturnedObjectID``; billing requests out, once per message UUID)."""

from connectors.sap.billing import BillingItem, BillingRequest, BillingResult
from connectors.sap.client import MAX_PAGE_SIZE, SAPConnector, plain
from connectors.sap.settings import SAPSettings

__all__ = [
    "MAX_PAGE_SIZE",
    "BillingItem",
    "BillingRequest",
    "BillingResult",
    "SAPConnector",
    "SAPSettings",
    "plain",
]
