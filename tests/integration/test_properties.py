"""Random command sequences against the real handlers never leave the spec's lifecycle table.

Each example raises a few fresh orders and drives them with random actors (admin, dispatcher,
supervisor, integration, the assigned technician, another technician, the order's requester and
someone else's) towards random target states with plausible (or deliberately wrong) fields. After
every step the stored order is compared with the spec table in ``tests/support/spec.py``;
at the end every audit chain must verify.
"""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mappings import canonical
from orchestrator.domain.errors import FieldbridgeError, IllegalTransition, InvalidInput, NotFound
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.runtime.bootstrap import Container
from orchestrator.work_orders import attachments, audit_trail, queries
from orchestrator.work_orders import commands as wo_h
from tests.support.lifecycle_world import (
    ACTOR_KINDS,
    CHECKLIST,
    OWN_REQUESTER,
    REQUIRED_CHECKLIST,
    SITE_CODE,
    World,
    attempt,
    make_actor,
    order_in,
    proper_fields,
    roles_of,
    snap,
)
from tests.support.spec import SPEC, SPEC_ROWS, STATES, spec_allows, spec_targets

# How a caller gets the fields wrong (or not): mostly right.
MODES = ("proper",) * 6 + ("missing", "extra", "stale", "unqualified")


def _new_orders(container: Container, world: World) -> list[int]:
    ids = []
    with container.new_uow() as uow:
        ids.append(
            wo_h.create(
                uow,
                wo_h.CreateWorkOrder(
                    canonical.WorkOrder(summary="Chiller trips", site_id=world.site_id),
                    Actor("dispatcher-user", Role.DISPATCHER),
                ),
            )["id"]
        )
    with container.new_uow() as uow:
        ids.append(
            wo_h.create(
                uow,
                wo_h.CreateWorkOrder(
                    canonical.WorkOrder(summary="Boiler service", site_id=world.site_id),
                    Actor("sap", Role.INTEGRATION),
                ),
            )["id"]
        )
    with container.new_uow() as uow:
        ids.append(
            wo_h.submit_service_request(
                uow,
                wo_h.SubmitServiceRequest(
                    description="The heating in hall B is off",
                    actor=Actor(OWN_REQUESTER, Role.REQUESTER),
                    site_code=SITE_CODE,  # a requester names no ids
                ),
            )["work_order_id"]
        )
    return ids


CHECKLIST_CHOICES = {
    "all": dict.fromkeys(CHECKLIST, True),
    "required": dict.fromkeys(REQUIRED_CHECKLIST, True),
    "some": {"isolate": True, "inspect": False},
    "unknown": {"isolate": True, "no-such-item": True},
}


class Runner:
    """Runs one command at a time through the handlers and checks the stored result."""

    def __init__(self, container: Container, world: World, data: st.DataObject) -> None:
        self.container, self.w, self.data = container, world, data
        self.choose = lambda options: data.draw(st.sampled_from(options))
        self.orders = _new_orders(container, world)
        self.snaps = {wid: snap(container, wid) for wid in self.orders}
        self.accepted = dict.fromkeys(self.orders, 0)
        self.check_ins = dict.fromkeys(self.orders, 0)

    # -- documentation: checklist and attachments --------------------------------------------

    def document(self, wid: int, step: str, kind: str, choice: str = "all") -> bool:
        before = self.snaps[wid]
        actor = make_actor(kind, before, self.w)
        try:
            with self.container.new_uow() as uow:
                if step == "checklist":
                    wo_h.update_checklist(
                        uow,
                        wo_h.UpdateChecklist(wid, CHECKLIST_CHOICES[choice], actor, before.version),
                    )
                else:
                    attachments.add_attachment(
                        uow,
                        attachments.AddAttachment(
                            wid,
                            step,
                            secrets.token_hex(32),  # a fake sha256: no file is stored here
                            "image/png",
                            2048,
                            actor,
                            before.version,
                        ),
                    )
            ok = True
        except FieldbridgeError:
            ok = False
        after = self.snaps[wid] = snap(self.container, wid)
        assert after.status == before.status, "documenting must not move the order"
        if not ok:
            assert after == before, f"a refused {step} changed the order"
            return False
        self.accepted[wid] += 1
        assert after.version == before.version + 1
        assert after.events == before.events + 1
        assert after.last_event[1:] == (None, None)
        if step == "checklist":
            assert after.checked == frozenset(c for c, v in CHECKLIST_CHOICES[choice].items() if v)
        return True

    # -- transitions ----------------------------------------------------------------------------

    def move(self, wid: int, target: str, kind: str, mode: str = "proper") -> bool:
        world, data, before = self.w, self.data, self.snaps[wid]
        actor = make_actor(kind, before, world)
        roles = roles_of(actor, before)
        fields = proper_fields(self.choose, before.status, target, before, world)
        proper = dict(fields)
        version = before.version
        if mode == "missing" and fields:
            del fields[data.draw(st.sampled_from(sorted(fields)))]
        elif mode == "extra":
            fields["colour"] = "red"
        elif mode == "stale":
            version -= 1
        elif mode == "unqualified" and "technician_id" in fields:
            fields["technician_id"] = world.unqualified_tech_id

        try:
            with self.container.new_uow() as uow:
                public = wo_h.transition(
                    uow, wo_h.TransitionWorkOrder(wid, State(target), fields, actor, version)
                )
            ok = True
        except FieldbridgeError:
            ok = False
        after = self.snaps[wid] = snap(self.container, wid)
        legal = spec_allows(before.status, target, roles)
        where = f"{before.status} -> {target} by {kind} ({mode}, {fields})"

        if not ok:
            assert after == before, f"a refused move changed the order: {where}"
            must_accept = (
                legal
                and fields == proper
                and version == before.version
                and (target != "completed" or before.proof_complete)
            )
            assert not must_accept, f"the spec allows this, the handler refused it: {where}"
            return False

        self.accepted[wid] += 1
        event(f"accepted {before.status} -> {target}")
        assert legal, f"the handler allowed what the spec forbids: {where}"
        assert after.status == target
        assert after.version == before.version + 1, where
        assert after.events == before.events + 1, where
        assert after.last_event == ("transition", before.status, target)
        assert version == before.version, "a stale version was accepted"
        assert "colour" not in fields, "an unknown field was silently dropped"
        assert set(SPEC[(before.status, target)].requires) <= set(fields), where
        assert public["version"] == after.version and public["status"] == target
        if target == "completed":
            assert before.proof_complete, f"completed without proof: {before}"
        if target == "scheduled":
            assert after.technician_id in world.tech_ids, "an unqualified technician was scheduled"
            assert after.window_start is not None and after.window_end is not None
            assert after.window_start < after.window_end
            if "technician_id" in fields:
                assert after.technician_id == fields["technician_id"]
            if "window_start" in fields:
                assert after.window_start == fields["window_start"]
        if (before.status, target) == ("dispatched", "in_progress"):
            self.check_ins[wid] += 1
        assert after.visits == self.check_ins[wid], "visits count check-ins from dispatched only"
        # What the handler offers next is the spec's list for this actor now.
        assert public["allowed_transitions"] == spec_targets(target, roles_of(actor, after))
        if target == "closed":
            assert public["first_time_fix"] is (self.check_ins[wid] == 1)
        else:
            assert public["first_time_fix"] is None
        return True

    # -- a legal head start, so that short sequences reach the late states too -----------------

    HAPPY_PATH = (
        ("move", "triaged", "dispatcher"),
        ("move", "scheduled", "dispatcher"),
        ("move", "dispatched", "supervisor"),
        ("move", "in_progress", "assigned_technician"),
        ("checklist", "all", "assigned_technician"),
        ("photo", "", "assigned_technician"),
        ("signature", "", "assigned_technician"),
        ("move", "completed", "assigned_technician"),
    )

    def head_start(self, wid: int, steps: int) -> None:
        for what, arg, kind in self.HAPPY_PATH[:steps]:
            ok = (
                self.move(wid, arg, kind)
                if what == "move"
                else self.document(wid, what, kind, arg or "all")
            )
            assert ok, f"the happy path was refused at {what} {arg} by {kind}"

    # -- one random step -------------------------------------------------------------------------

    def random_step(self) -> None:
        data = self.data
        wid = data.draw(st.sampled_from(self.orders), label="order")
        before = self.snaps[wid]
        # Documenting matters while the work is under way; elsewhere it is mostly refused.
        documenting = before.status in ("dispatched", "in_progress", "on_hold")
        step = data.draw(
            st.sampled_from(
                ["transition"] * (3 if documenting else 9) + ["checklist", "photo", "signature"]
            ),
            label="step",
        )
        if step != "transition":
            kind = data.draw(
                st.one_of(
                    st.sampled_from(["assigned_technician", "dispatcher", "admin"]),
                    st.sampled_from(ACTOR_KINDS),
                ),
                label="actor",
            )
            choice = data.draw(st.sampled_from(sorted(CHECKLIST_CHOICES)), label="checklist")
            self.document(wid, step, kind, choice)
            return
        # Mostly onwards along the table, sometimes anywhere at all (which is also how orders
        # get cancelled, so that most of them live long enough to be closed).
        nexts = [
            r.target for r in SPEC_ROWS if r.source == before.status and r.target != "cancelled"
        ]
        if any(r.source == before.status and r.target == "cancelled" for r in SPEC_ROWS):
            nexts = nexts * 3 + ["cancelled"]
        onwards = bool(nexts) and data.draw(st.integers(0, 3)) > 0
        target = data.draw(st.sampled_from(nexts if onwards else STATES), label="target")
        fitting = [
            k
            for k in ACTOR_KINDS
            if spec_allows(before.status, target, roles_of(make_actor(k, before, self.w), before))
        ]
        # Mostly someone the spec allows; otherwise someone it does not.
        unfitting = [k for k in ACTOR_KINDS if k not in fitting]
        pick_fitting = bool(fitting) and data.draw(st.integers(0, 3)) > 0
        kind = data.draw(st.sampled_from(fitting if pick_fitting else unfitting), label="actor")
        self.move(wid, target, kind, data.draw(st.sampled_from(MODES), label="mode"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_command_sequences_respect_the_table(
    container: Container, world: World, data: st.DataObject
) -> None:
    run = Runner(container, world, data)
    *office_orders, requested = run.orders
    for wid in office_orders:
        run.head_start(wid, data.draw(st.integers(0, len(Runner.HAPPY_PATH)), label="head start"))
    # The requester's own order mostly stays new for a while: that is when they may cancel it.
    run.head_start(requested, data.draw(st.sampled_from([0, 0, 1, 3]), label="head start"))
    for _ in range(data.draw(st.integers(1, 20), label="steps")):
        run.random_step()

    for wid in run.orders:
        final = snap(container, wid)
        assert final.events == 1 + run.accepted[wid]
        assert final.version == 1 + run.accepted[wid]
    with container.new_uow() as uow:
        report = audit_trail.verify_all(uow)
    assert report["ok"] is True, report
    assert report["first_broken"] is None
    assert report["chains"] >= len(run.orders)


# --- every row and every actor, deterministically -------------------------------------------


def test_every_move_the_spec_forbids_is_refused_and_changes_nothing(
    container: Container, world: World
) -> None:
    for source in STATES:
        wid = order_in(container, world, source)
        start = snap(container, wid)
        for target in STATES:
            for kind in ACTOR_KINDS:
                if spec_allows(source, target, roles_of(make_actor(kind, start, world), start)):
                    continue  # the next test covers what is allowed
                before, after, result = attempt(container, world, wid, target, kind)
                assert before == start
                where = f"{source} -> {target} by {kind}"
                # Refused as a move this caller may not make (409), or as an order they may
                # not see (404): never as a problem with fields the caller got right.
                assert isinstance(result, IllegalTransition | NotFound), (where, result)
                assert after == before, where


def test_every_row_is_accepted_from_each_role_the_spec_lists(
    container: Container, world: World
) -> None:
    """Each row, by each kind of caller the spec lists for it, on a fresh order in its source state.

    (Everyone else is refused: the test above tries every such move.)
    """
    refused: list[str] = []
    tried = 0
    spare: dict[str, int] = {}  # an untouched order per source state, reused until moved
    for row in SPEC_ROWS:
        for kind in ACTOR_KINDS:
            wid = spare.pop(row.source, None) or order_in(container, world, row.source)
            start = snap(container, wid)
            if not spec_allows(
                row.source, row.target, roles_of(make_actor(kind, start, world), start)
            ):
                spare[row.source] = wid
                continue
            tried += 1
            before, after, result = attempt(container, world, wid, row.target, kind)
            where = f"{row.source} -> {row.target} by {kind}"
            if isinstance(result, Exception):
                refused.append(f"{where}: {result!r} {result.extra}")
                spare[row.source] = wid
                continue
            assert after.status == result["status"] == row.target, where
            assert after.version == before.version + 1, where
            assert after.events == before.events + 1, where
            assert after.last_event == ("transition", row.source, row.target), where
    assert refused == [], "the spec allows these, the handlers refused them"
    assert tried >= len(SPEC_ROWS)
    with container.new_uow() as uow:
        assert audit_trail.verify_all(uow)["ok"] is True


# --- visits and first-time fix ------------------------------------------------------------------


def test_visits_count_check_ins_and_one_visit_closed_is_a_first_time_fix(
    container: Container, world: World
) -> None:
    wid = order_in(container, world, "in_progress")
    assert snap(container, wid).visits == 1
    # A pause and a resume is still the same visit.
    for target in ("on_hold", "in_progress", "completed", "closed"):
        _, after, result = attempt(
            container,
            world,
            wid,
            target,
            "supervisor" if target == "closed" else "assigned_technician",
        )
        assert not isinstance(result, Exception), (target, result)
    assert after.visits == 1
    assert result["visits"] == 1
    assert result["first_time_fix"] is True


def test_a_second_check_in_is_a_second_visit_and_no_first_time_fix(
    container: Container, world: World
) -> None:
    wid = order_in(container, world, "cannot_complete")
    steps = [
        ("triaged", "dispatcher"),  # revisit
        ("scheduled", "dispatcher"),
        ("dispatched", "dispatcher"),
        ("in_progress", "assigned_technician"),
        ("completed", "assigned_technician"),  # the proof from the first visit still counts
        ("closed", "supervisor"),
    ]
    for target, kind in steps:
        _, after, result = attempt(container, world, wid, target, kind)
        assert not isinstance(result, Exception), (target, result)
    assert after.visits == 2
    assert result["visits"] == 2
    assert result["first_time_fix"] is False
    with container.new_uow() as uow:
        assert audit_trail.verify_all(uow)["ok"] is True


def test_first_time_fix_is_only_reported_once_closed(container: Container, world: World) -> None:
    wid = order_in(container, world, "completed")
    with container.new_uow() as uow:
        public = queries.get(uow, wid, Actor("sue", Role.SUPERVISOR))
    assert public["visits"] == 1
    assert public["first_time_fix"] is None


def test_the_handler_itself_bounds_priority(container: Container, world: World) -> None:
    """Not only the HTTP schema: a connector calling the handler gets the same refusal."""
    actor = Actor(subject="dora", role=Role.DISPATCHER)
    with container.new_uow() as uow:
        order = wo_h.create(uow, wo_h.CreateWorkOrder(canonical.WorkOrder(summary="x"), actor))
    fields = {"priority": 9, "division_id": world.division_id, "work_type_id": world.work_type_id}
    with container.new_uow() as uow, pytest.raises(InvalidInput) as refused:
        wo_h.transition(uow, wo_h.TransitionWorkOrder(order["id"], State.TRIAGED, fields, actor, 1))
    assert refused.value.extra["errors"][0]["field"] == "priority"
