"""The gate: what a request that carries a body must pass before a byte of it is read.

FastAPI reads and parses a route's body before it runs the route's dependencies, and the
``Idempotency-Key`` middleware reads it before routing. So for a POST, PUT or PATCH this
middleware, outside both, first finds the route the request is for and checks what that
route's dependencies would: the bearer token's signature and expiry (401), the role
(403, ``api.deps.allow``) and the rate limit (429, ``api.ratelimit.limited``). Then it
counts the body as it streams in and stops it at the route's limit with 413, whatever the
framing (``Content-Length`` or chunked): ``FIELDBRIDGE_MAX_JSON_BYTES`` for a JSON body,
``FIELDBRIDGE_MAX_UPLOAD_MB`` (and room for the multipart framing) for an upload's form,
and the same limit for a file's bytes sent as they are (``api.deps.raw_upload``: tus's PATCH).

Why not Starlette's ``RequestBodyLimitMiddleware`` (or FastAPI's ``max_body_size``): its 413
is plain text rather than a problem, and its application-wide limit applies before routing,
where the idempotency middleware reads the body, so an upload with an ``Idempotency-Key``
would be held to the JSON limit.

What the dependencies find again (the caller, the rate limit already counted) they take
from the request's state, so nothing is checked or counted twice. Whether the token has been
revoked takes the database: ``api.deps`` checks it for every route that gets past the gate,
and the gate itself only for a request it refuses (``deps.confirm_token``), so that a revoked
token is refused as revoked (401), never with a 403 its role would have earned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import deps
from api.problems import ApiProblem, answer
from api.ratelimit import LIMITED, RateLimits
from orchestrator.access import tokens as auth
from orchestrator.domain.errors import FieldbridgeError, Forbidden, Unauthorized
from orchestrator.domain.lifecycle import Role
from orchestrator.runtime.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MULTIPART_FRAMING_BYTES = 64 * 1024
"""What a form adds to its file: boundaries, part headers and the small fields."""


class BodyTooLarge(HTTPException):
    """Raised by the counting ``receive``. An ``HTTPException``, so that FastAPI, reading a
    body for a route, lets it through to the problem handler; the gate answers it itself when
    it is raised before routing (the idempotency middleware reading the body)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes ({setting})")
        self.limit = limit


@dataclass(frozen=True)
class Gate:
    """What one route asks of a request before its body."""

    token: str | None  # "required", "optional" or None (api.deps.token_kind)
    roles: tuple[tuple[frozenset[Role], str], ...]  # each allow(): roles and the action
    limits: tuple[str, ...]  # each limited(): the rate limit's name
    max_bytes: int
    setting: str  # the setting that sets max_bytes, for the 413's detail

    @classmethod
    def of(cls, route: APIRoute | None, settings: Settings) -> Gate:
        if route is None:  # 404 or 405 is answered without reading the body
            return cls(None, (), (), settings.max_json_bytes, "FIELDBRIDGE_MAX_JSON_BYTES")
        calls = [sub.call for sub in deps.walk(route.dependant)]
        if deps.takes_form(route.dependant):
            limit = settings.max_upload_bytes + MULTIPART_FRAMING_BYTES
            setting = "FIELDBRIDGE_MAX_UPLOAD_MB"
        elif deps.takes_raw_upload(route.dependant):  # a file's bytes, nothing around them
            limit, setting = settings.max_upload_bytes, "FIELDBRIDGE_MAX_UPLOAD_MB"
        else:
            limit, setting = settings.max_json_bytes, "FIELDBRIDGE_MAX_JSON_BYTES"
        return cls(
            token=deps.token_kind(route.dependant),
            roles=tuple(deps.ADMITTED[call] for call in calls if call in deps.ADMITTED),
            limits=tuple(LIMITED[call] for call in calls if call in LIMITED),
            max_bytes=limit,
            setting=setting,
        )

    def admit(self, scope: Scope, headers: Headers, secret: str, rates: RateLimits) -> None:
        """Raise what the route's dependencies would, before its body is read."""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:  # declared: no need to count
            raise BodyTooLarge(self.max_bytes, self.setting)
        token = deps.bearer_token(headers.get("authorization"))
        if token is None and self.token == "required":  # nosec B105  # a token kind, not a password
            raise Unauthorized("this endpoint needs a bearer token")
        if token is not None and self.token is not None:
            actor = auth.identify(token, secret)
            deps.remember_actor(scope, actor)
            for roles, action in self.roles:
                if actor.role not in roles:
                    raise Forbidden(f"a {actor.role} may not {action}")
        for name in self.limits:
            rates.hit(name, deps.client_of(scope))
        deps.remember_limited(scope)


class GateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._gates: dict[Callable[..., Any] | None, Gate] = {}  # by the route's endpoint
        self._routes: list[tuple[re.Pattern[str], frozenset[str], APIRoute]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        application: FastAPI = scope["app"]
        container = application.state.container
        gate = self._gate(application, scope)
        try:
            gate.admit(
                scope, Headers(scope=scope), container.secret_key, application.state.rate_limits
            )
        except (FieldbridgeError, ApiProblem, BodyTooLarge) as exc:
            refusal: FieldbridgeError | ApiProblem | BodyTooLarge = exc
            try:  # a revoked token is refused as revoked (401), whatever else it asks
                await deps.confirm_token(Request(scope))
            except Unauthorized as revoked:
                refusal = revoked
            await answer(refusal, scope)(scope, receive, send)
            return
        started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > gate.max_bytes:
                raise BodyTooLarge(gate.max_bytes, gate.setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # raised before routing: no problem handler has seen it
            if started:
                raise
            await answer(exc, scope)(scope, receive, send)

    def _gate(self, application: FastAPI, scope: Scope) -> Gate:
        route = self._route(application, scope["path"], scope["method"])
        endpoint = route.endpoint if route else None
        gate = self._gates.get(endpoint)
        if gate is None:
            gate = self._gates[endpoint] = Gate.of(route, application.state.container.settings)
        return gate

    def _route(self, application: FastAPI, path: str, method: str) -> APIRoute | None:
        """The operation that will serve ``method path``: the routes' paths are matched in
        the router's order, as the router matches them (FastAPI keeps an included router's
        routes behind one entry of ``app.routes``: ``iter_route_contexts`` lists them)."""
        if self._routes is None:
            self._routes = [
                (compile_path(str(context.path_format))[0], frozenset(context.methods or ()), route)
                for context in iter_route_contexts(application.routes)
                if isinstance(route := context.original_route, APIRoute)
            ]
        for pattern, methods, route in self._routes:
            if method in methods and pattern.match(path):
                return route
        return None
