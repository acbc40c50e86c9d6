"""The lifecycle table against the issue's spec: every row, every role, every forbidden pair.

The expected table lives in ``tests/support/spec.py``, written out from the spec; nothing
here reads ``orchestrator.domain.lifecycle.RULES``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from orchestrator.domain.lifecycle import (
    Actor,
    Party,
    ProofGiven,
    ProofRequirements,
    Role,
    State,
    allowed_targets,
    field_problems,
    missing_proof,
    parties,
    permitted,
)
from tests.support.spec import (
    SPEC,
    SPEC_ROWS,
    STATES,
    TERMINAL_STATES,
    SpecRow,
    spec_roles,
    spec_targets,
)

ASSIGNED_TECH = 7
REQUESTER = "alice"

# Every kind of caller, with respect to one order assigned to technician 7 and raised by alice.
ACTORS: dict[str, tuple[Actor, frozenset[str]]] = {
    "admin": (Actor("ann", Role.ADMIN), spec_roles("admin", assigned=False, own=False)),
    "dispatcher": (
        Actor("dan", Role.DISPATCHER),
        spec_roles("dispatcher", assigned=False, own=False),
    ),
    "supervisor": (
        Actor("sue", Role.SUPERVISOR),
        spec_roles("supervisor", assigned=False, own=False),
    ),
    "integration": (
        Actor("sap", Role.INTEGRATION),
        spec_roles("integration", assigned=False, own=False),
    ),
    "assigned_technician": (
        Actor("tom", Role.TECHNICIAN, technician_id=ASSIGNED_TECH),
        spec_roles("technician", assigned=True, own=False),
    ),
    "other_technician": (
        Actor("tim", Role.TECHNICIAN, technician_id=ASSIGNED_TECH + 1),
        spec_roles("technician", assigned=False, own=False),
    ),
    "unlinked_technician": (
        Actor("tod", Role.TECHNICIAN, technician_id=None),
        spec_roles("technician", assigned=False, own=False),
    ),
    "own_requester": (
        Actor(REQUESTER, Role.REQUESTER),
        spec_roles("requester", assigned=False, own=True),
    ),
    "other_requester": (
        Actor("bob", Role.REQUESTER),
        spec_roles("requester", assigned=False, own=False),
    ),
}


def who(kind: str) -> set[Party]:
    actor, _ = ACTORS[kind]
    return parties(actor, assigned_technician_id=ASSIGNED_TECH, requester=REQUESTER)


def row_id(row: SpecRow) -> str:
    return f"{row.source}->{row.target}"


ALLOWED_CASES = [
    pytest.param(row, kind, id=f"{row_id(row)}-by-{kind}")
    for row in SPEC_ROWS
    for kind, (_, roles) in ACTORS.items()
    if row.who & roles
]
REFUSED_CASES = [
    pytest.param(row, kind, id=f"{row_id(row)}-by-{kind}")
    for row in SPEC_ROWS
    for kind, (_, roles) in ACTORS.items()
    if not row.who & roles
]
FORBIDDEN_PAIRS = [
    pytest.param(s, t, id=f"{s}->{t}") for s, t in product(STATES, STATES) if (s, t) not in SPEC
]


def test_the_state_enum_is_the_specs_ten_states() -> None:
    assert sorted(s.value for s in State) == sorted(STATES)
    assert len(FORBIDDEN_PAIRS) == 100 - 23


# --- who may move an order -----------------------------------------------------------------------


@pytest.mark.parametrize(("row", "kind"), ALLOWED_CASES)
def test_every_row_is_permitted_to_each_listed_role(row: SpecRow, kind: str) -> None:
    rule = permitted(State(row.source), State(row.target), who(kind))
    assert rule is not None, f"{kind} should be able to move {row.source} -> {row.target}"
    assert (rule.source, rule.target) == (State(row.source), State(row.target))


@pytest.mark.parametrize(("row", "kind"), REFUSED_CASES)
def test_every_row_is_refused_to_roles_not_listed(row: SpecRow, kind: str) -> None:
    assert permitted(State(row.source), State(row.target), who(kind)) is None


@pytest.mark.parametrize(("source", "target"), FORBIDDEN_PAIRS)
def test_pairs_not_in_the_table_are_refused_to_everyone(source: str, target: str) -> None:
    for kind in ACTORS:
        assert permitted(State(source), State(target), who(kind)) is None, kind
    # Not even a caller who is every party at once.
    assert permitted(State(source), State(target), set(Party)) is None
    assert permitted(State(source), State(target), set()) is None


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_terminal_states_have_no_way_out(terminal: str) -> None:
    for target in STATES:
        assert permitted(State(terminal), State(target), set(Party)) is None
    assert allowed_targets(State(terminal), set(Party)) == []


def test_requester_may_cancel_only_their_own_order_and_only_while_new() -> None:
    own, other = who("own_requester"), who("other_requester")
    assert permitted(State.NEW, State.CANCELLED, own) is not None
    assert permitted(State.NEW, State.CANCELLED, other) is None
    for source in ("triaged", "scheduled", "dispatched", "in_progress", "on_hold"):
        assert permitted(State(source), State.CANCELLED, own) is None, source
    # Nothing else either, even while new.
    assert permitted(State.NEW, State.TRIAGED, own) is None


def test_dispatcher_may_cancel_only_before_dispatch_supervisor_always() -> None:
    for source in ("new", "triaged", "scheduled"):
        assert permitted(State(source), State.CANCELLED, who("dispatcher")) is not None
    for source in ("dispatched", "in_progress", "on_hold", "completed", "cannot_complete"):
        assert permitted(State(source), State.CANCELLED, who("dispatcher")) is None, source
        assert permitted(State(source), State.CANCELLED, who("supervisor")) is not None, source
        assert permitted(State(source), State.CANCELLED, who("admin")) is not None, source


def test_only_the_assigned_technician_checks_in_and_completes() -> None:
    for target in (State.COMPLETED, State.CANNOT_COMPLETE):
        assert permitted(State.IN_PROGRESS, target, who("assigned_technician")) is not None
        for kind in ("other_technician", "unlinked_technician", "dispatcher", "supervisor"):
            assert permitted(State.IN_PROGRESS, target, who(kind)) is None, (target, kind)
    assert permitted(State.DISPATCHED, State.IN_PROGRESS, who("assigned_technician"))
    assert permitted(State.DISPATCHED, State.IN_PROGRESS, who("admin")) is None


def test_integration_only_schedules_and_replans() -> None:
    integ = who("integration")
    allowed = {(s, t) for s, t in product(STATES, STATES) if permitted(State(s), State(t), integ)}
    assert allowed == {("triaged", "scheduled"), ("scheduled", "scheduled")}


def test_hold_is_for_the_assigned_technician_or_a_dispatcher_not_a_supervisor() -> None:
    assert permitted(State.IN_PROGRESS, State.ON_HOLD, who("assigned_technician")) is not None
    assert permitted(State.IN_PROGRESS, State.ON_HOLD, who("dispatcher")) is not None
    assert permitted(State.IN_PROGRESS, State.ON_HOLD, who("admin")) is not None
    assert permitted(State.IN_PROGRESS, State.ON_HOLD, who("supervisor")) is None
    # Resuming is the technician's alone.
    assert permitted(State.ON_HOLD, State.IN_PROGRESS, who("dispatcher")) is None
    assert permitted(State.ON_HOLD, State.IN_PROGRESS, who("assigned_technician")) is not None


def test_closing_and_rework_are_the_supervisors() -> None:
    for target in (State.CLOSED, State.TRIAGED):
        assert permitted(State.COMPLETED, target, who("supervisor")) is not None
        assert permitted(State.COMPLETED, target, who("admin")) is not None
        assert permitted(State.COMPLETED, target, who("dispatcher")) is None
        assert permitted(State.COMPLETED, target, who("assigned_technician")) is None


def test_only_completion_carries_the_proof_gate() -> None:
    for row in SPEC_ROWS:
        rule = permitted(State(row.source), State(row.target), set(Party))
        assert rule is not None
        assert rule.proof is (row_id(row) == "in_progress->completed"), row_id(row)


# --- parties -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "assigned", "requester", "expected"),
    [
        (Actor("a", Role.ADMIN), None, None, {Party.DISPATCHER, Party.SUPERVISOR}),
        (Actor("d", Role.DISPATCHER), 1, "x", {Party.DISPATCHER}),
        (Actor("s", Role.SUPERVISOR), 1, "x", {Party.SUPERVISOR}),
        (Actor("i", Role.INTEGRATION), 1, "x", {Party.INTEGRATION}),
        (Actor("t", Role.TECHNICIAN, technician_id=1), 1, None, {Party.ASSIGNED_TECHNICIAN}),
        (Actor("t", Role.TECHNICIAN, technician_id=2), 1, None, set()),
        # An unassigned order has no assigned technician, even for a token without a technician.
        (Actor("t", Role.TECHNICIAN, technician_id=None), None, None, set()),
        (Actor("t", Role.TECHNICIAN, technician_id=1), None, None, set()),
        (Actor("x", Role.REQUESTER), None, "x", {Party.OWN_REQUESTER}),
        (Actor("x", Role.REQUESTER), None, "y", set()),
        (Actor("x", Role.REQUESTER), None, None, set()),
        # A technician who happens to share the requester's subject is still not the requester.
        (Actor("x", Role.TECHNICIAN, technician_id=3), 1, "x", set()),
    ],
)
def test_parties(
    actor: Actor, assigned: int | None, requester: str | None, expected: set[Party]
) -> None:
    assert parties(actor, assigned_technician_id=assigned, requester=requester) == expected


# --- allowed_targets -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", STATES)
@pytest.mark.parametrize("kind", list(ACTORS))
def test_allowed_targets_are_the_specs_in_table_order(source: str, kind: str) -> None:
    _, roles = ACTORS[kind]
    got = allowed_targets(State(source), who(kind))
    assert [str(s) for s in got] == spec_targets(source, roles)


def test_allowed_targets_examples() -> None:
    assert allowed_targets(State.SCHEDULED, who("dispatcher")) == [
        State.SCHEDULED,
        State.TRIAGED,
        State.DISPATCHED,
        State.CANCELLED,
    ]
    assert allowed_targets(State.SCHEDULED, who("integration")) == [State.SCHEDULED]
    assert allowed_targets(State.IN_PROGRESS, who("assigned_technician")) == [
        State.ON_HOLD,
        State.COMPLETED,
        State.CANNOT_COMPLETE,
    ]
    assert allowed_targets(State.IN_PROGRESS, who("other_technician")) == []
    assert allowed_targets(State.COMPLETED, who("admin")) == [
        State.CLOSED,
        State.TRIAGED,
        State.CANCELLED,
    ]
    assert allowed_targets(State.NEW, who("own_requester")) == [State.CANCELLED]
    assert allowed_targets(State.TRIAGED, who("own_requester")) == []


# --- field rules ---------------------------------------------------------------------------------

PLAUSIBLE = {
    "priority": 2,
    "division_id": 1,
    "work_type_id": 1,
    "technician_id": 7,
    "window_start": datetime(2030, 6, 10, 7, tzinfo=UTC),
    "window_end": datetime(2030, 6, 10, 9, tzinfo=UTC),
    "reason": "customer asked",
    "position": {"lat": 52.5, "lon": 13.4},
}


def rule_of(row: SpecRow):  # type: ignore[no-untyped-def]
    rule = permitted(State(row.source), State(row.target), set(Party))
    assert rule is not None
    return rule


@pytest.mark.parametrize("row", SPEC_ROWS, ids=row_id)
def test_required_fields_are_named_when_missing(row: SpecRow) -> None:
    problems = field_problems(rule_of(row), {})
    assert [p["field"] for p in problems] == list(row.requires)
    for problem in problems:
        assert "required" in problem["reason"]
        assert row.source in problem["reason"] and row.target in problem["reason"]


@pytest.mark.parametrize("row", SPEC_ROWS, ids=row_id)
def test_required_fields_given_means_no_problems(row: SpecRow) -> None:
    given = {name: PLAUSIBLE[name] for name in row.requires}
    assert field_problems(rule_of(row), given) == []


@pytest.mark.parametrize("row", [r for r in SPEC_ROWS if r.requires], ids=row_id)
def test_none_counts_as_missing(row: SpecRow) -> None:
    given = {name: None for name in row.requires}
    assert [p["field"] for p in field_problems(rule_of(row), given)] == list(row.requires)


@pytest.mark.parametrize("row", SPEC_ROWS, ids=row_id)
def test_unknown_field_is_named_not_dropped(row: SpecRow) -> None:
    given = {name: PLAUSIBLE[name] for name in row.requires} | {"colour": "red"}
    problems = field_problems(rule_of(row), given)
    assert [p["field"] for p in problems] == ["colour"]
    assert "not taken" in problems[0]["reason"]


@pytest.mark.parametrize(
    ("source", "target", "extra"),
    [
        ("scheduled", "dispatched", "priority"),
        ("scheduled", "dispatched", "technician_id"),
        ("dispatched", "in_progress", "technician_id"),
        ("in_progress", "completed", "position"),
        ("in_progress", "completed", "priority"),
        ("new", "triaged", "technician_id"),
        ("new", "triaged", "window_start"),
        ("triaged", "scheduled", "priority"),
        ("scheduled", "scheduled", "priority"),
        ("completed", "closed", "technician_id"),
        ("new", "cancelled", "priority"),
    ],
)
def test_fields_a_transition_does_not_set_are_refused(source: str, target: str, extra: str) -> None:
    row = SPEC[(source, target)]
    given = {name: PLAUSIBLE[name] for name in row.requires} | {extra: PLAUSIBLE[extra]}
    problems = field_problems(rule_of(row), given)
    assert [p["field"] for p in problems] == [extra]


def test_none_valued_extras_are_not_problems() -> None:
    rule = permitted(State.SCHEDULED, State.DISPATCHED, set(Party))
    assert rule is not None
    assert field_problems(rule, {"priority": None, "reason": None}) == []


def test_missing_and_unexpected_are_reported_together() -> None:
    rule = permitted(State.NEW, State.TRIAGED, set(Party))
    assert rule is not None
    problems = field_problems(rule, {"priority": 3, "technician_id": 7})
    assert {p["field"] for p in problems} == {"division_id", "work_type_id", "technician_id"}
    by_field = {p["field"]: p["reason"] for p in problems}
    assert "required" in by_field["division_id"]
    assert "not taken" in by_field["technician_id"]


def test_check_in_takes_an_optional_position() -> None:
    rule = permitted(State.DISPATCHED, State.IN_PROGRESS, set(Party))
    assert rule is not None
    assert field_problems(rule, {}) == []
    assert field_problems(rule, {"position": PLAUSIBLE["position"]}) == []


@pytest.mark.parametrize("name", ["technician_id", "window_start", "window_end"])
def test_replan_takes_any_one_schedule_field(name: str) -> None:
    rule = permitted(State.SCHEDULED, State.SCHEDULED, set(Party))
    assert rule is not None
    assert field_problems(rule, {name: PLAUSIBLE[name]}) == []


# --- proof of work -------------------------------------------------------------------------------

FULL = ProofRequirements(
    checklist_required=("isolate", "inspect"), min_photos=1, signature_required=True
)


@pytest.mark.parametrize(
    ("required", "given", "expected"),
    [
        (ProofRequirements(), ProofGiven(), []),
        (
            FULL,
            ProofGiven(checked=frozenset({"isolate", "inspect"}), photos=1, signatures=1),
            [],
        ),
        (
            FULL,
            ProofGiven(checked=frozenset({"isolate", "inspect", "extra"}), photos=5, signatures=2),
            [],
        ),
        (
            FULL,
            ProofGiven(),
            [
                {"kind": "checklist", "items": ["isolate", "inspect"]},
                {"kind": "photos", "required": 1, "present": 0},
                {"kind": "signature"},
            ],
        ),
        (
            FULL,
            ProofGiven(checked=frozenset({"inspect"}), photos=1, signatures=1),
            [{"kind": "checklist", "items": ["isolate"]}],
        ),
        (
            ProofRequirements(min_photos=3),
            ProofGiven(photos=2, signatures=4),
            [{"kind": "photos", "required": 3, "present": 2}],
        ),
        (
            ProofRequirements(signature_required=True),
            ProofGiven(checked=frozenset({"a"}), photos=9),
            [{"kind": "signature"}],
        ),
        # No signature asked for: none needed.
        (ProofRequirements(min_photos=1), ProofGiven(photos=1), []),
    ],
)
def test_missing_proof(
    required: ProofRequirements, given: ProofGiven, expected: list[dict[str, object]]
) -> None:
    assert missing_proof(required, given) == expected
