"""Bulk API 2.0 query results (CSV) turned into records shaped as the REST API gives them.

A Bulk API 2.0 query job answers CSV: one header row naming the columns as the query selected
them (``Id``, ``Name``, ``Product2.Name``; in the query's order from API version 50.0), then
one row per record, every value text. An empty cell is a null: Salesforce stores no empty
strings, so nothing is lost by reading it so. REST (``query``) answers JSON with typed values,
a lookup as a nested record (``"Product2": {"Name": ...}``, or ``null`` when there is no
parent) and dateTimes as ``2024-05-01T09:30:00.000+0000``, where the CSV writes ``...000Z``.

``RecordShaper`` rebuilds the REST shape from the CSV with the describes of the objects the
columns belong to: each column's type from the describe of its object (a relationship column's
from the describe of the parent object, found through the lookup field's ``relationshipName``
and ``referenceTo``), then

- ``boolean`` -> ``bool``; ``int`` -> ``int``; ``double``, ``currency``, ``percent`` ->
  ``float``; ``datetime`` -> the REST text (UTC, milliseconds, ``+0000``); an empty cell ->
  ``None``; every other type -> the text as it is;
- ``A.B.C`` -> ``{"A": {"B": {"C": ...}}}``, in the order REST gives (a relationship where its
  first column is), and a relationship whose cells are all empty -> ``None``.

A column the describes do not name (an unknown field, a polymorphic parent that lacks it) is
kept as text. The CSV cannot tell a parent whose selected fields are all null from no parent:
both read as ``None`` (REST would give ``{"Field": null}`` for the first); selecting a field
every record has (``Name``, ``Id``) avoids the ambiguity.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["RecordShaper", "parse_csv", "rest_datetime"]

Describer = Callable[[str], Mapping[str, Any]]
Convert = Callable[[str], Any]

_REST_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
_ZULU_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_FLOAT_TYPES = frozenset({"double", "currency", "percent"})


def parse_csv(text: str, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one results set; an empty body is no header and no rows."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def rest_datetime(value: str) -> str:
    """A dateTime as REST writes it (``2024-05-01T09:30:00.000+0000``) from Bulk's text."""
    if _ZULU_MILLIS.fullmatch(value):
        return value[:-1] + "+0000"
    if _REST_DATETIME.fullmatch(value):
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value  # not a dateTime after all: kept as it came
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _boolean(value: str) -> Any:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return value


def _integer(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return int(float(value))


def _converter(field_type: str | None) -> Convert | None:
    if field_type == "boolean":
        return _boolean
    if field_type == "int":
        return _integer
    if field_type in _FLOAT_TYPES:
        return float
    if field_type == "datetime":
        return rest_datetime
    return None  # text as it is


class _Fields:
    """One object's fields by lower-cased name, and its lookups by relationship name."""

    def __init__(self, describe: Mapping[str, Any]) -> None:
        self.fields: dict[str, Mapping[str, Any]] = {}
        self.relationships: dict[str, Mapping[str, Any]] = {}
        for field in describe.get("fields") or ():
            if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
                continue
            self.fields[field["name"].lower()] = field
            rel = field.get("relationshipName")
            if isinstance(rel, str) and rel:
                self.relationships[rel.lower()] = field


class RecordShaper:
    """Turns rows under one header into REST-shaped records.

    ``describe`` answers the describe of an object by name; it is asked once per object a
    column belongs to (the caller caches), when the shaper is made.
    """

    def __init__(self, sobject: str, header: Sequence[str], describe: Describer) -> None:
        self._objects: dict[str, _Fields] = {}
        self._describe = describe
        self.header = list(header)
        self._columns: list[tuple[tuple[str, ...], Convert | None]] = [
            self._column(sobject, name) for name in self.header
        ]
        self._nested = any(len(path) > 1 for path, _ in self._columns)

    def _fields(self, sobject: str) -> _Fields:
        key = sobject.lower()
        if key not in self._objects:
            self._objects[key] = _Fields(self._describe(sobject))
        return self._objects[key]

    def _column(self, sobject: str, name: str) -> tuple[tuple[str, ...], Convert | None]:
        parts = name.split(".")
        path: list[str] = []
        current: str | None = sobject
        for rel in parts[:-1]:
            lookup = self._fields(current).relationships.get(rel.lower()) if current else None
            if lookup is None:
                path.append(rel)
                current = None  # unknown from here on: text as it is
                continue
            path.append(str(lookup["relationshipName"]))
            targets = lookup.get("referenceTo") or ()
            current = str(targets[0]) if targets else None
        field = self._fields(current).fields.get(parts[-1].lower()) if current else None
        if field is None:
            return (*path, parts[-1]), None
        return (*path, str(field["name"])), _converter(field.get("type"))

    def record(self, row: Sequence[str]) -> dict[str, Any]:
        """One record; a row shorter or longer than the header is a ``ValueError``."""
        if len(row) != len(self._columns):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(self._columns)}")
        out: dict[str, Any] = {}
        for (path, convert), cell in zip(self._columns, row, strict=True):
            value: Any = None if cell == "" else (convert(cell) if convert else cell)
            if len(path) == 1:
                out[path[0]] = value
                continue
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        if self._nested:
            for key, value in out.items():
                if isinstance(value, dict):
                    out[key] = _none_if_empty(value)
        return out

    def records(self, rows: Iterable[Sequence[str]]) -> list[dict[str, Any]]:
        return [self.record(row) for row in rows]


def _none_if_empty(node: dict[str, Any]) -> dict[str, Any] | None:
    """A relationship with no value anywhere below it is no parent at all (REST's null)."""
    for key, value in node.items():
        if isinstance(value, dict):
            node[key] = _none_if_empty(value)
    if all(value is None for value in node.values()):
        return None
    return node
