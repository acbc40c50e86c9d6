"""SAP Business ByDesign on loopback: its SOAP web services (``QueryCustomerIn``,
``ManageCustomerInvoiceRequestIn``, ``QueryCustomerInvoiceIn``, ``QueryIdentifiedStocksIn``)
over real HTTPS with HTTP Basic auth, read and answered by zeep from the project's own WSDLs,
with a seeded realistic set of customers and equipment, the billing requests made, a ledger
of requests and seeded faults. See ``SAPSimulator``."""

from sandbox.sap.customers import MALFORMED_KINDS
from sandbox.sap.faults import KINDS as FAULT_KINDS
from sandbox.sap.server import DEFAULT_WSDL_DIR, SAPSimulator, Touched
from sandbox.sap.stocks import MALFORMED_KINDS as STOCK_MALFORMED_KINDS

__all__ = [
    "DEFAULT_WSDL_DIR",
    "FAULT_KINDS",
    "MALFORMED_KINDS",
    "STOCK_MALFORMED_KINDS",
    "SAPSimulator",
    "Touched",
]
