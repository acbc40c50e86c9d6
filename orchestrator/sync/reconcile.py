"""Reconciliation: the full key sets of a stream compared on both sides.

SAP's queries carry no deletion flag, Salesforce forgets a deletion once its recycle bin is
emptied, and the HR feed simply stops listing a certification, so the incremental sync alone
cannot see every removal. ``reconcile`` reads every id the system of record holds now (the
stream's ``keys``: SOQL ``SELECT Id``, through Bulk API 2.0 above the threshold; the whole
feed for HR), compares them with the live rows the store holds from that system, tombstones
the rows whose record is gone (``deleted_at``: the row and its history stay, references to it
keep working; what a sync's write owes, a tombstone owes too, stamped now: a certification's
end-dated push to the CRM, a Workday technician's assigned orders flagged), and reports what
the system has that the store lacks and does not hold in quarantine (``fieldbridge sync run
--full`` brings those in). The report is kept per stream (``sync_reconciliations``,
``GET /api/v1/sync/reconciliation``).

Work orders are not reconciled: their lifecycle is ours, and a deletion there is only logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.apply import AFTER_WRITE, QUARANTINE, TABLES, among, bump
from orchestrator.sync.streams import Stream

SAMPLE = 100  # external ids kept in a report, of each kind
RECONCILED = ("customer", "site", "contact", "asset", "technician", "certification")
REPORTS = models.table_of(models.SyncReconciliation)


@dataclass
class Report:
    """One stream reconciled: counts, and a sample of the ids behind them."""

    system: str
    stream: str
    ran_at: datetime
    remote: int = 0
    local: int = 0
    tombstoned: int = 0
    missing_here: int = 0
    api_calls: int = 0
    tombstoned_ids: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)


def reconcile(
    new_uow: Callable[[], UnitOfWork],
    source: Any,
    stream: Stream,
    *,
    batch_size: int = 2000,
    bulk_threshold: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    on_page: Callable[[int], None] | None = None,
) -> Report:
    """Reconcile ``stream`` (see the module); ``on_page`` is told how many ids were read."""
    entities = [e for e in stream.entities if e in RECONCILED]
    report = Report(stream.system, stream.name, clock())
    if not entities:
        return report
    calls = source.api_calls
    remote: set[str] = set()
    for page in stream.keys(source, batch_size=batch_size, bulk_threshold=bulk_threshold):
        remote.update(page)
        if on_page is not None:
            on_page(len(remote))
    report.remote, report.api_calls = len(remote), source.api_calls - calls
    now = clock()
    with new_uow() as work:
        connection = work.connection()
        gone: set[str] = set()
        known: set[str] = set()
        for entity in entities:
            table = models.table_of(TABLES[entity])
            column = table.c
            rows = connection.execute(
                select(column.external_id, column.deleted_at).where(
                    column.source_system == stream.system
                )
            ).all()
            live = {r.external_id for r in rows if r.deleted_at is None}
            known |= {r.external_id for r in rows}
            report.local = max(report.local, len(live))
            missing = sorted(live - remote)
            gone.update(missing)
            after = AFTER_WRITE.get(entity)
            # a tombstone that owes something (a certification's push) is a version of its
            # own: stamped now, so that what it owes is keyed apart from the last version's
            stamped = {"remote_stamp": now} if after is not None else {}
            for chunk in among(connection, column.external_id, missing):
                connection.execute(
                    update(table)
                    .where(
                        (column.source_system == stream.system)
                        & chunk
                        & column.deleted_at.is_(None)
                    )
                    .values(deleted_at=now, **stamped, **bump(table))
                )
            if after is not None and missing:
                after(work, stream.system, missing, now)
        quarantine = QUARANTINE.c
        held = {
            r.external_id
            for r in connection.execute(
                select(quarantine.external_id).where(
                    (quarantine.system == stream.system)
                    & quarantine.entity.in_(entities)
                    & quarantine.resolved_at.is_(None)
                )
            )
        }
        absent = sorted(remote - known - held)
        report.tombstoned, report.tombstoned_ids = len(gone), sorted(gone)[:SAMPLE]
        report.missing_here, report.missing_ids = len(absent), absent[:SAMPLE]
        _store(connection, report)
        work.commit()
    return report


def _store(connection: Any, report: Report) -> None:
    values = {
        "ran_at": report.ran_at,
        "remote": report.remote,
        "local": report.local,
        "tombstoned": report.tombstoned,
        "missing_here": report.missing_here,
        "api_calls": report.api_calls,
        "tombstoned_ids": report.tombstoned_ids,
        "missing_ids": report.missing_ids,
    }
    stored = REPORTS.c
    key = (stored.system == report.system) & (stored.entity == report.stream)
    if connection.execute(select(stored.id).where(key)).first() is None:
        connection.execute(
            insert(REPORTS).values(system=report.system, entity=report.stream, **values)
        )
    else:
        connection.execute(update(REPORTS).where(key).values(**values))


def reports(uow: UnitOfWork) -> list[dict[str, Any]]:
    """The latest report of every stream reconciled, by system and stream."""
    report = REPORTS.c
    rows = uow.connection().execute(select(REPORTS).order_by(report.system, report.entity))
    return [{k: v for k, v in row._mapping.items() if k != "id"} for row in rows]
