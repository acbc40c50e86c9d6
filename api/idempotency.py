"""``Idempotency-Key`` on every POST, as pure ASGI middleware.

The caller's scope is the verified token's role and subject (the client address when
anonymous). The request's fingerprint is its method, path, query and body (a multipart
boundary is normalised, since clients pick a new one per attempt).

The key is claimed by the route's own unit of work (``api.deps.new_uow``), in the same
transaction as the command's effect: a command that fails holds no key and may be retried,
and a key is never held for an effect that did not happen. A successful (2xx/3xx) answer is
then stored by one UPDATE that commits as it runs (``UnitOfWork.alone``: no BEGIN, no token
check), before its last byte is sent, and replayed to repeats. See
``orchestrator.access.idempotency`` for what a repeat is told. Keys are kept
``FIELDBRIDGE_IDEMPOTENCY_TTL_HOURS`` (at least 24).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from orchestrator.access import idempotency
from orchestrator.access import tokens as auth
from orchestrator.domain.errors import Unauthorized
from orchestrator.domain.lifecycle import Actor
from orchestrator.runtime.bootstrap import Container

log = logging.getLogger("fieldbridge.api")

REPLAYED = "idempotent-replayed"
CLAIM = "idempotency_claim"
"""Where in the request's state the middleware leaves the request's ``idempotency.Claim``."""
ACTOR = "actor"
"""Where in the request's state the caller is left once its token is read (``api.gate``,
``api.deps``): an ``Actor``."""
_MAX_KEY = 255


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key.strip() or len(key) > _MAX_KEY:
            detail = f"Idempotency-Key must be 1 to {_MAX_KEY} characters"
            await problem(422, detail)(scope, receive, send)
            return
        container: Container = scope["app"].state.container
        caller = _caller(headers, scope, container.secret_key)
        if caller is None:  # a bad token: let the route answer 401 as usual
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        request_hash = fingerprint(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            headers.get("content-type", ""),
            body,
        )
        claim = idempotency.Claim(caller, key, request_hash, container.settings.idempotency_lease_s)
        scope.setdefault("state", {})[CLAIM] = claim  # taken by the route's unit of work

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def replay_receive() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            chunk, body = body, None  # type: ignore[assignment]
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
                status = captured["status"]
                if not message.get("more_body") and claim.taken and 200 <= status < 400:
                    # Stored before the answer's last byte leaves: a repeat sent the moment
                    # the caller has it, to this process or another, is replayed, never told
                    # the first is still in progress.
                    await _store(container, caller, key, status, captured)
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except idempotency.KeyHeld as held:
            await _answer_held(held.reservation, send, scope, receive)


async def _store(
    container: Container, caller: str, key: str, status: int, captured: dict[str, Any]
) -> None:
    answer = bytes(captured["body"])
    try:
        alone = container.new_uow().alone()  # one UPDATE: no transaction of its own
        await alone.run(idempotency.complete, caller, key, status, captured["headers"], answer)
    except Exception:  # the effect stands; a repeat is told its answer was lost
        log.exception("Idempotency-Key %r: the answer could not be stored", key)


async def _answer_held(
    reservation: idempotency.Reservation, send: Send, scope: Scope, receive: Receive
) -> None:
    if reservation.outcome == "replay":
        stored = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reservation.headers or []]
        stored.append((REPLAYED.encode(), b"true"))
        await _send(send, reservation.status_code or 200, stored, reservation.body or b"")
        return
    status, detail = _HELD[reservation.outcome]
    await problem(status, detail)(scope, receive, send)


_HELD = {
    "mismatch": (422, "this Idempotency-Key was used with a different request body"),
    "in_progress": (409, "a request with this Idempotency-Key is still being processed"),
    "answer_lost": (
        409,
        "a request with this Idempotency-Key took effect but its answer was lost: "
        "read the resource instead of repeating the request",
    ),
}


def _caller(headers: Headers, scope: Scope, secret: str) -> str | None:
    header = headers.get("authorization")
    if not header:
        client = scope.get("client")
        return f"anonymous:{client[0] if client else 'unknown'}"
    known: Actor | None = scope.get("state", {}).get(ACTOR)
    if known is not None:  # the gate read the token already
        return f"{known.role}:{known.subject}"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = auth.decode(token.strip(), secret)
    except Unauthorized:
        return None
    return f"{claims['role']}:{claims['sub']}"


def fingerprint(method: str, path: str, query: bytes, content_type: str, body: bytes) -> str:
    """What makes two requests "the same" for an Idempotency-Key."""
    if content_type.startswith("multipart/") and "boundary=" in content_type:
        boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
        body = body.replace(boundary.encode(), b"BOUNDARY")
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query):
        digest.update(part + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _read_body(receive: Receive) -> bytes:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [h for h in headers if h[0].lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
