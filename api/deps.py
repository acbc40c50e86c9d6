"""Dependencies: the container, a unit of work per request, the caller, ``If-Match``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request

from api.problems import ApiProblem
from mappings.canonical import MAX_ID
from orchestrator import auth, db
from orchestrator.bootstrap import Container
from orchestrator.errors import Forbidden, Unauthorized
from orchestrator.lifecycle import Actor, Role
from orchestrator.uow import UnitOfWork


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Nothing here may wait on the event loop. ``get_uow`` runs there but does no I/O until the
# route uses the session (in the threadpool), and its teardown (rollback, close) waits for no
# lock and no pooled connection. ``optional_user`` queries, so it is a plain ``def`` that
# FastAPI runs in the threadpool: on the loop, its wait for a pooled connection or for
# SQLite's write lock stalls every request and deadlocks against the request that holds
# them, whose teardown needs the loop.
async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    with get_container(request).uow() as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use an Authorization: Bearer token")
    return token.strip()


def optional_user(request: Request, uow: Uow) -> Actor | None:
    token = bearer(request)
    if token is None:
        return None
    # SQLite: check the token in a read-only (DEFERRED) transaction: a read then never
    # queues for the write lock. A command ends it at once, so that it does not hold that
    # lock from here (before its body is even parsed) to its end.
    checking = db.begin_read_only(uow.session)
    actor = auth.authenticate(uow, token, get_container(request).secret_key)
    if checking and request.method not in READ_METHODS:
        uow.session.rollback()
    request.state.actor = actor
    return actor


async def current_user(actor: Annotated[Actor | None, Depends(optional_user)]) -> Actor:
    if actor is None:
        raise Unauthorized("this endpoint needs a bearer token")
    return actor


CurrentUser = Annotated[Actor, Depends(current_user)]
OptionalUser = Annotated[Actor | None, Depends(optional_user)]


def require(actor: Actor, roles: Iterable[Role], action: str) -> None:
    if actor.role not in set(roles):
        raise Forbidden(f"a {actor.role} may not {action}")


def allow(roles: Iterable[Role], action: str) -> Any:
    """A dependency that admits only ``roles``; it runs before the body is read or validated."""
    allowed = frozenset(roles)

    async def check(actor: CurrentUser) -> Actor:
        require(actor, allowed, action)
        return actor

    return Depends(check)


def if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version named by ``If-Match`` (``"3"``); None for ``*``; 428 when missing."""
    if if_match is None:
        raise ApiProblem(428, "send If-Match with the ETag from your last read of this resource")
    value = if_match.strip()
    if value == "*":
        return None
    value = value.removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ApiProblem(412, f"If-Match {if_match!r} names no version of this resource")
    return int(value)


IfMatch = Annotated[int | None, Depends(if_match)]


def etag(version: int) -> str:
    return f'"{version}"'
