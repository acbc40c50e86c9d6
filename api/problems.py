"""RFC 9457 problem details: every error leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from orchestrator.domain.errors import FieldbridgeError, Unauthorized

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


def _members_absent(schema: dict[str, Any]) -> None:
    """An optional member is left out of an answer, never null: no default to show."""
    for member in schema["properties"].values():
        member.pop("default", None)


class FieldProblem(BaseModel):
    model_config = ConfigDict(json_schema_extra=_members_absent)

    field: str = Field(description="a dotted path into the body, or a parameter's name")
    in_: str | SkipJsonSchema[None] = Field(
        default=None, alias="in", description="where the field is: body, query, path or header"
    )
    reason: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: every error is answered with one, as ``application/problem+json``.
    Some add members of their own, each described here."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_members_absent)

    type: str = Field(description="about:blank: the status says what kind of problem it is")
    title: str = Field(description="the kind of problem, the same for every one of its kind")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request, for a person")
    instance: str | SkipJsonSchema[None] = Field(default=None, description="the request's path")
    errors: list[FieldProblem] | SkipJsonSchema[None] = Field(
        default=None, description="422: each field at fault and why"
    )
    allowed: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="409 on a transition: the states this caller may move it to"
    )
    current: str | SkipJsonSchema[None] = Field(
        default=None, description="409: the order's current state"
    )
    current_version: int | SkipJsonSchema[None] = Field(
        default=None, description="412: the current version (its ETag without the quotes)"
    )
    missing: list[dict[str, Any]] | SkipJsonSchema[None] = Field(
        default=None, description="422 on completing: the proof of work still missing"
    )
    fields: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="409 on a duplicate: the fields whose values are taken"
    )
    deleted_at: str | SkipJsonSchema[None] = Field(
        default=None, description="409 on a change: when the row's source deleted it"
    )
    limit_bytes: int | SkipJsonSchema[None] = Field(
        default=None, description="413 on an upload: the limit"
    )
    retry_after_s: int | SkipJsonSchema[None] = Field(
        default=None, description="429: seconds to wait, as Retry-After says"
    )


def responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: the errors its handler may answer, each with what it means
    there. ``api.openapi`` gives each the problem schema and adds the errors it can tell from
    the route itself (a token, a role, If-Match, a path, a body)."""
    return {status: {"description": text} for status, text in described.items()}


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


REFUSALS = frozenset({401, 403, 413, 429})
"""What is refused before any work: logged, with the client and the reason (never a token)."""
security_log = logging.getLogger("fieldbridge.security")


def answer(
    exc: FieldbridgeError | ApiProblem | StarletteHTTPException, scope: Scope
) -> JSONResponse:
    """The problem that answers one of our errors, for the handlers below and for middleware
    (``api.gate``), which runs outside them. A refusal (401, 403, 413, 429) is logged."""
    path = scope["path"]
    if isinstance(exc, FieldbridgeError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        response = problem(
            exc.status, exc.detail, title=exc.title, headers=headers, instance=path, **exc.extra
        )
    elif isinstance(exc, ApiProblem):
        response = problem(exc.status, exc.detail, headers=exc.headers, instance=path, **exc.extra)
    else:
        headers = dict(exc.headers) if exc.headers else None
        response = problem(exc.status_code, str(exc.detail), headers=headers, instance=path)
    if response.status_code in REFUSALS:
        client = scope.get("client")
        security_log.warning(
            "refused %s %s from %s: %s %s",
            scope.get("method"),
            path,
            client[0] if client else "unknown",
            response.status_code,
            str(getattr(exc, "detail", exc)),
        )
    return response


CONTENDED = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock detected and serialization failure: the server rolled the
transaction back so that another could go on; the request may simply be sent again."""


def install(app: FastAPI, confirm: Callable[[Request], Awaitable[None]]) -> None:
    """The handlers that turn every error into a problem. Before a 4xx leaves, ``confirm``
    checks what the request has not checked yet (a revoked token: ``api.deps.confirm_token``):
    its ``Unauthorized`` is answered instead."""

    async def confirmed(request: Request, exc: Exception) -> JSONResponse | None:
        if isinstance(exc, Unauthorized):
            return None
        try:
            await confirm(request)
        except Unauthorized as refused:
            return answer(refused, request.scope)
        return None

    @app.exception_handler(FieldbridgeError)
    async def _domain(request: Request, exc: FieldbridgeError) -> JSONResponse:
        return await confirmed(request, exc) or answer(exc, request.scope)

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return await confirmed(request, exc) or answer(exc, request.scope)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = await confirmed(request, exc)
        if refused is not None:
            return refused
        errors = _field_errors(exc)
        names = ", ".join(e["field"] for e in errors)
        return problem(422, f"invalid input: {names}", instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return await confirmed(request, exc) or answer(exc, request.scope)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:  # the server dropped it: the pool reconnects
            log.warning("database connection lost on %s %s", request.method, request.url.path)
            detail = (
                "the connection to the database was lost: retry the request "
                "(a POST with its Idempotency-Key)"
            )
            return problem(503, detail, headers={"Retry-After": "1"})
        if getattr(exc.orig, "sqlstate", None) in CONTENDED:
            log.warning("%s %s gave way to a concurrent change", request.method, request.url.path)
            detail = (
                "a concurrent change got in the way and nothing was kept: retry the request "
                "(a POST with its Idempotency-Key)"
            )
            return problem(503, detail, headers={"Retry-After": "1"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")
