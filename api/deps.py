"""Dependencies: the container, a unit of work per request, the caller, ``If-Match``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request

from api.idempotency import CLAIM
from api.problems import ApiProblem
from mappings.canonical import MAX_ID
from orchestrator.access import idempotency
from orchestrator.access import tokens as auth
from orchestrator.domain.errors import Forbidden, Unauthorized
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.runtime.bootstrap import Container
from orchestrator.store.uow import UnitOfWork


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


AppContainer = Annotated[Container, Depends(get_container)]


# How requests meet the database. A route is ``async def`` and runs its work with
# ``await uow.run(work, ...)``: ``work`` is a plain function of the unit of work, one
# transaction, bounded (a few statements on indexed rows). On SQLite, in-process, it runs
# inline on the event loop: a thread hop would cost more than the statements and under load
# turns into waits for the GIL. On PostgreSQL it runs over asyncpg in a greenlet, so the loop
# serves other requests while a statement waits for the server; units of work take turns
# for a small pool first come, first served (``orchestrator.store.db.LoopDatabase``). Either way
# no connection is held while a request waits for its client.
# Routes whose work grows with the data (lists, uploads, verifying every chain) are plain
# ``def``: FastAPI runs them in its threadpool, where they open ``with uow:`` over the
# synchronous engine. SQLite waits for another process's write lock at most ``busy_timeout``.
#
# The caller is known from the token's verified claims before the route runs (so roles are
# checked before the body is read); that the token is not revoked is checked by the first
# statement of every unit of work opened for the caller, in the same transaction.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use an Authorization: Bearer token")
    return token.strip()


async def optional_user(request: Request) -> Actor | None:
    token = bearer(request)
    return None if token is None else auth.identify(token, get_container(request).secret_key)


OptionalUser = Annotated[Actor | None, Depends(optional_user)]


async def current_user(actor: OptionalUser) -> Actor:
    if actor is None:
        raise Unauthorized("this endpoint needs a bearer token")
    return actor


CurrentUser = Annotated[Actor, Depends(current_user)]


async def new_uow(request: Request, actor: OptionalUser) -> UnitOfWork:
    """A unit of work, not yet begun: the route runs it (``await uow.run``). Read-only for
    the methods that change nothing. Its transaction first confirms the caller's token and,
    for a request with an ``Idempotency-Key``, claims that key when it writes (the claim
    commits or rolls back with the command's effect) and answers a repeat when it reads."""
    claim: idempotency.Claim | None = request.scope.get("state", {}).get(CLAIM)

    def check(uow: UnitOfWork) -> None:
        if actor is not None:
            auth.ensure_active(uow, actor)
        if claim is not None:
            idempotency.take(uow, claim)

    return get_container(request).new_uow(read_only=request.method in READ_METHODS, check=check)


Uow = Annotated[UnitOfWork, Depends(new_uow)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def require(actor: Actor, roles: Iterable[Role], action: str) -> None:
    if actor.role not in set(roles):
        raise Forbidden(f"a {actor.role} may not {action}")


ADMITTED: dict[Callable[..., Any], tuple[frozenset[Role], str]] = {}
"""Each ``allow`` dependency's roles and action, for the OpenAPI document (``api.openapi``)."""


def allow(roles: Iterable[Role], action: str) -> Any:
    """A dependency that admits only ``roles``; it runs before the body is read or validated."""
    allowed = frozenset(roles)

    async def check(actor: CurrentUser) -> Actor:
        require(actor, allowed, action)
        return actor

    ADMITTED[check] = (allowed, action)
    return Depends(check)


IF_MATCH = "the ETag of your last read of this resource (or *): 428 without it"


async def if_match(
    if_match: Annotated[str | None, Header(description=IF_MATCH)] = None,
) -> int | None:
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
