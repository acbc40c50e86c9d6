"""Attachments: type and size checked, stored by SHA-256, recorded in the audit trail by hash."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from orchestrator.runtime.bootstrap import bootstrap
from tests.support.databases import make_settings
from tests.support.http import JPEG, PNG, Api, Mover, World, csp, picture
from tests.support.lifecycle import to_in_progress, upload


def test_an_upload_is_content_addressed_and_audited_by_hash(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    out = upload(api, world.tech_token, oid, "photo", JPEG).json()
    digest = hashlib.sha256(JPEG).hexdigest()
    assert out["sha256"] == digest
    assert out["content_type"] == "image/jpeg"
    assert out["size_bytes"] == len(JPEG)
    stored = api.container.attachments.path_for(digest)
    assert stored.read_bytes() == JPEG
    assert stored.name == digest
    # The same bytes again are stored once.
    upload(api, world.tech_token, oid, "photo", JPEG)
    assert (
        len([p for p in Path(api.container.settings.attachments_dir).rglob("*") if p.is_file()])
        == 1
    )
    listed = api.call("GET", f"/api/v1/work-orders/{oid}/attachments", world.tech_token).json()
    assert [a["sha256"] for a in listed] == [digest, digest]
    content = api.call(
        "GET", f"/api/v1/work-orders/{oid}/attachments/{out['id']}/content", world.tech_token
    )
    assert content.content == JPEG and content.headers["content-type"] == "image/jpeg"
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.tech_token).json()["events"]
    added = [e for e in trail if e["kind"] == "attachment_added"]
    assert added[0]["payload"]["sha256"] == digest and added[0]["payload"]["kind"] == "photo"


def test_the_type_is_read_from_the_bytes_not_the_label(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    response = api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        world.tech_token,
        files={"file": ("evil.png", b"MZ\x90\x00 not an image", "image/png")},
        data={"kind": "photo"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
    bad_kind = api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        world.tech_token,
        files={"file": ("a.png", PNG, "image/png")},
        data={"kind": "selfie"},
        headers={"If-Match": etag},
    )
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"] == "kind"
    after = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    assert after == etag, "a refused upload changes nothing"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _declaring(width: int, height: int) -> bytes:
    """A PNG of a hundred bytes whose header declares ``width`` x ``height`` pixels: decoded,
    it would fill memory (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        PNG[:8]
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def test_only_an_image_that_decodes_whole_is_kept(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    before = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["version"]
    detailed = picture("PNG", (64, 64))
    refused = {
        "a PNG header over HTML": PNG[:8] + b"<html><script>alert(document.cookie)</script>",
        "a PNG cut short": detailed[: len(detailed) - 20],
        "a JPEG cut short": JPEG[: len(JPEG) // 2],
        "a bomb Pillow itself refuses": _declaring(100_000, 100_000),
        "a bomb past FIELDBRIDGE_MAX_IMAGE_MEGAPIXELS": _declaring(9_000, 9_000),
        "a HEIC Pillow cannot decode": b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64,
    }
    for what, content in refused.items():
        response = upload(api, world.tech_token, oid, "photo", content, expect=None)
        assert response.status_code == 422, (what, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["file"], what
        assert response.headers["content-type"] == "application/problem+json"
    stored = Path(api.container.settings.attachments_dir)
    assert not [p for p in stored.rglob("*") if p.is_file()], "nothing refused is kept"
    after = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).json()["version"]
    assert after == before, "a refused upload changes nothing"
    camera = io.BytesIO()  # a JPEG with a second picture behind it, as many cameras write
    first, second = (Image.new("RGB", (16, 12), colour) for colour in ("red", "blue"))
    first.save(camera, "MPO", save_all=True, append_images=[second])
    for content, content_type in (
        (picture("PNG", (32, 24)), "image/png"),
        (picture("JPEG", (32, 24)), "image/jpeg"),
        (camera.getvalue(), "image/jpeg"),
        (picture("GIF", (32, 24)), "image/gif"),
        (picture("WEBP", (32, 24)), "image/webp"),
    ):
        out = upload(api, world.tech_token, oid, "photo", content).json()
        assert out["content_type"] == content_type and out["size_bytes"] == len(content)


def test_a_download_is_served_as_its_type_only_and_revalidated(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    out = upload(api, world.tech_token, oid, "photo", PNG).json()
    path = f"/api/v1/work-orders/{oid}/attachments/{out['id']}/content"
    content = api.call("GET", path, world.tech_token, expect=200)
    assert content.content == PNG and content.headers["content-type"] == "image/png"
    assert content.headers["x-content-type-options"] == "nosniff"
    disposition = content.headers["content-disposition"]
    assert disposition == f'inline; filename="attachment-{out["id"]}.png"'
    policy = csp(content)
    assert policy["default-src"] == ["'none'"] and "sandbox" in policy
    assert content.headers["cache-control"] == "private, no-cache"
    assert content.headers["content-length"] == str(len(PNG))
    etag = content.headers["etag"]
    assert etag == f'"{out["sha256"]}"'
    again = api.call("GET", path, world.tech_token, headers={"If-None-Match": etag}, expect=304)
    assert again.content == b"" and again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    # Revalidation asks who reads: another technician gets no 304, but a 404.
    api.call("GET", path, world.other_tech_token, headers={"If-None-Match": etag}, expect=404)


def test_past_the_limit_is_413_and_nothing_is_stored(database_url: str, tmp_path: Path) -> None:
    container = bootstrap(make_settings(database_url, tmp_path, max_upload_mb=1))
    try:
        with TestClient(create_app(container=container)) as client:
            api = Api(client, container)
            token = api.token("admin", "ada")
            order = api.call(
                "POST", "/api/v1/work-orders", token, json={"summary": "x"}, expect=201
            ).json()
            big = PNG + b"\x00" * (2 * 1024 * 1024)
            response = api.call(
                "POST",
                f"/api/v1/work-orders/{order['id']}/attachments",
                token,
                files={"file": ("big.png", big, "image/png")},
                headers={"If-Match": '"1"'},
            )
            assert response.status_code == 413
            assert response.headers["content-type"].startswith("application/problem+json")
            root = Path(container.settings.attachments_dir)
            assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]
            assert (
                api.call("GET", f"/api/v1/work-orders/{order['id']}", token).json()["version"] == 1
            )
    finally:
        container.dispose()


def test_documenting_is_refused_outside_the_visit(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    move(oid, world.tech_token, "cannot_complete", reason="no access")
    response = upload(api, world.tech_token, oid, "photo", PNG, expect=409)
    assert response.json()["current"] == "cannot_complete"


def test_a_retried_upload_with_a_new_multipart_boundary_is_replayed(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    responses = []
    for boundary in ("boundary-first-attempt", "boundary-second-attempt"):
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="kind"\r\n\r\nphoto\r\n'
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + JPEG
            + f"\r\n--{boundary}--\r\n".encode()
        )
        responses.append(
            api.call(
                "POST",
                f"/api/v1/work-orders/{oid}/attachments",
                world.tech_token,
                content=body,
                headers={
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "If-Match": etag,
                    "Idempotency-Key": "photo-upload-1",
                },
            )
        )
    first, retry = responses
    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    listed = api.call("GET", f"/api/v1/work-orders/{oid}/attachments", world.tech_token).json()
    assert len(listed) == 1
