"""Salesforce: SOQL pages in, upserts by external id out (REST API via simple-salesforce)."""

from connectors.salesforce.client import COLLECTION_SIZE, SalesforceConnector, UpsertResult
from connectors.salesforce.quota import QuotaExhausted
from connectors.salesforce.settings import SalesforceSettings

__all__ = [
    "COLLECTION_SIZE",
    "QuotaExhausted",
    "SalesforceConnector",
    "SalesforceSettings",
    "UpsertResult",
]
