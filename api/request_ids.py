"""Every request gets an id: the caller's ``X-Request-ID`` when it is a sane one, else a new
one; it is answered in ``X-Request-ID`` and carried by every log record made while the
request runs (``orchestrator.runtime.logs``). Plain ASGI, so it costs a header and a context
variable."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.runtime import logs

HEADER = "x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ident = logs.new_request_id(Headers(scope=scope).get(HEADER))

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = ident
            await send(message)

        with logs.bound(request=ident):
            await self.app(scope, receive, answer)
