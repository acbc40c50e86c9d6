"""Who may change which field of a work order by an edit (PATCH), and in which states: the one
table every edit is checked against. README's "Editing an order" table is this table (a unit
test renders it from here and finds it there).

Why a table: an edit is the one change that no transition sees. Triage sets the priority,
division and work type; scheduling checks the technician against the work type; completion
asks for the work type's proof. An edit that could empty or swap those fields afterwards
would undo each check (a work type without proof swapped in under a technician at work, say).
So the fields triage sets are the office's alone, the work type and the site stay as they
were sent out until the order comes back (recalled, or back to triaged), what triage filled
is never emptied again, and a completed, closed or cancelled order takes no edit at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from mappings import canonical
from orchestrator.domain.errors import Conflict, Forbidden, InvalidInput
from orchestrator.domain.lifecycle import Role, State


class Emptying(StrEnum):
    """Whether an edit may set a field to null."""

    YES = "yes"
    WHILE_NEW = "while new"
    NEVER = "never"


@dataclass(frozen=True)
class EditRule:
    field: str
    roles: tuple[Role, ...]
    states: tuple[State, ...]
    emptied: Emptying


OFFICE = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
OFFICE_AND_INTEGRATION = (*OFFICE, Role.INTEGRATION)
BEFORE_DISPATCH = (State.NEW, State.TRIAGED, State.SCHEDULED)
OPEN = (*BEFORE_DISPATCH, State.DISPATCHED, State.IN_PROGRESS, State.ON_HOLD, State.CANNOT_COMPLETE)
CLOSED_TO_EDITS = tuple(state for state in State if state not in OPEN)
"""Completed (its proof was checked against the order as it is), closed and cancelled."""

_RULES = (
    EditRule("summary", OFFICE_AND_INTEGRATION, OPEN, Emptying.NEVER),
    EditRule("description", OFFICE_AND_INTEGRATION, OPEN, Emptying.YES),
    EditRule("customer_id", OFFICE_AND_INTEGRATION, OPEN, Emptying.WHILE_NEW),
    EditRule("site_id", OFFICE_AND_INTEGRATION, BEFORE_DISPATCH, Emptying.WHILE_NEW),
    EditRule("asset_id", OFFICE_AND_INTEGRATION, OPEN, Emptying.YES),
    EditRule("contact_id", OFFICE_AND_INTEGRATION, OPEN, Emptying.YES),
    EditRule("priority", OFFICE, OPEN, Emptying.WHILE_NEW),
    EditRule("division_id", OFFICE, OPEN, Emptying.WHILE_NEW),
    EditRule("work_type_id", OFFICE, BEFORE_DISPATCH, Emptying.WHILE_NEW),
)
EDIT_RULES: Mapping[str, EditRule] = {rule.field: rule for rule in _RULES}
EDITORS = frozenset(role for rule in _RULES for role in rule.roles)


def check_edit(role: Role, state: State, changes: Mapping[str, Any]) -> None:
    """Refuse ``changes`` (each field an edit changes, with its new value) by ``role`` on an
    order in ``state`` as the table says: 409 naming the state when it takes no edit at all,
    422 for a field no edit changes, 403 naming the fields the role may not change, 409 naming
    those the state holds fixed, 422 naming each that may not be emptied."""
    if state in CLOSED_TO_EDITS:
        raise Conflict(f"the order is {state}: it can no longer be edited", current=str(state))
    unknown = sorted(set(changes) - set(EDIT_RULES))
    if unknown:
        reason = "not a field an edit changes"
        raise InvalidInput(reason, [{"field": name, "reason": reason} for name in unknown])
    rules = [EDIT_RULES[name] for name in changes]
    barred = [rule.field for rule in rules if role not in rule.roles]
    if barred:
        raise Forbidden(f"a {role} may not change {', '.join(barred)}")
    fixed = [rule for rule in rules if state not in rule.states]
    if fixed:
        raise Conflict(
            "; ".join(
                f"{rule.field} cannot change while the order is {state}, only while it is "
                + ", ".join(rule.states)
                for rule in fixed
            ),
            current=str(state),
        )
    emptied = [
        {"field": rule.field, "reason": _why_not_empty(rule, state)}
        for rule in rules
        if changes[rule.field] is None and not _may_empty(rule, state)
    ]
    if emptied:
        raise InvalidInput(f"{', '.join(e['field'] for e in emptied)} may not be emptied", emptied)


def _may_empty(rule: EditRule, state: State) -> bool:
    return rule.emptied is Emptying.YES or (
        rule.emptied is Emptying.WHILE_NEW and state is State.NEW
    )


def _why_not_empty(rule: EditRule, state: State) -> str:
    if rule.emptied is Emptying.NEVER:
        return "required: it may be changed, never emptied"
    return f"kept once the order is triaged: on a {state} order it may be changed, not emptied"


def check_merged(stored: object, changes: Mapping[str, Any]) -> None:
    """The order as it would be after the edit (``stored``, the order as it is, and
    ``changes``), validated whole as intake validates it, the way reference data's edits
    are: 422 naming each field at fault, never a row the database refuses."""
    fields = canonical.WorkOrder.model_fields
    merged = {name: getattr(stored, name) for name in fields} | dict(changes)
    try:
        canonical.WorkOrder.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput.of("the edited order is not valid", exc) from None
