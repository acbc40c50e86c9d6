"""Content-addressed attachment storage: files named by their SHA-256, written atomically.

The type is read from the file's first bytes, not trusted from the client.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.domain.errors import FieldbridgeError, invalid

KINDS = ("photo", "signature")
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/gif")


class TooLarge(FieldbridgeError):
    """[413] The upload is past ``FIELDBRIDGE_MAX_UPLOAD_MB``."""

    status = 413
    title = "Payload too large"


def sniff(head: bytes) -> str | None:
    for magic, mime in _SIGNATURES:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"heim", b"heis"):
        return "image/heic"
    return None


@dataclass(frozen=True)
class Stored:
    sha256: str
    size_bytes: int
    content_type: str
    path: Path


class AttachmentStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, kind: str, chunk: int = 1 << 16) -> Stored:
        if kind not in KINDS:
            raise invalid("kind", f"one of {', '.join(KINDS)}")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while block := stream.read(chunk):
                    if len(head) < 16:
                        head += block[: 16 - len(head)]
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
            content_type = sniff(head)
            if content_type is None:
                raise invalid(
                    "file", f"not an image of an accepted type ({', '.join(ALLOWED_TYPES)})"
                )
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
