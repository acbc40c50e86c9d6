"""The real connectors, pointed at the sandbox's simulators (their ``env()`` settings)."""

from __future__ import annotations

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SAPConnector, SAPSettings
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator


def sf_connector(sim: SalesforceSimulator) -> SalesforceConnector:
    values = {
        k.removeprefix("FIELDBRIDGE_SALESFORCE_").lower(): v for k, v in sim.env("password").items()
    }
    return SalesforceConnector(
        SalesforceSettings(**{**values, "api_version": sim.api_version})  # type: ignore[arg-type]
    )


def sap_connector(sim: SAPSimulator) -> SAPConnector:
    values = {k.removeprefix("FIELDBRIDGE_SAP_").lower(): v for k, v in sim.env().items()}
    return SAPConnector(SAPSettings(**values))  # type: ignore[arg-type]
