"""The SAP connector for unit tests: its settings, on recorded-style answers (``responses``)
rather than the network, retrying without sleeping (each wait is appended to ``sleeps``); a
service's answer registered at its endpoint, and a request the connector sent read back."""

from __future__ import annotations

from typing import Any

import responses
from lxml import etree

from connectors.sap import SAPConnector, SAPSettings

URL = "https://my000000.sapbydesign.example"


def settings(**over: Any) -> SAPSettings:
    values: dict[str, Any] = {
        "url": URL,
        "username": "_FIELDBRIDGE",
        "password": "secret",
        "timeout_s": 7.5,
        "max_attempts": 4,
    }
    return SAPSettings(**values | over)


def connector(sleeps: list[float] | None = None, **over: Any) -> SAPConnector:
    return SAPConnector(settings(**over), sleep=(sleeps if sleeps is not None else []).append)


def add_xml_at(endpoint: str, mocked: responses.RequestsMock, body: bytes, status: int) -> None:
    """The next answer at ``endpoint``: ``body`` as SOAP's XML, with ``status``."""
    mocked.add(
        responses.POST, endpoint, body=body, status=status, content_type="text/xml; charset=utf-8"
    )


def sent_to(operation: Any, call: Any) -> Any:
    """A request the connector sent to ``operation`` (zeep's), read back by zeep."""
    return operation.input.deserialize(etree.fromstring(call.request.body))
