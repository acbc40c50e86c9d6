"""RFC 9457 problem details: every error leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.domain.errors import FieldbridgeError

PROBLEM = "application/problem+json"
log = logging.getLogger("fieldbridge.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


class ApiProblem(Exception):
    """An HTTP-level problem raised by the API layer itself (428, 429, 415 ...)."""

    def __init__(
        self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra


_NAMED = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.+)$", re.DOTALL)
"""A check across fields names the field it is about at the start of its message."""


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else "body"
        reason = err.get("msg", "invalid")
        named = _NAMED.match(reason)
        if named:
            loc, reason = [*loc, named.group(1)], named.group(2)
        name = ".".join(loc[1:]) or where
        out.append({"field": name, "in": where, "reason": reason})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(FieldbridgeError)
    async def _domain(request: Request, exc: FieldbridgeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(
            exc.status,
            exc.detail,
            title=exc.title,
            headers=headers,
            instance=request.url.path,
            **exc.extra,
        )

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(
            exc.status, exc.detail, headers=exc.headers, instance=request.url.path, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        names = ", ".join(e["field"] for e in errors)
        return problem(422, f"invalid input: {names}", instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:  # the server dropped it: the pool reconnects
            log.warning("database connection lost on %s %s", request.method, request.url.path)
            detail = (
                "the connection to the database was lost: retry the request "
                "(a POST with its Idempotency-Key)"
            )
            return problem(503, detail, headers={"Retry-After": "1"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")
