"""Resumable uploads (tus 1.0 at ``/api/v1/uploads``): a photo created, sent in pieces, cut
off and resumed from what the server holds, and attached to its order with the device's id
once its last byte is in and its sha256 checks out."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from api.app import create_app
from devtools.field_client import FieldClient, UploadFailed
from orchestrator.runtime.bootstrap import bootstrap
from orchestrator.store import models
from orchestrator.store.db import utcnow
from tests.support.cli import cli_env, serving, wait_for
from tests.support.databases import make_settings
from tests.support.http import JPEG, PNG, Api, Mover, World
from tests.support.lifecycle import new_order, to_in_progress, upload

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def noisy_png(size: tuple[int, int] = (160, 120)) -> bytes:
    """A PNG of random pixels: large enough to send in pieces (it does not compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def create(
    api: Api,
    token: str,
    oid: int,
    content: bytes,
    client_id: str | None = None,
    *,
    length: int | None = None,
    **overrides: str,
) -> httpx.Response:
    values = {
        "work_order_id": str(oid),
        "attachment_id": client_id or str(uuid.uuid4()),
        "kind": "photo",
        "filename": "pump.png",
        "sha256": hashlib.sha256(content).hexdigest(),
    } | overrides
    headers = TUS | {
        "Upload-Length": str(len(content) if length is None else length),
        "Upload-Metadata": metadata(**values),
    }
    return api.call("POST", "/api/v1/uploads", token, headers=headers)


def patch(
    api: Api, token: str, location: str, offset: int, body: bytes, **headers: str
) -> httpx.Response:
    sent = TUS | {"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM} | headers
    return api.call("PATCH", location, token, content=body, headers=sent)


def head(api: Api, token: str, location: str) -> httpx.Response:
    return api.call("HEAD", location, token, headers=dict(TUS))  # a copy: call adds the token


def status_of(api: Api, oid: int, token: str) -> str:
    return str(api.call("GET", f"/api/v1/work-orders/{oid}", token, expect=200).json()["status"])


def attachments_of(api: Api, token: str, oid: int) -> list[dict]:
    return api.call("GET", f"/api/v1/work-orders/{oid}/attachments", token, expect=200).json()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_options_say_what_the_server_speaks(api: Api) -> None:
    answer = api.call("OPTIONS", "/api/v1/uploads", None)
    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert answer.headers["tus-version"] == "1.0.0"
    assert answer.headers["tus-extension"] == "creation"
    assert int(answer.headers["tus-max-size"]) == api.container.settings.max_upload_mb * 1024**2
    assert answer.headers["allow"] == "POST, OPTIONS"
    # Every other path's OPTIONS is answered as before.
    other = api.call("OPTIONS", "/api/v1/work-orders", None)
    assert other.status_code == 204 and "tus-version" not in other.headers


def test_an_upload_sent_in_two_halves_becomes_the_attachment(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    content = noisy_png()
    client_id = str(uuid.uuid4())
    made = create(api, world.tech_token, oid, content, client_id)
    assert made.status_code == 201, made.text
    location = made.headers["location"]
    assert location.startswith("/api/v1/uploads/")
    assert made.headers["tus-resumable"] == "1.0.0" and made.headers["upload-offset"] == "0"
    state = head(api, world.tech_token, location)
    assert state.status_code == 200
    assert state.headers["upload-offset"] == "0"
    assert state.headers["upload-length"] == str(len(content))
    assert state.headers["cache-control"] == "no-store"
    assert state.headers["tus-resumable"] == "1.0.0"
    half = len(content) // 2
    first = patch(api, world.tech_token, location, 0, content[:half])
    assert first.status_code == 204, first.text
    assert first.headers["upload-offset"] == str(half)
    assert head(api, world.tech_token, location).headers["upload-offset"] == str(half)
    assert attachments_of(api, world.tech_token, oid) == [], "nothing is attached before the end"
    last = patch(api, world.tech_token, location, half, content[half:])
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(content))
    [attached] = attachments_of(api, world.tech_token, oid)
    assert attached["attachment_id"] == client_id
    assert attached["sha256"] == hashlib.sha256(content).hexdigest()
    assert attached["content_type"] == "image/png" and attached["size_bytes"] == len(content)
    root = Path(api.container.settings.attachments_dir)
    assert api.container.attachments.path_for(attached["sha256"]).read_bytes() == content
    assert not list((root / ".tus").iterdir()), "the partial file is gone once attached"
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.tech_token).json()["events"]
    added = [e["payload"] for e in trail if e["kind"] == "attachment_added"]
    assert [p["client_id"] for p in added] == [client_id]
    done = patch(api, world.tech_token, location, len(content), b"")
    assert done.status_code == 204 and done.headers["upload-offset"] == str(len(content))
    assert patch(api, world.tech_token, location, len(content), b"x").status_code == 413
    # The device lost the answer and starts over: the upload is complete already.
    again = create(api, world.tech_token, oid, content, client_id)
    assert again.status_code == 201
    assert again.headers["upload-offset"] == str(len(content))
    assert head(api, world.tech_token, again.headers["location"]).headers["upload-offset"] == str(
        len(content)
    )
    assert len(attachments_of(api, world.tech_token, oid)) == 1


def test_a_completion_waiting_for_its_photos_applies_when_the_last_arrives(
    api: Api, world: World, move: Mover
) -> None:
    """The device completed the job offline, naming the photos it took; the op waits on the
    server until each has arrived (one whole, one resumably), then the order is completed."""
    oid = to_in_progress(api, world, move)
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    items = {"items": {"isolate": True, "inspect": True}}
    path = f"/api/v1/work-orders/{oid}/checklist"
    api.call("PUT", path, world.tech_token, json=items, headers={"If-Match": etag}, expect=200)
    upload(api, world.tech_token, oid, "signature", PNG)
    whole, resumed = str(uuid.uuid4()), str(uuid.uuid4())
    completion = {
        "op_id": str(uuid.uuid4()),
        "at": "2026-06-10T10:30:00+02:00",
        "work_order_id": oid,
        "base_version": 1,
        "kind": "transition",
        "to": "completed",
        "attachment_ids": [whole, resumed],
    }
    body = {"device_id": "tess-phone", "ops": [completion]}
    sent = api.call("POST", "/api/v1/me/ops", world.tech_token, json=body, expect=200).json()
    assert [r["status"] for r in sent["results"]] == ["pending"]
    api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        world.tech_token,
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
        data={"kind": "photo", "attachment_id": whole},
        expect=201,
    )
    assert status_of(api, oid, world.tech_token) == "in_progress", "a photo is on its way"
    content = noisy_png()
    location = create(api, world.tech_token, oid, content, resumed).headers["location"]
    patch(api, world.tech_token, location, 0, content[:500])
    assert status_of(api, oid, world.tech_token) == "in_progress"
    assert patch(api, world.tech_token, location, 500, content[500:]).status_code == 204
    assert status_of(api, oid, world.tech_token) == "completed"


def test_what_the_protocol_refuses(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    content = noisy_png()
    old = api.call(
        "POST",
        "/api/v1/uploads",
        world.tech_token,
        headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10", "Upload-Metadata": ""},
    )
    assert old.status_code == 412
    assert old.headers["tus-version"] == "1.0.0" and old.headers["tus-resumable"] == "1.0.0"
    assert old.headers["content-type"] == "application/problem+json"
    limit = api.container.settings.max_upload_mb * 1024**2
    big = create(api, world.tech_token, oid, content, length=limit + 1)
    assert big.status_code == 413 and big.json()["limit_bytes"] == limit
    assert big.headers["tus-resumable"] == "1.0.0"
    missing = api.call(
        "POST", "/api/v1/uploads", world.tech_token, headers=TUS | {"Upload-Length": "10"}
    )
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["work_order_id"]
    for key, value in (("sha256", "abc"), ("kind", "selfie"), ("attachment_id", "x")):
        wrong = create(api, world.tech_token, oid, content, **{key: value})
        assert wrong.status_code == 422, (key, wrong.text)
        assert [e["field"] for e in wrong.json()["errors"]] == [key]
    garbled = api.call(
        "POST",
        "/api/v1/uploads",
        world.tech_token,
        headers=TUS | {"Upload-Length": "10", "Upload-Metadata": "work_order_id !!!"},
    )
    assert garbled.status_code == 400
    assert [e["field"] for e in garbled.json()["errors"]] == ["work_order_id"]
    location = create(api, world.tech_token, oid, content).headers["location"]
    as_form = patch(
        api, world.tech_token, location, 0, content[:10], **{"Content-Type": "image/png"}
    )
    assert as_form.status_code == 415
    ahead = patch(api, world.tech_token, location, 5, content[:10])
    assert ahead.status_code == 409 and ahead.json()["upload_offset"] == 0
    too_long = patch(api, world.tech_token, location, 0, content + b"more")
    assert too_long.status_code == 413
    assert head(api, world.tech_token, location).headers["upload-offset"] == "0"
    assert attachments_of(api, world.tech_token, oid) == []


def test_a_wrong_sha256_is_refused_and_nothing_is_attached(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    content = noisy_png()
    other = hashlib.sha256(b"another file").hexdigest()
    location = create(api, world.tech_token, oid, content, sha256=other).headers["location"]
    refused = patch(api, world.tech_token, location, 0, content)
    assert refused.status_code == 409, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["sha256"]
    assert head(api, world.tech_token, location).status_code == 404, "the upload is discarded"
    assert attachments_of(api, world.tech_token, oid) == []
    assert stored_files(Path(api.container.settings.attachments_dir)) == []


def test_an_upload_is_its_makers_alone(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    content = noisy_png()
    location = create(api, world.tech_token, oid, content).headers["location"]
    patch(api, world.tech_token, location, 0, content[:100])
    for token in (world.other_tech_token, world.dispatcher, world.admin):
        assert head(api, token, location).status_code == 404
        assert patch(api, token, location, 100, content[100:]).status_code == 404
    unknown = f"/api/v1/uploads/{uuid.uuid4()}"
    assert head(api, world.tech_token, unknown).status_code == 404
    # An order the caller may not see does not exist for them; a requester uploads nothing.
    assert create(api, world.other_tech_token, oid, content).status_code == 404
    requester = api.token("requester", "rita")
    assert create(api, requester, oid, content).status_code == 403
    # The office may document a scheduled order (not yet the technician's to see).
    scheduled = new_order(api, world)["id"]
    assert create(api, world.dispatcher, scheduled, content).status_code == 201
    assert head(api, world.tech_token, location).headers["upload-offset"] == "100"


def test_an_expired_upload_is_gone_with_its_file(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    content = noisy_png()
    location = create(api, world.tech_token, oid, content).headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    patch(api, world.tech_token, location, 0, content[:100])
    partial = api.container.attachments.partial(upload_id)
    assert partial.stat().st_size == 100
    with api.container.new_uow() as uow:
        row = uow.session.get(models.Upload, upload_id)
        assert row is not None and row.expires_at - row.created_at == timedelta(hours=24)
        uow.session.execute(
            update(models.Upload)
            .where(models.Upload.id == upload_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        uow.commit()
    assert head(api, world.tech_token, location).status_code == 404
    assert patch(api, world.tech_token, location, 100, content[100:]).status_code == 404
    create(api, world.tech_token, oid, content)  # each creation sweeps the expired away
    assert not partial.exists()
    with api.container.new_uow(read_only=True) as uow:
        left = uow.session.scalars(select(models.Upload.id)).all()
    assert upload_id not in left and len(left) == 1


def test_a_raw_body_is_held_to_the_upload_limit_not_the_json_one(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, max_upload_mb=1, max_json_bytes=2048)
    with bootstrap(settings) as container, TestClient(create_app(container=container)) as client:
        api = Api(client, container)
        admin = api.token("admin", "ada")
        oid = api.call("POST", "/api/v1/work-orders", admin, json={"summary": "x"}).json()["id"]
        content = noisy_png((64, 64))
        assert 2048 < len(content) < 1024**2
        location = create(api, admin, oid, content).headers["location"]
        past = patch(api, admin, location, 0, b"\x00" * (1024**2 + 1))
        assert past.status_code == 413 and "FIELDBRIDGE_MAX_UPLOAD_MB" in past.json()["detail"]
        sent = patch(api, admin, location, 0, content)
        assert sent.status_code == 204, sent.text
        [attached] = attachments_of(api, admin, oid)
        assert attached["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_transfer_cut_midway_keeps_what_arrived_and_resumes(
    api: Api, world: World, move: Mover, database_url: str, tmp_path: Path
) -> None:
    """Over a real socket: a PATCH declares its length, half the body is written and the
    connection closed. The server keeps what arrived; the device asks and goes on."""
    oid = to_in_progress(api, world, move)
    content = noisy_png((200, 150))
    env = cli_env(database_url, tmp_path, FIELDBRIDGE_SECRET_KEY=api.container.secret_key,
                  FIELDBRIDGE_OUTBOX_RELAY="false")  # fmt: skip
    auth = {"Authorization": f"Bearer {world.tech_token}"}
    with serving(env, tmp_path, "--no-access-log") as server:
        made = create_over_http(server.base, auth, oid, content)
        location = made.headers["location"]
        half = len(content) // 2
        partial = tmp_path / "att" / ".tus" / location.rsplit("/", 1)[1]
        cut_off(server.base, location, auth, content, half, partial)
        wait_for(lambda: offset(server.base, location, auth) > 0, 10, "the offset never moved")
        assert offset(server.base, location, auth) == half
        client = FieldClient(server.base, world.tech_token, chunk_size=len(content) // 5)
        url = server.base + location
        sent = client.upload(content, work_order_id=oid, attachment_id="x", url=url)
        assert sent.url == url
        listed = httpx.get(f"{server.base}/api/v1/work-orders/{oid}/attachments", headers=auth)
        [attached] = listed.json()
        assert attached["sha256"] == hashlib.sha256(content).hexdigest()
        assert (tmp_path / "att").joinpath(*_sharded(attached["sha256"])).read_bytes() == content
        # The helper from scratch, in chunks; and a refusal raised with the server's problem.
        whole = FieldClient(server.base, world.tech_token, chunk_size=4096)
        again = whole.upload(noisy_png(), work_order_id=oid, kind="signature")
        assert again.resumed == 0
        kinds = httpx.get(f"{server.base}/api/v1/work-orders/{oid}/attachments", headers=auth)
        assert [a["kind"] for a in kinds.json()] == ["photo", "signature"]
        with pytest.raises(UploadFailed) as refused:
            whole.upload(b"not an image at all", work_order_id=oid)
        assert refused.value.status == 422
        assert refused.value.problem is not None
        assert refused.value.problem["errors"][0]["field"] == "file"


def _sharded(sha256: str) -> tuple[str, str, str]:
    return sha256[:2], sha256[2:4], sha256


def create_over_http(base: str, auth: dict[str, str], oid: int, content: bytes) -> httpx.Response:
    values = {
        "work_order_id": str(oid),
        "attachment_id": str(uuid.uuid4()),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    headers = (
        auth | TUS | {"Upload-Length": str(len(content)), "Upload-Metadata": metadata(**values)}
    )
    made = httpx.post(f"{base}/api/v1/uploads", headers=headers)
    assert made.status_code == 201, made.text
    return made


def offset(base: str, location: str, auth: dict[str, str]) -> int:
    answer = httpx.head(base + location, headers=auth | TUS)
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["upload-offset"])


def cut_off(
    base: str, location: str, auth: dict[str, str], content: bytes, sent: int, partial: Path
) -> None:
    """PATCH ``content`` with its whole length declared, write the first ``sent`` bytes, wait
    until the server has written them to the upload's file, and close the connection."""
    parts = urlsplit(base)
    head_lines = [
        f"PATCH {location} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Authorization: {auth['Authorization']}",
        "Tus-Resumable: 1.0.0",
        "Upload-Offset: 0",
        f"Content-Type: {OFFSET_STREAM}",
        f"Content-Length: {len(content)}",
    ]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode() + content[:sent])
        wait_for(
            lambda: partial.exists() and partial.stat().st_size >= sent,
            10,
            "the server never wrote what it was sent",
        )
