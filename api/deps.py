"""Dependencies: the container, a unit of work per request, the caller, ``If-Match``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


# ``get_uow`` and ``optional_user`` are plain ``def``s on purpose: FastAPI runs them in its
# threadpool. Run on the event loop (``async def``), their blocking database calls stall every
# request, and on SQLite one waiting for the write lock deadlocks against a request whose
# teardown (which releases that lock) needs the loop.
def get_uow(request: Request) -> Iterator[UnitOfWork]:
    with get_container(request).uow() as uow:
        if request.method in READ_METHODS:
            db.begin_read_only(uow.session)  # SQLite: reads need not queue for the write lock
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
    # SQLite: check the token in a read-only transaction of its own, so that a command does
    # not hold the write lock from here (before its body is even parsed) to its end.
    checking = db.begin_read_only(uow.session)
    actor = auth.authenticate(uow, token, get_container(request).secret_key)
    if checking:
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
