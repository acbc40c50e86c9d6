"""The SAP connector: SAP Business ByDesign's SOAP web services, in the connectors' vocabulary.

One zeep ``Client`` per service, loaded from ``WSDL_DIR/<Service>.wsdl`` (the project's compact
WSDLs or SAP's own, whose SOAP 1.1 binding is picked either way) and bound to ``URL`` plus the
service's path from the WSDL (the WSDL's host is never used). zeep serializes every request
and deserializes every answer; HTTP goes over a ``PinnedSession`` (timeout and CA bundle
always applied) with HTTP Basic auth or a client certificate. Every call takes one path
(``_call``): one POST, the answer or the failure translated (``connectors.sap.errors``), and
the shared retry policy around it. Each attempt is one request, counted in ``api_calls``.

Customers are read with ``QueryCustomerIn.FindByElements``: selected by
``SelectionByLastChangeSinceDateTime``, ordered by ``InternalID`` and paged after
``LastReturnedObjectID`` until ``MoreHitsAvailableIndicator`` is false, so a page fetched
again after a failure neither skips nor repeats customers, even when many share one change
stamp. SAP's queries carry no deletion flag: a deleted customer is simply not found.

Equipment (identified stock) is read the same way with
``QueryIdentifiedStocksIn.QueryByElements``, selected by its administrative last-change
date-time (``equipment_pages``).

Billing requests are made with ``ManageCustomerInvoiceRequestIn.MaintainBundle``
(``request_billing``), idempotent by the message header's UUID, so the retries are safe;
the invoices made of them are read with ``QueryCustomerInvoiceIn.FindByElements`` by their
base document (``invoices_for``).

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsdl.bindings.soap import Soap11Binding

from connectors.base import Connector
from connectors.errors import ConnectorError, Permanent
from connectors.sap.billing import BillingRequest, BillingResult
from connectors.sap.errors import (
    ERROR_SEVERITY,
    SYSTEM,
    from_fault,
    from_log,
    from_requests,
    from_status,
    refused,
)
from connectors.sap.settings import ENV_PREFIX, SAPSettings

__all__ = ["MAX_PAGE_SIZE", "SAPConnector", "plain"]

MAX_PAGE_SIZE = 1000
QUERY_CUSTOMER = "QueryCustomerIn"
MANAGE_INVOICE_REQUEST = "ManageCustomerInvoiceRequestIn"
QUERY_CUSTOMER_INVOICE = "QueryCustomerInvoiceIn"
QUERY_IDENTIFIED_STOCKS = "QueryIdentifiedStocksIn"
AT_OR_AFTER = "9"  # IntervalBoundaryTypeCode: >= LowerBoundary


def plain(value: Any) -> Any:
    """A zeep value as plain data: dicts and lists, elements left out when empty, a
    simple-content value (``UUID``, ``EmailURI``, ...) as its text when it carries no
    attributes, date-times in UTC. The same message read through the project's WSDL and
    through SAP's gives the same data."""
    return _clean(serialize_object(value, dict))


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        if "_value_1" in value and all(v is None for k, v in value.items() if k != "_value_1"):
            return _clean(value["_value_1"])
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [item for item in (_clean(v) for v in value) if item is not None]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


class _Transport(Transport):
    """zeep's transport over our session. A 401/403 is the credentials' fault, whatever the
    body (SAP answers an HTML logon page), and an error answered with a web page rather than
    a SOAP envelope is the HTTP status's: both are raised here, before zeep reads them."""

    def __init__(self, session: requests.Session, timeout_s: float, credentials: str) -> None:
        super().__init__(session=session, timeout=timeout_s, operation_timeout=timeout_s)
        self._credentials = credentials

    def post_xml(self, address: str, envelope: Any, headers: Any) -> requests.Response:
        response: requests.Response = super().post_xml(address, envelope, headers)
        if response.status_code in (401, 403):
            raise refused(response.status_code, self._credentials, response.text)
        media = response.headers.get("Content-Type", "text/xml").split(";")[0].strip().lower()
        if response.status_code >= 300 and not media.endswith("xml"):
            # not a SOAP Fault but the web server's own page (a 500, a 503 from a proxy)
            raise from_status(response.status_code, response.text)
        return response


class SAPConnector(Connector[SAPSettings]):
    """SAP Business ByDesign's SOAP services. Raises only the connectors' vocabulary
    (``connectors.errors``); ``ValueError`` for a bad argument.

    ``api_calls`` counts requests sent (every attempt, retries included).
    """

    system = SYSTEM

    def __init__(
        self,
        settings: SAPSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_total_s: float | None = None,
    ) -> None:
        """No I/O here (the WSDLs are read on first use). ``max_total_s`` caps one call with
        its retries (default: ``TIMEOUT_S`` times ``MAX_ATTEMPTS``); ``sleep`` is for
        tests."""
        super().__init__(
            settings,
            sleep=sleep,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            max_total_s=max_total_s,
        )
        basic = settings.basic_auth()
        if basic is not None:
            self.session.auth = basic
        else:
            self.session.cert = str(settings.client_cert)
        self.transport = _Transport(self.session, settings.timeout_s, settings.credentials_hint())
        self._services: dict[str, Any] = {}

    # -- reading --------------------------------------------------------------------------

    def customer_pages(
        self, changed_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """The customers changed at or after ``changed_since`` (all, when None), page by page
        in ``InternalID`` order, following ``LastReturnedObjectID`` until
        ``MoreHitsAvailableIndicator`` is false (empty pages skipped); each page fetch is
        retried on its own. Each customer is ``plain`` data in the shape of the response's
        ``Customer`` element, as SAP sends it: malformed ones included.

        ``changed_since`` must carry its time zone; keep the largest
        ``SystemAdministrativeData.LastChangeDateTime`` read as the next ``changed_since``
        (inclusive: customers stamped at that moment come again).
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        selection: dict[str, Any] | None = None
        if changed_since is not None:
            if changed_since.tzinfo is None or changed_since.utcoffset() is None:
                raise ValueError("changed_since must be time-zone aware")
            selection = {"SelectionByLastChangeSinceDateTime": changed_since.astimezone(UTC)}
        yield from self._pages(
            QUERY_CUSTOMER,
            "FindByElements",
            "CustomerSelectionByElements",
            selection,
            "Customer",
            "InternalID",
            page_size,
        )

    def equipment_pages(
        self, changed_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """The equipment (identified stock) changed at or after ``changed_since`` (all, when
        None), page by page in ``IdentifiedStockID`` order, from
        ``QueryIdentifiedStocksIn.QueryByElements`` selected by
        ``SelectionByAdministrativeDataLastChangeDateTime`` (>= ``changed_since``) and paged
        like ``customer_pages``. Each is ``plain`` data in the shape of the response's
        ``IdentifiedStock`` element. That element carries no change date-time: note when you
        asked, and ask from then (less a margin for SAP's clock) next time."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        selection: dict[str, Any] = {}  # required, even when it selects nothing
        if changed_since is not None:
            if changed_since.tzinfo is None or changed_since.utcoffset() is None:
                raise ValueError("changed_since must be time-zone aware")
            selection = {
                "SelectionByAdministrativeDataLastChangeDateTime": [
                    {
                        "InclusionExclusionCode": "I",
                        "IntervalBoundaryTypeCode": AT_OR_AFTER,
                        "LowerBoundaryDateTime": changed_since.astimezone(UTC),
                    }
                ]
            }
        yield from self._pages(
            QUERY_IDENTIFIED_STOCKS,
            "QueryByElements",
            "IdentifiedStockSelectionByElements",
            selection,
            "IdentifiedStock",
            "IdentifiedStockID",
            page_size,
        )

    # -- writing --------------------------------------------------------------------------

    def request_billing(self, request: BillingRequest) -> BillingResult:
        """Raise a billing request (a customer invoice request) in SAP, exactly once per
        ``request.message_uuid``: a repeat of the UUID, by our retries or by the caller
        after a failure, creates nothing more and returns the same document. A refusal
        (an unknown buyer, a product SAP does not know, ...) is ``Permanent`` with SAP's
        notes; ``Retryable`` after the retries are spent (send the same request again)."""
        if not isinstance(request, BillingRequest):
            raise ValueError("request must be a BillingRequest")
        before = self.api_calls
        answer = self._call(MANAGE_INVOICE_REQUEST, "MaintainBundle", request.message())
        confirmations: list[dict[str, Any]] = answer.get("CustomerInvoiceRequest") or []
        mine = [
            c
            for c in confirmations
            if c.get("ReferenceObjectNodeSenderTechnicalID") == request.document_id
        ] or confirmations
        if not mine or not mine[0].get("UUID"):
            raise Permanent(
                SYSTEM, "MaintainBundle confirmed no customer invoice request", 200, body=answer
            )
        confirmed = mine[0]
        notes = tuple(
            str(item.get("Note"))
            for item in (answer.get("Log") or {}).get("Item") or []
            if item.get("Note")
        )
        return BillingResult(
            message_uuid=request.message_uuid,
            document_id=str(confirmed.get("BaseBusinessTransactionDocumentID") or ""),
            uuid=str(confirmed["UUID"]).lower(),
            change_state_id=str(confirmed.get("ChangeStateID") or ""),
            attempts=self.api_calls - before,
            notes=notes,
        )

    def invoices_for(
        self, document_ids: Iterable[str], *, page_size: int = 100
    ) -> list[dict[str, Any]]:
        """The customer invoices SAP made of the billing requests for these documents of ours
        (``SelectionByBaseBTDReferenceID``), paged by ``LastReturnedObjectID``, each ``plain``
        data in the shape of the response's ``CustomerInvoice``. An invoice names its
        document in ``ReferenceBusinessTransactionDocumentID`` (``request_billing`` sends our
        key as the external reference SAP carries onto the invoice); a document not billed
        yet has none."""
        ids = list(dict.fromkeys(document_ids))
        if not all(isinstance(i, str) and i.strip() for i in ids):
            raise ValueError("document_ids must be non-empty strings")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if not ids:
            return []
        selection = {
            "SelectionByBaseBTDReferenceID": [
                {
                    "InclusionExclusionCode": "I",
                    "IntervalBoundaryTypeCode": "1",
                    "LowerBoundaryIdentifier": i,
                }
                for i in ids
            ]
        }
        found: list[dict[str, Any]] = []
        for invoices in self._pages(
            QUERY_CUSTOMER_INVOICE,
            "FindByElements",
            "CustomerInvoiceSelectionByElements",
            selection,
            "CustomerInvoice",
            "ID",
            page_size,
        ):
            found += invoices
        return found

    def _pages(
        self,
        service: str,
        operation: str,
        selection_name: str,
        selection: Mapping[str, Any] | None,
        items_key: str,
        id_key: str,
        page_size: int,
    ) -> Iterator[list[dict[str, Any]]]:
        """The non-empty pages of ``service``'s query ``operation`` for ``selection`` (sent as
        ``selection_name``), each the answer's ``items_key`` list, following
        ``LastReturnedObjectID`` (or the last item's ``id_key``) until
        ``MoreHitsAvailableIndicator`` is false; ``Permanent`` when it does not move on."""
        last: str | None = None
        while True:
            conditions: dict[str, Any] = {
                "QueryHitsMaximumNumberValue": page_size,
                "QueryHitsUnlimitedIndicator": False,
            }
            if last is not None:
                conditions["LastReturnedObjectID"] = last
            answer = self._call(
                service,
                operation,
                {selection_name: selection, "ProcessingConditions": conditions},
            )
            items: list[dict[str, Any]] = answer.get(items_key) or []
            if items:
                yield items
            processing = answer.get("ProcessingConditions") or {}
            if not processing.get("MoreHitsAvailableIndicator"):
                return
            following = processing.get("LastReturnedObjectID")
            if following is None and items:
                following = items[-1].get(id_key)
            if not isinstance(following, str) or not following or following == last:
                raise Permanent(
                    SYSTEM,
                    "more hits are available but LastReturnedObjectID does not move on",
                    200,
                    body=processing,
                )
            last = following

    # -- services -------------------------------------------------------------------------

    def service(self, name: str) -> Any:
        """The zeep service proxy for ``name``, bound to ``URL`` (made once)."""
        proxy = self._services.get(name)
        if proxy is None:
            proxy = self._services[name] = self._bind(name)
        return proxy

    def _bind(self, name: str) -> Any:
        path = Path(self.settings.wsdl_dir) / f"{name}.wsdl"
        if not path.is_file():
            raise Permanent(SYSTEM, f"no {name}.wsdl in {path.parent} ({ENV_PREFIX}WSDL_DIR)")
        try:
            client = zeep.Client(
                str(path), transport=self.transport, settings=zeep.Settings(strict=True)
            )
        except (zeep.exceptions.Error, etree.LxmlError, OSError) as exc:
            raise Permanent(SYSTEM, f"cannot read {path}: {exc}") from exc
        for service in client.wsdl.services.values():
            for port in service.ports.values():
                if isinstance(port.binding, Soap11Binding):
                    where = urlsplit(port.binding_options.get("address") or "").path
                    return client.create_service(port.binding.name, self.settings.base_url + where)
        raise Permanent(SYSTEM, f"{path} has no SOAP 1.1 port")

    # -- the one path every call takes ----------------------------------------------------

    def _call(self, service: str, operation: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        proxy = self.service(service)
        result: dict[str, Any] = self._policy.copy()(self._attempt, proxy, operation, arguments)
        return result

    def _attempt(self, proxy: Any, operation: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        self.api_calls += 1
        try:
            answer = getattr(proxy, operation)(**arguments)
        except ConnectorError:
            raise
        except requests.RequestException as exc:
            raise from_requests(exc) from exc
        except zeep.exceptions.Fault as exc:
            raise from_fault(exc.message, exc.code, _notes(exc.detail)) from exc
        except zeep.exceptions.TransportError as exc:
            raise from_status(exc.status_code, exc.content) from exc
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError) as exc:
            raise Permanent(
                SYSTEM, f"the answer to {operation} does not fit the WSDL: {exc}"
            ) from exc
        result = plain(answer) if answer is not None else {}
        if not isinstance(result, dict):
            raise Permanent(SYSTEM, f"the answer to {operation} is not a message", 200)
        log = result.get("Log") or {}
        items = log.get("Item") or []
        errors = [
            str(item.get("Note") or "")
            for item in items
            if str(item.get("SeverityCode") or "") == ERROR_SEVERITY
        ]
        if errors or str(log.get("MaximumLogItemSeverityCode") or "") == ERROR_SEVERITY:
            raise from_log([e for e in errors if e])
        return result


def _notes(detail: Any) -> list[str]:
    """The notes of a fault's StandardFaultMessage (its Log's items and its faultText)."""
    if detail is None or not isinstance(detail, etree._Element):
        return []
    found = detail.iterfind(".//Note")
    notes = [n.text.strip() for n in found if n.text and n.text.strip()]
    return list(dict.fromkeys(notes))
