"""Resumable uploads: tus 1.0's core protocol with its creation extension
(https://tus.io/protocols/resumable-upload), for photos and signatures sent from where the
signal comes and goes. The rules are ``orchestrator.field.uploads``'s; here the protocol's
headers are read and written.

- ``OPTIONS /uploads``: the protocol's version, extension and size limit.
- ``POST /uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (``work_order_id``,
  ``attachment_id``, ``kind``, ``filename``, ``sha256``, each value base64): 201 and the
  upload's ``Location``.
- ``HEAD /uploads/{id}``: how many bytes are in (``Upload-Offset``).
- ``PATCH /uploads/{id}``: bytes appended at ``Upload-Offset``, streamed to the upload's
  file. A request cut short keeps what arrived; the last byte makes the attachment.

Every answer of these routes carries ``Tus-Resumable`` (``TusRoute``), refusals too, but for
those of the gate (a token, a role or a body's size refused before the route is found).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api import headers, problems
from api.deps import RawUpload, Uow, allow, get_container
from api.problems import ApiProblem
from orchestrator.domain.errors import Conflict, FieldbridgeError, NotFound
from orchestrator.domain.lifecycle import Actor
from orchestrator.field import uploads
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import attachments

VERSION = "1.0.0"
EXTENSIONS = "creation"
OFFSET_STREAM = "application/offset+octet-stream"
BASE = "/api/v1/uploads"
TUS = {"Tus-Resumable": VERSION}


class TusRoute(APIRoute):
    """A route whose every answer says ``Tus-Resumable``, as tus asks of each (but
    ``OPTIONS``'s, where it does no harm): the handler's, and the problems raised while its
    dependencies or its work run (carried as an ``ApiProblem`` with the header, so that the
    application's problem handler still answers them)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                response = await handler(request)
            except FieldbridgeError as exc:
                said = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
                raise ApiProblem(
                    exc.status, exc.detail, {**said, **TUS}, title=exc.title, **exc.extra
                ) from exc
            except ApiProblem as exc:
                exc.headers = {**(exc.headers or {}), **TUS}
                raise
            response.headers.setdefault("Tus-Resumable", VERSION)
            return response

        return answered


router = APIRouter(prefix="/uploads", tags=["uploads"], route_class=TusRoute)
Uploader = Annotated[Actor, allow(attachments.ATTACHERS, "upload attachments")]


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


_RESUMABLE = _header("the protocol's version: 1.0.0", {"type": "string", "enum": [VERSION]})
_OFFSET = _header("the bytes the server holds", {"type": "integer", "minimum": 0})
_LENGTH = _header("the file's size in bytes", {"type": "integer", "minimum": 0})


async def tus_resumable(
    tus_resumable: Annotated[
        str | None, Header(description=f"the protocol's version the client speaks: {VERSION}")
    ] = None,
) -> None:
    """tus: a request in a version the server does not speak is not processed (412, with
    the versions it speaks)."""
    if tus_resumable != VERSION:
        raise ApiProblem(
            412,
            f"Tus-Resumable: this server speaks tus {VERSION} only",
            {"Tus-Version": VERSION},
            errors=[{"field": "Tus-Resumable", "in": "header", "reason": f"must be {VERSION}"}],
        )


Resumable = Depends(tus_resumable)
WRONG_VERSION = "Tus-Resumable is missing or names a version other than 1.0.0 (see Tus-Version)"


@router.options(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        204: {
            "description": "what this server speaks of tus",
            "headers": {
                "Tus-Resumable": _RESUMABLE,
                "Tus-Version": _header("the versions of tus this server speaks"),
                "Tus-Extension": _header("the extensions it supports: creation"),
                "Tus-Max-Size": _header(
                    "the largest upload, in bytes (FIELDBRIDGE_MAX_UPLOAD_MB)",
                    {"type": "integer", "minimum": 0},
                ),
            },
        }
    },
)
async def describe(request: Request) -> Response:
    """tus's discovery: the version, the extensions and the largest upload taken."""
    said = {
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(get_container(request).attachments.max_bytes),
    }
    allowed = headers.allowed_methods(request.scope)
    if allowed is not None:
        said["Allow"] = allowed
    return Response(status_code=204, headers=said)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={
        201: {
            "description": "the upload, at its Location; Upload-Offset is its length when the "
            "attachment is on the order already (a repeat: nothing more to send)",
            "headers": {
                "Location": _header("the upload's URL, for HEAD and PATCH"),
                "Upload-Offset": _OFFSET,
                "Tus-Resumable": _RESUMABLE,
            },
        },
        **problems.responses(
            {
                400: "Upload-Metadata is malformed: `errors` names the key",
                403: "the token's role may not document the order",
                404: "the work order does not exist, or this caller may not see it",
                409: "the order takes no more attachments in its state (`current`), or "
                "attachment_id names an attachment with other bytes or of another order",
                412: WRONG_VERSION,
                413: "Upload-Length is past the upload limit: `limit_bytes`",
                422: "a key of Upload-Metadata is missing or wrong: `errors` names it",
            }
        ),
    },
)
async def create(
    request: Request,
    actor: Uploader,
    uow: Uow,
    _: Annotated[None, Resumable],
    upload_length: Annotated[
        int, Header(ge=0, description="the file's size in bytes (tus: Upload-Length)")
    ],
    upload_metadata: Annotated[
        str | None,
        Header(
            description="comma-separated `key base64(value)` pairs: work_order_id, "
            "attachment_id (a UUID the device made), kind (photo or signature), filename, "
            "sha256 (the file's, hexadecimal)"
        ),
    ] = None,
) -> Response:
    """Create a resumable upload of a photo or signature for a work order."""
    store = get_container(request).attachments
    cmd = uploads.NewUpload(_metadata(upload_metadata), upload_length, actor)
    out = await uow.run(uploads.create_upload, store, cmd)
    return Response(
        status_code=201,
        headers={"Location": f"{BASE}/{out['id']}", "Upload-Offset": str(out["offset"])},
    )


def _metadata(header: str | None) -> dict[str, str | None]:
    """tus's ``Upload-Metadata``: ``key base64value`` pairs, comma-separated (a key alone
    has no value); a pair that cannot be read is 400 naming it."""
    pairs: dict[str, str | None] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        words = pair.strip().split(" ")
        key = words[0]
        if len(words) > 2 or key in pairs:
            reason = "a key given twice" if key in pairs else "not a `key base64value` pair"
            raise _malformed(key, reason)
        try:
            value = base64.b64decode(words[1], validate=True).decode() if len(words) > 1 else None
        except (binascii.Error, UnicodeDecodeError):
            raise _malformed(key, "its value is not base64 of UTF-8 text") from None
        pairs[key] = value
    return pairs


def _malformed(key: str, reason: str) -> ApiProblem:
    return ApiProblem(
        400,
        f"Upload-Metadata: {key}: {reason}",
        errors=[{"field": key, "in": "header", "reason": reason}],
    )


_GONE = "the upload does not exist, has expired, or is not this caller's"


@router.head(
    "/{ident}",
    response_class=Response,
    responses={
        200: {
            "description": "how far the upload got",
            "headers": {
                "Upload-Offset": _OFFSET,
                "Upload-Length": _LENGTH,
                "Cache-Control": _header("no-store"),
                "Tus-Resumable": _RESUMABLE,
            },
        },
        **problems.responses(
            {403: "the token's role may not upload attachments", 404: _GONE, 412: WRONG_VERSION}
        ),
    },
)
async def progress(ident: UUID, actor: Uploader, uow: Uow, _: Annotated[None, Resumable]) -> Any:
    """How many bytes of the upload the server holds: resume from there."""
    out = await uow.run(uploads.get_upload, str(ident), actor)
    said = {
        "Upload-Offset": str(out["offset"]),
        "Upload-Length": str(out["length"]),
        "Cache-Control": "no-store",
    }
    return Response(status_code=200, headers=said)


@router.patch(
    "/{ident}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[RawUpload],
    responses={
        204: {
            "description": "the bytes are in: Upload-Offset is the new offset; the last byte "
            "made the attachment",
            "headers": {"Upload-Offset": _OFFSET, "Tus-Resumable": _RESUMABLE},
        },
        **problems.responses(
            {
                403: "the token's role may not upload attachments",
                404: _GONE,
                409: "Upload-Offset is not the upload's offset (`upload_offset`: read it with "
                "HEAD), or, with the last byte: the bytes are not the file the sha256 named "
                "(`errors`), the order takes no more attachments, or attachment_id is taken",
                412: WRONG_VERSION,
                413: "more bytes than the upload's length, or past the upload limit",
                415: f"the body is not {OFFSET_STREAM}",
                422: "Upload-Offset is missing or not a number; with the last byte: the file "
                "is not an image of an accepted type (`errors` names `file`)",
            }
        ),
    },
)
async def append(
    ident: UUID,
    request: Request,
    actor: Uploader,
    uow: Uow,
    _: Annotated[None, Resumable],
    upload_offset: Annotated[
        int, Header(ge=0, description="where these bytes go: the offset HEAD answered")
    ],
) -> Response:
    """Append the body's bytes to the upload at ``Upload-Offset``.

    The body is the file's next bytes as they are, sent as ``Content-Type:
    application/offset+octet-stream`` (tus); what arrives before a connection drops is kept."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OFFSET_STREAM:
        raise ApiProblem(415, f"send the bytes as Content-Type: {OFFSET_STREAM}")
    upload_id = str(ident)
    upload = await uow.run(uploads.get_upload, upload_id, actor)
    if upload_offset != upload["offset"]:
        raise Conflict(
            f"Upload-Offset: the upload holds {upload['offset']} bytes, not {upload_offset}",
            upload_offset=upload["offset"],
        )
    room = upload["length"] - upload_offset
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > room:
        raise _past_the_end(room)
    if upload["completed"]:  # every byte is in and attached: nothing more is taken
        return Response(status_code=204, headers={"Upload-Offset": str(upload_offset)})
    store = get_container(request).attachments
    partial = store.partial(upload_id)
    if _held(partial) < upload_offset:  # the bytes so far are lost: start again
        await uow.run(uploads.discard_upload, store, upload_id, actor)
        raise NotFound("upload", upload_id)
    received, cut = await _receive(request, partial, upload_offset, room)
    offset = upload_offset + received
    if received and not await uow.run(uploads.advance, upload_id, actor, upload_offset, offset):
        raise Conflict("Upload-Offset: another request moved the upload on: read it with HEAD")
    if not cut and offset == upload["length"] and not upload["completed"]:
        await _attach(uow, store, upload_id, actor, upload)
    return Response(status_code=204, headers={"Upload-Offset": str(offset)})


def _held(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _past_the_end(room: int) -> attachments.TooLarge:
    return attachments.TooLarge(
        f"the body is longer than the {room} bytes the upload still takes", limit_bytes=room
    )


async def _receive(request: Request, path: Path, offset: int, room: int) -> tuple[int, bool]:
    """Write the body at ``offset`` of the upload's file, each piece as it arrives, and
    make it durable: how many bytes, and whether the client went away before the end (what
    arrived until then is kept). More than ``room`` is refused (413) and nothing kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written, cut = 0, False
    path.touch()
    async with await anyio.open_file(path, "r+b", buffering=0) as out:
        await out.truncate(offset)  # what a request cut before its offset was recorded wrote
        await out.seek(offset)
        try:
            async for piece in request.stream():
                if written + len(piece) > room:
                    await out.truncate(offset)
                    raise _past_the_end(room)
                await out.write(piece)
                written += len(piece)
        except ClientDisconnect:
            cut = True
        await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
    return written, cut


async def _attach(
    uow: UnitOfWork,
    store: attachments.AttachmentStore,
    upload_id: str,
    actor: Actor,
    upload: dict[str, Any],
) -> None:
    """Every byte is in: the file checked against its sha256, decoded and stored, and added
    to its order. A refusal ends the upload (its bytes cannot become what it named)."""
    partial = store.partial(upload_id)
    try:
        stored = await run_in_threadpool(_store, store, partial, upload["kind"], upload["sha256"])
        finished = uploads.Finished(upload_id, actor, stored)
        await uow.run(uploads.complete_upload, finished)
    except FieldbridgeError:
        await uow.run(uploads.discard_upload, store, upload_id, actor)
        raise
    partial.unlink(missing_ok=True)


def _store(
    store: attachments.AttachmentStore, partial: Path, kind: str, sha256: str
) -> attachments.Stored:
    with partial.open("rb") as bytes_in:
        return store.put(bytes_in, kind, sha256=sha256)
