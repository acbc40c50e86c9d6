"""Uploads a device queued offline: each with an id of its own (``attachment_id``), so none
needs the order's ETag, none invalidates another, and a repeat is the same attachment. Without
an id, an upload is made against the order's version as before."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2 as httpx

from tests.support.http import JPEG, PNG, Api, Mover, World, picture
from tests.support.lifecycle import advance, document, new_order, to_in_progress


def _send(
    api: Api,
    token: str,
    oid: int,
    content: bytes,
    attachment_id: str | None,
    *,
    etag: str | None = None,
    kind: str = "photo",
) -> httpx.Response:
    data = {"kind": kind} | ({"attachment_id": attachment_id} if attachment_id else {})
    return api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        token,
        files={"file": ("p.bin", content, "application/octet-stream")},
        data=data,
        headers={"If-Match": etag} if etag else {},
    )


def _listed(api: Api, token: str, oid: int) -> list[dict]:
    return api.call("GET", f"/api/v1/work-orders/{oid}/attachments", token, expect=200).json()


def _files(api: Api) -> list[Path]:
    root = Path(api.container.settings.attachments_dir)
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_two_uploads_queued_with_the_same_stale_etag_both_land(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    stale = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    first = _send(api, world.tech_token, oid, PNG, ids[0], etag=stale)
    second = _send(api, world.tech_token, oid, JPEG, ids[1], etag=stale)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert [first.json()["attachment_id"], second.json()["attachment_id"]] == ids
    assert first.json()["work_order_version"] is None
    # A fact changes no version: a transition queued with the same ETag still applies.
    after = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    assert after == stale
    listed = _listed(api, world.tech_token, oid)
    assert [(a["attachment_id"], a["content_type"]) for a in listed] == [
        (ids[0], "image/png"),
        (ids[1], "image/jpeg"),
    ]
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.tech_token).json()["events"]
    added = [e["payload"] for e in trail if e["kind"] == "attachment_added"]
    assert [p["client_id"] for p in added] == ids


def test_a_repeat_answers_the_first_record_and_stores_nothing_new(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    client_id = str(uuid.uuid4())
    first = _send(api, world.tech_token, oid, PNG, client_id)
    assert first.status_code == 201, first.text
    files = _files(api)
    again = _send(api, world.tech_token, oid, PNG, client_id)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(_listed(api, world.tech_token, oid)) == 1
    assert _files(api) == files
    # The id in another spelling (upper case) is the same UUID: the same attachment.
    assert _send(api, world.tech_token, oid, PNG, client_id.upper()).status_code == 200


def test_the_same_id_with_other_bytes_or_on_another_order_is_a_conflict(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    client_id = str(uuid.uuid4())
    _send(api, world.tech_token, oid, PNG, client_id)
    files = _files(api)
    other_bytes = _send(api, world.tech_token, oid, picture("PNG", (8, 8)), client_id)
    assert other_bytes.status_code == 409
    assert other_bytes.headers["content-type"] == "application/problem+json"
    assert other_bytes.json()["fields"] == ["attachment_id"]
    other = to_in_progress(api, world, move)
    elsewhere = _send(api, world.tech_token, other, PNG, client_id)
    assert elsewhere.status_code == 409 and elsewhere.json()["fields"] == ["attachment_id"]
    assert _files(api) == files, "nothing refused is kept"
    assert _listed(api, world.tech_token, other) == []
    bad = _send(api, world.tech_token, oid, PNG, "not-a-uuid")
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["attachment_id"]


def test_a_fact_from_the_technician_lands_until_the_order_is_closed(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    document(api, world, oid)
    move(oid, world.tech_token, "completed")
    # The order moved on while the photo waited for a signal: it is still taken...
    late = _send(api, world.tech_token, oid, PNG, str(uuid.uuid4()))
    assert late.status_code == 201, late.text
    # ...but without an id, documenting a completed order is refused as before,
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    assert _send(api, world.tech_token, oid, JPEG, None, etag=etag).status_code == 409
    # and the office's rules are the office's: an id changes nothing for them.
    office = _send(api, world.dispatcher, oid, JPEG, str(uuid.uuid4()))
    assert office.status_code == 409 and office.json()["current"] == "completed"
    move(oid, world.supervisor, "closed")
    refused = _send(api, world.tech_token, oid, JPEG, str(uuid.uuid4()))
    assert refused.status_code == 409, refused.text
    assert refused.json()["current"] == "closed"
    assert len(_listed(api, world.tech_token, oid)) == 4  # three documenting it, one late


def test_a_fact_on_a_cancelled_order_is_refused(api: Api, world: World, move: Mover) -> None:
    oid = to_in_progress(api, world, move)
    move(oid, world.tech_token, "cannot_complete", reason="no access")
    assert _send(api, world.tech_token, oid, PNG, str(uuid.uuid4())).status_code == 201
    move(oid, world.supervisor, "cancelled", reason="customer cancelled")
    files = _files(api)
    refused = _send(api, world.tech_token, oid, JPEG, str(uuid.uuid4()))
    assert refused.status_code == 409, refused.text
    assert refused.json()["current"] == "cancelled"
    assert refused.headers["content-type"] == "application/problem+json"
    assert [a["content_type"] for a in _listed(api, world.tech_token, oid)] == ["image/png"]
    assert _files(api) == files


def test_the_office_uploads_with_an_id_while_it_may_document(
    api: Api, world: World, move: Mover
) -> None:
    oid = advance(api, world, move, new_order(api, world)["id"], "scheduled")
    out = _send(api, world.dispatcher, oid, PNG, str(uuid.uuid4()))
    assert out.status_code == 201, out.text
    # Another technician does not see the order: it does not exist for them.
    assert _send(api, world.other_tech_token, oid, PNG, str(uuid.uuid4())).status_code == 404


def test_without_an_id_the_upload_is_made_against_the_orders_version(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    stale = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    missing = _send(api, world.tech_token, oid, PNG, None)
    assert missing.status_code == 428
    first = _send(api, world.tech_token, oid, PNG, None, etag=stale)
    assert first.status_code == 201 and first.json()["attachment_id"] is None
    assert first.headers["etag"] == f'"{first.json()["work_order_version"]}"' != stale
    second = _send(api, world.tech_token, oid, JPEG, None, etag=stale)
    assert second.status_code == 412
    assert len(_listed(api, world.tech_token, oid)) == 1
