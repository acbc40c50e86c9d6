"""SAP in the integration tests: the connector on a simulator, and SAP's own WSDLs to hold the
simulator's messages against (kept outside the repository, in ``../shared/wsdl/sap-bydesign``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.sap import SAPConnector, SAPSettings
from sandbox.sap import SAPSimulator

REAL_WSDL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "wsdl" / "sap-bydesign"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def real_wsdl(service: str) -> pytest.MarkDecorator:
    """Skips a test where SAP's own WSDL of ``service`` is not at ``REAL_WSDL_DIR``."""
    return pytest.mark.skipif(
        not (REAL_WSDL_DIR / f"{service}.wsdl").is_file(),
        reason=f"SAP's own WSDLs are not at {REAL_WSDL_DIR} "
        "(conformance data kept outside the repo)",
    )


def connector(sim: SAPSimulator, **over: Any) -> SAPConnector:
    """The connector on the simulator, its settings given (not read from the environment)."""
    values: dict[str, Any] = {
        "wsdl_dir": sim.wsdl_dir,
        "url": sim.url,
        "username": sim.username,
        "password": sim.password,
        "ca_bundle": sim.ca_path,
        "timeout_s": 5,
    }
    return SAPConnector(SAPSettings(**values | over), sleep=lambda _: None)


def real_schema(wsdl: Path, into: Path) -> etree.XMLSchema:
    """The XML Schema of a WSDL's types (one schema per namespace, imports resolved to files),
    for strict validation by libxml2: element order, required elements and every facet."""
    schemas = etree.parse(str(wsdl)).getroot().findall(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    where = {s.get("targetNamespace"): into / f"schema{i}.xsd" for i, s in enumerate(schemas)}
    for schema in schemas:
        copy = etree.fromstring(etree.tostring(schema))
        for imported in copy.findall(f"{{{XSD}}}import"):
            imported.set("schemaLocation", where[imported.get("namespace")].as_uri())
        where[copy.get("targetNamespace")].write_bytes(etree.tostring(copy))
    main = etree.Element(f"{{{XSD}}}schema", nsmap={"xsd": XSD})
    main.set("targetNamespace", "urn:fieldbridge:conformance")
    for namespace, path in where.items():
        etree.SubElement(
            main, f"{{{XSD}}}import", namespace=namespace, schemaLocation=path.as_uri()
        )
    return etree.XMLSchema(main)


def body_of(envelope: bytes) -> Any:
    root = etree.fromstring(envelope)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    assert root.tag == f"{{{SOAP_ENV}}}Envelope" and body is not None and len(body) == 1
    return body[0]
