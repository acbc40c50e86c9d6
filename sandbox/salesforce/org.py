"""The org in memory: records, writes validated as a real org validates them, SOQL, cursors,
sessions, the API allowance, the ledger and the fault plan.

Records are plain lists (one slot per field, in the order of the type's fields; slot 0 is
the Id, slot 1 IsDeleted, the last three CreatedDate, LastModifiedDate, SystemModstamp), so
that 300,000 of them fit in a modest amount of memory. Every method takes the org's lock: the
server's event loop and the test's thread both call in.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, MultipleChoices, RecordError, not_found
from sandbox.salesforce.faults import FaultPlan
from sandbox.salesforce.schema import (
    BASE62,
    NUMBER_TYPES,
    Field,
    IdMinter,
    SObjectType,
    build_schema,
    normalize_id,
    with_fields,
)
from sandbox.salesforce.soql import datetime_text

Row = list[Any]

EPOCH = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)  # seeded history starts here
ID_COUNTER_START = 62**4 * 10 + 4_321  # Ids look lived-in: 0018d00000AfWb...
COLLECTION_LIMIT = 200
MAX_OFFSET = 2000
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
ALL_OR_NONE: tuple[str, str, list[str]] = (
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    [],
)


class Table:
    """The records of one sObject type, in creation (Id) order."""

    def __init__(self, sobject: SObjectType) -> None:
        self.type = sobject
        self.rows: list[Row] = []
        self.by_id: dict[str, Row] = {}
        self.ext_fields = [f.name for f in sobject.fields if f.external_id]
        self.ext: dict[str, dict[str, list[Row]]] = {name: {} for name in self.ext_fields}
        self.minter = IdMinter(sobject.key_prefix, ID_COUNTER_START)
        self.autonumber = 0
        self.deleted_at: dict[str, str] = {}
        field_count = len(sobject.fields)
        self.created, self.modified, self.modstamp = (
            field_count - 3,
            field_count - 2,
            field_count - 1,
        )

    def add(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)
        by_id = self.by_id
        for row in rows:
            by_id[row[0]] = row
        for name in self.ext_fields:
            slot = self.type.index[name]
            index = self.ext[name]
            for row in rows:
                if row[slot] is not None:
                    index.setdefault(row[slot].lower(), []).append(row)

    def unindex(self, row: Row, name: str) -> None:
        value = row[self.type.index[name]]
        if value is None:
            return
        bucket = self.ext[name].get(value.lower(), [])
        if row in bucket:
            bucket.remove(row)

    def reindex(self, row: Row, name: str) -> None:
        value = row[self.type.index[name]]
        if value is not None:
            self.ext[name].setdefault(value.lower(), []).append(row)

    def matches(self, name: str, value: str) -> list[Row]:
        return [r for r in self.ext[name].get(value.lower(), ()) if not r[1]]

    def live(self) -> list[Row]:
        return [r for r in self.rows if not r[1]]

    def next_number(self) -> int:
        self.autonumber += 1
        return self.autonumber


@dataclass
class Cursor:
    rows: list[Row]
    render: Callable[[Row, str], dict[str, Any]]
    batch: int


@dataclass
class Plan:
    """A validated write, applied later (so that a collection can roll back as a whole)."""

    table: Table
    row: Row | None  # None: create
    changes: dict[int, Any]


class Org:
    def __init__(
        self,
        *,
        seed: int = 0,
        api_limit: int = 100_000,
        max_cursors: int = 10,
        session_ttl_s: float = 7200.0,
        bare: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.schema = build_schema(bare=bare)
        self.tables = {name: Table(t) for name, t in self.schema.items()}
        self.tables_lower = {name.lower(): t for name, t in self.tables.items()}
        self.binder = soql.Binder(self.schema, self._lookup)
        self.last_stamp = EPOCH
        self.rng = random.Random(seed)  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing
        self.sessions: dict[str, float] = {}
        self.session_ttl_s = session_ttl_s
        self.api_used = 0
        self.api_max = api_limit
        self.calls = 0
        self.ledger: list[dict[str, Any]] = []
        self.faults = FaultPlan()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.max_cursors = max_cursors
        self.locators = IdMinter("01g", ID_COUNTER_START)
        self.malformed: dict[str, tuple[str, str]] = {}

    # shape

    def define(self, described: Mapping[str, Any]) -> str:
        """Add an object, or fields to one, from its ``describe`` (``name``, ``fields``, and
        for a new object ``label`` and ``labelPlural``), as an admin's deploy would; the
        object's name. Only an object without records changes shape."""
        with self.lock:
            name = described["name"]
            current = self.tables_lower.get(name.lower())
            if current is not None and current.rows:
                raise ValueError(f"{name} holds records: define its fields before adding any")
            used = {t.key_prefix for t in self.schema.values()}
            prefix = next(p for p in (f"a0{c}" for c in BASE62) if p not in used)
            sobject = with_fields(current.type if current else None, described, prefix)
            self.schema[sobject.name] = sobject
            self.tables[sobject.name] = Table(sobject)
            self.tables_lower = {n.lower(): t for n, t in self.tables.items()}
            self.binder = soql.Binder(self.schema, self._lookup)
            return sobject.name

    # time

    def next_stamp(self) -> str:
        """The stamp of a transaction now: whole seconds (as an org keeps them), never going
        back, so that transactions in the same second share it."""
        now = datetime.now(UTC).replace(microsecond=0)
        if now < self.last_stamp:
            now = self.last_stamp
        self.last_stamp = now
        return datetime_text(now)

    def stamp_at(self, moment: datetime) -> str:
        if moment > self.last_stamp:
            self.last_stamp = moment
        return datetime_text(moment)

    # lookups

    def _lookup(self, name: str) -> Mapping[str, Row]:
        return self.tables[name].by_id

    def table(self, name: str) -> Table:
        table = self.tables_lower.get(name.lower())
        if table is None:
            raise ApiError(
                404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'"
            )
        return table

    def live_row(self, table: Table, record_id: str) -> Row:
        normal = normalize_id(record_id)
        if normal is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        row = table.by_id.get(normal)
        if row is None:
            raise not_found()
        if row[1]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    def render(self, table: Table, row: Row, version: str, fields: list[str] | None = None) -> dict:
        out: dict[str, Any] = {
            "attributes": {
                "type": table.type.name,
                "url": f"/services/data/v{version}/sobjects/{table.type.name}/{row[0]}",
            }
        }
        chosen = table.type.fields
        if fields:
            chosen = []
            for name in fields:
                field = table.type.field(name)
                if field is None:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{table.type.name}'. If you are "
                        "attempting to use a custom field, be sure to append the '__c' after "
                        "the custom field name. Please reference your WSDL or the describe call "
                        "for the appropriate names.",
                    )
                chosen.append(field)
        for field in chosen:
            out[field.name] = row[table.type.index[field.name]]
        return out

    # --- validation ------------------------------------------------------------------------

    def _coerce(self, field: Field, value: Any) -> Any:
        """A JSON value as the field holds it; a value that cannot be is JSON_PARSER_ERROR
        (the whole request fails: the body does not deserialize)."""
        if value is None:
            return None
        field_type = field.type

        def parser_error(kind: str) -> ApiError:
            token = (
                "VALUE_TRUE"
                if value is True
                else "VALUE_FALSE"
                if value is False
                else "VALUE_STRING"
                if isinstance(value, str)
                else "VALUE_NUMBER_INT"
                if isinstance(value, int)
                else "VALUE_NUMBER_FLOAT"
                if isinstance(value, float)
                else "START_OBJECT"
                if isinstance(value, dict)
                else "START_ARRAY"
            )
            shown = value if not isinstance(value, dict | list) else ""
            return ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from {token} value {shown} or request "
                "may be missing a required field",
                field=field.name,
            )

        if field.text or field_type in ("id", "reference"):
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return str(value)
            raise parser_error("string")
        if field_type in NUMBER_TYPES:
            if isinstance(value, bool):
                raise parser_error("double")
            if isinstance(value, int | float):
                return int(value) if field_type == "int" else float(value)
            if isinstance(value, str):
                try:
                    return int(value) if field_type == "int" else float(value)
                except ValueError:
                    raise parser_error("double") from None
            raise parser_error("double")
        if field_type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise parser_error("boolean")
        if field_type == "date":
            if isinstance(value, str) and len(value) == 10:
                try:
                    return date.fromisoformat(value).isoformat()
                except ValueError:
                    pass
            raise parser_error("date")
        if field_type == "datetime":
            if isinstance(value, str):
                try:
                    moment = datetime.fromisoformat(value)
                except ValueError:
                    raise parser_error("datetime") from None
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                return datetime_text(moment)
            raise parser_error("datetime")
        raise parser_error(field_type)

    def _check_value(
        self, field: Field, value: Any
    ) -> tuple[Any, tuple[str, str, list[str]] | None]:
        """A coerced, non-null value checked as a DML would: length, picklist, email, lookups."""
        if field.type in ("reference", "id"):
            normal = normalize_id(value)
            target = self.schema[field.reference_to[0]] if field.reference_to else None
            if normal is None:
                return value, (
                    "MALFORMED_ID",
                    f"{field.label}: id value of incorrect type: {value}",
                    [field.name],
                )
            if target is not None and normal[:3] != target.key_prefix:
                return value, (
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{field.label}: id value of incorrect type: {value}",
                    [field.name],
                )
            if target is not None:
                parent = self.tables[target.name].by_id.get(normal)
                if parent is None:
                    return value, ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                if parent[1]:
                    return value, ("ENTITY_IS_DELETED", "entity is deleted", [field.name])
            return normal, None
        if field.text and field.length and len(value) > field.length:
            return value, (
                "STRING_TOO_LONG",
                f"{field.label}: data value too large: {value[:50]} (max length={field.length})",
                [field.name],
            )
        if field.picklist and value not in field.picklist:
            return value, (
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{field.label}: bad value for restricted picklist field: {value}",
                [field.name],
            )
        if field.type == "email" and not EMAIL_RE.match(value):
            return value, (
                "INVALID_EMAIL_ADDRESS",
                f"{field.label}: invalid email address: {value}",
                [field.name],
            )
        return value, None

    def _foreign(self, rel: Field, value: Mapping[str, Any]) -> str:
        """A lookup given by the parent's external ID: ``"Account": {"Ext__c": "X"}``."""
        target = self.tables[rel.reference_to[0]]
        keys = [k for k in value if k != "attributes"]
        if len(keys) != 1:
            raise RecordError.one(
                "INVALID_FIELD",
                f"Foreign key external ID: exactly one external ID field is needed for "
                f"{rel.relationship_name}",
            )
        field = target.type.field(keys[0])
        if field is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{keys[0]}' on sobject of type {target.type.name}",
                [],
            )
        given = value[keys[0]]
        if field.name == "Id":
            row = target.by_id.get(normalize_id(str(given)) or "")
            found = [row] if row is not None and not row[1] else []
        elif field.external_id:
            found = target.matches(field.name, str(given))
        else:
            raise RecordError.one(
                "INVALID_FIELD",
                f"Field {field.name} is not an External ID or indexed field for {target.type.name}",
                [],
            )
        if not found:
            raise RecordError.one(
                "INVALID_FIELD",
                f"Foreign key external ID: {given} not found for field {field.name} in entity "
                f"{target.type.name}",
            )
        if len(found) > 1:
            raise RecordError.one(
                "DUPLICATE_EXTERNAL_ID",
                f"{target.type.name}: more than one record found for external id field: "
                f"[{', '.join(r[0] for r in found)}]",
            )
        return str(found[0][0])

    def prepare(self, table: Table, body: Mapping[str, Any], row: Row | None) -> Plan:
        """Validate a record's fields for a create (``row`` None) or an update of ``row``."""
        if not isinstance(body, Mapping):
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {table.type.name} from "
                f"{type(body).__name__} value",
            )
        sobject = table.type
        changes: dict[int, Any] = {}
        errors: list[tuple[str, str, list[str]]] = []
        for key, value in body.items():
            if key == "attributes":
                continue
            field = sobject.field(key)
            if field is None:
                rel = sobject.relationships.get(key.lower())
                if rel is not None and isinstance(value, Mapping):
                    # a lookup by the parent's external id writes the lookup field: the same
                    # createable and updateable rules hold
                    if not (rel.createable if row is None else rel.updateable):
                        errors.append(_not_writable(rel))
                        continue
                    try:
                        changes[sobject.index[rel.name]] = self._foreign(rel, value)
                    except RecordError as exc:
                        errors.extend(exc.errors)
                    continue
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {sobject.name}",
                    [],
                )
            if not (field.createable if row is None else field.updateable):
                errors.append(_not_writable(field))
                continue
            coerced = self._coerce(field, value)
            if coerced is not None:
                coerced, error = self._check_value(field, coerced)
                if error:
                    errors.append(error)
                    continue
            changes[sobject.index[field.name]] = coerced
        after = list(row) if row is not None else self._defaults(table)
        for slot, value in changes.items():
            after[slot] = value
        missing = [
            field.name
            for field in sobject.fields
            if field.required
            and after[sobject.index[field.name]] is None
            and (row is None or sobject.index[field.name] in changes)
        ]
        if missing:
            errors.append(
                (
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )
        if not errors:
            errors.extend(self._derive(table, row, changes, after))
        if sobject.name == "Asset" and not errors:
            idx = sobject.index
            if after[idx["AccountId"]] is None and after[idx["ContactId"]] is None:
                errors.append(
                    (
                        "FIELD_INTEGRITY_EXCEPTION",
                        "Every asset needs an account, a contact, or both.",
                        ["AccountId", "ContactId"],
                    )
                )
        if errors:
            raise RecordError(errors)
        return Plan(table, row, changes)

    def _derive(
        self, table: Table, row: Row | None, changes: dict[int, Any], after: Row
    ) -> list[tuple[str, str, list[str]]]:
        """The fields an org fills in itself from a write's lookups (read-only to the API),
        and the checks that need the parent: a price book entry copies its product's name
        and code and is one per product and price book; a product consumed takes its
        product from its price book entry."""
        name, ix = table.type.name, table.type.index
        if name == "PricebookEntry" and row is None:
            product = self.tables["Product2"].by_id.get(after[ix["Product2Id"]] or "")
            book = after[ix["Pricebook2Id"]]
            if product is not None and book is not None:
                p_ix = self.schema["Product2"].index
                changes[ix["Name"]] = product[p_ix["Name"]]
                changes[ix["ProductCode"]] = product[p_ix["ProductCode"]]
                i_book, i_product = ix["Pricebook2Id"], ix["Product2Id"]
                if any(
                    r[i_book] == book and r[i_product] == product[0] and not r[1]
                    for r in table.rows
                ):
                    return [
                        (
                            "DUPLICATE_VALUE",
                            "This price definition already exists in this price book",
                            [],
                        )
                    ]
        elif name == "ProductConsumed" and ix["PricebookEntryId"] in changes:
            entry_id = changes[ix["PricebookEntryId"]]
            entry = self.tables["PricebookEntry"].by_id.get(entry_id or "")
            product_ix = self.schema["PricebookEntry"].index["Product2Id"]
            changes[ix["Product2Id"]] = entry[product_ix] if entry is not None else None
        return []

    def _defaults(self, table: Table) -> Row:
        row: Row = [None] * len(table.type.fields)
        row[1] = False
        for slot, field in enumerate(table.type.fields):
            if field.default is not None:
                row[slot] = field.default
        return row

    def apply(self, plan: Plan, stamp: str) -> tuple[str, bool]:
        """Carry out a validated write: (Id, created)."""
        table = plan.table
        if plan.row is None:
            row = self._defaults(table)
            row[0] = table.minter.mint()
            for slot, field in enumerate(table.type.fields):
                if field.auto_number:
                    number = table.next_number()
                    row[slot] = (
                        f"{number:08d}" if field.name == "WorkOrderNumber" else f"PC-{number:08d}"
                    )
            for slot, value in plan.changes.items():
                row[slot] = value
            row[table.created] = row[table.modified] = row[table.modstamp] = stamp
            table.add([row])
            return row[0], True
        row = plan.row
        touched_ext = [name for name in table.ext_fields if table.type.index[name] in plan.changes]
        for name in touched_ext:
            table.unindex(row, name)
        for slot, value in plan.changes.items():
            row[slot] = value
        for name in touched_ext:
            table.reindex(row, name)
        row[table.modified] = row[table.modstamp] = (
            stamp  # an update stamps even when nothing changed
        )
        return row[0], False

    # --- single-record operations ----------------------------------------------------------

    def create(self, obj: str, body: Mapping[str, Any]) -> str:
        with self.lock:
            table = self.table(obj)
            record_id, _ = self.apply(self.prepare(table, body, None), self.next_stamp())
            return record_id

    def get(self, obj: str, record_id: str, version: str, fields: list[str] | None = None) -> dict:
        with self.lock:
            table = self.table(obj)
            return self.render(table, self.live_row(table, record_id), version, fields)

    def update(self, obj: str, record_id: str, body: Mapping[str, Any]) -> str:
        with self.lock:
            table = self.table(obj)
            row = self.live_row(table, record_id)
            return self.apply(self.prepare(table, body, row), self.next_stamp())[0]

    def delete(self, obj: str, record_id: str) -> str:
        with self.lock:
            table = self.table(obj)
            row = self.live_row(table, record_id)
            self._delete(table, row, self.next_stamp())
            return str(row[0])

    def purge(self, obj: str, record_ids: Sequence[str]) -> list[str]:
        """Empty the recycle bin of these records (deleting live ones first): they are gone,
        ``queryAll`` no longer shows them, and nothing records that they were there."""
        with self.lock:
            table = self.table(obj)
            gone = set()
            for record_id in record_ids:
                row = table.by_id.get(normalize_id(record_id) or record_id)
                if row is None:
                    continue
                if not row[1]:
                    self._delete(table, row, self.next_stamp())
                gone.add(row[0])
                del table.by_id[row[0]]
                table.deleted_at.pop(row[0], None)
            table.rows[:] = [r for r in table.rows if r[0] not in gone]
            return sorted(gone)

    def _delete(self, table: Table, row: Row, stamp: str) -> None:
        for name in table.ext_fields:
            table.unindex(row, name)
        row[1] = True
        row[table.modified] = row[table.modstamp] = stamp
        table.deleted_at[row[0]] = stamp

    def _ext_field(self, table: Table, name: str) -> Field:
        field = table.type.field(name)
        if field is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        if field.name != "Id" and not field.external_id:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field {field.name} is not an External ID or indexed field for {table.type.name}",
                [field.name],
            )
        return field

    def by_external_id(self, obj: str, field_name: str, value: str) -> list[Row]:
        with self.lock:
            table = self.table(obj)
            field = self._ext_field(table, field_name)
            if field.name == "Id":
                row = table.by_id.get(normalize_id(value) or "")
                return [row] if row is not None and not row[1] else []
            return table.matches(field.name, value)

    def urls(self, table: Table, rows: list[Row], version: str) -> list[str]:
        return [f"/services/data/v{version}/sobjects/{table.type.name}/{r[0]}" for r in rows]

    def upsert(
        self,
        obj: str,
        field_name: str,
        value: str,
        body: Mapping[str, Any],
        version: str,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """PATCH /sobjects/Obj/ExtField/value: (Id, created), or MultipleChoices."""
        with self.lock:
            table = self.table(obj)
            field = self._ext_field(table, field_name)
            if not isinstance(body, Mapping):
                raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
            body = dict(body)
            for key in [k for k in body if k.lower() == field.name.lower()]:
                given = body.pop(key)
                if given is not None and str(given).lower() != value.lower():
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"{field.name}: the value in the request body ({given}) differs from the "
                        f"external ID in the URL ({value})",
                        [field.name],
                    )
            if field.name == "Id":
                row = self.live_row(table, value)
                return self.apply(self.prepare(table, body, row), self.next_stamp())
            found = table.matches(field.name, value)
            if len(found) > 1:
                raise MultipleChoices(self.urls(table, found, version))
            if found:
                return self.apply(self.prepare(table, body, found[0]), self.next_stamp())
            if update_only:
                raise not_found()
            body[field.name] = value
            return self.apply(self.prepare(table, body, None), self.next_stamp())

    # --- sObject Collections ---------------------------------------------------------------

    def _collection_records(self, records: Any) -> list[Any]:
        if not isinstance(records, list):
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of list from a non-array value: 'records' must be "
                "a list",
            )
        if len(records) > COLLECTION_LIMIT:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                [],
            )
        return records

    def _record_type(self, record: Any, expected: str | None) -> Table:
        if not isinstance(record, Mapping):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes")
        kind = attributes.get("type") if isinstance(attributes, Mapping) else None
        if not kind:
            raise RecordError.one("INVALID_TYPE", "Must send a concrete entity type.")
        table = self.tables_lower.get(str(kind).lower())
        if table is None:
            raise RecordError.one("INVALID_TYPE", f"sObject type '{kind}' is not supported.")
        if expected is not None and table.type.name.lower() != expected.lower():
            raise RecordError.one(
                "INVALID_TYPE",
                f"The record's type {kind} differs from the collection's type {expected}",
            )
        return table

    def _finish(
        self,
        outcomes: list[Plan | RecordError | tuple[str, Row]],
        all_or_none: bool,
        upsert: bool,
    ) -> list[dict[str, Any]]:
        failed = any(isinstance(o, RecordError) for o in outcomes)
        results: list[dict[str, Any]] = []
        if failed and all_or_none:
            for outcome in outcomes:
                errors = outcome if isinstance(outcome, RecordError) else RecordError([ALL_OR_NONE])
                result: dict[str, Any] = {
                    "success": False,
                    "errors": errors.collection_errors(),
                }
                if upsert:
                    result["created"] = False
                results.append(result)
            return results
        stamp = self.next_stamp()  # one transaction, one stamp
        for outcome in outcomes:
            if isinstance(outcome, RecordError):
                result = {"success": False, "errors": outcome.collection_errors()}
                if upsert:
                    result["created"] = False
            elif isinstance(outcome, Plan):
                record_id, created = self.apply(outcome, stamp)
                result = {"id": record_id, "success": True, "errors": []}
                if upsert:
                    result["created"] = created
            else:
                _, row = outcome
                self._delete(self.tables[self._type_of(row)], row, stamp)
                result = {"id": row[0], "success": True, "errors": []}
            results.append(result)
        return results

    def _type_of(self, row: Row) -> str:
        prefix = row[0][:3]
        return next(name for name, t in self.schema.items() if t.key_prefix == prefix)

    def collection_upsert(
        self, obj: str, field_name: str, records: Any, all_or_none: bool
    ) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects/Obj/ExtField: per-record UpsertResults."""
        with self.lock:
            table = self.table(obj)
            field = self._ext_field(table, field_name)
            records = self._collection_records(records)
            values: list[str | None] = []
            for record in records:
                given = None
                if isinstance(record, Mapping):
                    given = next(
                        (v for k, v in record.items() if k.lower() == field.name.lower()), None
                    )
                values.append(None if given is None else str(given).lower())
            seen: dict[str, int] = {}
            for value in values:
                if value is not None:
                    seen[value] = seen.get(value, 0) + 1
            outcomes: list[Plan | RecordError | tuple[str, Row]] = []
            for record, value in zip(records, values, strict=True):
                try:
                    self._record_type(record, table.type.name)
                    if value is None:
                        raise RecordError.one("MISSING_ARGUMENT", f"{field.name} not specified", [])
                    if seen[value] > 1:
                        raise RecordError.one(
                            "DUPLICATE_EXTERNAL_ID",
                            f"Duplicate external id specified: {record_value(record, field.name)}",
                            [field.name],
                        )
                    if field.name == "Id":
                        raise RecordError.one(
                            "INVALID_FIELD", "Only external ids are supported, not record ids", []
                        )
                    found = table.matches(field.name, value)
                    if len(found) > 1:
                        raise RecordError.one(
                            "DUPLICATE_EXTERNAL_ID",
                            f"{field.name}: more than one record found for external id field: "
                            f"[{', '.join(r[0] for r in found)}]",
                            [field.name],
                        )
                    body = {k: v for k, v in record.items()}
                    if found:
                        for key in [k for k in body if k.lower() == field.name.lower()]:
                            del body[key]
                    outcomes.append(self.prepare(table, body, found[0] if found else None))
                except RecordError as exc:
                    outcomes.append(exc)
            return self._finish(outcomes, all_or_none, upsert=True)

    def collection_create(self, records: Any, all_or_none: bool) -> list[dict[str, Any]]:
        """POST /composite/sobjects: per-record SaveResults."""
        with self.lock:
            records = self._collection_records(records)
            outcomes: list[Plan | RecordError | tuple[str, Row]] = []
            for record in records:
                try:
                    table = self._record_type(record, None)
                    if any(k.lower() == "id" for k in record):
                        raise RecordError.one(
                            "INVALID_FIELD",
                            "cannot specify Id in an insert call",
                            ["Id"],
                        )
                    outcomes.append(self.prepare(table, record, None))
                except RecordError as exc:
                    outcomes.append(exc)
            return self._finish(outcomes, all_or_none, upsert=False)

    def collection_update(self, records: Any, all_or_none: bool) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects: per-record SaveResults (each record names its Id)."""
        with self.lock:
            records = self._collection_records(records)
            outcomes: list[Plan | RecordError | tuple[str, Row]] = []
            for record in records:
                try:
                    table = self._record_type(record, None)
                    given = next((v for k, v in record.items() if k.lower() == "id"), None)
                    if given is None:
                        raise RecordError.one("MISSING_ARGUMENT", "Id not specified", [])
                    normal = normalize_id(str(given))
                    row = table.by_id.get(normal) if normal else None
                    if normal is None or normal[:3] != table.type.key_prefix:
                        raise RecordError.one(
                            "MALFORMED_ID",
                            f"{table.type.label} ID: id value of incorrect type: {given}",
                            ["Id"],
                        )
                    if row is None:
                        raise RecordError.one(
                            "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                        )
                    if row[1]:
                        raise RecordError.one("ENTITY_IS_DELETED", "entity is deleted", [])
                    body = {k: v for k, v in record.items() if k.lower() != "id"}
                    outcomes.append(self.prepare(table, body, row))
                except RecordError as exc:
                    outcomes.append(exc)
            return self._finish(outcomes, all_or_none, upsert=False)

    def collection_delete(self, ids: list[str], all_or_none: bool) -> list[dict[str, Any]]:
        """DELETE /composite/sobjects?ids=...: per-record DeleteResults."""
        with self.lock:
            self._collection_records(ids)
            outcomes: list[Plan | RecordError | tuple[str, Row]] = []
            for given in ids:
                normal = normalize_id(given)
                table = next(
                    (x for x in self.tables.values() if normal and normal[:3] == x.type.key_prefix),
                    None,
                )
                row = table.by_id.get(normal) if table is not None and normal else None
                if row is None:
                    outcomes.append(
                        RecordError.one("MALFORMED_ID", f"malformed id {given}", [])
                        if normal is None
                        else RecordError.one(
                            "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                        )
                    )
                elif row[1]:
                    outcomes.append(RecordError.one("ENTITY_IS_DELETED", "entity is deleted", []))
                else:
                    outcomes.append(("delete", row))
            return self._finish(outcomes, all_or_none, upsert=False)

    # --- queries ---------------------------------------------------------------------------

    def query(self, text: str, include_deleted: bool, batch: int, version: str) -> dict:
        with self.lock:
            compiled = self.binder.compile(soql.parse(text))
            if compiled.offset is not None and compiled.offset > MAX_OFFSET:
                raise ApiError(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
            table = self.tables[compiled.sobject.name]
            pred = compiled.predicate
            if include_deleted:
                rows = [r for r in table.rows if pred(r)] if pred else list(table.rows)
            elif pred:
                rows = [r for r in table.rows if not r[1] and pred(r)]
            else:
                rows = [r for r in table.rows if not r[1]]
            if compiled.count_only:
                return {"totalSize": len(rows), "done": True, "records": []}
            if compiled.count_items:
                record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
                for index, item in enumerate(compiled.count_items):
                    record[f"expr{index}"] = (
                        len(rows)
                        if item is None
                        else sum(1 for r in rows if item.getter(r) is not None)
                    )
                return {"totalSize": 1, "done": True, "records": [record]}
            for getter, desc, nulls_last, fold in reversed(compiled.order):
                rows.sort(key=sort_key(getter, desc, nulls_last, fold), reverse=desc)
            if compiled.offset:
                rows = rows[compiled.offset :]
            if compiled.limit is not None:
                rows = rows[: compiled.limit]
            cursor = Cursor(rows, compiled.render, batch)
            locator = None
            if len(rows) > batch:
                locator = self.locators.mint()
                self.cursors[locator] = cursor
                while len(self.cursors) > self.max_cursors:
                    self.cursors.popitem(last=False)
            return self._page(cursor, locator, 0, version)

    def query_more(self, locator: str, offset: int, batch: int | None, version: str) -> dict:
        with self.lock:
            cursor = self.cursors.get(locator)
            if cursor is None or offset < 0 or offset > len(cursor.rows):
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            self.cursors.move_to_end(locator)
            if batch is not None:
                cursor.batch = batch
            return self._page(cursor, locator, offset, version)

    def _page(self, cursor: Cursor, locator: str | None, offset: int, version: str) -> dict:
        end = offset + cursor.batch
        page = cursor.rows[offset:end]
        out: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not out["done"]:
            out["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        out["records"] = [cursor.render(r, version) for r in page]
        return out

    def updated(self, obj: str, start: str, end: str) -> dict:
        """GET /sobjects/Obj/updated/?start=..&end=..: Ids changed in the window."""
        with self.lock:
            table = self.table(obj)
            lo, hi = _window(start, end)
            ids = [r[0] for r in table.rows if not r[1] and lo <= r[table.modstamp] < hi]
            return {"ids": ids, "latestDateCovered": hi}

    def deleted(self, obj: str, start: str, end: str) -> dict:
        with self.lock:
            table = self.table(obj)
            lo, hi = _window(start, end)
            rows = [
                {"id": i, "deletedDate": at}
                for i, at in table.deleted_at.items()
                if lo <= at < hi and table.by_id[i][1]
            ]
            return {
                "deletedRecords": rows,
                "earliestDateAvailable": datetime_text(EPOCH),
                "latestDateCovered": hi,
            }

    # --- sessions and allowance ------------------------------------------------------------

    def issue_session(self, org_id: str) -> str:
        with self.lock:
            token = f"{org_id[:15]}!{secrets.token_urlsafe(72)}"
            self.sessions[token] = time.monotonic() + self.session_ttl_s
            return token

    def session_valid(self, token: str) -> bool:
        with self.lock:
            expires = self.sessions.get(token)
            if expires is None:
                return False
            if expires < time.monotonic():
                del self.sessions[token]
                return False
            return True

    def expire_sessions(self) -> int:
        with self.lock:
            count = len(self.sessions)
            self.sessions.clear()
            return count

    def limits(self) -> dict[str, Any]:
        remaining = max(self.api_max - self.api_used, 0)
        return {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "DailyApiRequests": {"Max": self.api_max, "Remaining": remaining},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5120, "Remaining": 5120},
            "FileStorageMB": {"Max": 5120, "Remaining": 5120},
            "SingleEmail": {"Max": 5000, "Remaining": 5000},
        }

    # --- helpers for tests -----------------------------------------------------------------

    def touch(
        self, obj: str, which: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> tuple[list[str], str]:
        """Change records in bulk in one transaction (one SystemModstamp)."""
        with self.lock:
            table = self.table(obj)
            if isinstance(which, int):
                live = table.live()
                rows = self.rng.sample(live, min(which, len(live)))
                rows.sort(key=lambda r: r[0])
            else:
                rows = [self.live_row(table, i) for i in which]
            stamp = self.next_stamp()
            plans = []
            for row in rows:
                if fields is not None:  # the caller's change: refused as the API would
                    plans.append(self.prepare(table, fields, row))
                    continue
                try:
                    plans.append(self.prepare(table, self._typical_change(table, row), row))
                except RecordError:  # a malformed seeded record: stamp it all the same
                    plans.append(Plan(table, row, {}))
            for plan in plans:
                self.apply(plan, stamp)
            return [r[0] for r in rows], stamp

    def _typical_change(self, table: Table, row: Row) -> dict[str, Any]:
        rng = self.rng
        name = table.type.name
        if name in ("Account", "Contact"):
            return {"Phone": f"+49 {rng.randint(30, 99)} {rng.randint(100000, 9999999)}"}
        if name == "Asset":
            current = row[table.type.index["Status"]]
            return {"Status": "Registered" if current == "Installed" else "Installed"}
        if name == "WorkOrder":
            return {"Priority": rng.choice(("Low", "Medium", "High", "Critical"))}
        if name == "Product2":
            return {"IsActive": not row[table.type.index["IsActive"]]}
        if name == "ProductConsumed":
            return {"QuantityConsumed": float(rng.randint(1, 5))}
        if name == "PricebookEntry":  # a price rise
            return {"UnitPrice": round(row[table.type.index["UnitPrice"]] * 1.03, 2)}
        return {}

    def record_write(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry["seq"] = len(self.ledger) + 1
            self.ledger.append(entry)


def _not_writable(field: Field) -> tuple[str, str, list[str]]:
    return (
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {field.name}. Please check the security settings of "
        "this field and verify that it is read/write for your profile or permission set.",
        [field.name],
    )


def record_value(record: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in record.items() if k.lower() == name.lower()), None)


def sort_key(getter: soql.Getter, desc: bool, nulls_last: bool, fold: bool) -> Callable:
    null_flag = 1 if nulls_last != desc else 0
    value_flag = 1 - null_flag
    null_key = (null_flag, 0)
    if fold:
        return lambda r: null_key if (v := getter(r)) is None else (value_flag, v.lower())
    return lambda r: null_key if (v := getter(r)) is None else (value_flag, v)


def _window(start: str, end: str) -> tuple[str, str]:
    try:
        lo = datetime.fromisoformat(start)
        hi = datetime.fromisoformat(end)
    except ValueError:
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times"
        ) from None
    lo = lo if lo.tzinfo else lo.replace(tzinfo=UTC)
    hi = hi if hi.tzinfo else hi.replace(tzinfo=UTC)
    if hi <= lo:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "end must be after start")
    # the org answers in whole minutes
    return (
        datetime_text(lo.replace(second=0, microsecond=0)),
        datetime_text(hi.replace(second=0, microsecond=0)),
    )
