"""Reference data: one router per resource, built from ``records.KINDS`` (which also says
who writes and reads each kind); and an asset's meter readings."""

# No `from __future__ import annotations`: routes are annotated with classes made at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import create_model

from api import problems
from api.deps import IfMatch, PathId, Uow, allow, etag
from api.schemas import REFERENCE_SCHEMAS, Page, ReadingPage
from orchestrator.domain.lifecycle import Actor
from orchestrator.reference import records


def _refusals(kind: records.Kind) -> tuple[dict[int | str, Any], dict[int | str, Any]]:
    """What a create and an update may answer that the routes do not show (``api.openapi``)."""
    keys = {"code": "code", "external_id": "source_system and external_id"}
    same = [f"the same {said}" for key, said in keys.items() if key in kind.model.model_fields]
    collides = f"the {kind.singular} collides with a stored one"
    if same:
        collides += f": {' or '.join(same)} (`fields` names them)"
    changing = collides
    if kind.synced:
        changing += "; or its source deleted it (a tombstone): it can no longer be changed"
    changed = "If-Match names no version, or one that is no longer current: read it again"
    return (
        problems.responses({409: collides}),
        problems.responses({409: changing, 412: changed}),
    )


def _router(name: str) -> APIRouter:
    kind = records.KINDS[name]
    created, updated = _refusals(kind)
    Create, Update, Public = REFERENCE_SCHEMAS[name]
    PublicPage = create_model(f"{Public.__name__}Page", __base__=Page, items=(list[Public], ...))  # type: ignore[valid-type]
    router = APIRouter(prefix=f"/{name}", tags=[name])
    Writer = Annotated[Actor, allow(kind.writers, f"write {name}")]
    Reader = Annotated[Actor, allow(kind.readers, f"read {name}")]
    OneReader = Annotated[Actor, allow(kind.one_readers, f"read {name}")]

    if not kind.read_only:

        @router.post(
            "",
            status_code=status.HTTP_201_CREATED,
            response_model=Public,
            responses=created,
        )
        async def create(body: Create, uow: Uow, _: Writer, response: Response) -> Any:  # type: ignore[valid-type]
            out = await uow.run(records.create, kind, body)
            response.headers["Location"] = f"/api/v1/{name}/{out['id']}"
            response.headers["ETag"] = etag(out["version"])
            return out

    @router.get("", response_model=PublicPage)
    def list_(
        uow: Uow,
        _: Reader,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        source_system: str | None = None,
        external_id: str | None = None,
        include_deleted: Annotated[
            bool, Query(description="rows deleted at their source (tombstones) too")
        ] = False,
    ) -> Any:
        with uow:  # grows with the page: in the threadpool
            return records.list_page(
                uow,
                kind,
                cursor=cursor,
                limit=limit,
                source_system=source_system,
                external_id=external_id,
                include_deleted=include_deleted,
            )

    @router.get("/{ident}", response_model=Public)
    async def read(ident: PathId, uow: Uow, actor: OneReader, response: Response) -> Any:
        out = await uow.run(records.get, kind, ident, actor)
        response.headers["ETag"] = etag(out["version"])
        return out

    if not kind.read_only:

        @router.patch("/{ident}", response_model=Public, responses=updated)
        async def update(
            ident: PathId,
            body: Update,  # type: ignore[valid-type]
            uow: Uow,
            _: Writer,
            response: Response,
            if_match: IfMatch,
        ) -> Any:
            changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
            out = await uow.run(records.update, kind, ident, changes, if_match)
            response.headers["ETag"] = etag(out["version"])
            return out

    return router


def _readings_router() -> APIRouter:
    assets = records.KINDS["assets"]
    router = APIRouter(prefix="/assets", tags=["assets"])
    Reader = Annotated[Actor, allow(assets.one_readers, "read an asset's readings")]

    @router.get("/{ident}/readings", response_model=ReadingPage)
    def readings(
        ident: PathId,
        uow: Uow,
        actor: Reader,
        measure: Annotated[
            str | None, Query(min_length=1, max_length=64, description="only this measure's")
        ] = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        """The asset's meter readings, newest first (a technician: of an asset an order
        assigned to them names)."""
        with uow:  # grows with the page: in the threadpool
            return records.readings_page(
                uow, ident, actor, measure=measure, cursor=cursor, limit=limit
            )

    return router


routers = [*(_router(name) for name in records.KINDS), _readings_router()]
