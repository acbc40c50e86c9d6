"""A technician's device, as far as its photos go: a file sent to a work order resumably
(tus 1.0 at ``/api/v1/uploads``) with a bearer token, for scripts, the demo and tests.

It stands on tuspy (``tusclient``), the tus project's Python client: the upload is created
(``Upload-Metadata`` with the order, the device's ``attachment_id`` and the file's sha256),
sent in chunks (``PATCH``), and when the connection drops the server is asked how far it got
(``HEAD``) and the upload goes on from there. tuspy's own retries retry any failure, a
refusal too; here only a dropped connection (or a 5xx) is tried again, and a refusal (a 4xx:
the bytes are not the file named, the order takes no more) is raised at once with the
server's problem.

    client = FieldClient("http://127.0.0.1:8000", token)
    sent = client.upload(photo, work_order_id=7)   # sent.attachment_id names it on the order
    client.upload(photo, work_order_id=7, url=sent.url)   # resume one begun elsewhere
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

UPLOADS = "/api/v1/uploads"


class UploadFailed(RuntimeError):
    """The server refused the upload (``status``, its problem), or it could not be reached
    often enough to finish (``status`` None)."""

    def __init__(self, message: str, status: int | None, problem: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem

    @classmethod
    def of(cls, failed: TusCommunicationError) -> UploadFailed:
        problem = None
        with contextlib.suppress(TypeError, ValueError):
            problem = json.loads(failed.response_content or b"")
        detail = problem.get("detail") if isinstance(problem, dict) else None
        return cls(detail or str(failed), failed.status_code, problem)


@dataclass(frozen=True)
class Sent:
    """An upload that got every byte to the server: its URL, the device's id for the
    attachment, the file's sha256, and how many times it resumed after a dropped connection."""

    url: str
    attachment_id: str
    sha256: str
    resumed: int


@dataclass(frozen=True)
class FieldClient:
    base_url: str
    token: str
    chunk_size: int = 256 * 1024
    retries: int = 5
    """How many dropped connections (or 5xx answers) one upload survives."""
    retry_delay_s: float = 0.5

    def upload(
        self,
        content: bytes,
        *,
        work_order_id: int,
        attachment_id: str | None = None,
        kind: str = "photo",
        filename: str | None = None,
        url: str | None = None,
    ) -> Sent:
        """Send ``content`` to the order (a new upload, or the one at ``url``) until the
        server holds every byte; the last makes the attachment."""
        client_id = attachment_id or str(uuid.uuid4())
        sha256 = hashlib.sha256(content).hexdigest()
        metadata = {
            "work_order_id": str(work_order_id),
            "attachment_id": client_id,
            "kind": kind,
            "sha256": sha256,
        }
        if filename:
            metadata["filename"] = filename
        tus = TusClient(self.base_url + UPLOADS, headers={"Authorization": f"Bearer {self.token}"})
        try:
            uploader = tus.uploader(
                file_stream=io.BytesIO(content),
                url=url,
                chunk_size=self.chunk_size,
                metadata=metadata,
                retries=0,  # only a dropped connection is tried again (``_send``)
            )
            if url is None:
                uploader.set_url(uploader.create_url())
                uploader.offset = uploader.get_offset()  # a repeat may be complete already
        except TusCommunicationError as failed:
            raise UploadFailed.of(failed) from None
        resumed = self._send(uploader, len(content))
        return Sent(str(uploader.url), client_id, sha256, resumed)

    def _send(self, uploader: Uploader, size: int) -> int:
        """PATCH chunk after chunk; after a dropped connection, HEAD and go on: how often."""
        resumed, lost = 0, False
        while lost or uploader.offset < size:
            try:
                if lost:  # where the server is: what the cut request got there
                    uploader.offset = int(uploader.get_offset())
                    lost = False
                else:
                    uploader.upload_chunk()
            except TusCommunicationError as failed:
                refused = failed.status_code is not None and failed.status_code < 500
                if refused or resumed >= self.retries:
                    raise UploadFailed.of(failed) from None
                resumed, lost = resumed + 1, True
                time.sleep(self.retry_delay_s)
        return resumed
