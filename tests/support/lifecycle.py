"""An order's life over HTTP: raised, moved along the happy path, documented and closed."""

from __future__ import annotations

from typing import Any

from tests.support.http import JPEG, PNG, Api, Mover, World

WINDOW = {"window_start": "2026-06-10T09:00:00+02:00", "window_end": "2026-06-10T11:00:00+02:00"}
HAPPY_PATH = ("triaged", "scheduled", "dispatched", "in_progress")


def new_order(api: Api, world: World, **extra: object) -> dict:
    body = {
        "summary": "Pump 3 vibrates",
        "customer_id": world.customer_id,
        "site_id": world.site_id,
    }
    body.update(extra)
    return api.call("POST", "/api/v1/work-orders", world.dispatcher, json=body, expect=201).json()


def advance(api: Api, world: World, move: Mover, oid: int, until: str) -> int:
    """Move a ``new`` order along the happy path up to and including ``until``."""
    fields: dict[str, tuple[str, dict[str, object]]] = {
        "triaged": (
            world.dispatcher,
            {"priority": 2, "division_id": world.division_id, "work_type_id": world.work_type_id},
        ),
        "scheduled": (world.dispatcher, {"technician_id": world.technician_id, **WINDOW}),
        "dispatched": (world.dispatcher, {}),
        "in_progress": (world.tech_token, {"position": {"lat": 52.52, "lon": 13.4}}),
    }
    for state in HAPPY_PATH[: HAPPY_PATH.index(until) + 1]:
        token, extra = fields[state]
        move(oid, token, state, **extra)
    return oid


def to_in_progress(api: Api, world: World, move: Mover) -> int:
    return advance(api, world, move, new_order(api, world)["id"], "in_progress")


def upload(api: Api, token: str, oid: int, kind: str, content: bytes, expect: int | None = 201):
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", token).headers["etag"]
    return api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        token,
        files={"file": ("x.bin", content, "application/octet-stream")},
        data={"kind": kind},
        headers={"If-Match": etag},
        expect=expect,
    )


def document(api: Api, world: World, oid: int) -> None:
    etag = api.call("GET", f"/api/v1/work-orders/{oid}", world.tech_token).headers["etag"]
    api.call(
        "PUT",
        f"/api/v1/work-orders/{oid}/checklist",
        world.tech_token,
        json={"items": {"isolate": True, "inspect": True}},
        headers={"If-Match": etag},
        expect=200,
    )
    upload(api, world.tech_token, oid, "photo", PNG)
    upload(api, world.tech_token, oid, "photo", JPEG)
    upload(api, world.tech_token, oid, "signature", PNG + b"sig")


def close_one(api: Api, world: World, move: Mover) -> dict[str, Any]:
    """An order raised, done, documented and closed: the closed order."""
    oid = to_in_progress(api, world, move)
    document(api, world, oid)
    move(oid, world.tech_token, "completed")
    return move(oid, world.supervisor, "closed").json()
