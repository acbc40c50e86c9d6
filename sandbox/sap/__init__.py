"""SAP Business ByDesign on loopback: its SOAP web services (``QueryCustomerIn``,
``ManageCustomerInvoiceRequestIn``) over real HTTPS with HTTP Basic auth, read and answered
by zeep from the project's own WSDLs, with a seeded realistic set of customers, the billing
requests made, a ledger of requests and seeded faults. See ``SAPSimulator``."""

from sandbox.sap.customers import MALFORMED_KINDS
from sandbox.sap.faults import KINDS as FAULT_KINDS
from sandbox.sap.server import DEFAULT_WSDL_DIR, SAPSimulator, Touched

__all__ = ["DEFAULT_WSDL_DIR", "FAULT_KINDS", "MALFORMED_KINDS", "SAPSimulator", "Touched"]
