"""Dependencies: the container, a unit of work per request, the caller, ``If-Match``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import Scope

from api.idempotency import ACTOR, CLAIM
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
# The caller is known from the token's verified claims before the route runs: for a request
# with a body, by ``api.gate`` before the body is read; its role too. That the token is not
# revoked takes the database, and is checked before any answer leaves: by the first
# statement of the route's unit of work (no transaction of its own); for a route without
# one (planning) by a read of its own in ``optional_user``, which every route that takes a
# token depends on; and for an error raised before the unit of work ran (a body or an
# If-Match refused) by ``confirm_token``, on the way out. So a revoked token gets 401, never
# another answer. Nothing is cached: a revocation made by any process holds from the next
# request.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RATE_LIMITED = "rate_limited"
_CALLER_CONFIRMED = "caller_confirmed"


def walk(dependant: Dependant) -> Iterator[Dependant]:
    """A route's dependant and every dependency under it."""
    yield dependant
    for sub in dependant.dependencies:
        yield from walk(sub)


def takes_form(dependant: Dependant) -> bool:
    """Whether a route's body is a form (an upload): it is held to the upload limit, not the
    JSON one (``api.gate``), and documented so (``api.openapi``)."""
    fields = (field for sub in walk(dependant) for field in sub.body_params)
    return any(isinstance(field.field_info, params.Form) for field in fields)


async def raw_upload() -> None:
    """Marks a route whose body is a file's bytes as sent (tus's ``PATCH``), read by the route
    from the request's stream: neither JSON nor a form, it is held to the upload limit
    (``api.gate``)."""


RawUpload = Depends(raw_upload)


def takes_raw_upload(dependant: Dependant) -> bool:
    return raw_upload in {sub.call for sub in walk(dependant)}


def token_kind(dependant: Dependant) -> str | None:
    """Whether a route takes a token: "required" when it needs the caller, "optional" when
    it asks who calls but serves anyone, None when it does not ask."""
    if current_user in {sub.call for sub in walk(dependant)}:
        return "required"
    asked = {sub.call for sub in dependant.dependencies}
    return "optional" if optional_user in asked else None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without the header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use an Authorization: Bearer token")
    return token.strip()


def remember_actor(scope: Scope, actor: Actor) -> None:
    scope.setdefault("state", {})[ACTOR] = actor


def _confirmed(scope: Scope) -> None:
    scope.setdefault("state", {})[_CALLER_CONFIRMED] = True


async def confirm_token(request: Request) -> None:
    """``Unauthorized`` if the caller's token, not yet confirmed for this request, has been
    revoked: for an answer about to leave with an error raised before the unit of work ran
    (``api.problems.install``)."""
    state = request.scope.get("state", {})
    actor: Actor | None = state.get(ACTOR)
    if actor is not None and not state.get(_CALLER_CONFIRMED):
        await get_container(request).new_uow(read_only=True).run(auth.ensure_active, actor)
        _confirmed(request.scope)


def remember_limited(scope: Scope) -> None:
    """The request's rate limits are counted (``api.gate``): ``limited`` counts it no more."""
    scope.setdefault("state", {})[_RATE_LIMITED] = True


def rate_limited_already(scope: Scope) -> bool:
    return bool(scope.get("state", {}).get(_RATE_LIMITED))


def client_of(scope: Scope) -> str:
    """The client's address: the peer's, or a trusted proxy's ``X-Forwarded-For``
    (``FIELDBRIDGE_TRUSTED_PROXIES``, applied by ``api.app``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


_CHECKED_BY_UOW: dict[Callable[..., Any], bool] = {}
"""Whether a route's endpoint has a unit of work, which checks the token (routes are not
hashable; their endpoints are, and one endpoint always has the same dependencies)."""


def _checked_by_uow(route: APIRoute) -> bool:
    checked = _CHECKED_BY_UOW.get(route.endpoint)
    if checked is None:
        checked = new_uow in {sub.call for sub in walk(route.dependant)}
        _CHECKED_BY_UOW[route.endpoint] = checked
    return checked


def _caller(request: Request) -> Actor | None:
    """The caller from the verified token (the gate's, else read here), or None without one;
    whether it is revoked is not known yet."""
    actor: Actor | None = request.scope.get("state", {}).get(ACTOR)
    if actor is None:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return None
        actor = auth.identify(token, get_container(request).secret_key)
        remember_actor(request.scope, actor)
    return actor


# ``optional_user``, ``current_user`` and ``new_uow`` each take only the request and call
# ``_caller``, rather than depend on each other: FastAPI solves every dependency of a
# dependency again for each route that uses it (caching only the value), and that walk was
# a tenth of a read's CPU (DEVELOPERS.md, the API benchmark).
async def optional_user(request: Request) -> Actor | None:
    """The caller, or None. A route without a unit of work has the token's revocation read
    here; one with a unit of work has its transaction check it (``new_uow``)."""
    actor = _caller(request)
    if actor is None:
        return None
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not _checked_by_uow(route):
        await confirm_token(request)
    return actor


OptionalUser = Annotated[Actor | None, Depends(optional_user)]


async def current_user(request: Request) -> Actor:
    actor = await optional_user(request)
    if actor is None:
        raise Unauthorized("this endpoint needs a bearer token")
    return actor


CurrentUser = Annotated[Actor, Depends(current_user)]


async def new_uow(request: Request) -> UnitOfWork:
    """A unit of work, not yet begun: the route runs it (``await uow.run``). Read-only for
    the methods that change nothing. Its transaction first confirms the caller's token and,
    for a request with an ``Idempotency-Key``, claims that key when it writes (the claim
    commits or rolls back with the command's effect) and answers a repeat when it reads."""
    claim: idempotency.Claim | None = request.scope.get("state", {}).get(CLAIM)
    actor = _caller(request)

    def check(uow: UnitOfWork) -> None:
        if actor is not None:
            auth.ensure_active(uow, actor)
            _confirmed(request.scope)
        if claim is not None:
            idempotency.take(uow, claim)

    return get_container(request).new_uow(read_only=request.method in READ_METHODS, check=check)


Uow = Annotated[UnitOfWork, Depends(new_uow)]


async def new_public_uow(request: Request) -> UnitOfWork:
    """A read-only unit of work for a route that does not ask who calls (the status page): a
    token sent along is not looked at."""
    return get_container(request).new_uow(read_only=True)


PublicUow = Annotated[UnitOfWork, Depends(new_public_uow)]
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


IF_MATCH = 'the ETag of your last read of this resource, strong and exact (`"3"`): 428 without it'


async def if_match(
    if_match: Annotated[str | None, Header(description=IF_MATCH)] = None,
) -> int:
    """The version ``If-Match`` names (``"3"``). Missing: 428. ``*`` (any version) is refused
    with 428 too: every change states which version it was made against, so two edits never
    overwrite each other. A weak tag (``W/"3"``) never matches, as If-Match compares
    strongly (RFC 9110): 412."""
    if if_match is None:
        raise ApiProblem(428, "send If-Match with the ETag from your last read of this resource")
    value = if_match.strip()
    if value == "*":
        raise ApiProblem(428, 'If-Match: * is not accepted: send the ETag of your last read ("3")')
    if value.startswith("W/"):
        raise ApiProblem(412, f'If-Match {if_match!r} is weak: send the strong ETag ("3")')
    version = value.strip('"')
    if not (value.startswith('"') and value.endswith('"') and version.isdigit()):
        raise ApiProblem(412, f"If-Match {if_match!r} names no version of this resource")
    return int(version)


IfMatch = Annotated[int, Depends(if_match)]


def etag(version: int) -> str:
    return f'"{version}"'
