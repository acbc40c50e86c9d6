"""Attachments: type and size checked, stored by SHA-256, recorded in the audit trail by hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.runtime.bootstrap import bootstrap
from tests.support.databases import make_settings
from tests.support.http import JPEG, PNG, Api, Mover, World
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
