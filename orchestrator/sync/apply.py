"""Applying records to the store: one entity of a page, in a handful of statements.

``apply_rows`` reads in bulk what the store holds for a page's reference records, has
``classify`` decide what to do with each, and writes the decisions in bulk. Shared by
``engine`` (runs, redrives, retries) and ``work_orders`` (the work-order stream): the run's
counts (``StreamResult``), stored rows by (system, external id), quarantine and its
resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, insert, literal, select, update
from sqlalchemy.dialects import postgresql

from mappings.errors import MappingError
from mappings.records import Entity, InboundMap, Mapped
from orchestrator.outbox.events import enqueue_certifications
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.classify import Action, Decision, Held, Key, classify, comparable, key_of
from orchestrator.sync.streams import Stream
from orchestrator.sync.technicians import flag_orders

TABLES: dict[Entity, type[models.Base]] = {
    "customer": models.Customer,
    "site": models.Site,
    "contact": models.Contact,
    "asset": models.Asset,
    "technician": models.Technician,  # Workday's technicians stream; else a reference target
    "certification": models.Certification,
}
QUARANTINE = models.table_of(models.QuarantinedRecord)
AFTER_WRITE: dict[Entity, Callable[[UnitOfWork, str, list[str], datetime], Any]] = {
    # a changed certification is pushed to the CRM: its outbox rows, in the same transaction
    "certification": enqueue_certifications,
    # a technician no longer to be sent out flags their assigned orders, in the same one
    "technician": flag_orders,
}


@dataclass
class StreamResult:
    """One run of one stream, as it stands (also after each page, for progress)."""

    system: str
    stream: str
    started_at: datetime
    full: bool
    read: int = 0
    written: int = 0
    skipped: int = 0
    quarantined: int = 0
    api_calls: int = 0
    pages: int = 0
    to_read: int | None = None  # counted before reading (when a bulk threshold is given)
    bulk: bool = False  # read through the bulk query
    keys_written: int = 0  # work orders: our key put into the remote record after intake
    keys_refused: int = 0
    cursor_stamp: datetime | None = None
    cursor_id: str | None = None
    since: datetime | None = None
    quarantine_reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class PageCounts:
    written: int = 0
    skipped: int = 0
    quarantined: int = 0


@dataclass
class Page:
    """What applying one batch of records needs: its transaction, stream, mapping and time,
    where its counts go, and ``again`` for a retry of held records (counted even when the
    same version is held again)."""

    work: UnitOfWork
    stream: Stream
    mapping: InboundMap
    now: datetime
    counts: PageCounts
    result: StreamResult
    again: bool = False
    new_orders: list[str] = field(default_factory=list)  # remote ids of orders taken in

    def refuse(
        self,
        entity: Entity,
        raw: Mapping[str, Any],
        external_id: str,
        remote_field: str | None,
        why: str,
    ) -> None:
        """Hold ``raw`` in quarantine as ``entity``, with the remote field and the reason."""
        stamp = self.stream.stamp(raw)
        hold(self, entity, external_id, raw, remote_field, why, stamp)
        self.counts.quarantined += 1
        self.result.quarantine_reasons[f"{entity} {external_id}"] = f"{remote_field}: {why}"

    def mapped(
        self, entity: Entity, raws: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Mapping[str, Any], Mapped[Any]]]:
        """Each record of ``raws`` mapped as ``entity``; those that cannot be are held."""
        good: list[tuple[Mapping[str, Any], Mapped[Any]]] = []
        for raw in raws:
            try:
                good.append((raw, self.mapping.to_canonical(entity, raw)))
            except MappingError as exc:
                external_id = self.stream.key(raw)
                self.refuse(entity, raw, external_id, exc.field, exc.reason)
        return good


def targets_of(connection: Any, records: Iterable[Mapped[Any]]) -> dict[Entity, dict[Key, int]]:
    """The store ids of the rows the references of ``records`` name, by entity and key, in
    one query each."""
    wanted: dict[Entity, set[Key]] = {}
    for mapped in records:
        for ref in mapped.refs.values():
            wanted.setdefault(ref.entity, set()).add((ref.system, ref.external_id))
    return {
        name: {
            key: row.id
            for key, row in rows_of(connection, models.table_of(TABLES[name]), keys).items()
        }
        for name, keys in wanted.items()
    }


# -- a page, one entity --------------------------------------------------------------------


CHUNK = 500  # values in one ``IN (...)``: well under every backend's limit on parameters


def rounds(raws: Sequence[Mapping[str, Any]], stream: Stream) -> Iterator[list[Mapping[str, Any]]]:
    """``raws`` in rounds, in order, each holding an Id at most once: a record whose Id
    comes again waits for a later round (so each round sees what the one before wrote)."""
    pending = list(raws)
    while pending:
        seen: set[str] = set()
        this_round: list[Mapping[str, Any]] = []
        later: list[Mapping[str, Any]] = []
        for raw in pending:
            key = stream.key(raw)
            (later if key and key in seen else this_round).append(raw)
            seen.add(key)
        yield this_round
        pending = later


def apply_rows(page: Page, entity: Entity, raws: Sequence[Mapping[str, Any]]) -> None:
    """Map, resolve and upsert ``raws`` (each Id at most once) as ``entity``: as if one by
    one, but with one query for the stored rows, one per referenced entity for the
    references, one for the stored values of the records compared, one update per deletion,
    one executemany for the new rows, one for the new stamps and one per shape of update."""
    connection = page.work.connection()
    table = models.table_of(TABLES[entity])
    custom_plans(connection)
    good = page.mapped(entity, raws)
    records = [mapped for _, mapped in good]
    stored = rows_of(connection, table, {key_of(mapped) for mapped in records})
    held = {
        key: Held(row.id, row.remote_stamp, row.deleted_at is not None)
        for key, row in stored.items()
    }
    live = comparable(records, held)
    targets = targets_of(connection, live)
    # A newer version may change nothing we keep (a field we do not map changed, a record
    # read again under a new stamp), and one stamped like the stored one may still differ
    # (a feed that stamps by the second changed it twice in one second): compare them all.
    keys = [key for key in map(key_of, live) if key in held]
    current = _current(connection, table, [held[key].id for key in keys])
    held |= {key: replace(held[key], content=current.get(held[key].id)) for key in keys}
    decisions = classify(records, held, targets, partial(page.mapping.remote_field, entity))
    _write_rows(page, entity, table, good, decisions)


def _write_rows(
    page: Page,
    entity: Entity,
    table: Table,
    good: Sequence[tuple[Mapping[str, Any], Mapped[Any]]],
    decisions: Sequence[Decision],
) -> None:
    """Carry out ``decisions`` (one for each record of ``good``) on ``table``: each
    tombstone, each hold, then the new rows, the new stamps and the updates in bulk."""
    connection = page.work.connection()
    written: list[str] = []  # external ids of the rows this page changed
    for decision in decisions:
        if decision.action is Action.TOMBSTONE:
            connection.execute(
                update(table)
                .where(table.c.id == decision.row_id)
                .values(
                    deleted_at=decision.mapped.stamp,
                    remote_stamp=decision.mapped.stamp,
                    **bump(table),
                )
            )
            written.append(decision.mapped.external_id)
    inserts: list[dict[str, Any]] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    restamps: list[dict[str, Any]] = []
    for (raw, mapped), decision in zip(good, decisions, strict=True):
        if decision.action is Action.QUARANTINE:
            page.refuse(entity, raw, mapped.external_id, decision.remote_field, decision.reason)
        elif decision.action is Action.INSERT:
            values = decision.model.model_dump()
            inserts.append({**values, "remote_stamp": mapped.stamp, "deleted_at": None})
        elif decision.action is Action.UPDATE:
            changes = {**decision.changes, "row_id_": decision.row_id}
            changes |= {"remote_stamp": mapped.stamp, "deleted_at": None}
            updates.setdefault(tuple(sorted(changes)), []).append(changes)
        elif decision.restamp and "remote_stamp" in table.c:
            restamps.append({"row_id_": decision.row_id, "remote_stamp": mapped.stamp})
        if decision.action in (Action.INSERT, Action.UPDATE):
            written.append(mapped.external_id)
    if inserts:
        connection.execute(insert(table), inserts)
    if restamps:  # the stamp moves on (an older version read later stays stale)
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("row_id_"))
            .values(remote_stamp=bindparam("remote_stamp"), **_unchanged(table)),
            restamps,
        )
    for shape, batch in updates.items():
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("row_id_"))
            .values({name: bindparam(name) for name in shape if name != "row_id_"} | bump(table)),
            batch,
        )
    after = AFTER_WRITE.get(entity)
    if after is not None and written:
        after(page.work, page.stream.system, written, page.now)
    settle(page, entity, decisions)


def settle(page: Page, entity: Entity, decisions: Sequence[Decision]) -> None:
    """Count ``decisions`` (a hold was counted when made) and mark resolved the held records
    of those applied."""
    for decision in decisions:
        if decision.written:
            page.counts.written += 1
        elif decision.resolves:
            page.counts.skipped += 1
    resolved = [decision.mapped.external_id for decision in decisions if decision.resolves]
    resolve_many(page.work, page.stream, entity, resolved, page.now)


def _current(connection: Any, table: Table, ids: Sequence[int]) -> dict[int, Any]:
    """The stored rows of ``ids``, whole, by id (to compare a version read again with)."""
    out: dict[int, Any] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in connection.execute(select(table).where(table.c.id.in_(chunk))):
            out[row.id] = row._mapping
    return out


def _unchanged(table: Table) -> dict[str, Any]:
    """``updated_at`` as it is (a new stamp alone is no change to the row)."""
    return {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}


def bump(table: Table) -> dict[str, Any]:
    """A changed row's version, bumped (a table without versions has nothing to bump)."""
    return {"version": table.c.version + 1} if "version" in table.c else {}


def custom_plans(connection: Any) -> None:
    """On PostgreSQL, plan each statement of this transaction afresh: a prepared ``IN (...)``
    keeps the plan made while the table was small (a scan of it, every page of a first load:
    minutes at 100,000 rows)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def rows_of(
    connection: Any, table: Table, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored rows of ``keys`` ((system, external id)): id, remote_stamp, deleted_at."""
    by_system: dict[str, list[str]] = {}
    for system, external_id in keys:
        by_system.setdefault(system, []).append(external_id)
    columns = table.c
    out: dict[tuple[str, str], Any] = {}
    for system, external_ids in by_system.items():
        external_ids.sort()
        for chunk in among(connection, columns.external_id, external_ids):
            found = connection.execute(
                select(columns.id, columns.external_id, *_synced(table)).where(
                    (columns.source_system == system) & chunk
                )
            )
            for row in found:
                out[system, row.external_id] = row
    return out


def _synced(table: Table) -> tuple[Any, Any]:
    """The remote stamp and tombstone of ``table``'s rows (None for a table the sync only
    points at, such as technicians)."""
    if "remote_stamp" in table.c:
        return table.c.remote_stamp, table.c.deleted_at
    return literal(None).label("remote_stamp"), literal(None).label("deleted_at")


def among(connection: Any, column: Any, values: Sequence[str]) -> Iterator[Any]:
    """Conditions that together select ``column`` in ``values``: on PostgreSQL one
    ``= ANY(array)`` (one parameter: the server parses and plans one statement shape), else
    ``IN (...)`` lists of at most ``CHUNK`` values (under every backend's parameter limit)."""
    if not values:
        return
    if connection.dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
        return
    for start in range(0, len(values), CHUNK):
        yield column.in_(values[start : start + CHUNK])


def hold(
    page: Page,
    entity: Entity,
    external_id: str,
    raw: Mapping[str, Any],
    remote_field: str | None,
    reason: str,
    stamp: datetime | None,
) -> None:
    """Hold the record (``again``: a retry of a held one, counted even for the same version)."""
    columns, system, now = QUARANTINE.c, page.stream.system, page.now
    key = (
        (columns.system == system)
        & (columns.entity == entity)
        & (columns.external_id == external_id)
    )
    connection = page.work.connection()
    held = connection.execute(
        select(columns.id, columns.remote_stamp, columns.resolved_at).where(key)
    ).first()
    details = {"payload": dict(raw), "field": remote_field, "reason": reason, "remote_stamp": stamp}
    if held is None:
        connection.execute(
            insert(QUARANTINE).values(
                system=system,
                entity=entity,
                external_id=external_id,
                first_seen_at=now,
                last_seen_at=now,
                attempts=1,
                **details,
            )
        )
        return
    if (
        not page.again
        and held.resolved_at is None
        and stamp is not None
        and held.remote_stamp == stamp
    ):
        return  # this very version again: already held
    connection.execute(
        update(QUARANTINE)
        .where(columns.id == held.id)
        .values(**details, last_seen_at=now, attempts=columns.attempts + 1, resolved_at=None)
    )


def resolve_many(
    work: UnitOfWork, stream: Stream, entity: Entity, external_ids: Sequence[str], now: datetime
) -> None:
    """Mark resolved the held records of ``external_ids`` (a later version applied)."""
    columns = QUARANTINE.c
    connection = work.connection()
    for chunk in among(connection, columns.external_id, sorted(set(external_ids))):
        connection.execute(
            update(QUARANTINE)
            .where(
                (columns.system == stream.system)
                & (columns.entity == entity)
                & chunk
                & columns.resolved_at.is_(None)
            )
            .values(resolved_at=now)
        )
