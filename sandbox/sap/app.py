"""SAP Business ByDesign's web services over HTTP: one SOAP 1.1 endpoint per service and the
``/__*`` controls.

Every service call needs HTTP Basic authentication (401 otherwise), may draw a fault from the
seeded plan once it is authenticated, and goes into the ledger with its status, fault and the
request as it came. Requests are read and answers written by zeep from the project's own
WSDLs (``operation.input.deserialize``, ``operation.output.serialize``); a SOAP Fault's
``detail`` is SAP's ``StandardFaultMessage`` rendered by zeep. A request that does not parse
or does not fit the WSDL is answered with a Client fault, as SAP does (HTTP 500).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zeep
from lxml import etree
from lxml.builder import ElementMaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from zeep.wsdl.bindings.soap import Soap11Binding

from sandbox._controls import faults_route, json_response, ledger_route, xml_response
from sandbox._faults import WEB_ERRORS, delay
from sandbox._server import ServerState
from sandbox.sap.customers import Customers
from sandbox.sap.faults import FaultPlan
from sandbox.sap.invoices import InvoiceRequests
from sandbox.sap.register import IDRange, StampRange
from sandbox.sap.stocks import Stocks

__all__ = ["DEFAULT_MAX_HITS", "SERVICES", "Credentials", "Desk", "SAPApp", "SoapService"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FAULT_ELEMENT = "{http://sap.com/xi/AP/Common/Global}StandardFaultMessage"
DEFAULT_MAX_HITS = 100  # hits per call when the query names no maximum and is not unlimited
TEMPORARY = "The system is temporarily unavailable (update in progress); try again later"

# service (as SAP names it and its WSDL) -> the path SAP serves it at
SERVICES: dict[str, str] = {
    "QueryCustomerIn": "/sap/bc/srt/scs/sap/querycustomerin1",
    "ManageCustomerInvoiceRequestIn": "/sap/bc/srt/scs/sap/managecustomerinvoicerequesti4",
    "QueryCustomerInvoiceIn": "/sap/bc/srt/scs/sap/querycustomerinvoicein",
    "QueryIdentifiedStocksIn": "/sap/bc/srt/scs/sap/queryidentifiedstocksin",
}
LOST = "lost"  # the fault kind whose call is processed but whose answer never arrives
ERROR = "3"  # LogItemSeverityCode: 1 information, 2 warning, 3 error


class SoapService:
    """One service of the project's WSDLs: its SOAP 1.1 binding's operations, as zeep reads
    them."""

    def __init__(self, wsdl: Path) -> None:
        self.client = zeep.Client(str(wsdl))
        bindings = [b for b in self.client.wsdl.bindings.values() if isinstance(b, Soap11Binding)]
        if not bindings:
            raise ValueError(f"{wsdl} has no SOAP 1.1 binding")
        self.binding = bindings[0]
        self.fault_element = self.client.get_element(FAULT_ELEMENT)

    def operation(self, soap_action: str | None, envelope: Any) -> Any:
        """The operation a request is for: by its SOAPAction, else by its body's element."""
        operations = self.binding._operations
        action = (soap_action or "").strip().strip('"')
        for op in operations.values():
            if action and op.soapaction == action:
                return op
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        first = etree.QName(body[0]).text if body is not None and len(body) else None
        for op in operations.values():  # document style: the body's element is the input's
            if op.input.body is not None and first == str(op.input.body.qname):
                return op
        raise SoapFault("Client", f"no operation for SOAPAction {action!r}")

    def fault(self, code: str, text: str, notes: list[str] | None = None) -> bytes:
        """A SOAP 1.1 Fault whose detail is SAP's StandardFaultMessage."""
        soap = ElementMaker(namespace=SOAP_ENV, nsmap={"soap-env": SOAP_ENV})
        faultcode, faultstring, detail = (
            etree.Element("faultcode"),
            etree.Element("faultstring"),
            etree.Element("detail"),
        )
        faultcode.text, faultstring.text = f"soap-env:{code}", text
        log = {
            "MaximumLogItemSeverityCode": "3",
            "Item": [{"SeverityCode": "3", "Note": note[:200]} for note in notes or [text]],
        }
        value = self.fault_element(standard={"faultText": text}, addition={"Log": log})
        self.fault_element.render(detail, value)
        envelope = soap.Envelope(soap.Body(soap.Fault(faultcode, faultstring, detail)))
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


class QueryRefused(Exception):
    """A query SAP refuses: answered with no hits and the note in its Log (``_log_error``)."""


class SoapFault(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass
class Credentials:
    """The communication user SAP accepts now (HTTP Basic)."""

    username: str
    password: str

    def accept(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.username.encode()) and hmac.compare_digest(
            password.encode(), self.password.encode()
        )


@dataclass
class Desk:
    """What the app and the simulator share, under ``lock``."""

    customers: Customers
    credentials: Credentials
    services: dict[str, SoapService]
    invoices: InvoiceRequests = field(default_factory=InvoiceRequests)
    stocks: Stocks = field(default_factory=lambda: Stocks(seed=1))
    faults: FaultPlan = field(default_factory=FaultPlan)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


def _plain(status: int, text: str) -> Response:
    return Response(
        f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>",
        status_code=status,
        media_type="text/html",
    )


def _text(value: Any) -> str | None:
    """The text of a simple value or of a simple-content one (``_value_1``)."""
    if value is None:
        return None
    inner = getattr(value, "_value_1", value)
    return None if inner is None else str(inner)


class SAPApp:
    def __init__(self, desk: Desk, state: ServerState) -> None:
        self.desk = desk
        self.state = state
        handlers: dict[str, Callable[[Any], dict[str, Any]]] = {
            "QueryCustomerIn": self.find_customers,
            "ManageCustomerInvoiceRequestIn": self.maintain_invoice_requests,
            "QueryCustomerInvoiceIn": self.find_invoices,
            "QueryIdentifiedStocksIn": self.find_stocks,
        }
        routes = [
            Route(path, self._endpoint(name, handlers[name]), methods=["POST"], name=name)
            for name, path in SERVICES.items()
            if name in desk.services
        ]
        routes += [
            ledger_route(desk.lock, desk.ledger, json_response),
            faults_route(desk.lock, desk.faults, json_response),
            Route("/__malformed", self.ctl_malformed, methods=["GET"]),
            Route("/__health", self.ctl_health, methods=["GET"]),
            Route("/{rest:path}", self.missing, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
        ]
        self.app = Starlette(routes=routes)

    def _endpoint(
        self, name: str, handler: Callable[[Any], dict[str, Any]]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self.serve(request, name, handler)

        return endpoint

    async def serve(
        self, request: Request, name: str, handler: Callable[[Any], dict[str, Any]]
    ) -> Response:
        desk = self.desk
        service = desk.services[name]
        body = await request.body()
        fault: str | None = None
        operation: str | None = None
        response: Response
        with desk.lock:
            authenticated = desk.credentials.accept(request.headers.get("authorization", ""))
            if authenticated:
                desk.calls += 1
                fault = desk.faults.draw(desk.calls, request.method, request.url.path)
            plan = desk.faults
        if not authenticated:
            response = _plain(401, "Logon failed")
            response.headers["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server"'
        else:
            answer_with = await delay(fault, plan, self.state)
            if fault == "latency":
                fault = None
            if answer_with in WEB_ERRORS:
                response = _plain(*WEB_ERRORS[answer_with])
            elif answer_with == "fault":
                response = xml_response(500, service.fault("Server", TEMPORARY))
            elif answer_with == LOST:
                # processed (a write is committed), but the answer is lost on its way back
                with contextlib.suppress(SoapFault):
                    operation, _ = self._answer(service, request, body, handler)
                response = _plain(500, "500 Internal Server Error")
            else:
                try:
                    op, content = self._answer(service, request, body, handler)
                    operation = op
                    response = xml_response(200, content)
                except SoapFault as exc:
                    response = xml_response(500, service.fault(exc.code, exc.text))
        with desk.lock:
            desk.ledger.append(
                {
                    "seq": len(desk.ledger) + 1,
                    "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "method": request.method,
                    "path": request.url.path,
                    "service": name,
                    "operation": operation,
                    "status": response.status_code,
                    "fault": fault,
                    "message_uuid": _message_uuid(body),
                    "request": body.decode("utf-8", "replace"),
                }
            )
        return response

    def _answer(
        self,
        service: SoapService,
        request: Request,
        body: bytes,
        handler: Callable[[Any], dict[str, Any]],
    ) -> tuple[str, bytes]:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        try:
            envelope = etree.fromstring(body, parser=parser)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"the request is not XML: {exc}") from None
        op = service.operation(request.headers.get("soapaction"), envelope)
        try:
            query = op.input.deserialize(envelope)
        except Exception as exc:  # zeep's validation and parse errors, whatever their class
            raise SoapFault("Client", f"the request does not fit {op.name}: {exc}") from None
        try:
            answer = handler(query)
        except QueryRefused as exc:
            answer = _log_error(str(exc))
        message = op.output.serialize(**answer)
        return op.name, bytes(
            etree.tostring(message.content, xml_declaration=True, encoding="utf-8")
        )

    # --- QueryCustomerIn.FindByElements ----------------------------------------------------

    def find_customers(self, query: Any) -> dict[str, Any]:
        selection = getattr(query, "CustomerSelectionByElements", None)
        conditions = getattr(query, "ProcessingConditions", None)
        since: datetime | None = None
        ranges: list[IDRange] = []
        if selection is not None:
            stamp = selection.SelectionByLastChangeSinceDateTime
            if stamp is not None:
                since = stamp.astimezone(UTC)
            for item in selection.SelectionByInternalID or []:
                ranges.append(
                    _id_range(
                        item,
                        _text(item.LowerBoundaryInternalID),
                        _text(item.UpperBoundaryInternalID),
                        "SelectionByInternalID",
                    )
                )
        limit, after = _paging(conditions)
        hits, more = self.desk.customers.find(since, ranges, after, limit)
        return {"Customer": hits, "ProcessingConditions": _processing(hits, "InternalID", more)}

    # --- ManageCustomerInvoiceRequestIn.MaintainBundle ------------------------------------

    def maintain_invoice_requests(self, bundle: Any) -> dict[str, Any]:
        """Create the bundle's invoice requests, all or none; once per message UUID: a repeat
        is answered with the first answer and creates nothing."""
        invoices = self.desk.invoices
        header = bundle.BusinessDocumentBasicMessageHeader
        message_uuid = _text(header.UUID) if header is not None else None
        with invoices.lock:
            earlier = invoices.answered(message_uuid)
            if earlier is not None:
                return earlier
            requests = [_invoice_request(r) for r in bundle.CustomerInvoiceRequest or []]
            errors: list[dict[str, Any]] = []
            for request in requests:
                buyer = (request.get("BuyerParty") or {}).get("InternalID")
                sender = request.get("ObjectNodeSenderTechnicalID")
                if request.get("actionCode", "01") not in ("01", "04"):
                    note = "Only action codes 01 and 04 (create) are supported"
                elif buyer is None:
                    note = "Enter a buyer party"
                elif self.desk.customers.get(buyer) is None:
                    note = f"Business partner {buyer} does not exist"
                else:
                    continue
                errors.append(
                    _log_item(note, sender, "CIR(/CUSTOMERINVOICEREQUEST/)")
                    | {"SeverityCode": ERROR}
                )
            answer: dict[str, Any]
            if errors:
                answer = {
                    "Log": {
                        "BusinessDocumentProcessingResultCode": "5",
                        "MaximumLogItemSeverityCode": ERROR,
                        "Item": errors,
                    }
                }
            else:
                confirmations = []
                for request in requests:
                    made = invoices.create(message_uuid, request)
                    confirmations.append(
                        {
                            "ReferenceObjectNodeSenderTechnicalID": request.get(
                                "ObjectNodeSenderTechnicalID"
                            )
                            or made["ID"],
                            "ChangeStateID": made["ChangeStateID"],
                            "UUID": made["UUID"],
                            "BaseBusinessTransactionDocumentID": request.get(
                                "BaseBusinessTransactionDocumentID"
                            )
                            or made["ID"],
                        }
                    )
                answer = {
                    "CustomerInvoiceRequest": confirmations,
                    "Log": {"BusinessDocumentProcessingResultCode": "3"},
                }
            invoices.remember(message_uuid, answer)
            return answer

    # --- QueryCustomerInvoiceIn.FindByElements ---------------------------------------------

    def find_invoices(self, query: Any) -> dict[str, Any]:
        """Invoices selected by their base document (``SelectionByBaseBTDReferenceID``,
        single values included: codes I and 1), by ID, paged like the customers."""
        selection = getattr(query, "CustomerInvoiceSelectionByElements", None)
        conditions = getattr(query, "ProcessingConditions", None)
        bases: list[str] = []
        for item in (selection.SelectionByBaseBTDReferenceID or []) if selection else []:
            lower = _text(item.LowerBoundaryIdentifier)
            kind = (item.IntervalBoundaryTypeCode or "").strip()
            include = (item.InclusionExclusionCode or "I").strip()
            if lower is None or kind != "1" or include != "I":
                return _log_error(
                    "SelectionByBaseBTDReferenceID: only single values are supported "
                    "(InclusionExclusionCode I, IntervalBoundaryTypeCode 1)"
                )
            bases.append(lower)
        limit, after = _paging(conditions)
        hits, more = self.desk.invoices.find_invoices(bases, after, limit)
        return {"CustomerInvoice": hits, "ProcessingConditions": _processing(hits, "ID", more)}

    # --- QueryIdentifiedStocksIn.QueryByElements -------------------------------------------

    def find_stocks(self, query: Any) -> dict[str, Any]:
        """Identified stock selected by its administrative last change
        (``IntervalBoundaryTypeCode`` 1, 3, 8, 9), by ID (1, 3) and by life-cycle status
        (1, 3), paged like the customers. The answer always carries a Log (SAP's schema
        requires it)."""
        selection = query.IdentifiedStockSelectionByElements
        changed: list[StampRange] = []
        ids: list[IDRange] = []
        statuses: list[IDRange] = []
        if selection is not None:
            for item in selection.SelectionByAdministrativeDataLastChangeDateTime or []:
                changed.append(_stamp_range(item))
            for item in selection.SelectionByIdentifiedStockID or []:
                ids.append(
                    _id_range(
                        item,
                        _text(item.LowerBoundaryIdentifier),
                        _text(item.UpperBoundaryIdentifier),
                        "SelectionByIdentifiedStockID",
                    )
                )
            for item in selection.SelectionByLifeCycleStatusCode or []:
                statuses.append(
                    _id_range(
                        item,
                        _text(item.LowerBoundaryCode),
                        _text(item.UpperBoundaryCode),
                        "SelectionByLifeCycleStatusCode",
                    )
                )
        limit, after = _paging(query.ProcessingConditions)
        hits, more = self.desk.stocks.find(changed, ids, statuses, after, limit)
        return {
            "ProcessingConditions": _processing(hits, "IdentifiedStockID", more),
            "Log": {},
            "IdentifiedStock": hits,
        }

    # --- controls --------------------------------------------------------------------------

    async def missing(self, request: Request) -> Response:
        return _plain(404, "404 Not Found")

    async def ctl_malformed(self, request: Request) -> Response:
        with self.desk.customers.lock:
            return json_response(200, dict(self.desk.customers.malformed))

    async def ctl_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})


def _invoice_request(node: Any) -> dict[str, Any]:
    """One ``CustomerInvoiceRequest`` of a MaintainBundle as plain data."""
    buyer = node.BuyerParty
    pricing = node.PricingTerms
    items = []
    for item in node.Item or []:
        quantity = item.Quantity
        product = item.Product
        items.append(
            {
                "BaseBusinessTransactionDocumentItemID": _text(
                    item.BaseBusinessTransactionDocumentItemID
                ),
                "Description": _text(item.Description),
                "ProductID": _text(product.InternalID) if product is not None else None,
                "Quantity": getattr(quantity, "_value_1", quantity),
                "unitCode": getattr(quantity, "unitCode", None),
                "QuantityTypeCode": _text(item.QuantityTypeCode),
            }
        )
    record = {
        "actionCode": node.actionCode,
        "ObjectNodeSenderTechnicalID": _text(node.ObjectNodeSenderTechnicalID),
        "BaseBusinessTransactionDocumentID": _text(node.BaseBusinessTransactionDocumentID),
        "Name": _text(node.Name),
        "ReferenceBusinessTransactionDocumentID": _text(
            node.ReferenceBusinessTransactionDocumentID
        ),
        "BuyerParty": {"InternalID": _text(buyer.InternalID) if buyer is not None else None},
        "PricingProcedureCode": _text(pricing.PricingProcedureCode) if pricing else None,
        "CurrencyCode": _text(pricing.CurrencyCode) if pricing else None,
        "Item": items,
    }
    return {k: v for k, v in record.items() if v is not None}


def _log_item(note: str, sender: str | None, type_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {"TypeID": type_id, "Note": note[:200]}
    if sender is not None:
        item["ReferenceObjectNodeSenderTechnicalID"] = sender
    return item


def _message_uuid(body: bytes) -> str | None:
    """The ``BusinessDocumentBasicMessageHeader/UUID`` of a request as it came, if any."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return None
    found = root.xpath(
        "//*[local-name()='BusinessDocumentBasicMessageHeader']/*[local-name()='UUID']/text()"
    )
    return str(found[0]).strip().lower() if found else None


def _paging(conditions: Any) -> tuple[int | None, str | None]:
    """The hits a query asks for at most (``DEFAULT_MAX_HITS`` when it names no maximum, None
    when unlimited) and the ID it asks them after."""
    if conditions is None:
        return DEFAULT_MAX_HITS, None
    limit: int | None = DEFAULT_MAX_HITS
    if conditions.QueryHitsUnlimitedIndicator:
        limit = None
    elif conditions.QueryHitsMaximumNumberValue is not None:
        limit = int(conditions.QueryHitsMaximumNumberValue)
        if limit < 1:
            raise QueryRefused("QueryHitsMaximumNumberValue must be at least 1")
    return limit, _text(conditions.LastReturnedObjectID)


def _processing(hits: list[dict[str, Any]], key: str, more: bool) -> dict[str, Any]:
    """A response's ProcessingConditions: the hits returned, whether more are available and
    the last returned ID (the last hit's ``key``)."""
    processing: dict[str, Any] = {
        "ReturnedQueryHitsNumberValue": len(hits),
        "MoreHitsAvailableIndicator": more,
    }
    if hits:
        processing["LastReturnedObjectID"] = hits[-1][key]
    return processing


def _id_range(item: Any, lower: str | None, upper: str | None, name: str) -> IDRange:
    """A selection by an identifier or a code: single values (code 1) and intervals (3)."""
    kind = (item.IntervalBoundaryTypeCode or "1").strip()
    if lower is None or kind not in ("1", "3") or (kind == "3" and upper is None):
        raise QueryRefused(
            f"{name}: give a lower boundary (and an upper one for "
            "IntervalBoundaryTypeCode 3); codes 1, 3"
        )
    include = (item.InclusionExclusionCode or "I").strip() != "E"
    return IDRange(include, lower, upper if kind == "3" else None)


def _stamp_range(item: Any) -> StampRange:
    """A selection by a date-time: codes 1 (equal), 3 (between), 8 (after), 9 (at or after)."""
    kind = (item.IntervalBoundaryTypeCode or "").strip()
    lower, upper = item.LowerBoundaryDateTime, item.UpperBoundaryDateTime
    if kind not in StampRange.KINDS or lower is None or (kind == "3" and upper is None):
        raise QueryRefused(
            "SelectionByAdministrativeDataLastChangeDateTime: IntervalBoundaryTypeCode 1, 3, "
            "8 or 9 with a lower boundary (and an upper one for 3)"
        )
    include = (item.InclusionExclusionCode or "I").strip() != "E"
    return StampRange(
        include, kind, lower.astimezone(UTC), upper.astimezone(UTC) if upper else None
    )


def _log_error(note: str) -> dict[str, Any]:
    """An answer with no hits and an error in its Log, as SAP answers a query it refuses."""
    return {
        "ProcessingConditions": {
            "ReturnedQueryHitsNumberValue": 0,
            "MoreHitsAvailableIndicator": False,
        },
        "Log": {
            "MaximumLogItemSeverityCode": "3",
            "Item": [{"TypeID": "FBE(/SAP/QUERY)", "SeverityCode": "3", "Note": note[:200]}],
        },
    }
