"""Applying records to the store: one entity of a page, in a handful of statements.

Shared by ``engine`` (runs, redrives, retries) and ``work_orders`` (the work-order stream):
the run's counts (``StreamResult``), stored rows by (system, external id), quarantine and
its resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, Table, any_, bindparam, insert, literal, select, update
from sqlalchemy.dialects import postgresql

from mappings.errors import MappingError
from mappings.records import Entity, InboundMap, Mapped
from orchestrator.outbox.events import enqueue_certifications
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.streams import Stream

DANGLING = "(dangling reference)"  # in a quarantine reason: retried at the end of each run

TABLES: dict[Entity, type[models.Base]] = {
    "customer": models.Customer,
    "site": models.Site,
    "contact": models.Contact,
    "asset": models.Asset,
    "technician": models.Technician,  # a reference target only (technicians are ours)
    "certification": models.Certification,
}
QUARANTINE = models.table_of(models.QuarantinedRecord)
AFTER_WRITE: dict[Entity, Callable[[UnitOfWork, str, list[str], datetime], Any]] = {
    # a changed certification is pushed to the CRM: its outbox rows, in the same transaction
    "certification": enqueue_certifications,
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

    def refuse_dangling(
        self, entity: Entity, raw: Mapping[str, Any], mapped: Mapped[Any], name: str
    ) -> None:
        """Hold ``raw``: its reference ``name`` names no stored row (retried each run)."""
        ref = mapped.refs[name]
        self.refuse(
            entity,
            raw,
            mapped.external_id,
            self.mapping.remote_field(entity, name),
            f"no {ref.entity} with {ref.system} id {ref.external_id} {DANGLING}",
        )

    def refuse_invalid(
        self, entity: Entity, raw: Mapping[str, Any], mapped: Mapped[Any], exc: ValidationError
    ) -> None:
        """Hold ``raw``: the canonical model refused it (its first error)."""
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        self.refuse(entity, raw, mapped.external_id, where, first["msg"])


def targets_of(
    connection: Any, records: Iterable[Mapped[Any]]
) -> dict[Entity, dict[tuple[str, str], Any]]:
    """The stored rows the references of ``records`` name, by entity, in one query each."""
    wanted: dict[Entity, set[tuple[str, str]]] = {}
    for mapped in records:
        for ref in mapped.refs.values():
            wanted.setdefault(ref.entity, set()).add((ref.system, ref.external_id))
    return {
        name: rows_of(connection, models.table_of(TABLES[name]), keys)
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
    references, one executemany for the new rows and one per shape of update."""
    work, stream, now, counts = page.work, page.stream, page.now, page.counts
    connection = work.connection()
    table = models.table_of(TABLES[entity])
    custom_plans(connection)
    good = page.mapped(entity, raws)
    stored = rows_of(connection, table, {(m.system, m.external_id) for _, m in good})
    resolved: list[str] = []
    written: list[str] = []  # external ids of the rows this page changed
    live: list[tuple[Mapping[str, Any], Mapped[Any], Any]] = []
    for raw, mapped in good:
        row: Any = stored.get((mapped.system, mapped.external_id))
        stamp = None if row is None else row.remote_stamp
        if stamp is not None and mapped.stamp < stamp:
            counts.skipped += 1  # stale
            resolved.append(mapped.external_id)  # a held older version is obsolete
        elif stamp is not None and mapped.stamp == stamp and (mapped.deleted or row.deleted_at):
            counts.skipped += 1  # this very deletion again
            resolved.append(mapped.external_id)
        elif mapped.deleted:
            if row is not None:
                connection.execute(
                    update(table)
                    .where(table.c.id == row.id)
                    .values(
                        deleted_at=mapped.stamp,
                        remote_stamp=mapped.stamp,
                        **bump(table),
                    )
                )
                counts.written += 1
                written.append(mapped.external_id)
            else:
                counts.skipped += 1  # never stored: nothing to keep
            resolved.append(mapped.external_id)
        else:
            live.append((raw, mapped, row))
    targets = targets_of(connection, (mapped for _, mapped, _ in live))
    # A newer version may change nothing we keep (a field we do not map changed, a record
    # read again under a new stamp), and one stamped like the stored one may still differ
    # (a feed that stamps by the second changed it twice in one second): compare them all.
    current = _current(connection, table, [row.id for _, _, row in live if row is not None])
    inserts: list[dict[str, Any]] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    restamps: list[dict[str, Any]] = []
    for raw, mapped, row in live:
        ids: dict[str, int | None] = {}
        for name, ref in mapped.refs.items():
            target = targets[ref.entity].get((ref.system, ref.external_id))
            ids[name] = None if target is None else target.id
            if ids[name] is None:
                page.refuse_dangling(entity, raw, mapped, name)
                break
        else:
            try:
                values = mapped.canonical(ids).model_dump()
            except ValidationError as exc:
                page.refuse_invalid(entity, raw, mapped, exc)
                continue
            if row is None:
                inserts.append({**values, "remote_stamp": mapped.stamp, "deleted_at": None})
            else:
                owned = mapped.owned_fields | {"source_system", "external_id"}
                changes = {name: value for name, value in values.items() if name in owned}
                was = current.get(row.id)
                if (
                    was is not None
                    and row.deleted_at is None
                    and all(was[n] == v for n, v in changes.items())
                ):
                    counts.skipped += 1  # nothing we keep changed: no write, no new version
                    resolved.append(mapped.external_id)
                    if "remote_stamp" in table.c and mapped.stamp != row.remote_stamp:
                        restamps.append({"row_id_": row.id, "remote_stamp": mapped.stamp})
                    continue
                changes |= {"row_id_": row.id, "remote_stamp": mapped.stamp, "deleted_at": None}
                updates.setdefault(tuple(sorted(changes)), []).append(changes)
            counts.written += 1
            written.append(mapped.external_id)
            resolved.append(mapped.external_id)
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
        after(work, stream.system, written, now)
    resolve_many(work, stream, entity, resolved, now)


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
    c = table.c
    out: dict[tuple[str, str], Any] = {}
    for system, external_ids in by_system.items():
        external_ids.sort()
        for chunk in among(connection, c.external_id, external_ids):
            found = connection.execute(
                select(c.id, c.external_id, *_synced(table)).where(
                    (c.source_system == system) & chunk
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
    q, system, now = QUARANTINE.c, page.stream.system, page.now
    key = (q.system == system) & (q.entity == entity) & (q.external_id == external_id)
    connection = page.work.connection()
    held = connection.execute(select(q.id, q.remote_stamp, q.resolved_at).where(key)).first()
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
        .where(q.id == held.id)
        .values(**details, last_seen_at=now, attempts=q.attempts + 1, resolved_at=None)
    )


def resolve_many(
    work: UnitOfWork, stream: Stream, entity: Entity, external_ids: Sequence[str], now: datetime
) -> None:
    """Mark resolved the held records of ``external_ids`` (a later version applied)."""
    q = QUARANTINE.c
    connection = work.connection()
    for chunk in among(connection, q.external_id, sorted(set(external_ids))):
        connection.execute(
            update(QUARANTINE)
            .where(
                (q.system == stream.system) & (q.entity == entity) & chunk & q.resolved_at.is_(None)
            )
            .values(resolved_at=now)
        )
