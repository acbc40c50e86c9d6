"""Files a device sends with ids of its own: a photo or signature queued offline, sent whole
(``POST /api/v1/work-orders/{id}/attachments`` with ``attachment_id``) or resumably (tus 1.0
at ``/api/v1/uploads``).

An attachment with a client id is a fact (``orchestrator.work_orders.attachments``): a repeat
is the same attachment, and once one is added the completion ops of its order that waited for
it are tried again, in the same transaction (``ops.attachment_arrived``), which is why the
commands that add one live here and not beside the office's upload.

A resumable upload is a row (``models.Upload``) and a file of the bytes so far
(``AttachmentStore.partial``). It belongs to whoever made it (the token's subject and role):
to anyone else it does not exist. Its offset is what the store holds and the database says:
the bytes of a request cut short are kept up to the last that arrived, and the device asks
(HEAD) and goes on from there. When the last byte is in, the file is checked against the
sha256 the device gave, decoded and stored like any upload, and added with its client id. An
upload lives ``TTL`` from its creation; expired, it is gone (404), and each creation sweeps
the expired rows and their files away.

A creation naming a client id whose attachment is already on the order with the same
sha256 (the device lost the first answer) is answered with an upload already complete: its
offset is its length, and nothing more need be sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from mappings.canonical import MAX_ID
from orchestrator.domain.errors import NotFound, invalid
from orchestrator.domain.lifecycle import Actor
from orchestrator.field import ops
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import attachments
from orchestrator.work_orders.order import load

TTL = timedelta(hours=24)
"""How long a resumable upload may take, from its creation."""
PURGE_BATCH = 500
"""The most expired uploads one creation sweeps away (the rest go with the next)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def add_attachment(uow: UnitOfWork, cmd: attachments.AddAttachment) -> tuple[dict[str, Any], bool]:
    """Add a stored file with its client id (``cmd.client_id``) to the order, then try again
    what waited for it, and commit: the attachment, and whether it was added (False: a
    repeat, answered with the attachment the id names)."""
    out, added = _record(uow, cmd)
    uow.commit()
    return out, added


def _record(uow: UnitOfWork, cmd: attachments.AddAttachment) -> tuple[dict[str, Any], bool]:
    if cmd.client_id is None:
        raise ValueError("a device's attachment has a client id")
    out, added = attachments.record_attachment(uow, cmd)
    if added:
        ops.attachment_arrived(uow, cmd.work_order_id)
    return out, added


@dataclass(frozen=True)
class Metadata:
    """What a device says of a resumable upload (tus's ``Upload-Metadata``), checked."""

    work_order_id: int
    client_id: str
    kind: str
    filename: str | None
    sha256: str

    @classmethod
    def of(cls, given: Mapping[str, str | None]) -> Metadata:
        """Each key checked, and refused (422) by its name. Other keys are left alone: tus
        clients add their own (``filetype``, ``relativePath``...)."""
        order = _required(given, "work_order_id")
        if not order.isdigit() or not 1 <= int(order) <= MAX_ID:
            raise invalid("work_order_id", "the id of a work order (a positive integer)")
        try:
            client_id = str(uuid.UUID(_required(given, "attachment_id")))
        except ValueError:
            raise invalid("attachment_id", "a UUID, made by the device") from None
        kind = given.get("kind") or "photo"
        if kind not in attachments.KINDS:
            raise invalid("kind", f"one of {', '.join(attachments.KINDS)}")
        sha256 = _required(given, "sha256").lower()
        if not _SHA256.match(sha256):
            raise invalid("sha256", "the file's SHA-256, 64 hexadecimal digits")
        filename = given.get("filename") or None
        if filename is not None and len(filename) > 255:
            raise invalid("filename", "at most 255 characters")
        return cls(int(order), client_id, kind, filename, sha256)


def _required(given: Mapping[str, str | None], key: str) -> str:
    value = given.get(key)
    if not value:
        raise invalid(key, "required in Upload-Metadata")
    return value


@dataclass(frozen=True)
class NewUpload:
    metadata: Mapping[str, str | None]  # Upload-Metadata, decoded
    length: int  # Upload-Length
    actor: Actor


def create_upload(
    uow: UnitOfWork,
    store: attachments.AttachmentStore,
    cmd: NewUpload,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new resumable upload for a file to attach to an order, refused as its attachment
    would be (the order unseen: 404; a state that takes no more: 409; the client id taken
    by other bytes or another order: 409), and past the upload limit (413)."""
    meta = Metadata.of(cmd.metadata)
    if cmd.length == 0:
        raise invalid("Upload-Length", "the file is empty")
    if cmd.length > store.max_bytes:
        raise attachments.TooLarge(
            f"Upload-Length: the file is larger than {store.max_bytes // (1024 * 1024)} MB",
            limit_bytes=store.max_bytes,
        )
    now = now or utcnow()
    swept = _sweep(uow, now)
    wo = load(uow, meta.work_order_id, cmd.actor)
    recorded = attachments.by_client_id(uow, meta.client_id)
    if recorded is not None:
        attachments.check_repeat(recorded, wo.id, meta.sha256)
    else:
        attachments.check_attacher(wo, cmd.actor, meta.client_id)
    row = models.Upload(
        id=str(uuid.uuid4()),
        work_order_id=wo.id,
        attachment_client_id=meta.client_id,
        kind=meta.kind,
        filename=meta.filename,
        sha256=meta.sha256,
        length=cmd.length,
        offset=cmd.length if recorded is not None else 0,
        subject=cmd.actor.subject,
        role=str(cmd.actor.role),
        technician_id=cmd.actor.technician_id,
        created_at=now,
        expires_at=now + TTL,
        completed_at=now if recorded is not None else None,
        attachment_id=recorded.id if recorded is not None else None,
    )
    uow.session.add(row)
    uow.flush()
    out = upload_public(row)
    uow.commit()
    _remove(store, swept)
    return out


def upload_public(row: models.Upload) -> dict[str, Any]:
    return {
        "id": row.id,
        "work_order_id": row.work_order_id,
        "attachment_client_id": row.attachment_client_id,
        "offset": row.offset,
        "length": row.length,
        "expires_at": row.expires_at,
        "kind": row.kind,
        "sha256": row.sha256,
        "completed": row.completed_at is not None,
        "attachment": row.attachment_id,
    }


def _owned(
    uow: UnitOfWork, ident: str, actor: Actor, now: datetime, *, for_update: bool = False
) -> models.Upload:
    """The upload ``ident`` if ``actor`` made it and it has not expired; else 404."""
    query = select(models.Upload).where(models.Upload.id == ident)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    row = uow.session.scalars(query).one_or_none()
    mine = row is not None and row.subject == actor.subject and row.role == str(actor.role)
    if row is None or not mine or row.expires_at <= now:
        raise NotFound("upload", ident)
    return row


def get_upload(
    uow: UnitOfWork, ident: str, actor: Actor, now: datetime | None = None
) -> dict[str, Any]:
    """The upload as its maker sees it: how far it got (``HEAD``)."""
    return upload_public(_owned(uow, ident, actor, now or utcnow()))


def advance(uow: UnitOfWork, ident: str, actor: Actor, before: int, after: int) -> bool:
    """Record that the upload's file holds ``after`` bytes, if it still held ``before`` (two
    requests at once: the one that lost learns so, False). Committed."""
    _owned(uow, ident, actor, utcnow())
    moved = uow.session.execute(
        update(models.Upload)
        .where(
            models.Upload.id == ident,
            models.Upload.offset == before,
            models.Upload.completed_at.is_(None),
        )
        .values(offset=after)
    )
    uow.commit()
    return bool(getattr(moved, "rowcount", 0) == 1)


@dataclass(frozen=True)
class Finished:
    """An upload whose every byte is in, its file stored (``AttachmentStore.put`` checked it
    against the upload's sha256 and decoded it)."""

    upload_id: str
    actor: Actor
    stored: attachments.Stored


def complete_upload(uow: UnitOfWork, cmd: Finished) -> dict[str, Any]:
    """Attach the upload's file to its order with its client id (the rules of any such
    attachment, checked again now), try again what waited for it, and mark the upload
    complete: the attachment. A completed upload completed again answers the same."""
    row = _owned(uow, cmd.upload_id, cmd.actor, utcnow(), for_update=True)
    add = attachments.AddAttachment(
        row.work_order_id,
        row.kind,
        cmd.stored.sha256,
        cmd.stored.content_type,
        cmd.stored.size_bytes,
        cmd.actor,
        None,
        row.attachment_client_id,
    )
    out, _ = _record(uow, add)
    row.offset = row.length
    row.completed_at = row.completed_at or utcnow()
    row.attachment_id = out["id"]
    uow.commit()
    return out


def discard_upload(
    uow: UnitOfWork, store: attachments.AttachmentStore, ident: str, actor: Actor
) -> None:
    """The upload ended in a refusal (its bytes are not the file it named, not an image, or
    its order no longer takes them): gone, with its file."""
    gone = uow.session.execute(
        delete(models.Upload).where(
            models.Upload.id == ident,
            models.Upload.subject == actor.subject,
            models.Upload.role == str(actor.role),
        )
    )
    uow.commit()
    if getattr(gone, "rowcount", 0) == 1:
        _remove(store, [ident])


def purge_expired(
    uow: UnitOfWork, store: attachments.AttachmentStore, now: datetime | None = None
) -> int:
    """Remove the uploads past their time and their files: how many. Committed."""
    swept = _sweep(uow, now or utcnow())
    uow.commit()
    _remove(store, swept)
    return len(swept)


def _sweep(uow: UnitOfWork, now: datetime) -> list[str]:
    """Delete (not committed) the expired uploads, at most ``PURGE_BATCH``: their ids."""
    expired = list(
        uow.session.scalars(
            select(models.Upload.id).where(models.Upload.expires_at <= now).limit(PURGE_BATCH)
        )
    )
    if expired:
        uow.session.execute(delete(models.Upload).where(models.Upload.id.in_(expired)))
    return expired


def _remove(store: attachments.AttachmentStore, upload_ids: list[str]) -> None:
    """The files of uploads whose rows are gone (after the commit: a rollback keeps both)."""
    for ident in upload_ids:
        Path(store.partial(ident)).unlink(missing_ok=True)
