"""Running one inbound stream: cursor in, pages of records applied, cursor out.

A run reads the stream's cursor (the SystemModstamp and Id of the last record committed),
asks the source for every record (deleted ones too: ``queryAll``) changed since the cursor
minus a look-back window (``lookback_s``, default 300 s: records committed at the remote
just before the cursor with an earlier stamp are read again), in (SystemModstamp, Id)
order; with no look-back it asks for ``SystemModstamp > stamp OR (SystemModstamp = stamp AND
Id > id)``. ``full`` ignores the cursor.

Each page is one transaction: every record is mapped (``to_canonical``) to each entity of
the stream, its references resolved to store ids by (system, external id), and it is
upserted by (source_system, external_id), only the fields the mapping owns overwritten (a
page at a time, entity by entity: its stored rows read in one query, its references in one
per referenced entity, new rows inserted in one executemany, updates in one per shape). A
version whose stamp is not newer than the stored ``remote_stamp`` changes nothing (a stale
update, or the same version read again): no write, no version bump. A deletion sets
``deleted_at`` and keeps the row. A record that cannot be mapped or validated, or whose
reference names no stored row, goes to ``quarantine`` with its raw payload, the remote field
and the reason (and is marked resolved when a later version applies); it never stops the
page. At the end of a run, held records that only lacked a referenced row are applied again
from their payload (the row may have come in since). The page's writes, the cursor's
advance and the run's counts commit together, so a run stopped anywhere resumes from the
last committed page and loses nothing. The cursor never moves past the run's start time.

Only the mapping's errors and the canonical model's are quarantined: a database error ends
the run (its page rolled back), to be resumed by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, insert, select, update

from mappings.errors import MappingError
from mappings.records import Entity, Mapped
from mappings.salesforce import SalesforceMapping, to_canonical
from orchestrator import models
from orchestrator.db import utcnow
from orchestrator.sync.streams import Stream
from orchestrator.uow import UnitOfWork

DEFAULT_LOOKBACK_S = 300.0
DANGLING = "(dangling reference)"  # in a quarantine reason: retried at the end of each run

TABLES: dict[Entity, type[models.Base]] = {
    "customer": models.Customer,
    "site": models.Site,
    "contact": models.Contact,
    "asset": models.Asset,
}
CURSORS = models.table_of(models.SyncCursor)
QUARANTINE = models.table_of(models.QuarantinedRecord)


class Source(Protocol):
    """What the engine needs of a connector (``SalesforceConnector`` is one): pages of raw
    records, and how many requests it has sent so far."""

    @property
    def api_calls(self) -> int: ...

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]: ...


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
    cursor_stamp: datetime | None = None
    cursor_id: str | None = None
    since: datetime | None = None
    quarantine_reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class _PageCounts:
    written: int = 0
    skipped: int = 0
    quarantined: int = 0


def run_stream(
    uow: Callable[[], UnitOfWork],
    source: Source,
    stream: Stream,
    mapping: SalesforceMapping,
    *,
    full: bool = False,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    batch_size: int = 2000,
    clock: Callable[[], datetime] = utcnow,
    on_page: Callable[[StreamResult], None] | None = None,
) -> StreamResult:
    """Run ``stream`` once from its cursor (``full``: from the start); see the module."""
    if lookback_s < 0:
        raise ValueError("lookback_s must be >= 0")
    started = clock()
    with uow() as work:
        stamp, last_id = _start(work, stream, started)
        work.commit()
    result = StreamResult(stream.system, stream.name, started, full, cursor_stamp=stamp)
    result.cursor_id = last_id
    where = None
    if not full and stamp is not None:
        where, result.since = _since(stream, stamp, last_id, lookback_s)
    calls = source.api_calls
    for page in source.query_pages(stream.soql(where), include_deleted=True, batch_size=batch_size):
        with uow() as work:
            now = clock()
            counts = _PageCounts()
            for entity in stream.entities:
                _apply_many(work, stream, mapping, entity, page, now, counts, result)
            for raw in page:
                seen = _stamp_of(raw.get(stream.stamp_field))
                if seen is None:
                    continue
                if seen > started:
                    result.cursor_stamp, result.cursor_id = started, None
                elif result.cursor_stamp is None or (seen, str(raw.get(stream.id_field))) > (
                    result.cursor_stamp,
                    result.cursor_id or "",
                ):
                    result.cursor_stamp, result.cursor_id = seen, str(raw.get(stream.id_field))
            spent, calls = source.api_calls - calls, source.api_calls
            _advance(work, stream, result, len(page), counts, spent)
            work.commit()
        result.pages += 1
        result.read += len(page)
        result.written += counts.written
        result.skipped += counts.skipped
        result.quarantined += counts.quarantined
        result.api_calls += spent
        if on_page is not None:
            on_page(result)
    spent = source.api_calls - calls
    with uow() as work:
        counts = _PageCounts(written=_redrive(work, stream, mapping, clock(), result))
        if spent or counts.written:
            _advance(work, stream, result, 0, counts, spent)
            work.commit()
    result.written += counts.written
    result.api_calls += spent
    return result


def _redrive(
    work: UnitOfWork,
    stream: Stream,
    mapping: SalesforceMapping,
    now: datetime,
    result: StreamResult,
) -> int:
    """Apply again the held records of the stream that only lacked a referenced row (which
    may have come in since: an account whose site now maps brings in its assets)."""
    q = QUARANTINE.c
    held = work.connection().execute(
        select(q.entity, q.payload)
        .where(
            (q.system == stream.system)
            & q.entity.in_(stream.entities)
            & q.resolved_at.is_(None)
            & q.reason.like(f"%{DANGLING}%")
        )
        .order_by(q.id)
    )
    counts = _PageCounts()
    by_entity: dict[str, list[Mapping[str, Any]]] = {}
    for entity, payload in held:
        by_entity.setdefault(entity, []).append(payload)
    for entity in stream.entities:
        if entity in by_entity:
            _apply_many(work, stream, mapping, entity, by_entity[entity], now, counts, result)
    return counts.written  # (those still held were counted when read)


@dataclass
class RetryResult:
    """One entity's held records applied again: how many, how many left quarantine."""

    system: str
    stream: str
    entity: str
    tried: int = 0
    resolved: int = 0
    held: int = 0
    reasons: dict[str, str] = field(default_factory=dict)


def retry_quarantine(
    uow: Callable[[], UnitOfWork],
    streams: Mapping[str, Stream],
    mapping: SalesforceMapping,
    *,
    entities: Sequence[str] | None = None,
    batch_size: int = 2000,
    clock: Callable[[], datetime] = utcnow,
) -> list[RetryResult]:
    """Apply again every open quarantined record of ``streams`` (of ``entities`` only, if
    given) from its saved payload with ``mapping`` (after a mapping fix, say), stream by
    stream in run order, ``batch_size`` records per transaction. A record that now applies
    is written as a sync would write it (a version no newer than the stored one is only
    marked resolved) and leaves quarantine; one that still does not stays, its reason
    renewed and its ``attempts`` counted. Cursors are not touched."""
    q = QUARANTINE.c
    out: list[RetryResult] = []
    for stream in streams.values():
        for entity in stream.entities:
            if entities is not None and entity not in entities:
                continue
            one = RetryResult(stream.system, stream.name, entity)
            after = 0
            while True:
                with uow() as work:
                    batch = list(
                        work.connection().execute(
                            select(q.id, q.payload)
                            .where(
                                (q.system == stream.system)
                                & (q.entity == entity)
                                & q.resolved_at.is_(None)
                                & (q.id > after)
                            )
                            .order_by(q.id)
                            .limit(batch_size)
                        )
                    )
                    if not batch:
                        break
                    after = batch[-1].id
                    counts = _PageCounts()
                    result = StreamResult(stream.system, stream.name, clock(), False)
                    payloads = [row.payload for row in batch]
                    _apply_many(
                        work, stream, mapping, entity, payloads, clock(), counts, result, True
                    )
                    work.commit()
                one.tried += len(batch)
                one.held += counts.quarantined
                one.resolved += len(batch) - counts.quarantined
                one.reasons.update(result.quarantine_reasons)
            if one.tried:
                out.append(one)
    return out


def cursors(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every stream's cursor and latest counts, by system and stream."""
    rows = uow.connection().execute(select(CURSORS).order_by(CURSORS.c.system, CURSORS.c.entity))
    return [dict(r._mapping) for r in rows]


# -- the cursor ----------------------------------------------------------------------------


def _start(
    work: UnitOfWork, stream: Stream, started: datetime
) -> tuple[datetime | None, str | None]:
    """The stream's cursor; its row made if new, the run's counts reset."""
    key = (CURSORS.c.system == stream.system) & (CURSORS.c.entity == stream.name)
    connection = work.connection()
    row = connection.execute(select(CURSORS.c.cursor_stamp, CURSORS.c.cursor_id).where(key)).first()
    counts = {"read": 0, "written": 0, "quarantined": 0, "api_calls": 0}
    if row is None:
        connection.execute(
            insert(CURSORS).values(
                system=stream.system, entity=stream.name, last_run_at=started, **counts
            )
        )
        return None, None
    connection.execute(update(CURSORS).where(key).values(last_run_at=started, **counts))
    return row.cursor_stamp, row.cursor_id


def _advance(
    work: UnitOfWork,
    stream: Stream,
    result: StreamResult,
    read: int,
    counts: _PageCounts,
    api_calls: int,
) -> None:
    c = CURSORS.c
    work.connection().execute(
        update(CURSORS)
        .where((c.system == stream.system) & (c.entity == stream.name))
        .values(
            cursor_stamp=result.cursor_stamp,
            cursor_id=result.cursor_id,
            read=c.read + read,
            written=c.written + counts.written,
            quarantined=c.quarantined + counts.quarantined,
            api_calls=c.api_calls + api_calls,
        )
    )


def _since(
    stream: Stream, stamp: datetime, last_id: str | None, lookback_s: float
) -> tuple[str, datetime]:
    """The condition that reads from the cursor (less the look-back), and where it starts."""
    s = stream.stamp_field
    if lookback_s == 0 and last_id is not None and stamp.microsecond == 0:
        at = _soql_datetime(stamp)
        quoted = last_id.replace("\\", "\\\\").replace("'", "\\'")
        return f"{s} > {at} OR ({s} = {at} AND {stream.id_field} > '{quoted}')", stamp
    since = (stamp - timedelta(seconds=lookback_s)).replace(microsecond=0)
    return f"{s} >= {_soql_datetime(since)}", since


def _soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp_of(value: Any) -> datetime | None:
    """A SystemModstamp as Salesforce writes it (``2026-01-31T08:00:00.000+0000``)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


# -- a page, one entity --------------------------------------------------------------------


CHUNK = 500  # values in one ``IN (...)``: well under every backend's limit on parameters


def _apply_many(
    work: UnitOfWork,
    stream: Stream,
    mapping: SalesforceMapping,
    entity: Entity,
    raws: Sequence[Mapping[str, Any]],
    now: datetime,
    counts: _PageCounts,
    result: StreamResult,
    again: bool = False,
) -> None:
    """Map, resolve and upsert ``raws`` as ``entity``: as if one by one, in order, but with
    one query for the stored rows, one per referenced entity for the references, one
    executemany for the new rows and one per shape of update. A record whose Id comes again
    in ``raws`` waits for a later round (each round sees the one before)."""
    pending = list(raws)
    while pending:
        seen: set[str] = set()
        this_round: list[Mapping[str, Any]] = []
        later: list[Mapping[str, Any]] = []
        for raw in pending:
            key = str(raw.get(stream.id_field) or "")
            (later if key and key in seen else this_round).append(raw)
            seen.add(key)
        _apply_round(work, stream, mapping, entity, this_round, now, counts, result, again)
        pending = later


def _apply_round(
    work: UnitOfWork,
    stream: Stream,
    mapping: SalesforceMapping,
    entity: Entity,
    raws: Sequence[Mapping[str, Any]],
    now: datetime,
    counts: _PageCounts,
    result: StreamResult,
    again: bool,
) -> None:
    connection = work.connection()
    table = models.table_of(TABLES[entity])
    if connection.dialect.name == "postgresql":
        # A prepared ``IN (...)`` keeps the plan made while the table was small (a scan of
        # it, every page of a first load: minutes at 100,000 rows); plan each one afresh.
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")

    def refuse(
        raw: Mapping[str, Any], external_id: str, remote_field: str | None, why: str
    ) -> None:
        stamp = _stamp_of(raw.get(stream.stamp_field))
        _quarantine(work, stream, entity, external_id, raw, remote_field, why, stamp, now, again)
        counts.quarantined += 1
        result.quarantine_reasons[f"{entity} {external_id}"] = f"{remote_field}: {why}"

    good: list[tuple[Mapping[str, Any], Mapped[Any]]] = []
    for raw in raws:
        try:
            good.append((raw, to_canonical(mapping, entity, raw)))
        except MappingError as exc:
            refuse(raw, str(raw.get(stream.id_field) or ""), exc.field, exc.reason)
    stored = _rows_of(connection, table, {(m.system, m.external_id) for _, m in good})
    resolved: list[str] = []
    live: list[tuple[Mapping[str, Any], Mapped[Any], Any]] = []
    for raw, mapped in good:
        row = stored.get((mapped.system, mapped.external_id))
        if row is not None and row.remote_stamp is not None and mapped.stamp <= row.remote_stamp:
            counts.skipped += 1  # stale, or this very version again
            resolved.append(mapped.external_id)  # a held older version is obsolete
        elif mapped.deleted:
            if row is not None:
                connection.execute(
                    update(table)
                    .where(table.c.id == row.id)
                    .values(
                        deleted_at=mapped.stamp,
                        remote_stamp=mapped.stamp,
                        version=table.c.version + 1,
                    )
                )
                counts.written += 1
            else:
                counts.skipped += 1  # never stored: nothing to keep
            resolved.append(mapped.external_id)
        else:
            live.append((raw, mapped, row))
    wanted: dict[Entity, set[tuple[str, str]]] = {}
    for _, mapped, _ in live:
        for ref in mapped.refs.values():
            wanted.setdefault(ref.entity, set()).add((ref.system, ref.external_id))
    targets = {
        name: _rows_of(connection, models.table_of(TABLES[name]), keys)
        for name, keys in wanted.items()
    }
    inserts: list[dict[str, Any]] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for raw, mapped, row in live:
        ids: dict[str, int | None] = {}
        for name, ref in mapped.refs.items():
            target = targets[ref.entity].get((ref.system, ref.external_id))
            ids[name] = None if target is None else target.id
            if ids[name] is None:
                refuse(
                    raw,
                    mapped.external_id,
                    _ref_field(mapping, entity, name),
                    f"no {ref.entity} with {ref.system} id {ref.external_id} {DANGLING}",
                )
                break
        else:
            try:
                values = mapped.canonical(ids).model_dump()
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or None
                refuse(raw, mapped.external_id, where, first["msg"])
                continue
            if row is None:
                inserts.append({**values, "remote_stamp": mapped.stamp, "deleted_at": None})
            else:
                owned = mapped.owned_fields | {"source_system", "external_id"}
                changes = {name: value for name, value in values.items() if name in owned}
                changes |= {"row_id_": row.id, "remote_stamp": mapped.stamp, "deleted_at": None}
                updates.setdefault(tuple(sorted(changes)), []).append(changes)
            counts.written += 1
            resolved.append(mapped.external_id)
    if inserts:
        connection.execute(insert(table), inserts)
    for shape, batch in updates.items():
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("row_id_"))
            .values(
                {name: bindparam(name) for name in shape if name != "row_id_"}
                | {"version": table.c.version + 1}
            ),
            batch,
        )
    _resolve_many(work, stream, entity, resolved, now)


def _rows_of(
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
        for start in range(0, len(external_ids), CHUNK):
            found = connection.execute(
                select(c.id, c.external_id, c.remote_stamp, c.deleted_at).where(
                    (c.source_system == system)
                    & c.external_id.in_(external_ids[start : start + CHUNK])
                )
            )
            for row in found:
                out[system, row.external_id] = row
    return out


def _ref_field(mapping: SalesforceMapping, entity: Entity, name: str) -> str:
    """The remote field a reference was read from (``Asset.AccountId``)."""
    section = mapping.section(entity)
    if entity == "site":
        return f"{section.sobject}.Id"
    lookup = getattr(section, "account", None)
    return f"{section.sobject}.{lookup or name}"


def _quarantine(
    work: UnitOfWork,
    stream: Stream,
    entity: Entity,
    external_id: str,
    raw: Mapping[str, Any],
    remote_field: str | None,
    reason: str,
    stamp: datetime | None,
    now: datetime,
    again: bool = False,
) -> None:
    """Hold the record (``again``: a retry of a held one, counted even for the same version)."""
    q = QUARANTINE.c
    key = (q.system == stream.system) & (q.entity == entity) & (q.external_id == external_id)
    connection = work.connection()
    held = connection.execute(select(q.id, q.remote_stamp, q.resolved_at).where(key)).first()
    details = {"payload": dict(raw), "field": remote_field, "reason": reason, "remote_stamp": stamp}
    if held is None:
        connection.execute(
            insert(QUARANTINE).values(
                system=stream.system,
                entity=entity,
                external_id=external_id,
                first_seen_at=now,
                last_seen_at=now,
                attempts=1,
                **details,
            )
        )
        return
    if not again and held.resolved_at is None and stamp is not None and held.remote_stamp == stamp:
        return  # this very version again: already held
    connection.execute(
        update(QUARANTINE)
        .where(q.id == held.id)
        .values(**details, last_seen_at=now, attempts=q.attempts + 1, resolved_at=None)
    )


def _resolve_many(
    work: UnitOfWork, stream: Stream, entity: Entity, external_ids: Sequence[str], now: datetime
) -> None:
    """Mark resolved the held records of ``external_ids`` (a later version applied)."""
    q = QUARANTINE.c
    ids = sorted(set(external_ids))
    for start in range(0, len(ids), CHUNK):
        work.connection().execute(
            update(QUARANTINE)
            .where(
                (q.system == stream.system)
                & (q.entity == entity)
                & q.external_id.in_(ids[start : start + CHUNK])
                & q.resolved_at.is_(None)
            )
            .values(resolved_at=now)
        )
