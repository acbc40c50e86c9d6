"""The HR system over HTTP: ``GET /v1/certifications`` and the ``/__*`` controls.

Every API call needs ``Authorization: Bearer <token>`` (401 ``invalid_token`` otherwise,
``token_expired`` for a token that expired), may draw a fault from the seeded plan once it is
authenticated, and goes into the ledger with its status and fault. The controls are never
faulted nor recorded.
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
from sandbox.hr.faults import FaultPlan
from sandbox.hr.feed import CursorError, Register, decode_cursor, stamp_text

DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Tokens:
    """The one bearer token the HR system accepts now, and those it has let expire."""

    current: str
    expired: set[str] = field(default_factory=set)


@dataclass
class Desk:
    """What the app and the simulator share, under ``lock``."""

    register: Register
    tokens: Tokens
    faults: FaultPlan = field(default_factory=FaultPlan)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message}
        self.headers = headers


def _fault_reply(kind: str, retry_after_s: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    if kind == "429":
        return (
            429,
            {"error": "rate_limited", "message": "Too many requests; slow down."},
            {"Retry-After": str(retry_after_s)},
        )
    if kind == "500":
        return 500, {"error": "internal_error", "message": "An unexpected error occurred."}, {}
    return (
        503,
        {"error": "unavailable", "message": "The service is temporarily unavailable."},
        {"Retry-After": str(retry_after_s)},
    )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticate(request: Request, tokens: Tokens) -> None:
    token = _bearer(request)
    if token is not None and token in tokens.expired:
        raise ApiError(
            401,
            "token_expired",
            "The access token expired; ask the HR administrator for a new one.",
            **{"WWW-Authenticate": 'Bearer realm="hr", error="invalid_token"'},
        )
    if token is not None and token == tokens.current:
        return
    raise ApiError(
        401,
        "invalid_token",
        "A valid bearer token is required." if token is None else "The token is not valid.",
        **{"WWW-Authenticate": 'Bearer realm="hr", error="invalid_token"'},
    )


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, "invalid_request", f"updated_since is not an ISO 8601 date-time: {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ApiError(
            400, "invalid_request", "updated_since needs a UTC offset (Z or +hh:mm)"
        ) from None
    return moment.astimezone(UTC)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_request", f"limit must be between 1 and {MAX_LIMIT}")
    return int(text)


class HRApp:
    def __init__(self, desk: Desk, state: ServerState) -> None:
        self.desk = desk
        self.state = state
        self.app = Starlette(
            routes=[
                Route("/v1/certifications", self.certifications, methods=ALL_METHODS),
                ledger_route(desk.lock, desk.ledger, json_response),
                faults_route(desk.lock, desk.faults, json_response),
                Route("/__malformed", self.ctl_malformed, methods=["GET"]),
                Route("/__health", self.ctl_health, methods=["GET"]),
                Route("/{rest:path}", self.missing, methods=ALL_METHODS),
            ]
        )

    async def certifications(self, request: Request) -> Response:
        desk = self.desk
        status: int
        body: Any
        headers: dict[str, str] = {}
        fault: str | None = None
        try:
            with desk.lock:
                _authenticate(request, desk.tokens)
                desk.calls += 1
                fault = desk.faults.draw(desk.calls, request.method, request.url.path)
                plan = desk.faults
            answer_with = await delay(fault, plan, self.state)
            if fault == "latency":
                fault = None
            if answer_with is not None:
                status, body, headers = _fault_reply(answer_with, plan.retry_after_s)
            else:
                status, body = 200, self._page(request)
        except ApiError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        with desk.lock:
            desk.ledger.append(
                {
                    "seq": len(desk.ledger) + 1,
                    "at": stamp_text(datetime.now(UTC)),
                    "method": request.method,
                    "path": request.url.path,
                    "query": str(request.url.query),
                    "status": status,
                    "fault": fault,
                }
            )
        return json_response(status, body, headers)

    def _page(self, request: Request) -> dict[str, Any]:
        if request.method not in ("GET", "HEAD"):
            raise ApiError(
                405, "method_not_allowed", f"{request.method} is not allowed", Allow="GET, HEAD"
            )
        query = request.query_params
        since = _since(query.get("updated_since"))
        limit = _limit(query.get("limit"))
        after = None
        cursor = query.get("cursor")
        if cursor:
            try:
                after = decode_cursor(cursor)
            except CursorError as exc:
                raise ApiError(400, "invalid_cursor", str(exc)) from None
        items, next_cursor = self.desk.register.page(since, after, limit)
        return {"items": items, "next_cursor": next_cursor}

    async def missing(self, request: Request) -> Response:
        return json_response(404, {"error": "not_found", "message": "No such resource."})

    # --- controls --------------------------------------------------------------------------

    async def ctl_malformed(self, request: Request) -> Response:
        with self.desk.register.lock:
            return json_response(200, dict(self.desk.register.malformed))

    async def ctl_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})
