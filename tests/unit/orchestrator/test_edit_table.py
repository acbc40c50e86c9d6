"""The edit table (``orchestrator/work_orders/edits.py``) is the README's "Editing an order"
table, and the one set of rules a PATCH is held to: the wire schema takes exactly its
fields, and the roles it names are the roles that edit at all."""

from __future__ import annotations

from pathlib import Path

from api.schemas import WorkOrderUpdate
from orchestrator.domain.lifecycle import Role, State
from orchestrator.work_orders import commands, edits

README = Path(__file__).resolve().parents[3] / "README.md"


def rendered() -> str:
    """The README's table and the sentence under it, as the code's table has them."""
    lines = [
        "| field | who may change it | while the order is | emptied (null) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{rule.field}` | {', '.join(rule.roles)} | {', '.join(rule.states)} | {rule.emptied} |"
        for rule in edits.EDIT_RULES.values()
    ]
    *most, last = [f"`{state}`" for state in edits.CLOSED_TO_EDITS]
    lines += [
        "",
        f"An order {', '.join(most)} or {last} takes no edit at all: 409 naming the state.",
    ]
    return "\n".join(lines)


def test_the_readme_shows_the_table_the_code_enforces() -> None:
    table = rendered()
    assert table in README.read_text(encoding="utf-8"), f"README should show:\n{table}"


def test_the_wire_schema_takes_exactly_the_tables_fields() -> None:
    assert set(WorkOrderUpdate.model_fields) == set(edits.EDIT_RULES) == commands.PATCHABLE


def test_the_roles_that_edit_are_the_tables() -> None:
    assert edits.EDITORS == commands.CREATORS, "who may edit an order is who may create one"
    assert Role.TECHNICIAN not in edits.EDITORS and Role.REQUESTER not in edits.EDITORS


def test_every_state_either_takes_edits_or_refuses_them_all() -> None:
    assert set(edits.OPEN) | set(edits.CLOSED_TO_EDITS) == set(State)
    assert not set(edits.OPEN) & set(edits.CLOSED_TO_EDITS)
    assert set(edits.CLOSED_TO_EDITS) == {State.COMPLETED, State.CLOSED, State.CANCELLED}
