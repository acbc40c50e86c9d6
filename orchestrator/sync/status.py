"""The inbound sync as people see it (the API, the CLI, ``/metrics``): where each stream
stands, what waits in quarantine, and the latest reconciliation of each stream.

Reads only, Core statements: running a sync is ``orchestrator.sync.systems.run_system``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from mappings.hr import SYSTEM as HR
from mappings.salesforce import SYSTEM as SALESFORCE
from mappings.sap import SYSTEM as SAP
from mappings.workday import SYSTEM as WORKDAY
from orchestrator.store import models
from orchestrator.store.pagination import decode_cursor, encode_cursor
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.reconcile import reports
from orchestrator.sync.streams import (
    HR_STREAM_NAMES,
    SAP_STREAM_NAMES,
    STREAM_NAMES,
    WORKDAY_STREAM_NAMES,
)

CURSORS = models.table_of(models.SyncCursor)
QUARANTINE = models.table_of(models.QuarantinedRecord)

KNOWN_STREAMS: tuple[tuple[str, str], ...] = (
    tuple((SALESFORCE, name) for name in STREAM_NAMES)
    + tuple((SAP, name) for name in SAP_STREAM_NAMES)
    + tuple((HR, name) for name in HR_STREAM_NAMES)
    + tuple((WORKDAY, name) for name in WORKDAY_STREAM_NAMES)
)
"""Every (system, stream) a sync can run, in run order: shown even before its first run."""

_STATUS = select(CURSORS)
_QUARANTINE_FIELDS = (
    "id",
    "system",
    "entity",
    "external_id",
    "field",
    "reason",
    "attempts",
    "first_seen_at",
    "last_seen_at",
    "remote_stamp",
    "payload",
)


def held_in_quarantine(connection: Connection) -> dict[tuple[str, str], int]:
    """Open quarantined records by (system, entity)."""
    quarantine = QUARANTINE.c
    found = connection.execute(
        select(quarantine.system, quarantine.entity, func.count())
        .where(quarantine.resolved_at.is_(None))
        .group_by(quarantine.system, quarantine.entity)
    )
    return {(system, entity): n for system, entity, n in found}


def _never_run(system: str, entity: str) -> dict[str, Any]:
    return {
        "system": system,
        "entity": entity,
        "cursor": None,
        "cursor_id": None,
        "last_run_at": None,
        "read": 0,
        "written": 0,
        "quarantined": 0,
        "api_calls": 0,
    }


def status(uow: UnitOfWork) -> list[dict[str, Any]]:
    """One entry per stream: its cursor (stamp and id), when it last ran and that run's counts;
    the known streams first in run order (with nulls and zeros if never run), then any other
    stream the store has a cursor for."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in uow.connection().execute(_STATUS):
        found[row.system, row.entity] = {
            "system": row.system,
            "entity": row.entity,
            "cursor": row.cursor_stamp,
            "cursor_id": row.cursor_id,
            "last_run_at": row.last_run_at,
            "read": row.read,
            "written": row.written,
            "quarantined": row.quarantined,
            "api_calls": row.api_calls,
        }
    out = [found.pop(key) if key in found else _never_run(*key) for key in KNOWN_STREAMS]
    return out + [found[key] for key in sorted(found)]


def quarantine_page(
    uow: UnitOfWork,
    *,
    cursor: str | None,
    limit: int,
    system: str | None = None,
    entity: str | None = None,
) -> dict[str, Any]:
    """Open quarantined records (not yet resolved by a later version), oldest first, by id."""
    quarantine = QUARANTINE.c
    query = (
        select(*(quarantine[name] for name in _QUARANTINE_FIELDS))
        .where(quarantine.resolved_at.is_(None) & (quarantine.id > decode_cursor(cursor)))
        .order_by(quarantine.id)
        .limit(limit)
    )
    if system is not None:
        query = query.where(quarantine.system == system)
    if entity is not None:
        query = query.where(quarantine.entity == entity)
    items = [dict(r._mapping) for r in uow.connection().execute(query)]
    next_cursor = encode_cursor(items[-1]["id"]) if len(items) == limit else None
    return {"items": items, "next_cursor": next_cursor}


def reconciliations(uow: UnitOfWork) -> list[dict[str, Any]]:
    """The latest reconciliation report of every stream reconciled, by system and stream."""
    return reports(uow)
