"""Random edits (PATCH) and moves by every role never get an order to ``completed`` without
the proof of the work type in force (issue 18, item 2).

A Hypothesis state machine over the real handlers: a few orders with a head start along the
happy path (never documented on the way), then random edits of any field to any value (the
work type emptied or swapped for one that asks for no proof, the triage fields emptied, the
summary emptied), random moves and random documentation, each by any kind of caller. What
must hold, written from the issue and not from ``orchestrator/work_orders/edits.py``:

- an order completes only with the proof its work type asks for, and that work type is the
  one it was dispatched with (swapping it for an easier one is the bypass);
- from dispatch to closing the work type does not change; once triaged the priority,
  division and work type are never empty;
- a completed, closed or cancelled order takes no edit, and no role but the office and the
  integration edits at all; the integration never the triage fields;
- an edit refused changes nothing, and none is a server error (only the application's own
  errors come out).

The suite runs it briefly; ``HYPOTHESIS_PROFILE=big`` runs it for long.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from mappings import canonical
from orchestrator.domain.errors import FieldbridgeError
from orchestrator.domain.lifecycle import State
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.work_orders import attachments
from orchestrator.work_orders import commands as wo_h
from tests.support.lifecycle_world import (
    ACTOR_KINDS,
    CHECKLIST,
    World,
    make_actor,
    proper_fields,
    requested_order,
    roles_of,
    snap,
)
from tests.support.spec import SPEC_ROWS, STATES, spec_allows

BIG = os.environ.get("HYPOTHESIS_PROFILE") == "big"
RUN = settings(
    max_examples=1000 if BIG else 20,
    stateful_step_count=40 if BIG else 12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

EDITED = (
    "summary",
    "description",
    "priority",
    "division_id",
    "work_type_id",
    "site_id",
    "customer_id",
    "asset_id",
    "contact_id",
)
TRIAGE_FIELDS = ("priority", "division_id", "work_type_id")
HEAD_START = (
    ("triaged", "dispatcher"),
    ("scheduled", "dispatcher"),
    ("dispatched", "supervisor"),
    ("in_progress", "assigned_technician"),
)
PROOF = ("checklist", "photo", "signature")
DOCUMENTED_IN = frozenset({"dispatched", "in_progress", "on_hold"})
SENT = frozenset({"dispatched", "in_progress", "on_hold", "cannot_complete", "completed", "closed"})
CLOSED_TO_EDITS = frozenset({"completed", "closed", "cancelled"})
EDITING_KINDS = ("admin", "dispatcher", "supervisor", "integration")


def stored(container: Container, wid: int) -> dict[str, Any]:
    """The order's status, version and every field an edit may change, as stored."""
    wo = models.WorkOrder
    columns = [getattr(wo, name) for name in ("status", "version", *EDITED)]
    with container.new_uow() as uow:
        row = uow.session.execute(select(*columns).where(wo.id == wid)).one()
    return dict(row._mapping)


def proof_lacking(container: Container, wid: int, work_type_id: int | None) -> list[str]:
    """What the order lacks of its work type's proof, worked out here from the work type's
    row and the order's documentation (not by the handler's own ``missing_proof``)."""
    if work_type_id is None:
        return ["a work type"]
    with container.new_uow() as uow:
        work_type = uow.session.get(models.WorkType, work_type_id)
        assert work_type is not None
        checklist = {i["code"] for i in work_type.checklist if i.get("required", True)}
        photos, signature = work_type.min_photos, work_type.signature_required
    done = snap(container, wid)
    lacking = [f"checklist {code}" for code in sorted(checklist - done.checked)]
    lacking += ["photos"] if done.photos < photos else []
    lacking += ["signature"] if signature and done.signatures == 0 else []
    return lacking


def free_work_type(container: Container) -> int:
    """A work type that asks for no proof at all: what an edit would swap in."""
    data = canonical.WorkType(
        code="LOOK", name="Look at it", default_duration_min=30, required_skills=["hvac"]
    )
    with container.new_uow() as uow:
        return int(reference.create(uow, reference.KINDS["work-types"], data)["id"])


class EditsAndMoves(RuleBasedStateMachine):
    """Orders edited, moved and documented at random; the issue's rules checked throughout."""

    def __init__(self, container: Container, world: World, free_type: int) -> None:
        super().__init__()
        self.container, self.world = container, world
        self.values: dict[str, list[Any]] = {
            "summary": [None, "", "Reworded", "x" * 301],
            "description": [None, "More detail"],
            "priority": [None, 1, 5, 9],
            "division_id": [None, world.division_id],
            "work_type_id": [None, world.work_type_id, free_type, free_type],
            "site_id": [None, world.site_id],
            "customer_id": [None],
            "asset_id": [None],
            "contact_id": [None],
        }
        self.orders: list[int] = []
        self.dispatched_with: dict[int, int | None] = {}

    @initialize(data=st.data())
    def raise_orders(self, data: st.DataObject) -> None:
        for _ in range(2):
            wid = requested_order(self.container, self.world)
            self.orders.append(wid)
            # Mostly at work already: that is where the proof is at stake.
            steps = data.draw(st.sampled_from([0, 1, 2, 3, 4, 4, 4]), label="head start")
            for target, kind in HEAD_START[:steps]:
                assert self.move_order(wid, target, kind, lambda options: options[0])

    # -- the steps ---------------------------------------------------------------------------

    @rule(data=st.data())
    def edit(self, data: st.DataObject) -> None:
        """Up to three fields of an order, each to one of a few values (good and bad)."""
        wid = data.draw(st.sampled_from(self.orders), label="order")
        before = stored(self.container, wid)
        # Mostly a role that edits at all, so that the table's finer rules are reached.
        anyone = data.draw(st.integers(0, 3)) == 0
        kind = data.draw(st.sampled_from(ACTOR_KINDS if anyone else EDITING_KINDS), label="actor")
        names = data.draw(st.sets(st.sampled_from(EDITED), min_size=1, max_size=3), label="fields")
        changes = {
            name: data.draw(st.sampled_from(self.values[name]), label=name) for name in names
        }
        actor = make_actor(kind, snap(self.container, wid), self.world)
        try:
            with self.container.new_uow() as uow:
                wo_h.update(uow, wo_h.UpdateWorkOrder(wid, changes, actor, int(before["version"])))
        except FieldbridgeError as exc:
            event(f"edit refused: {exc.status}")
            assert stored(self.container, wid) == before, f"a refused edit changed {wid}"
            return
        event(f"edit taken on a {before['status']} order")
        self.check_accepted_edit(before, stored(self.container, wid), kind, changes)

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        """Mostly onwards along the lifecycle table, sometimes to anywhere at all."""
        wid = data.draw(st.sampled_from(self.orders), label="order")
        current = snap(self.container, wid)
        source = current.status
        onwards = [r.target for r in SPEC_ROWS if r.source == source and r.target != "cancelled"]
        targets = onwards * 4 + list(STATES) if onwards else list(STATES)
        target = data.draw(st.sampled_from(targets), label="target")
        fitting = [
            k
            for k in ACTOR_KINDS
            if spec_allows(source, target, roles_of(make_actor(k, current, self.world), current))
        ]
        # Mostly someone the table lets move it, so that orders get far; sometimes anyone.
        anyone = not fitting or data.draw(st.integers(0, 3)) == 0
        kind = data.draw(st.sampled_from(ACTOR_KINDS if anyone else fitting), label="actor")
        self.move_order(wid, target, kind, lambda options: data.draw(st.sampled_from(options)))

    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        """The assigned technician asks to complete: the move the proof is checked on."""
        wid = data.draw(st.sampled_from(self.orders_in({"in_progress"})), label="order")
        self.move_order(wid, "completed", "assigned_technician", lambda options: options[0])

    @rule(data=st.data())
    def document(self, data: st.DataObject) -> None:
        """The assigned technician documents an order (the whole proof, or a part of it)."""
        wid = data.draw(st.sampled_from(self.orders_in(DOCUMENTED_IN)), label="order")
        # Mostly the whole proof at once, so that completions are reached; sometimes a part.
        steps = data.draw(st.sampled_from([PROOF, PROOF, *PROOF]), label="steps")
        for step in (steps,) if isinstance(steps, str) else steps:
            current = snap(self.container, wid)
            actor = make_actor("assigned_technician", current, self.world)
            try:
                with self.container.new_uow() as uow:
                    if step == "checklist":
                        items = dict.fromkeys(CHECKLIST, True)
                        cmd = wo_h.UpdateChecklist(wid, items, actor, current.version)
                        wo_h.update_checklist(uow, cmd)
                    else:
                        digest = secrets.token_hex(32)  # a fake sha256: no file is stored
                        attachments.add_attachment(
                            uow,
                            attachments.AddAttachment(
                                wid, step, digest, "image/png", 10, actor, current.version
                            ),
                        )
            except FieldbridgeError:
                event(f"{step} refused")

    def orders_in(self, states: frozenset[str] | set[str]) -> list[int]:
        """The orders in ``states`` now, or else every order."""
        there = [wid for wid in self.orders if snap(self.container, wid).status in states]
        return there or self.orders

    # -- what is checked -----------------------------------------------------------------------

    def move_order(self, wid: int, target: str, kind: str, choose: Any) -> bool:
        """One move with a careful caller's fields; whether it was taken. A completion taken
        must have had the proof of the work type the order was dispatched with."""
        current = snap(self.container, wid)
        actor = make_actor(kind, current, self.world)
        fields = proper_fields(choose, current.status, target, current, self.world)
        try:
            with self.container.new_uow() as uow:
                wo_h.transition(
                    uow,
                    wo_h.TransitionWorkOrder(wid, State(target), fields, actor, current.version),
                )
        except FieldbridgeError:
            return False
        after = stored(self.container, wid)
        if target == "dispatched":
            self.dispatched_with[wid] = after["work_type_id"]
        event(f"moved to {target}")
        if target == "completed":
            sent_as = self.dispatched_with[wid]
            assert after["work_type_id"] == sent_as, f"order {wid} sent as {sent_as}"
            lacking = proof_lacking(self.container, wid, after["work_type_id"])
            assert lacking == [], f"order {wid} completed lacking {lacking}"
        return True

    def check_accepted_edit(
        self, before: dict[str, Any], after: dict[str, Any], kind: str, changes: dict[str, Any]
    ) -> None:
        """An edit taken was one the issue lets this caller make on an order in that state."""
        state = before["status"]
        where = f"{kind} edited {changes} on a {state} order"
        assert state not in CLOSED_TO_EDITS, where
        assert kind in EDITING_KINDS, where
        changed = {name for name in EDITED if after[name] != before[name]}
        assert after["version"] == before["version"] + (1 if changed else 0), where
        assert changed <= set(changes), where
        if kind == "integration":
            assert not changed & set(TRIAGE_FIELDS), where
        if state in SENT:
            assert "work_type_id" not in changed, where
        if state != "new":
            assert "site_id" not in changed or after["site_id"] is not None, where

    @invariant()
    def triaged_orders_keep_their_triage(self) -> None:
        """Past triage, nothing triage set is empty; once sent, the work type is the one sent."""
        for wid in self.orders:
            now = stored(self.container, wid)
            if now["status"] not in ("new", "cancelled"):
                assert all(now[name] is not None for name in TRIAGE_FIELDS), now
                assert now["summary"], now
            if now["status"] in SENT:
                assert now["work_type_id"] == self.dispatched_with[wid], now


def test_no_edit_or_move_completes_an_order_without_its_proof(
    container: Container, world: World
) -> None:
    free_type = free_work_type(container)

    class Machine(EditsAndMoves):
        def __init__(self) -> None:
            super().__init__(container, world, free_type)

    run_state_machine_as_test(Machine, settings=RUN)
