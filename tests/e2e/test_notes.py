"""An order's notes (``GET /work-orders/{ident}/notes``): the reasons given for its moves and the
notes from the field, oldest first, with who wrote each, in which role, when and, for a reason,
the state its move went to; shown to whoever may see the order, and to no one else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.domain.audit import sha256_hex
from orchestrator.store import models
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import new_order, to_in_progress


def _notes(api: Api, token: str | None, oid: int, expect: int = 200) -> list[dict]:
    return api.call("GET", f"/api/v1/work-orders/{oid}/notes", token, expect=expect).json()


def test_the_reasons_and_the_field_notes_are_shown_oldest_first_with_their_authors(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    move(oid, world.tech_token, "on_hold", reason="Waiting for a gasket")
    move(oid, world.tech_token, "in_progress")
    move(oid, world.dispatcher, "on_hold", reason="Customer asked to come back at 3")
    written_offline = datetime.now(UTC) - timedelta(hours=2)  # before both holds, sent later
    with api.container.new_uow() as uow:
        text = "Gate code 4711, dog in the yard"
        uow.session.add(
            models.Note(
                work_order_id=oid,
                kind="note",
                text=text,
                sha256=sha256_hex(text),
                author="tess",
                author_role="technician",
                at=written_offline,
                op_id="7b0c5cde-55b4-4f52-9d1e-0d6f0b6d3a10",
            )
        )
        uow.commit()

    shown = _notes(api, world.dispatcher, oid)

    assert [(n["kind"], n["text"], n["author"], n["author_role"], n["state"]) for n in shown] == [
        ("note", "Gate code 4711, dog in the yard", "tess", "technician", None),
        ("reason", "Waiting for a gasket", "tess", "technician", "on_hold"),
        ("reason", "Customer asked to come back at 3", "dora", "dispatcher", "on_hold"),
    ]
    assert datetime.fromisoformat(shown[0]["at"]) == written_offline
    assert shown[1]["at"] <= shown[2]["at"]
    assert all(n["created_at"] and isinstance(n["id"], int) for n in shown)
    # The technician the order is assigned to reads the same.
    assert _notes(api, world.tech_token, oid) == shown


def test_an_order_without_notes_has_none(api: Api, world: World) -> None:
    oid = new_order(api, world)["id"]
    assert _notes(api, world.dispatcher, oid) == []


def test_the_notes_are_only_for_those_who_may_see_the_order(
    api: Api, world: World, move: Mover
) -> None:
    oid = to_in_progress(api, world, move)
    move(oid, world.tech_token, "on_hold", reason="Waiting for a gasket")
    requester = api.token("requester", "rita")
    integration = api.token("integration", "bot")

    for stranger in (world.other_tech_token, requester):
        problem = api.call("GET", f"/api/v1/work-orders/{oid}/notes", stranger, expect=404)
        assert problem.headers["content-type"] == "application/problem+json"
        assert "Waiting for a gasket" not in problem.text
    for office in (world.supervisor, world.admin, integration):
        assert [n["text"] for n in _notes(api, office, oid)] == ["Waiting for a gasket"]
    _notes(api, world.dispatcher, oid + 1000, expect=404)
    _notes(api, None, oid, expect=401)
