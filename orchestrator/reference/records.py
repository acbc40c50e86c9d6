"""Reference data: customers, sites, assets, contacts, technicians, work types, divisions,
territories, parts.

One generic set of handlers driven by ``KINDS``: each kind names its canonical model
(``mappings.canonical``), its table, the foreign keys that must point at a row, and who
writes and reads it.

The office reads every kind. A technician reads what their day needs and no more: the
parts catalogue and the work types (checklist labels) whole; one site, asset, customer or
contact by id when an order assigned to them names it (any other does not exist for them:
404); their own technician record (their van's stock); the lists of those, never.

A kind a sync keeps (its table has ``remote_stamp`` and ``deleted_at``) shows both; a row
deleted at its source (a tombstone) is left out of lists unless asked for, still read by
id, and never changed (409). Contacts come only from a sync: read-only here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError

from mappings import canonical
from orchestrator.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    VersionMismatch,
    invalid,
)
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.store import models
from orchestrator.store.pagination import decode_cursor, encode_cursor
from orchestrator.store.uow import UnitOfWork

OFFICE_WRITERS = frozenset({Role.ADMIN, Role.DISPATCHER})
OFFICE_READERS = frozenset({Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.INTEGRATION})


@dataclass(frozen=True)
class Kind:
    name: str
    singular: str
    model: type[canonical.Model]
    table: type[models.Base]
    refs: Mapping[str, type[models.Base]] = field(default_factory=dict)
    read_only: bool = False
    """Written only by a sync: no POST or PATCH."""
    writers: frozenset[Role] = OFFICE_WRITERS
    """Who creates and changes one."""
    readers: frozenset[Role] = OFFICE_READERS
    """Who reads them all: the list, and each by id."""
    assigned_by: str | None = None
    """The work order's column that names one (``site_id``): a technician reads, by id, one
    that an order assigned to them names, and no other."""
    own: bool = False
    """A technician reads, by id, their own (the technicians kind), and no other."""

    @property
    def synced(self) -> bool:
        """Rows a sync keeps: their remote stamp and tombstone are shown."""
        return issubclass(self.table, models.Synced)

    @property
    def one_readers(self) -> frozenset[Role]:
        """Who may ask for one by id: those who read them all, and technicians where some
        are theirs to read (``check_reads`` then decides which)."""
        if Role.TECHNICIAN not in self.readers and (self.assigned_by or self.own):
            return self.readers | {Role.TECHNICIAN}
        return self.readers


class Site(canonical.Site):
    """A site as the API keeps it: the canonical site and the ``code`` the organisation
    publishes for it (unique, optional). The code is ours alone, no system of record's: a
    sync neither sets nor clears it."""

    code: canonical.Code | None = None


class Technician(canonical.Technician):
    """A technician as the API keeps it: the canonical technician, whose home location and
    time zone may be empty (one a sync made from a system of record, Workday, waiting for
    the office to fill them). Such a technician is not dispatchable (``dispatch_gaps``)."""

    home_latitude: canonical.Latitude | None = None  # type: ignore[assignment]
    home_longitude: canonical.Longitude | None = None  # type: ignore[assignment]
    time_zone: canonical.TimeZoneName | None = None  # type: ignore[assignment]


OFFICE_NEEDED = ("home_latitude", "home_longitude", "time_zone", "weekly_hours")
"""The office's fields a technician needs filled to be sent out (where they start, their
zone, their shift); skills, van stock and territory may rightly be empty."""
TECHNICIAN_STATE = ("active", "unavailable", "dispatchable", "missing")
"""Shown with a technician, never given: what the system of record says (``active``,
``unavailable``) and what follows for dispatch."""


def dispatch_gaps(row: Any) -> list[str]:
    """The office's fields the technician still lacks for dispatch (``OFFICE_NEEDED``)."""
    return [name for name in OFFICE_NEEDED if getattr(row, name) in (None, "", {}, [])]


def unavailable_on(periods: Any, day: date) -> dict[str, Any] | None:
    """The first of ``periods`` (``[{"from": ISO date, "to": ISO date | None, ...}]``)
    that covers ``day``; None when none does."""
    for period in periods or []:
        start = date.fromisoformat(period["from"])
        end = date.fromisoformat(period["to"]) if period.get("to") else None
        if start <= day and (end is None or day <= end):
            return dict(period)
    return None


def dispatchable_on(row: Any, day: date) -> bool:
    """Whether the technician may be sent out on ``day`` (their local date): active, not
    deleted at their source, nothing the office must fill missing, not unavailable then."""
    return (
        bool(row.active)
        and getattr(row, "deleted_at", None) is None
        and not dispatch_gaps(row)
        and unavailable_on(row.unavailable, day) is None
    )


def _today(row: Any) -> date:
    zone = ZoneInfo(row.time_zone) if row.time_zone else UTC
    return datetime.now(zone).date()


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("divisions", "division", canonical.Division, models.Division),
        Kind(
            "territories",
            "territory",
            canonical.Territory,
            models.Territory,
            {"division_id": models.Division},
        ),
        Kind(
            "customers",
            "customer",
            canonical.Customer,
            models.Customer,
            assigned_by="customer_id",
        ),
        Kind(
            "sites",
            "site",
            Site,
            models.Site,
            {"customer_id": models.Customer, "territory_id": models.Territory},
            assigned_by="site_id",
        ),
        Kind(
            "assets",
            "asset",
            canonical.Asset,
            models.Asset,
            {"site_id": models.Site},
            assigned_by="asset_id",
        ),
        Kind(
            "contacts",
            "contact",
            canonical.Contact,
            models.Contact,
            {"customer_id": models.Customer},
            read_only=True,
            assigned_by="contact_id",
        ),
        Kind(
            "technicians",
            "technician",
            Technician,
            models.Technician,
            {"territory_id": models.Territory},
            own=True,
        ),
        Kind(
            "work-types",
            "work type",
            canonical.WorkType,
            models.WorkType,
            readers=OFFICE_READERS | {Role.TECHNICIAN},
        ),
        Kind(
            "parts",
            "part",
            canonical.Part,
            models.Part,
            writers=frozenset({Role.ADMIN}),
            readers=OFFICE_READERS | {Role.TECHNICIAN},
        ),
    )
}

_CERT_FIELDS = tuple(canonical.Certification.model_fields)
_CERT_STATE = ("status", "deleted_at")  # kept by the HR sync, shown, never given


def _columns(kind: Kind, data: BaseModel) -> dict[str, Any]:
    values = data.model_dump(mode="json")
    # Dates stay dates for the Date columns; nested models go to JSON columns.
    values.pop("certifications", None)
    return values


def _certifications(data: BaseModel) -> list[models.Certification] | None:
    if not isinstance(data, canonical.Technician):
        return None
    return [models.Certification(**c.model_dump()) for c in data.certifications]


def to_public(kind: Kind, row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id}
    for name in kind.model.model_fields:
        if name == "certifications":
            out[name] = [
                {"id": c.id, **{f: getattr(c, f) for f in _CERT_FIELDS + _CERT_STATE}}
                for c in row.certifications
            ]
        else:
            out[name] = getattr(row, name)
    if kind.synced:
        out.update(remote_stamp=row.remote_stamp, deleted_at=row.deleted_at)
    if kind.model is Technician:
        out.update(
            active=row.active,
            unavailable=list(row.unavailable or []),
            dispatchable=dispatchable_on(row, _today(row)),
            missing=dispatch_gaps(row),
        )
    out.update(version=row.version, created_at=row.created_at, updated_at=row.updated_at)
    return out


SYNC_FIELDS = ("remote_stamp", "deleted_at")


def to_canonical(kind: Kind, row: Any) -> canonical.Model:
    data = to_public(kind, row)
    for extra in ("id", "version", "created_at", "updated_at", *SYNC_FIELDS, *TECHNICIAN_STATE):
        data.pop(extra, None)
    if "certifications" in data:
        for cert in data["certifications"]:
            for extra in ("id", *_CERT_STATE):
                cert.pop(extra)
    return kind.model.model_validate(data)


def technician_for_dispatch(row: models.Technician) -> canonical.Technician:
    """The technician as dispatch sees them: only the certifications that count (active, and
    not deleted at their source); whether one is valid on a day is the caller's question.
    One without a home or a time zone yet (a sync made it; the office has not filled it
    in), or no longer active, is refused (``InvalidInput`` on ``technician_id``, naming what
    is missing). Hours are not asked for: a technician without them works no day."""
    gaps = [name for name in dispatch_gaps(row) if name != "weekly_hours"]
    if gaps or not row.active or row.deleted_at is not None:
        why = f"missing {', '.join(gaps)}" if gaps else "not active"
        raise invalid("technician_id", f"technician {row.id} is not dispatchable: {why}")
    tech = canonical.Technician.model_validate(to_canonical(KINDS["technicians"], row).model_dump())
    held = [c for c, r in zip(tech.certifications, row.certifications, strict=True) if r.counts]
    return tech.model_copy(update={"certifications": held})


@functools.cache
def _ids_lookup(refs: tuple[tuple[str, type[models.Base]], ...]) -> Select[Any]:
    """One row: for each (field, table), the id if that table has it, else NULL."""
    columns = []
    for name, model in refs:
        table = models.table_of(model)
        found = select(table.c.id).where(table.c.id == bindparam(name)).scalar_subquery()
        columns.append(found.label(name))
    return select(*columns)


def check_refs(
    uow: UnitOfWork, values: Mapping[str, Any], tables: Mapping[str, type[models.Base]]
) -> None:
    """Every ``*_id`` in ``values`` that ``tables`` knows must name a row; 422 names each field.

    One statement for all of them."""
    given = {name: v for name, v in values.items() if name in tables and v is not None}
    if not given:
        return
    query = _ids_lookup(tuple((name, tables[name]) for name in given))
    found = uow.connection().execute(query, given).one()._mapping
    errors = [
        {"field": name, "reason": f"no {name.removesuffix('_id').replace('_', ' ')} with id {v}"}
        for name, v in given.items()
        if found[name] is None
    ]
    if errors:
        raise InvalidInput("a reference points at nothing", errors)


def site_by_code(uow: UnitOfWork, code: str) -> tuple[int, int | None] | None:
    """The live site that publishes ``code``: its id and customer's; None when no site
    does (or the one that did was deleted at its source)."""
    table = models.table_of(models.Site)
    query = select(table.c.id, table.c.customer_id).where(
        table.c.code == code, table.c.deleted_at.is_(None)
    )
    found = uow.connection().execute(query).one_or_none()
    return None if found is None else (found.id, found.customer_id)


def _commit_unique(uow: UnitOfWork, kind: Kind) -> None:
    try:
        uow.commit()
    except IntegrityError as exc:
        uow.rollback()
        text = str(exc.orig).lower()
        if "external_id" in text or "source_system" in text:
            raise Conflict(
                f"a {kind.singular} with this source_system and external_id already exists",
                fields=["source_system", "external_id"],
            ) from None
        if "code" in text:
            raise Conflict(
                f"a {kind.singular} with this code already exists", fields=["code"]
            ) from None
        raise Conflict(f"the {kind.singular} conflicts with a stored row") from None


def create(uow: UnitOfWork, kind: Kind, data: canonical.Model) -> dict[str, Any]:
    values = _columns(kind, data)
    check_refs(uow, values, kind.refs)
    row = kind.table(**values)
    certs = _certifications(data)
    if certs is not None:
        row.certifications = certs  # type: ignore[attr-defined]
    uow.session.add(row)
    _commit_unique(uow, kind)
    return to_public(kind, row)


def _load(uow: UnitOfWork, kind: Kind, ident: int) -> Any:
    row = uow.session.get(kind.table, ident)
    if row is None:
        raise NotFound(kind.singular, ident)
    return row


_ORDERS = models.table_of(models.WorkOrder)


@functools.cache
def _assigned(column: str) -> Select[Any]:
    """Whether an order assigned to ``technician`` names ``ident`` in ``column``: one row or
    none, found by the orders' technician index."""
    return (
        select(_ORDERS.c.id)
        .where(_ORDERS.c.technician_id == bindparam("technician"))
        .where(_ORDERS.c[column] == bindparam("ident"))
        .limit(1)
    )


def check_reads(uow: UnitOfWork, kind: Kind, ident: int, actor: Actor) -> None:
    """``NotFound`` unless ``actor`` may read the one ``ident`` names: anyone of
    ``kind.readers`` may; a technician, their own record, or one that an order assigned to
    them names (one indexed query). Whether the row exists is the caller's to find out."""
    if actor.role in kind.readers:
        return
    tech = actor.technician_id
    if actor.role is Role.TECHNICIAN and tech is not None:
        if kind.own and ident == tech:
            return
        if kind.assigned_by is not None:
            found = uow.connection().execute(
                _assigned(kind.assigned_by), {"technician": tech, "ident": ident}
            )
            if found.first() is not None:
                return
    raise NotFound(kind.singular, ident)


def get(uow: UnitOfWork, kind: Kind, ident: int, actor: Actor | None = None) -> dict[str, Any]:
    """One by id; for ``actor`` only if they may read it (``check_reads``)."""
    if actor is not None:
        check_reads(uow, kind, ident, actor)
    return to_public(kind, _load(uow, kind, ident))


def update(
    uow: UnitOfWork, kind: Kind, ident: int, changes: Mapping[str, Any], expected_version: int
) -> dict[str, Any]:
    """Apply a partial update made against ``expected_version`` (412 when the row has moved
    on since); the merged record is validated as a whole. A row deleted at its source (a
    tombstone) is not changed, whichever version is named: 409."""
    row = _load(uow, kind, ident)
    if getattr(row, "deleted_at", None) is not None:
        raise Conflict(
            f"{kind.singular} {ident} was deleted at its source "
            f"({row.source_system}) on {row.deleted_at.isoformat()}: it can no longer be changed",
            deleted_at=row.deleted_at.isoformat(),
        )
    if row.version != expected_version:
        raise VersionMismatch(row.version, kind.singular)
    merged = to_canonical(kind, row).model_dump(mode="json") | dict(changes)
    try:
        data = kind.model.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput.of("the updated record is not valid", exc) from None
    values = _columns(kind, data)
    check_refs(uow, values, kind.refs)
    for name, value in values.items():
        setattr(row, name, value)
    certs = _certifications(data)
    if certs is not None and "certifications" in changes:
        # Those a sync keeps (the HR system's) are its own: a PATCH replaces the others.
        synced = [c for c in row.certifications if c.remote_stamp is not None]
        row.certifications = synced + certs
    row.version += 1
    _commit_unique(uow, kind)
    return to_public(kind, row)


def list_page(
    uow: UnitOfWork,
    kind: Kind,
    *,
    cursor: str | None,
    limit: int,
    source_system: str | None = None,
    external_id: str | None = None,
    include_deleted: bool = False,
) -> dict[str, Any]:
    """A page by id; rows deleted at their source only with ``include_deleted``."""
    table: Any = kind.table
    query = select(table).where(table.id > decode_cursor(cursor)).order_by(table.id).limit(limit)
    if kind.synced and not include_deleted:
        query = query.where(table.deleted_at.is_(None))
    if source_system is not None and hasattr(table, "source_system"):
        query = query.where(table.source_system == source_system)
    if external_id is not None and hasattr(table, "external_id"):
        query = query.where(table.external_id == external_id)
    rows = list(uow.session.scalars(query))
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return {"items": [to_public(kind, r) for r in rows], "next_cursor": next_cursor}


_READINGS = models.table_of(models.Reading)
_READING_FIELDS = ("id", "measure", "value", "unit", "at", "work_order_id", "technician_id",
                   "recorded_at")  # fmt: skip
_ASSET_ID = select(models.Asset.id).where(models.Asset.id == bindparam("id"))


def readings_page(
    uow: UnitOfWork,
    asset_id: int,
    actor: Actor,
    *,
    measure: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """An asset's meter readings, newest first (by when taken, then by id), those of one
    ``measure`` if given; for whoever may read the asset (``check_reads``). The cursor is the
    last reading shown, which must be one of this asset's."""
    check_reads(uow, KINDS["assets"], asset_id, actor)
    if uow.connection().execute(_ASSET_ID, {"id": asset_id}).first() is None:
        raise NotFound("asset", asset_id)
    table = _READINGS.c
    query = select(*(table[name] for name in _READING_FIELDS)).where(table.asset_id == asset_id)
    if measure is not None:
        query = query.where(table.measure == measure)
    after = decode_cursor(cursor)
    if after:
        last_at = (
            uow.connection()
            .execute(select(table.at).where(table.id == after, table.asset_id == asset_id))
            .scalar()
        )
        if last_at is None:
            raise invalid("cursor", "not a cursor of this asset's readings")
        query = query.where(or_(table.at < last_at, and_(table.at == last_at, table.id < after)))
    query = query.order_by(table.at.desc(), table.id.desc()).limit(limit)
    rows = uow.connection().execute(query).all()
    return {
        "items": [dict(row._mapping) for row in rows],
        "next_cursor": encode_cursor(rows[-1].id) if len(rows) == limit else None,
    }
