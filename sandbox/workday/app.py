"""Workday's Human_Resources service over HTTP: ``POST /ccx/service/<tenant>/Human_Resources/
<version>`` (SOAP 1.1, ``Get_Workers``) and the ``/__*`` controls.

Every request must carry a WS-Security UsernameToken whose user (``user@tenant``) and text
password Workday accepts, else it is answered as Workday answers one: HTTP 500, a Fault
``SOAP-ENV:Client.authenticationError``, "invalid username or password". Once signed in, a
call may draw a fault from the seeded plan, and goes into the ledger with its status, fault
and the request as it came. Requests are read and answers written by zeep from the project's
own WSDL (``operation.input.deserialize``, ``operation.output.serialize``); a Fault's detail
(``Validation_Fault``, ``Processing_Fault``) is rendered by zeep too. A request that does not
parse or fit the WSDL, asks for a ``Count`` above 999 or names another version than its
path is answered with a ``Validation_Fault``.
"""

from __future__ import annotations

import hmac
import threading
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
from sandbox.workday.faults import FaultPlan
from sandbox.workday.workers import Workers

__all__ = ["DEFAULT_COUNT", "MAX_COUNT", "Credentials", "Desk", "Service", "WorkdayApp"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WD = "urn:com.workday/bsvc"
DEFAULT_COUNT = 100  # workers a page when the request names no Count
MAX_COUNT = 999
AUTH_FAILED = "invalid username or password"


class Service:
    """The project's ``Human_Resources.wsdl``: its ``Get_Workers`` operation and fault
    elements, as zeep reads them."""

    def __init__(self, wsdl: Path) -> None:
        self.client = zeep.Client(str(wsdl))
        bindings = [b for b in self.client.wsdl.bindings.values() if isinstance(b, Soap11Binding)]
        if not bindings:
            raise ValueError(f"{wsdl} has no SOAP 1.1 binding")
        self.get_workers = bindings[0]._operations["Get_Workers"]
        self.validation = self.client.get_element(f"{{{WD}}}Validation_Fault")
        self.processing = self.client.get_element(f"{{{WD}}}Processing_Fault")

    def answer(self, **parts: Any) -> bytes:
        message = self.get_workers.output.serialize(**parts)
        return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))

    def fault(self, code: str, text: str, kind: str | None = None) -> bytes:
        """A SOAP 1.1 Fault; ``kind`` ``validation`` or ``processing`` adds Workday's detail."""
        soap = ElementMaker(namespace=SOAP_ENV, nsmap={"SOAP-ENV": SOAP_ENV})
        faultcode, faultstring = etree.Element("faultcode"), etree.Element("faultstring")
        faultcode.text, faultstring.text = f"SOAP-ENV:{code}", text
        parts = [faultcode, faultstring]
        if kind is not None:
            detail = etree.Element("detail")
            if kind == "validation":
                value = self.validation(Validation_Error=[{"Message": text}])
                self.validation.render(detail, value)
            else:
                self.processing.render(detail, self.processing(Detail_Message=text))
            parts.append(detail)
        envelope = soap.Envelope(soap.Body(soap.Fault(*parts)))
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


class Refused(Exception):
    """A request Workday refuses: a Client fault with a ``Validation_Fault``."""


@dataclass
class Credentials:
    """The integration user Workday accepts now (``user@tenant``) and its password."""

    username: str
    password: str

    def accept(self, envelope: Any) -> bool:
        token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE}}}Username") or ""
        password = token.find(f"{{{WSSE}}}Password")
        if password is None or not str(password.get("Type", "")).endswith("#PasswordText"):
            return False
        return hmac.compare_digest(user.encode(), self.username.encode()) and hmac.compare_digest(
            (password.text or "").encode(), self.password.encode()
        )


@dataclass
class Desk:
    """What the app and the simulator share, under ``lock``."""

    tenant: str
    workers: Workers
    credentials: Credentials
    service: Service
    faults: FaultPlan = field(default_factory=FaultPlan)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain")


class WorkdayApp:
    def __init__(self, desk: Desk, state: ServerState) -> None:
        self.desk = desk
        self.state = state
        routes = [
            Route(
                f"/ccx/service/{desk.tenant}/Human_Resources/{{version}}",
                self.serve,
                methods=["POST"],
            ),
            ledger_route(desk.lock, desk.ledger, json_response),
            faults_route(desk.lock, desk.faults, json_response),
            Route("/__health", self.ctl_health, methods=["GET"]),
            Route("/{rest:path}", self.missing, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
        ]
        self.app = Starlette(routes=routes)

    async def serve(self, request: Request) -> Response:
        desk, service = self.desk, self.desk.service
        body = await request.body()
        version = request.path_params["version"]
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        try:
            envelope: Any = etree.fromstring(body, parser=parser)
        except etree.XMLSyntaxError:
            envelope = None
        fault: str | None = None
        with desk.lock:
            authenticated = envelope is not None and desk.credentials.accept(envelope)
            if authenticated:
                desk.calls += 1
                fault = desk.faults.draw(desk.calls, request.method, request.url.path)
            plan = desk.faults
        response: Response
        if envelope is None:
            response = xml_response(
                500, service.fault("Client", "the request is not XML", "validation")
            )
        elif not authenticated:
            response = xml_response(500, service.fault("Client.authenticationError", AUTH_FAILED))
        else:
            answer_with = await delay(fault, plan, self.state)
            if fault == "latency":
                fault = None
            if answer_with in WEB_ERRORS:
                response = _plain(*WEB_ERRORS[answer_with])
            elif answer_with == "processing":
                text = "The task submitted is not authorized at this time; try again later"
                response = xml_response(
                    500, service.fault("Server.processingError", text, "processing")
                )
            elif answer_with == "validation":
                text = "Invalid ID value. 'X' is not a valid ID value for type = 'Employee_ID'"
                response = xml_response(
                    500, service.fault("Client.validationError", text, "validation")
                )
            else:
                try:
                    response = xml_response(200, self.get_workers(envelope, version))
                except Refused as exc:
                    response = xml_response(
                        500, service.fault("Client.validationError", str(exc), "validation")
                    )
        with desk.lock:
            desk.ledger.append(
                {
                    "seq": len(desk.ledger) + 1,
                    "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "fault": fault,
                    "request": body.decode("utf-8", "replace"),
                }
            )
        return response

    # --- Get_Workers ----------------------------------------------------------------------

    def get_workers(self, envelope: Any, version: str) -> bytes:
        service = self.desk.service
        try:
            query = service.get_workers.input.deserialize(envelope)
        except Exception as exc:  # zeep's validation and parse errors, whatever their class
            raise Refused(f"the request does not fit Get_Workers: {exc}") from None
        if query.version is not None and query.version != version:
            raise Refused(f"the request's version {query.version} is not the path's {version}")
        given = query.Response_Filter
        moment = page = count = None
        if given is not None:
            if given.As_Of_Entry_DateTime is not None:
                moment = given.As_Of_Entry_DateTime.astimezone(UTC)
            page = given.Page
            count = given.Count
        page = int(page) if page is not None else 1
        count = int(count) if count is not None else DEFAULT_COUNT
        if page < 1:
            raise Refused("Page must be at least 1")
        if not 1 <= count <= MAX_COUNT:
            raise Refused(f"Count must be between 1 and {MAX_COUNT}")
        updated, organizations = None, []
        criteria = query.Request_Criteria
        if criteria is not None:
            for log in criteria.Transaction_Log_Criteria_Data or []:
                dates = log.Transaction_Date_Range_Data
                if dates is None or dates.Updated_From is None:
                    raise Refused("Transaction_Date_Range_Data needs Updated_From")
                start = dates.Updated_From.astimezone(UTC)
                end = (dates.Updated_Through or moment or datetime.now(UTC)).astimezone(UTC)
                if start > end:
                    raise Refused("Updated_From is after Updated_Through")
                updated = (start, end)
            for ref in criteria.Organization_Reference or []:
                organizations += [i._value_1 for i in ref.ID or []]
        hits, total = self.desk.workers.find(moment, updated, organizations, page, count)
        pages = (total + count - 1) // count
        as_of = moment or datetime.now(UTC)
        return service.answer(
            version=version,
            Response_Filter={
                "As_Of_Effective_Date": as_of.date(),
                "As_Of_Entry_DateTime": as_of,
                "Page": page,
                "Count": count,
            },
            Response_Results={
                "Total_Results": total,
                "Total_Pages": pages,
                "Page_Results": len(hits),
                "Page": page,
            },
            Response_Data={"Worker": hits},
        )

    # --- controls -------------------------------------------------------------------------

    async def missing(self, request: Request) -> Response:
        return _plain(404, "404 Not Found")

    async def ctl_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})
