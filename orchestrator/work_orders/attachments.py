"""Attachments: the files (photos, signatures) stored by their SHA-256 and written
atomically, each decoded whole before it is kept (its type is what it decodes as, never what
the client says); and the commands and reads that add them to an order and list them.

An attachment comes in two ways. From the office's forms, against the order's version
(``If-Match``), while the order may be documented (``check_documenter``), raising the
version. Or with the id the device gave it (``client_id``, a UUID): a fact, like a note, that
a device may have queued offline behind other facts, so it names no version and raises none,
a repeat of it is the same attachment, and from the order's technician it is taken in any
state but closed and cancelled (the order may have moved on while the photo waited for a
signal: ``check_attacher``). The commands that add one with a client id are
``orchestrator.field.uploads``'s: what waited for it there is tried again in the same
transaction."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.errors import Conflict, FieldbridgeError, NotFound, invalid
from orchestrator.domain.lifecycle import TERMINAL, Actor, Role, State
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.audit_trail import append_event
from orchestrator.work_orders.order import check_documenter, check_version, load

KINDS = ("photo", "signature")
ATTACHERS = frozenset({Role.TECHNICIAN, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
"""The roles that may add an attachment to an order at all (``check_documenter``'s)."""
OPENERS = ("JPEG", "PNG", "GIF", "WEBP")
"""The decoders an upload is read with (Pillow's names). HEIC is not among them: Pillow
cannot decode it, and what cannot be decoded here is not kept."""
FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # JPEG's decoder, for a JPEG with more pictures behind the first
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
"""What a decoded image is served as, by the format Pillow read."""
ALLOWED_TYPES = tuple(dict.fromkeys(FORMATS.values()))


class TooLarge(FieldbridgeError):
    """[413] The upload is past ``FIELDBRIDGE_MAX_UPLOAD_MB``."""

    status = 413
    title = "Payload too large"


def image_type(path: Path, max_pixels: int) -> str:
    """The type of the image at ``path``, once it has decoded whole: its header read by the
    decoder of a format we keep, its size within ``max_pixels`` (before any pixel is
    decoded: a small file can declare a huge picture), its structure verified, its pixels
    loaded. Anything else is refused (422 naming ``file``): a known header over other bytes
    (HTML, say) would otherwise be kept and served as an image."""
    try:
        return _decoded(path, max_pixels)
    except FieldbridgeError:
        raise
    except UnidentifiedImageError:
        accepted = ", ".join(ALLOWED_TYPES)
        raise invalid("file", f"not an image of an accepted type ({accepted})") from None
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except Exception:  # untrusted bytes: what a decoder trips on is the file's fault
        raise invalid("file", "the image is damaged or incomplete: it cannot be decoded") from None


def _decoded(path: Path, max_pixels: int) -> str:
    with Image.open(path, formats=OPENERS) as image:
        content_type = FORMATS[str(image.format)]
        width, height = image.size
        if width * height > max_pixels:
            raise _too_many_pixels(max_pixels)
        image.verify()  # the structure (a PNG's chunks and checksums); it spends the image
    with Image.open(path, formats=OPENERS) as image:
        image.load()  # every pixel: a truncated or corrupt stream fails here
    return content_type


def _too_many_pixels(max_pixels: int) -> FieldbridgeError:
    limit = f"{max_pixels / 1_000_000:g} megapixels"
    return invalid("file", f"the image is larger than {limit} (FIELDBRIDGE_MAX_IMAGE_MEGAPIXELS)")


@dataclass(frozen=True)
class Stored:
    sha256: str
    size_bytes: int
    content_type: str
    path: Path


class AttachmentStore:
    """The files, under ``root`` by their SHA-256; and under ``root/.tus`` the bytes of the
    resumable uploads under way (``orchestrator.field.uploads``), one file each."""

    PARTIAL_DIR = ".tus"

    def __init__(self, root: Path, max_bytes: int, max_pixels: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def partial(self, upload_id: str) -> Path:
        """Where the bytes of the resumable upload ``upload_id`` (a UUID we made) gather."""
        return self.root / self.PARTIAL_DIR / upload_id

    def put(
        self, stream: BinaryIO, kind: str, chunk: int = 1 << 16, *, sha256: str | None = None
    ) -> Stored:
        """Store what ``stream`` holds, once it has decoded whole as an image (``image_type``).
        With ``sha256``, the bytes must have that digest: a resumed upload whose pieces do
        not add up to the file the device meant is refused (409 naming ``sha256``) and
        nothing is kept."""
        if kind not in KINDS:
            raise invalid("kind", f"one of {', '.join(KINDS)}")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while block := stream.read(chunk):
                    size += len(block)
                    if size > self.max_bytes:
                        raise TooLarge(
                            f"the file is larger than {self.max_bytes // (1024 * 1024)} MB",
                            limit_bytes=self.max_bytes,
                        )
                    digest.update(block)
                    out.write(block)
            if size == 0:
                raise invalid("file", "the file is empty")
            sha = digest.hexdigest()
            if sha256 is not None and sha != sha256:
                raise Conflict(
                    f"sha256: the bytes received hash to {sha}, not to the sha256 given",
                    errors=[{"field": "sha256", "reason": "does not match the bytes received"}],
                )
            content_type = image_type(Path(tmp), self.max_pixels)
            final = self.path_for(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            return Stored(sha, size, content_type, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def open(self, sha256: str) -> Iterator[bytes]:
        with self.path_for(sha256).open("rb") as fh:
            while block := fh.read(1 << 16):
                yield block


def sha256_of(stream: BinaryIO, chunk: int = 1 << 16) -> str:
    """The SHA-256 of what ``stream`` holds, read in chunks (a repeat is compared by it, and
    nothing of it is stored)."""
    digest = hashlib.sha256()
    while block := stream.read(chunk):
        digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class AddAttachment:
    """A file stored, to be added to an order: against ``expected_version`` (the office's
    forms), or with the device's ``client_id`` (a fact: no version)."""

    work_order_id: int
    kind: str
    sha256: str
    content_type: str
    size_bytes: int
    actor: Actor
    expected_version: int | None
    client_id: str | None = None


def check_attacher(wo: models.WorkOrder, actor: Actor, client_id: str | None) -> None:
    """Whether ``actor`` may add an attachment to the order now. With a client id, from the
    order's technician (``load`` let them see it: it is theirs), a fact: taken in every state
    but closed and cancelled, 409 there. Otherwise, and from the office always, the
    documenting rules (``check_documenter``)."""
    if client_id is not None and actor.role is Role.TECHNICIAN:
        state = State(wo.status)
        if state in TERMINAL:
            raise Conflict(
                f"the order is {state}: it takes no more attachments", current=str(state)
            )
        return
    check_documenter(wo, actor)


def by_client_id(uow: UnitOfWork, client_id: str) -> models.Attachment | None:
    row: models.Attachment | None = uow.session.scalars(
        select(models.Attachment).where(models.Attachment.client_id == client_id)
    ).one_or_none()
    return row


def check_repeat(row: models.Attachment, work_order_id: int, sha256: str | None) -> None:
    """A repeat of the upload ``row`` recorded (the same client id): the same order and
    (unless ``sha256`` is None: not known yet) the same bytes, else 409 naming
    ``attachment_id``."""
    if row.work_order_id != work_order_id:
        raise Conflict(
            "attachment_id: this id names an attachment of another work order",
            fields=["attachment_id"],
        )
    if sha256 is not None and row.sha256 != sha256:
        raise Conflict(
            "attachment_id: this id names an attachment with other bytes (another sha256)",
            fields=["attachment_id"],
        )


def prepare_attachment(
    uow: UnitOfWork,
    work_order_id: int,
    actor: Actor,
    version: int | None,
    client_id: str | None = None,
) -> bool:
    """Refuse early (visibility, version, state) before the upload is stored. True when the
    client id is recorded on the order already: a repeat, answered by ``repeated`` (whatever
    the order's state now) once its bytes are hashed, and nothing is stored."""
    wo = load(uow, work_order_id, actor)
    if client_id is not None:
        row = by_client_id(uow, client_id)
        if row is not None:
            check_repeat(row, wo.id, None)  # its bytes are compared once hashed
            return True
    elif version is not None:
        check_version(wo, version)
    check_attacher(wo, actor, client_id)
    return False


def repeated(
    uow: UnitOfWork, work_order_id: int, actor: Actor, client_id: str, sha256: str
) -> dict[str, Any]:
    """The attachment a repeat of an upload with ``client_id`` names, as first answered; 409
    naming ``attachment_id`` when the repeat's bytes (``sha256``) or order are others."""
    wo = load(uow, work_order_id, actor)
    row = by_client_id(uow, client_id)
    if row is None:
        raise NotFound("attachment", client_id)
    check_repeat(row, wo.id, sha256)
    return attachment_public(row)


def record_attachment(uow: UnitOfWork, cmd: AddAttachment) -> tuple[dict[str, Any], bool]:
    """Add the attachment to the order, not committed: its answer, and whether it was added
    (False: a repeat of a client id, answered with the attachment recorded first). Without a
    client id the order's version is checked and raised; with one neither (a fact)."""
    wo = load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    if cmd.client_id is not None:
        recorded = by_client_id(uow, cmd.client_id)
        if recorded is not None:
            check_repeat(recorded, wo.id, cmd.sha256)
            return attachment_public(recorded), False
    else:  # the office's form: against the version it read
        if cmd.expected_version is None:
            raise ValueError("an attachment without a client id names the version it was read at")
        check_version(wo, cmd.expected_version)
    check_attacher(wo, cmd.actor, cmd.client_id)
    row = models.Attachment(
        work_order_id=wo.id,
        kind=cmd.kind,
        sha256=cmd.sha256,
        content_type=cmd.content_type,
        size_bytes=cmd.size_bytes,
        client_id=cmd.client_id,
    )
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:  # the same client id, added meanwhile to another order
        raise Conflict(
            "attachment_id: this id names another attachment", fields=["attachment_id"]
        ) from None
    payload: dict[str, Any] = {
        "attachment_id": row.id,
        "kind": cmd.kind,
        "sha256": cmd.sha256,
        "content_type": cmd.content_type,
        "size_bytes": cmd.size_bytes,
    }
    out = attachment_public(row)
    if cmd.client_id is None:
        wo.version += 1
        out["work_order_version"] = wo.version
    else:
        payload["client_id"] = cmd.client_id
    append_event(uow, wo, cmd.actor, "attachment_added", payload)
    uow.flush()
    return out, True


def add_attachment(uow: UnitOfWork, cmd: AddAttachment) -> dict[str, Any]:
    """The office's upload (no client id): the attachment added against the order's version,
    committed. One with a client id goes through ``orchestrator.field.uploads``."""
    out, _ = record_attachment(uow, cmd)
    uow.commit()
    return out


def attachment_public(row: models.Attachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "work_order_id": row.work_order_id,
        "attachment_id": row.client_id,
        "kind": row.kind,
        "sha256": row.sha256,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "created_at": row.created_at,
    }


def list_attachments(uow: UnitOfWork, ident: int, actor: Actor) -> list[dict[str, Any]]:
    wo = load(uow, ident, actor)
    rows = uow.session.scalars(
        select(models.Attachment)
        .where(models.Attachment.work_order_id == wo.id)
        .order_by(models.Attachment.id)
    )
    return [attachment_public(r) for r in rows]


def get_attachment(uow: UnitOfWork, ident: int, attachment_id: int, actor: Actor) -> dict[str, Any]:
    wo = load(uow, ident, actor)
    row = uow.session.get(models.Attachment, attachment_id)
    if row is None or row.work_order_id != wo.id:
        raise NotFound("attachment", attachment_id)
    return attachment_public(row)
