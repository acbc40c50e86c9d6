"""A SOQL query described, not written: the sObject, its fields, its conditions and its order.

A caller names what to read (``Query``) and the connector writes the SOQL (``to_soql``,
``count_soql``), so no query text is assembled anywhere else and every literal is quoted one
way. The conditions are

- ``Compare(field, op, value)``: ``SystemModstamp >= 2026-03-01T08:30:00Z``;
- ``In(field, values)``: ``RecordType.DeveloperName IN ('Customer_Site')``;
- ``And(...)`` and ``Or(...)`` of other conditions.

A query's ``where`` conditions must all hold: each is written in parentheses, joined by
``AND``; a condition of several inside another is parenthesised too, so ``AND`` and ``OR``
never meet bare (SOQL refuses that). A value is written as SOQL's literal of its type: text
quoted, with backslash, quote and the control characters escaped; a date-time in UTC to the
second (``2026-03-01T08:30:00Z``: fractions of a second are cut off); a date as
``2026-03-01``; ``true``, ``false``, ``null``; a number as it is. Field names are API names,
optionally through relationships (``Product2.Name``), checked when the query is made: a value
never becomes query text unquoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

__all__ = [
    "And",
    "Compare",
    "Condition",
    "In",
    "Or",
    "Query",
    "Value",
    "count_soql",
    "literal",
    "to_soql",
]

Value = str | bool | int | float | Decimal | date | datetime | None
Operator = Literal["=", "!=", "<", "<=", ">", ">="]

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_OBJECT = re.compile(_NAME)
_FIELD = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _check_field(name: str) -> None:
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise ValueError(f"not a Salesforce field name: {name!r}")


def _check_value(value: Value) -> None:
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(f"a date-time in a query must carry its time zone: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not a number SOQL can write: {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"not a number SOQL can write: {value!r}")
    if value is not None and not isinstance(value, str | int | float | Decimal | date):
        raise ValueError(f"no SOQL literal for {type(value).__name__}: {value!r}")


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``value`` None compares with ``null`` (``=`` or ``!=`` only)."""

    field: str
    op: Operator
    value: Value

    def __post_init__(self) -> None:
        _check_field(self.field)
        if self.op not in _OPERATORS:
            raise ValueError(f"not a SOQL comparison: {self.op!r}")
        if self.value is None and self.op not in ("=", "!="):
            raise ValueError(f"null is compared with = or != only, not {self.op}")
        _check_value(self.value)


@dataclass(frozen=True)
class In:
    """``field IN (value, ...)``: one or more values."""

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        _check_field(self.field)
        values = tuple(self.values)
        if not values:
            raise ValueError(f"{self.field} IN needs at least one value")
        for value in values:
            _check_value(value)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True, init=False)
class And:
    """Every one of its conditions holds."""

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        object.__setattr__(self, "conditions", _some(conditions, "And"))


@dataclass(frozen=True, init=False)
class Or:
    """At least one of its conditions holds."""

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        object.__setattr__(self, "conditions", _some(conditions, "Or"))


Condition = Compare | In | And | Or


def _some(conditions: Iterable[Condition], kind: str) -> tuple[Condition, ...]:
    found = tuple(conditions)
    if not found:
        raise ValueError(f"{kind} needs at least one condition")
    if not all(isinstance(c, Compare | In | And | Or) for c in found):
        raise ValueError(f"{kind} takes conditions (Compare, In, And, Or)")
    return found


@dataclass(frozen=True)
class Query:
    """``SELECT fields FROM sobject [WHERE (where) AND ...] [ORDER BY order_by]``: every
    condition of ``where`` must hold; ``order_by`` is ascending, field by field."""

    sobject: str
    fields: tuple[str, ...]
    where: tuple[Condition, ...] = ()
    order_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.sobject, str) or not _OBJECT.fullmatch(self.sobject):
            raise ValueError(f"not a Salesforce API name: {self.sobject!r}")
        fields, order_by = tuple(self.fields), tuple(self.order_by)
        if not fields:
            raise ValueError("a query selects at least one field")
        for name in (*fields, *order_by):
            _check_field(name)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "where", _some(self.where, "where") if self.where else ())
        object.__setattr__(self, "order_by", order_by)


def to_soql(query: Query) -> str:
    """The query as SOQL text."""
    text = f"SELECT {', '.join(query.fields)} FROM {query.sobject}{_where(query)}"  # nosec B608  # SOQL from a Query: names checked as API names, every value quoted by literal()
    if query.order_by:
        text += f" ORDER BY {', '.join(query.order_by)}"
    return text


def count_soql(query: Query) -> str:
    """``SELECT COUNT() FROM sobject [WHERE ...]``: how many records ``query`` selects (its
    fields and order do not change the number)."""
    return f"SELECT COUNT() FROM {query.sobject}{_where(query)}"  # nosec B608  # SOQL from a Query: names checked as API names, every value quoted by literal()


def _where(query: Query) -> str:
    if not query.where:
        return ""
    return " WHERE " + " AND ".join(f"({_condition(c)})" for c in query.where)


def _condition(condition: Condition, *, inner: bool = False) -> str:
    if isinstance(condition, Compare):
        return f"{condition.field} {condition.op} {literal(condition.value)}"
    if isinstance(condition, In):
        return f"{condition.field} IN ({', '.join(literal(v) for v in condition.values)})"
    joiner = " AND " if isinstance(condition, And) else " OR "
    text = joiner.join(_condition(c, inner=True) for c in condition.conditions)
    return f"({text})" if inner and len(condition.conditions) > 1 else text


def literal(value: Value) -> str:
    """One value as SOQL's literal of its type (see the module)."""
    _check_value(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
