"""SAP Business ByDesign's mapping: its customers and equipment in (``inbound``:
``SAPMapping``), a closed work order's billing trigger out as a customer invoice request
(``billing``)."""

from mappings.sap.inbound import SYSTEM, SAPMapping

__all__ = ["SYSTEM", "SAPMapping"]
