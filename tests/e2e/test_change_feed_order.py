"""The change feed never lets a device skip a change: two writers of one technician's
orders commit their feed rows in the order of their ids (on PostgreSQL by the technician's
advisory lock, held from the first row to the commit; on SQLite by its one writer), so a
device that has read up to a row has seen every row of theirs before it."""

from __future__ import annotations

import threading
import time

from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import packet
from orchestrator.store import models
from orchestrator.work_orders.audit_trail import append_event
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order


def test_a_later_writer_of_the_same_technician_waits_for_the_earlier_to_commit(
    api: Api, world: World, move: Mover
) -> None:
    first, second = (
        advance(api, world, move, new_order(api, world)["id"], "dispatched") for _ in range(2)
    )
    tech = Actor("tess", Role.TECHNICIAN, technician_id=world.technician_id)
    office = Actor("dora", Role.DISPATCHER)
    with api.container.new_uow() as uow:
        since = packet.sync_token(uow, tech)

    done = threading.Event()

    def later_writer() -> None:
        with api.container.new_uow() as uow:
            append_event(uow, uow.session.get(models.WorkOrder, second), office, "updated", {})
            uow.commit()
        done.set()

    with api.container.new_uow() as earlier:
        append_event(earlier, earlier.session.get(models.WorkOrder, first), office, "updated", {})
        writer = threading.Thread(target=later_writer)
        writer.start()
        time.sleep(0.5)
        assert not done.is_set(), "the later writer committed before the earlier one"
        with api.container.new_uow(read_only=True) as reader:  # nothing of theirs visible yet
            assert packet.changes(reader, tech, since)["orders"] == []
        earlier.commit()
    writer.join(timeout=10)
    assert done.is_set()
    with api.container.new_uow(read_only=True) as reader:
        seen = packet.changes(reader, tech, since)
    assert [o["id"] for o in seen["orders"]] == sorted([first, second])
    with api.container.new_uow(read_only=True) as reader:
        assert packet.changes(reader, tech, seen["sync_token"])["orders"] == []
