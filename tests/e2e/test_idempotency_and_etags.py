"""Idempotency-Key on POST, and If-Match / ETag on every change to an order."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from api.idempotency import fingerprint
from orchestrator.access import idempotency
from orchestrator.store import models
from tests.support.http import PNG, Api, Mover, World


def _count_orders(api: Api) -> int:
    with api.container.new_uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(models.WorkOrder)) or 0)


def _create(api: Api, world: World, key: str, summary: str = "Leak at valve 7"):
    return api.call(
        "POST",
        "/api/v1/work-orders",
        world.dispatcher,
        json={"summary": summary, "site_id": world.site_id},
        headers={"Idempotency-Key": key},
    )


def test_same_key_and_body_replays_the_first_response_without_a_second_order(
    api: Api, world: World
) -> None:
    before = _count_orders(api)
    first = _create(api, world, "key-1")
    second = _create(api, world, "key-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    assert _count_orders(api) == before + 1


def test_same_key_with_another_body_is_422(api: Api, world: World) -> None:
    _create(api, world, "key-2")
    response = _create(api, world, "key-2", summary="Something else")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "different request body" in response.json()["detail"]


def test_keys_are_scoped_to_the_caller(api: Api, world: World) -> None:
    other = api.token("dispatcher", "another-dispatcher")
    before = _count_orders(api)
    _create(api, world, "shared-key")
    response = api.call(
        "POST",
        "/api/v1/work-orders",
        other,
        json={"summary": "Leak at valve 7", "site_id": world.site_id},
        headers={"Idempotency-Key": "shared-key"},
        expect=201,
    )
    assert "idempotent-replayed" not in response.headers
    assert _count_orders(api) == before + 2


def _repeat_of_a_claimed_request(api: Api, world: World, key: str, lease_s: float):
    """A first request's command claimed ``key`` with its effect (its answer is not stored);
    after ``lease_s`` seconds the same request comes again. Returns the repeat's answer."""
    body = json.dumps({"summary": "Leak at valve 7", "site_id": world.site_id}).encode()
    request_hash = fingerprint("POST", "/api/v1/work-orders", b"", "application/json", body)
    with api.container.new_uow() as uow:
        first = idempotency.reserve(uow, "dispatcher:dora", key, request_hash, lease_s)
        uow.commit()
    assert first.outcome == "reserved"
    time.sleep(min(lease_s * 5, 0.05))
    before = _count_orders(api)
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    repeat = api.call(
        "POST", "/api/v1/work-orders", world.dispatcher, content=body, headers=headers
    )
    assert _count_orders(api) == before  # never run a second time
    return repeat


@pytest.mark.parametrize(
    ("lease_s", "detail"),
    [
        (60, "still being processed"),  # the first is storing its answer right now
        (0.01, "answer was lost"),  # it died after its effect, before storing its answer
    ],
)
def test_a_repeat_of_a_request_whose_answer_is_not_stored_is_409_and_never_runs_again(
    api: Api, world: World, lease_s: float, detail: str
) -> None:
    """The claim commits with the effect, so a claim without an answer means it took effect."""
    repeat = _repeat_of_a_claimed_request(api, world, "key-claimed", lease_s)
    assert repeat.status_code == 409
    assert detail in repeat.json()["detail"]


def test_a_command_that_fails_after_claiming_its_key_gives_the_key_back(
    api: Api, world: World
) -> None:
    """The claim rolls back with the failed command: the corrected retry with the same key
    and body runs once, and its answer is what later repeats replay."""
    oid = _create(api, world, "key-5").json()["id"]
    body = {"to": "cancelled", "reason": "duplicate"}
    path = f"/api/v1/work-orders/{oid}/transitions"
    stale = {"If-Match": '"7"', "Idempotency-Key": "cancel-1"}
    assert api.call("POST", path, world.dispatcher, json=body, headers=stale).status_code == 412
    fresh = {"If-Match": '"1"', "Idempotency-Key": "cancel-1"}
    done = api.call("POST", path, world.dispatcher, json=body, headers=fresh, expect=200)
    again = api.call("POST", path, world.dispatcher, json=body, headers=fresh, expect=200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == done.json()
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.dispatcher).json()
    assert [e["kind"] for e in trail["events"]] == ["created", "transition"]


def test_a_failed_first_attempt_holds_no_key(api: Api, world: World) -> None:
    bad = api.call(
        "POST",
        "/api/v1/work-orders",
        world.dispatcher,
        json={"summary": "x", "site_id": 999999},
        headers={"Idempotency-Key": "key-3"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "site_id"
    good = api.call(
        "POST",
        "/api/v1/work-orders",
        world.dispatcher,
        json={"summary": "x", "site_id": world.site_id},
        headers={"Idempotency-Key": "key-3"},
    )
    assert good.status_code == 201


def test_idempotency_works_for_transitions_too(api: Api, world: World) -> None:
    oid = _create(api, world, "key-4").json()["id"]
    body = {
        "to": "triaged",
        "priority": 3,
        "division_id": world.division_id,
        "work_type_id": world.work_type_id,
    }
    headers = {"If-Match": '"1"', "Idempotency-Key": "triage-1"}
    path = f"/api/v1/work-orders/{oid}/transitions"
    first = api.call("POST", path, world.dispatcher, json=body, headers=headers, expect=200)
    again = api.call("POST", path, world.dispatcher, json=body, headers=headers, expect=200)
    assert again.json()["version"] == first.json()["version"] == 2
    trail = api.call("GET", f"/api/v1/work-orders/{oid}/audit", world.dispatcher).json()
    assert [e["kind"] for e in trail["events"]] == ["created", "transition"]


def test_get_returns_the_version_as_etag(api: Api, world: World) -> None:
    oid = _create(api, world, "key-5").json()["id"]
    response = api.call("GET", f"/api/v1/work-orders/{oid}", world.dispatcher, expect=200)
    assert response.headers["etag"] == '"1"'


def test_changes_without_if_match_are_428_and_stale_ones_412(
    api: Api, world: World, move: Mover
) -> None:
    oid = _create(api, world, "key-6").json()["id"]
    path = f"/api/v1/work-orders/{oid}"
    missing = api.call("PATCH", path, world.dispatcher, json={"summary": "new words"})
    assert missing.status_code == 428
    assert missing.headers["content-type"].startswith("application/problem+json")
    ok = api.call(
        "PATCH", path, world.dispatcher, json={"summary": "new words"}, headers={"If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = api.call(
        "PATCH",
        path,
        world.dispatcher,
        json={"summary": "lost update"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    assert api.call("GET", path, world.dispatcher).json()["summary"] == "new words"
    for method, suffix, body in (
        ("POST", "/transitions", {"to": "cancelled", "reason": "x"}),
        ("PUT", "/checklist", {"items": {}}),
    ):
        assert api.call(method, path + suffix, world.dispatcher, json=body).status_code == 428
        stale = api.call(
            method, path + suffix, world.dispatcher, json=body, headers={"If-Match": '"1"'}
        )
        assert stale.status_code == 412
    upload = api.call(
        "POST",
        path + "/attachments",
        world.dispatcher,
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\n0000", "image/png")},
    )
    assert upload.status_code == 428


ANY_OR_LOOSE = {"*": 428, 'W/"1"': 412, "1": 412, '"1", "2"': 412, '"01x"': 412}
"""If-Match values that name no one exact version, and what each is answered: ``*`` does
not say which version a change was made against; a weak tag never matches (RFC 9110)."""


def test_every_change_needs_one_strong_exact_version(api: Api, world: World) -> None:
    oid = _create(api, world, "key-strong", summary="seed").json()["id"]
    path = f"/api/v1/work-orders/{oid}"
    changes = [
        ("PATCH", path, {"json": {"summary": "overwritten"}}),
        ("POST", path + "/transitions", {"json": {"to": "cancelled", "reason": "x"}}),
        ("PUT", path + "/checklist", {"json": {"items": {}}}),
        ("POST", path + "/attachments", {"files": {"file": ("a.png", PNG, "image/png")}}),
        ("PATCH", f"/api/v1/sites/{world.site_id}", {"json": {"name": "Overwritten"}}),
    ]
    for method, where, body in changes:
        for value, status in ANY_OR_LOOSE.items():
            response = api.call(
                method, where, world.dispatcher, headers={"If-Match": value}, **body
            )
            assert response.status_code == status, (method, where, value, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    order = api.call("GET", path, world.dispatcher, expect=200).json()
    assert (order["version"], order["summary"], order["status"]) == (1, "seed", "new")
    site = api.call("GET", f"/api/v1/sites/{world.site_id}", world.dispatcher).json()
    assert site["name"] != "Overwritten"


def test_reference_data_edits_need_if_match_and_lose_nothing(api: Api, world: World) -> None:
    path = f"/api/v1/sites/{world.site_id}"
    read = api.call("GET", path, world.dispatcher, expect=200)
    missing = api.call("PATCH", path, world.dispatcher, json={"access_notes": "a"})
    assert missing.status_code == 428
    first = api.call(
        "PATCH", path, world.dispatcher, json={"access_notes": "gate code 1"},
        headers={"If-Match": read.headers["etag"]}, expect=200,
    )  # fmt: skip
    second = api.call(
        "PATCH", path, world.admin, json={"access_notes": "gate code 2"},
        headers={"If-Match": read.headers["etag"]},
    )  # fmt: skip
    assert second.status_code == 412
    assert second.json()["current_version"] == first.json()["version"]
    assert "site has changed" in second.json()["detail"]
    now = api.call("GET", path, world.dispatcher).json()
    assert now["access_notes"] == "gate code 1"
