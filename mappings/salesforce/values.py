"""Reading one raw Salesforce record's fields, each failure a ``MappingError`` naming the field.

A record is what the REST API returns for a SOQL query (``attributes`` blocks are ignored,
a parent's fields sit in a nested record or null). A field the query should have selected
but the record lacks is an error too: it means the query and the mapping disagree.
Reasons never repeat a value (it may be personal data), except the org's picklist values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from mappings.canonical import looks_like_email
from mappings.errors import MappingError
from mappings.salesforce.config import SYSTEM

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# bytes.translate table: an ASCII capital to b"1", any other byte to b"0".
_UPPER_BITS = bytes(ord("1") if ord("A") <= b <= ord("Z") else ord("0") for b in range(256))
# SOAP/REST dateTime: 2026-11-02T10:15:30.000+0000 (the REST API's form), Z or +00:00 too.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MISSING = object()


@lru_cache(maxsize=8192)  # a page's ids (up to 2,000 records), read again for its next entity
def id18(value: str) -> str | None:
    """A Salesforce record id in its 18-character form, or None when ``value`` is not one
    (a 15-character id gains its case suffix; an 18-character one must carry the right one)."""
    if not _ID.match(value):
        return None
    head = value[:15]
    # Bit i set when character i is a capital; each 5-bit group picks one suffix character.
    bits = int(head.encode("ascii").translate(_UPPER_BITS)[::-1], 2)
    suffix = _SUFFIX[bits & 31] + _SUFFIX[bits >> 5 & 31] + _SUFFIX[bits >> 10]
    if len(value) == 18 and value[15:] != suffix:
        return None
    return head + suffix


class Reader:
    """One raw record, read for one canonical entity."""

    __slots__ = ("_external_id", "entity", "raw", "sobject")

    def __init__(self, entity: str, sobject: str, raw: Mapping[str, Any]) -> None:
        if not isinstance(raw, Mapping):
            raise MappingError(SYSTEM, entity, "?", sobject, "the record is not a JSON object")
        self.entity = entity
        self.sobject = sobject
        self.raw = raw
        self._external_id: str | None = None

    @property
    def external_id(self) -> str:
        """The record's ``Id`` as an 18-character id, or "?" when it is not one (worked out on
        first use: most reads never raise an error, which is what needs it)."""
        if self._external_id is None:
            rid = self.raw.get("Id")
            self._external_id = (id18(rid) if isinstance(rid, str) else None) or "?"
        return self._external_id

    def error(self, field: str, reason: str) -> MappingError:
        return MappingError(
            SYSTEM, self.entity, self.external_id, f"{self.sobject}.{field}", reason
        )

    def value(self, path: str) -> Any:
        """The field's raw value (None for null, or for a null parent on a dotted path)."""
        if "." not in path:  # a field of the record itself, the usual case
            value = self.raw.get(path, _MISSING)
            if value is _MISSING:
                raise self.error(path, "missing from the record (not selected by the query?)")
            return value
        current: Any = self.raw
        for part in path.split("."):
            if current is None:
                return None
            if not isinstance(current, Mapping):
                raise self.error(path, "expected a nested record")
            current = current.get(part, _MISSING)
            if current is _MISSING:
                raise self.error(path, "missing from the record (not selected by the query?)")
        return current

    def text(self, path: str, *, required: bool = False) -> str | None:
        value = self.value(path)
        if value is not None:
            if not isinstance(value, str):
                raise self.error(path, f"expected text, got {_kind(value)}")
            if "\x00" in value:  # PostgreSQL stores no NUL in text: refused here, by name
                raise self.error(path, "contains a NUL character")
            value = value.strip() or None
        if value is None and required:
            raise self.error(path, "required, but empty")
        return value

    def email(self, path: str) -> str | None:
        """An e-mail address (one ``@``, a dotted domain); the org normally checks this itself."""
        value = self.text(path)
        if value is not None and not looks_like_email(value):
            raise self.error(path, "not an e-mail address")
        return value

    def number(self, path: str, *, required: bool = False) -> float | None:
        value = self.value(path)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error(path, f"expected a number, got {_kind(value)}")
            if not math.isfinite(value):
                raise self.error(path, "not a finite number")
            value = float(value)
        if value is None and required:
            raise self.error(path, "required, but empty")
        return value

    def flag(self, path: str, *, default: bool = False) -> bool:
        """A checkbox; absent from the record means ``default`` (a system flag not selected)."""
        value = self.raw.get(path, default) if "." not in path else self.value(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_kind(value)}")
        return value

    def timestamp(self, path: str, *, required: bool = False) -> datetime | None:
        value = self.text(path, required=required)
        if value is None:
            return None
        if not _DATETIME.match(value):
            raise self.error(path, "not an ISO 8601 date-time with an offset")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise self.error(path, "not a valid date-time") from None

    def day(self, path: str, *, required: bool = False) -> date | None:
        value = self.text(path, required=required)
        if value is None:
            return None
        if not _DATE.match(value):
            raise self.error(path, "not an ISO 8601 date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.error(path, "not a valid date") from None

    def record_id(self, path: str, *, required: bool = False) -> str | None:
        value = self.text(path, required=required)
        if value is None:
            return None
        normalised = id18(value)
        if normalised is None:
            raise self.error(path, "not a Salesforce record id")
        return normalised

    def picklist(self, path: str, table: Mapping[str, Any], *, required: bool = False) -> Any:
        """The table's value for the field's picklist value; an unknown value is an error
        (the table is explicit: nothing falls back to a default)."""
        value = self.text(path, required=required)
        if value is None:
            return None
        if value not in table:
            known = ", ".join(repr(k) for k in table)
            raise self.error(path, f"{value!r} is not in the mapping's table ({known})")
        return table[value]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
