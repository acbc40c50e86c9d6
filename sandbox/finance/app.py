"""The finance receiver over HTTP: ``POST /webhooks/billing`` and the ``/__*`` controls.

Every delivery is verified as the Standard Webhooks spec says (``sandbox.finance.verify``,
written independently of the helper fieldbridge ships to subscribers): 204 for a
new one (its event is received: one effect), 200 ``already_received`` for an id received
before (no second effect), 400 ``{"error", "message"}`` for a bad signature, a stale
timestamp or a body that is not a JSON object. A delivery may draw a fault from the seeded
plan first, and goes into the ledger with its id, status, fault and whether it was accepted.
The controls are never faulted nor recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._controls import faults_route, json_response, ledger_route
from sandbox._faults import delay
from sandbox._server import ServerState
from sandbox.finance.faults import LOST, FaultPlan
from sandbox.finance.verify import Refused, Replayed, Verifier

BILLING = "/webhooks/billing"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Desk:
    """What the app and the simulator share, under ``lock``."""

    receiver: Verifier
    faults: FaultPlan = field(default_factory=FaultPlan)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id -> event
    calls: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fault_reply(kind: str, retry_after_s: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    if kind == "429":
        return 429, {"error": "rate_limited"}, {"Retry-After": str(retry_after_s)}
    if kind == "503":
        return 503, {"error": "unavailable"}, {"Retry-After": str(retry_after_s)}
    return 500, {"error": "internal_error"}, {}


class FinanceApp:
    def __init__(self, desk: Desk, state: ServerState) -> None:
        self.desk = desk
        self.state = state
        self.app = Starlette(
            routes=[
                Route(BILLING, self.billing, methods=["POST"]),
                ledger_route(desk.lock, desk.ledger, json_response),
                faults_route(desk.lock, desk.faults, json_response),
                Route("/__health", self.ctl_health, methods=["GET"]),
                Route("/{rest:path}", self.missing, methods=ALL_METHODS),
            ]
        )

    async def billing(self, request: Request) -> Response:
        desk = self.desk
        body = await request.body()
        with desk.lock:
            desk.calls += 1
            fault = desk.faults.draw(desk.calls, request.method, request.url.path)
            plan = desk.faults
        answer_with = await delay(fault, plan, self.state)
        if fault == "latency":
            fault = None
        answer: dict[str, Any] | None
        headers: dict[str, str] = {}
        accepted = False
        if answer_with is not None and answer_with != LOST:
            status, answer, headers = _fault_reply(answer_with, plan.retry_after_s)
        else:
            status, answer, accepted = self._receive(request, body)
            if answer_with == LOST:  # received, but the answer is lost on its way back
                status, answer, headers = _fault_reply("500", plan.retry_after_s)
        with desk.lock:
            desk.ledger.append(
                {
                    "seq": len(desk.ledger) + 1,
                    "at": _stamp(),
                    "method": request.method,
                    "path": request.url.path,
                    "webhook_id": request.headers.get("webhook-id"),
                    "status": status,
                    "fault": fault,
                    "accepted": accepted,
                    "reason": answer.get("message") if answer else None,
                }
            )
        return json_response(status, answer, headers)

    def _receive(self, request: Request, body: bytes) -> tuple[int, dict[str, Any] | None, bool]:
        """(status, answer, whether this delivery was accepted as a new event)."""
        desk = self.desk
        with desk.lock:  # verified and recorded together: one event per id, in order
            try:
                event = desk.receiver.verify(request.headers, body)
            except Replayed:
                return 200, {"status": "already_received"}, False
            except Refused as exc:
                return 400, {"error": type(exc).__name__, "message": exc.reason}, False
            webhook_id = request.headers["webhook-id"].strip()
            desk.received[webhook_id] = {
                "webhook_id": webhook_id,
                "timestamp": int(request.headers["webhook-timestamp"]),
                "received_at": _stamp(),
                "payload": event,
            }
        return 204, None, True

    async def missing(self, request: Request) -> Response:
        return json_response(404, {"error": "not_found", "message": "No such resource."})

    async def ctl_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})
