"""A Salesforce org on loopback: the REST API subset a simple-salesforce connector uses
(OAuth password and JWT bearer flows, SOQL query/queryAll with paging, sObject rows, upsert by
external ID, sObject Collections, limits, Bulk API 2.0 query and ingest jobs), over real
HTTPS, with a seeded realistic data set, a ledger of every write and seeded faults. See
``SalesforceSimulator``."""

from sandbox.salesforce.faults import KINDS as FAULT_KINDS
from sandbox.salesforce.seed import SeedSummary
from sandbox.salesforce.server import SalesforceSimulator, Touched

__all__ = ["FAULT_KINDS", "SalesforceSimulator", "SeedSummary", "Touched"]
