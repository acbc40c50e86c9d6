"""Work orders: intake, reads, edits, transitions, checklist, attachments and the audit trail."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from starlette.requests import Request

from api import headers, problems
from api.deps import (
    IF_MATCH,
    CurrentUser,
    IfMatch,
    PathId,
    Uow,
    allow,
    etag,
    get_container,
    if_match,
)
from api.schemas import (
    AttachmentPublic,
    AuditTrail,
    ChecklistIn,
    NotePublic,
    TransitionIn,
    WorkOrderPage,
    WorkOrderPublic,
    WorkOrderUpdate,
)
from mappings import canonical
from mappings.canonical import Id
from orchestrator.domain.lifecycle import Actor, State
from orchestrator.field import uploads
from orchestrator.work_orders import attachments, audit_trail, commands, notes, queries

router = APIRouter(prefix="/work-orders", tags=["work-orders"])
DOCUMENTING = {
    403: "the token's role may not document work",
    409: "work is not documented in the order's current state",
}


def _with_etag(response: Response, out: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = etag(out["version"])
    return out


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkOrderPublic,
    responses=problems.responses(
        {409: "an order with the same source_system and external_id exists: `fields` names them"}
    ),
)
async def create(
    body: canonical.WorkOrder,
    uow: Uow,
    actor: Annotated[Actor, allow(commands.CREATORS, "create work orders")],
    response: Response,
) -> Any:
    out = await uow.run(commands.create, commands.CreateWorkOrder(body, actor))
    response.headers["Location"] = f"/api/v1/work-orders/{out['id']}"
    return _with_etag(response, out)


@router.get("", response_model=WorkOrderPage)
def list_(
    uow: Uow,
    actor: CurrentUser,
    status_: Annotated[list[State] | None, Query(alias="status")] = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    technician: Annotated[Id | None, Query()] = None,
    division: Annotated[Id | None, Query()] = None,
    customer: Annotated[Id | None, Query()] = None,
    territory: Annotated[Id | None, Query()] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    flt = queries.WorkOrderFilter(
        status=tuple(s.value for s in status_ or ()),
        priority=priority,
        technician_id=technician,
        division_id=division,
        customer_id=customer,
        territory_id=territory,
    )
    with uow:
        return queries.list_page(uow, actor, flt, cursor=cursor, limit=limit)


@router.get("/{ident}", response_model=WorkOrderPublic)
async def read(ident: PathId, uow: Uow, actor: CurrentUser, response: Response) -> Any:
    return _with_etag(response, await uow.run(queries.get, ident, actor))


@router.patch(
    "/{ident}",
    response_model=WorkOrderPublic,
    responses=problems.responses(
        {
            403: "the token's role may not edit work orders, or may not change a field the "
            "body names (README, Editing an order)",
            409: "the order is completed, closed or cancelled and takes no edit, or its state "
            "holds a field the body changes fixed (the work type and site from dispatch on): "
            "`current` names the state",
            422: "a field is invalid, empties what triage filled, or fails the check of the "
            "order's state (a new work type its technician is not fit for): `errors` names "
            "each",
        }
    ),
)
async def update(
    ident: PathId,
    body: WorkOrderUpdate,  # type: ignore[valid-type]
    uow: Uow,
    actor: CurrentUser,
    if_match: IfMatch,
    response: Response,
) -> Any:
    changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    cmd = commands.UpdateWorkOrder(ident, changes, actor, if_match)
    return _with_etag(response, await uow.run(commands.update, cmd))


@router.post(
    "/{ident}/transitions",
    response_model=WorkOrderPublic,
    responses=problems.responses(
        {
            409: "not a move this caller may make from the order's current state: "
            "`allowed` lists those it may",
            422: "a field the move needs is missing or invalid; or, completing, the work "
            "type's proof of work is missing: `missing` lists it",
        }
    ),
)
async def transition(
    ident: PathId,
    body: TransitionIn,
    uow: Uow,
    actor: CurrentUser,
    if_match: IfMatch,
    response: Response,
) -> Any:
    fields = body.model_dump(exclude={"to"}, exclude_none=True)
    if body.window_start is not None:
        fields["window_start"] = body.window_start
    if body.window_end is not None:
        fields["window_end"] = body.window_end

    cmd = commands.TransitionWorkOrder(ident, body.to, fields, actor, if_match)
    return _with_etag(response, await uow.run(commands.transition, cmd))


@router.put(
    "/{ident}/checklist",
    response_model=WorkOrderPublic,
    responses=problems.responses(DOCUMENTING),
)
async def put_checklist(
    ident: PathId,
    body: ChecklistIn,
    uow: Uow,
    actor: CurrentUser,
    if_match: IfMatch,
    response: Response,
) -> Any:
    cmd = commands.UpdateChecklist(ident, body.items, actor, if_match)
    return _with_etag(response, await uow.run(commands.update_checklist, cmd))


IF_MATCH_UNLESS = f"without attachment_id: {IF_MATCH}"


async def _offline_or_versioned(
    attachment_id: Annotated[
        UUID | None,
        Form(
            description="the id the device gave this upload: with it no If-Match is asked, "
            "and a repeat is answered with the first record"
        ),
    ] = None,
    given: Annotated[str | None, Header(alias="If-Match", description=IF_MATCH_UNLESS)] = None,
) -> tuple[str | None, int | None]:
    """The upload's client id, or else the version ``If-Match`` names (``deps.if_match``:
    428 without one): an upload a device queued offline names no version."""
    if attachment_id is not None:
        return str(attachment_id), None
    return None, await if_match(given)


@router.post(
    "/{ident}/attachments",
    name="attachment_upload",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentPublic,
    responses={
        200: {
            "description": "a repeat (the same attachment_id, the same bytes): the attachment "
            "as first answered; nothing new is stored",
            "model": AttachmentPublic,
        },
        **problems.responses(
            DOCUMENTING
            | {
                409: "work is not documented in the order's current state (`current`); or "
                "attachment_id names an attachment with other bytes or of another order",
                412: "If-Match names no version, or one that is no longer current: read it "
                "again (without attachment_id)",
                413: "the file is larger than the upload limit: `limit_bytes`",
                428: "no If-Match, and no attachment_id",
            }
        ),
    },
)
def upload(
    ident: PathId,
    request: Request,
    uow: Uow,
    actor: CurrentUser,
    precondition: Annotated[tuple[str | None, int | None], Depends(_offline_or_versioned)],
    response: Response,
    file: Annotated[UploadFile, File(description="a photo or signature image")],
    kind: Annotated[str, Form(pattern="^(photo|signature)$")] = "photo",
) -> Any:
    """Attach a photo or signature. With ``attachment_id`` (a device's, queued offline) it
    is a fact: no If-Match, the order's version unchanged, a repeat answered with the first
    record (200); without, against the order's version (If-Match), which it raises."""
    client_id, version = precondition
    with uow.reading() as reading:  # no write lock while the file is stored
        repeat = attachments.prepare_attachment(reading, ident, actor, version, client_id)
    if client_id is not None and repeat:  # the same bytes again, or other bytes: 409
        sha256 = attachments.sha256_of(file.file)
        with uow.reading() as reading:
            first = attachments.repeated(reading, ident, actor, client_id, sha256)
        response.status_code = status.HTTP_200_OK
        return first
    stored = get_container(request).attachments.put(file.file, kind)
    cmd = attachments.AddAttachment(
        ident,
        kind,
        stored.sha256,
        stored.content_type,
        stored.size_bytes,
        actor,
        version,
        client_id=client_id,
    )
    with uow:
        if client_id is None:
            out, added = attachments.add_attachment(uow, cmd), True
        else:
            out, added = uploads.add_attachment(uow, cmd)
    if not added:
        response.status_code = status.HTTP_200_OK
    if out.get("work_order_version") is not None:
        response.headers["ETag"] = etag(out["work_order_version"])
    response.headers["Location"] = f"/api/v1/work-orders/{ident}/attachments/{out['id']}"
    return out


@router.get("/{ident}/attachments", response_model=list[AttachmentPublic])
async def list_attachments(ident: PathId, uow: Uow, actor: CurrentUser) -> Any:
    return await uow.run(attachments.list_attachments, ident, actor)


@router.get("/{ident}/attachments/{attachment_id}/content", response_class=StreamingResponse)
async def download(
    ident: PathId, attachment_id: PathId, request: Request, uow: Uow, actor: CurrentUser
) -> Any:
    """The file as stored, under its own type only (nosniff), shown in place when it is an
    image of a type an upload is decoded as, and asked for again on every use (its ETag, the
    SHA-256, makes the repeat a 304)."""
    meta = await uow.run(attachments.get_attachment, ident, attachment_id, actor)
    content_type = meta["content_type"]
    extension = mimetypes.guess_extension(content_type) or ".bin"
    sent = headers.download(
        f"attachment-{attachment_id}{extension}",
        inline=content_type in attachments.ALLOWED_TYPES,
    )
    sent["ETag"] = f'"{meta["sha256"]}"'
    if headers.not_modified(request.headers.get("if-none-match"), sent["ETag"]):
        return Response(status_code=304, headers=sent)
    sent["Content-Length"] = str(meta["size_bytes"])
    store = get_container(request).attachments
    return StreamingResponse(store.open(meta["sha256"]), media_type=content_type, headers=sent)


@router.get("/{ident}/audit", response_model=AuditTrail, response_model_by_alias=True)
def audit(ident: PathId, uow: Uow, actor: CurrentUser) -> Any:
    with uow:  # grows with the order's history: in the threadpool
        return audit_trail.audit_trail(uow, ident, actor)


@router.get("/{ident}/notes", response_model=list[NotePublic])
async def list_notes(ident: PathId, uow: Uow, actor: CurrentUser) -> Any:
    """The order's notes, oldest first: the reasons given for its moves, the technician's
    account of the job, remarks from the field; who wrote each and when."""
    return await uow.run(notes.order_notes, ident, actor)
