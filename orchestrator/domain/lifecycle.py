"""The work-order lifecycle: the transition table, written once, and the proof gate.

Pure: no I/O. The handlers in ``orchestrator.work_orders.commands`` apply it; the
API only translates. Who may move an order is expressed as *parties* an actor
can be with respect to one order (an ``admin`` is both dispatcher and supervisor;
a technician is the *assigned* technician only on orders assigned to them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANNOT_COMPLETE = "cannot_complete"
    CLOSED = "closed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.CLOSED, State.CANCELLED})


class Role(StrEnum):
    REQUESTER = "requester"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    ADMIN = "admin"
    INTEGRATION = "integration"


class Party(StrEnum):
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    INTEGRATION = "integration"
    ASSIGNED_TECHNICIAN = "assigned_technician"
    OWN_REQUESTER = "own_requester"


@dataclass(frozen=True)
class Actor:
    subject: str
    role: Role
    technician_id: int | None = None
    token_id: str | None = None


def parties(
    actor: Actor, *, assigned_technician_id: int | None, requester: str | None
) -> set[Party]:
    """What ``actor`` is with respect to one order."""
    if actor.role is Role.ADMIN:
        return {Party.DISPATCHER, Party.SUPERVISOR}
    if actor.role is Role.DISPATCHER:
        return {Party.DISPATCHER}
    if actor.role is Role.SUPERVISOR:
        return {Party.SUPERVISOR}
    if actor.role is Role.INTEGRATION:
        return {Party.INTEGRATION}
    if actor.role is Role.TECHNICIAN:
        assigned = actor.technician_id is not None and actor.technician_id == assigned_technician_id
        return {Party.ASSIGNED_TECHNICIAN} if assigned else set()
    if actor.role is Role.REQUESTER:
        return (
            {Party.OWN_REQUESTER} if requester is not None and requester == actor.subject else set()
        )
    return set()


# What a transition's request may carry; everything else is refused so nothing is silently dropped.
FIELDS = (
    "reason",
    "priority",
    "division_id",
    "work_type_id",
    "technician_id",
    "window_start",
    "window_end",
    "position",
    "resolution_code",
    "resolution_note",
)


@dataclass(frozen=True)
class Rule:
    source: State
    target: State
    who: frozenset[Party]
    requires: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()
    proof: bool = False

    @property
    def allowed_fields(self) -> frozenset[str]:
        return frozenset(self.requires) | frozenset(self.accepts)


OFFICE = frozenset({Party.DISPATCHER, Party.SUPERVISOR})
PLANNERS = OFFICE | {Party.INTEGRATION}
SUPERVISOR = frozenset({Party.SUPERVISOR})
ON_SITE = frozenset({Party.ASSIGNED_TECHNICIAN})
_SCHEDULE = ("technician_id", "window_start", "window_end")

_RULES: list[Rule] = [
    Rule(State.NEW, State.TRIAGED, OFFICE, ("priority", "division_id", "work_type_id")),
    Rule(State.TRIAGED, State.SCHEDULED, PLANNERS, _SCHEDULE),
    # Re-plan: at least one of the three changes (checked by the handler); the rest are kept.
    Rule(State.SCHEDULED, State.SCHEDULED, PLANNERS, (), _SCHEDULE),
    Rule(State.SCHEDULED, State.TRIAGED, OFFICE, (), ("reason",)),
    Rule(State.SCHEDULED, State.DISPATCHED, OFFICE),
    Rule(State.DISPATCHED, State.SCHEDULED, OFFICE, (), ("reason",)),
    Rule(State.DISPATCHED, State.IN_PROGRESS, ON_SITE, (), ("position",)),
    Rule(State.IN_PROGRESS, State.ON_HOLD, ON_SITE | {Party.DISPATCHER}, ("reason",)),
    Rule(State.ON_HOLD, State.IN_PROGRESS, ON_SITE, (), ("position",)),
    Rule(State.ON_HOLD, State.TRIAGED, OFFICE, (), ("reason",)),
    Rule(
        State.IN_PROGRESS,
        State.COMPLETED,
        ON_SITE,
        (),
        ("resolution_code", "resolution_note"),
        proof=True,
    ),
    Rule(State.IN_PROGRESS, State.CANNOT_COMPLETE, ON_SITE, ("reason",)),
    Rule(State.CANNOT_COMPLETE, State.TRIAGED, OFFICE, (), ("reason",)),
    Rule(State.COMPLETED, State.CLOSED, SUPERVISOR),
    Rule(State.COMPLETED, State.TRIAGED, SUPERVISOR, ("reason",)),
]
_BEFORE_DISPATCH = {State.NEW, State.TRIAGED, State.SCHEDULED}
for _source in State:
    if _source in TERMINAL:
        continue
    _who = {Party.SUPERVISOR}
    if _source in _BEFORE_DISPATCH:
        _who.add(Party.DISPATCHER)
    if _source is State.NEW:
        _who.add(Party.OWN_REQUESTER)
    _RULES.append(Rule(_source, State.CANCELLED, frozenset(_who), ("reason",)))

RULES: Mapping[tuple[State, State], Rule] = {(r.source, r.target): r for r in _RULES}

# Moving back to triaged means a new visit is needed: the assignment is released.
RELEASES_ASSIGNMENT = frozenset(
    {
        (State.SCHEDULED, State.TRIAGED),
        (State.ON_HOLD, State.TRIAGED),
        (State.CANNOT_COMPLETE, State.TRIAGED),
        (State.COMPLETED, State.TRIAGED),
    }
)


def rule_for(source: State, target: State) -> Rule | None:
    return RULES.get((source, target))


def allowed_targets(source: State, who: Iterable[Party]) -> list[State]:
    """The states this caller may move an order to from ``source``, in table order."""
    mine = set(who)
    seen: list[State] = []
    for rule in _RULES:
        if rule.source is source and rule.who & mine and rule.target not in seen:
            seen.append(rule.target)
    return seen


def permitted(source: State, target: State, who: Iterable[Party]) -> Rule | None:
    rule = RULES.get((source, target))
    if rule is None or not (rule.who & set(who)):
        return None
    return rule


def field_problems(rule: Rule, given: Mapping[str, Any]) -> list[dict[str, str]]:
    """Missing required fields and fields this transition does not take, as named problems."""
    problems = [
        {"field": name, "reason": f"required to move from {rule.source} to {rule.target}"}
        for name in rule.requires
        if given.get(name) is None
    ]
    problems += [
        {"field": name, "reason": f"not taken when moving from {rule.source} to {rule.target}"}
        for name, value in given.items()
        if value is not None and name not in rule.allowed_fields
    ]
    return problems


@dataclass(frozen=True)
class ProofRequirements:
    checklist_required: tuple[str, ...] = ()
    min_photos: int = 0
    signature_required: bool = False


@dataclass(frozen=True)
class ProofGiven:
    checked: frozenset[str] = field(default_factory=frozenset)
    photos: int = 0
    signatures: int = 0


def missing_proof(required: ProofRequirements, given: ProofGiven) -> list[dict[str, Any]]:
    """What the work type asks for that the order does not have yet; empty means complete."""
    missing: list[dict[str, Any]] = []
    open_items = [code for code in required.checklist_required if code not in given.checked]
    if open_items:
        missing.append({"kind": "checklist", "items": open_items})
    if given.photos < required.min_photos:
        missing.append({"kind": "photos", "required": required.min_photos, "present": given.photos})
    if required.signature_required and given.signatures == 0:
        missing.append({"kind": "signature"})
    return missing
