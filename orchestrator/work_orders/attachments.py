"""Attachments: the files (photos, signatures) stored by their SHA-256 and written
atomically, each decoded whole before it is kept (its type is what it decodes as, never what
the client says); and the commands and reads that add them to an order (while it may be
documented) and list them."""

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

from orchestrator.domain.errors import FieldbridgeError, NotFound, invalid
from orchestrator.domain.lifecycle import Actor
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.audit_trail import append_event
from orchestrator.work_orders.order import check_documenter, check_version, load

KINDS = ("photo", "signature")
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
    def __init__(self, root: Path, max_bytes: int, max_pixels: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, kind: str, chunk: int = 1 << 16) -> Stored:
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
            content_type = image_type(Path(tmp), self.max_pixels)
            sha = digest.hexdigest()
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


@dataclass(frozen=True)
class AddAttachment:
    work_order_id: int
    kind: str
    sha256: str
    content_type: str
    size_bytes: int
    actor: Actor
    expected_version: int


def prepare_attachment(uow: UnitOfWork, work_order_id: int, actor: Actor, version: int) -> None:
    """Refuse early (visibility, version, state) before the upload is stored."""
    wo = load(uow, work_order_id, actor)
    check_version(wo, version)
    check_documenter(wo, actor)


def add_attachment(uow: UnitOfWork, cmd: AddAttachment) -> dict[str, Any]:
    wo = load(uow, cmd.work_order_id, cmd.actor, for_update=True)
    check_version(wo, cmd.expected_version)
    check_documenter(wo, cmd.actor)
    row = models.Attachment(
        work_order_id=wo.id,
        kind=cmd.kind,
        sha256=cmd.sha256,
        content_type=cmd.content_type,
        size_bytes=cmd.size_bytes,
    )
    uow.session.add(row)
    uow.session.flush()
    wo.version += 1
    append_event(
        uow,
        wo,
        cmd.actor,
        "attachment_added",
        {
            "attachment_id": row.id,
            "kind": cmd.kind,
            "sha256": cmd.sha256,
            "content_type": cmd.content_type,
            "size_bytes": cmd.size_bytes,
        },
    )
    uow.flush()
    out = {**attachment_public(row), "work_order_version": wo.version}
    uow.commit()
    return out


def attachment_public(row: models.Attachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "work_order_id": row.work_order_id,
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
