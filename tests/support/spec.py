"""The issue's lifecycle table, written out by hand from the spec (not derived from the code).

Shared by the unit tests of ``orchestrator.domain.lifecycle`` and the property tests that drive the
handlers. Roles here are the spec's words: ``dispatcher``, ``supervisor``, ``integration``,
``assigned_technician`` and ``own_requester``; ``admin`` may do whatever a dispatcher or a
supervisor may.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = (
    "new",
    "triaged",
    "scheduled",
    "dispatched",
    "in_progress",
    "on_hold",
    "completed",
    "cannot_complete",
    "closed",
    "cancelled",
)
TERMINAL_STATES = frozenset({"closed", "cancelled"})

DISP, SUP, INTEG, TECH, REQ = (
    "dispatcher",
    "supervisor",
    "integration",
    "assigned_technician",
    "own_requester",
)


@dataclass(frozen=True)
class SpecRow:
    source: str
    target: str
    who: frozenset[str]
    requires: tuple[str, ...] = ()


def _row(source: str, target: str, who: set[str], requires: tuple[str, ...] = ()) -> SpecRow:
    return SpecRow(source, target, frozenset(who), requires)


SCHEDULE_FIELDS = ("technician_id", "window_start", "window_end")

# In the spec's order (allowed_targets is documented to follow table order).
SPEC_ROWS: tuple[SpecRow, ...] = (
    _row("new", "triaged", {DISP, SUP}, ("priority", "division_id", "work_type_id")),
    _row("triaged", "scheduled", {DISP, SUP, INTEG}, SCHEDULE_FIELDS),
    _row("scheduled", "scheduled", {DISP, SUP, INTEG}),
    _row("scheduled", "triaged", {DISP, SUP}),
    _row("scheduled", "dispatched", {DISP, SUP}),
    _row("dispatched", "scheduled", {DISP, SUP}),
    _row("dispatched", "in_progress", {TECH}),
    _row("in_progress", "on_hold", {TECH, DISP}, ("reason",)),
    _row("on_hold", "in_progress", {TECH}),
    _row("on_hold", "triaged", {DISP, SUP}),
    _row("in_progress", "completed", {TECH}),
    _row("in_progress", "cannot_complete", {TECH}, ("reason",)),
    _row("cannot_complete", "triaged", {DISP, SUP}),
    _row("completed", "closed", {SUP}),
    _row("completed", "triaged", {SUP}, ("reason",)),
    # any but closed, cancelled -> cancelled: supervisor; dispatcher before dispatch;
    # the requester (own order) while new.
    _row("new", "cancelled", {SUP, DISP, REQ}, ("reason",)),
    _row("triaged", "cancelled", {SUP, DISP}, ("reason",)),
    _row("scheduled", "cancelled", {SUP, DISP}, ("reason",)),
    _row("dispatched", "cancelled", {SUP}, ("reason",)),
    _row("in_progress", "cancelled", {SUP}, ("reason",)),
    _row("on_hold", "cancelled", {SUP}, ("reason",)),
    _row("completed", "cancelled", {SUP}, ("reason",)),
    _row("cannot_complete", "cancelled", {SUP}, ("reason",)),
)

SPEC: dict[tuple[str, str], SpecRow] = {(r.source, r.target): r for r in SPEC_ROWS}
assert len(SPEC) == len(SPEC_ROWS) == 23


def spec_roles(role: str, *, assigned: bool, own: bool) -> frozenset[str]:
    """The spec roles an actor holds for one order (``assigned``/``own`` as seen by the spec)."""
    if role == "admin":
        return frozenset({DISP, SUP})
    if role in (DISP, SUP, INTEG):
        return frozenset({role})
    if role == "technician":
        return frozenset({TECH}) if assigned else frozenset()
    if role == "requester":
        return frozenset({REQ}) if own else frozenset()
    raise AssertionError(role)


def spec_allows(source: str, target: str, roles: frozenset[str]) -> bool:
    row = SPEC.get((source, target))
    return row is not None and bool(row.who & roles)


def spec_targets(source: str, roles: frozenset[str]) -> list[str]:
    out: list[str] = []
    for row in SPEC_ROWS:
        if row.source == source and row.who & roles and row.target not in out:
            out.append(row.target)
    return out
