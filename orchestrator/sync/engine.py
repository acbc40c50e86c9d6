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
version whose stamp is older than the stored ``remote_stamp`` changes nothing (a stale
update), nor does one whose owned fields are the stored ones (the same version read again, or
a change to fields the mapping does not read): no new version, only the newer remote stamp
kept (a feed that stamps by the second may change a record twice in one second: the second
change is applied). A deletion sets
``deleted_at`` and keeps the row. A record that cannot be mapped or validated, or whose
reference names no stored row, goes to ``quarantine`` with its raw payload, the remote field
and the reason (and is marked resolved when a later version applies); it never stops the
page. At the end of a run, held records that only lacked a referenced row are applied again
from their payload (the row may have come in since). The page's writes, the cursor's
advance and the run's counts commit together, so a run stopped anywhere resumes from the
last committed page and loses nothing. The cursor never moves past the run's start time.

Given a ``bulk_threshold``, a run first counts the records it is about to read and reads
more than that many through the source's bulk query (Bulk API 2.0) instead of ``query``
pages: the same records in the same order, in pages of the same size, for a few calls.

Work orders are applied by ``orchestrator.sync.work_orders`` (intake once, then the ownership
policy); after each page that took orders in, and at the end of the run for any still
pending, their keys are written into the remote records.

Only the mapping's errors and the canonical model's are quarantined: a database error ends
the run (its page rolled back), to be resumed by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import insert, select, update

from mappings.records import Entity, InboundMap
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.apply import (
    QUARANTINE,
    Page,
    PageCounts,
    StreamResult,
    apply_rows,
    rounds,
)
from orchestrator.sync.classify import DANGLING
from orchestrator.sync.streams import Cursor, Stream
from orchestrator.sync.work_orders import KeyWriter, apply_work_orders, write_keys

DEFAULT_LOOKBACK_S = 300.0

CURSORS = models.table_of(models.SyncCursor)


class Source(Protocol):
    """What the engine needs of a connector besides what its streams read through: how many
    requests it has sent so far. (The work-order stream's source also updates records by id:
    ``work_orders.KeyWriter``.)"""

    @property
    def api_calls(self) -> int: ...


def run_stream(
    new_uow: Callable[[], UnitOfWork],
    source: Source,
    stream: Stream,
    mapping: InboundMap,
    *,
    full: bool = False,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    batch_size: int = 2000,
    bulk_threshold: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    on_page: Callable[[StreamResult], None] | None = None,
) -> StreamResult:
    """Run ``stream`` once from its cursor (``full``: from the start); see the module.

    ``bulk_threshold``: when set, a stream that can count what it is about to read (a SOQL
    stream: one call) reads more than that many through the source's bulk query (Bulk API
    2.0); None never counts and never goes bulk."""
    if lookback_s < 0:
        raise ValueError("lookback_s must be >= 0")
    started = clock()
    with new_uow() as work:
        stamp, last_id = _start(work, stream, started)
        work.commit()
    result = StreamResult(stream.system, stream.name, started, full, cursor_stamp=stamp)
    result.cursor_id = last_id
    cursor = None if full or stamp is None else Cursor(stamp, last_id, lookback_s)
    calls = source.api_calls
    read = stream.read(source, cursor, batch_size=batch_size, bulk_threshold=bulk_threshold)
    result.since, result.to_read, result.bulk = read.since, read.to_read, read.bulk
    best: tuple[datetime | None, str | None] = (result.cursor_stamp, result.cursor_id)
    for records in read.pages:
        with new_uow() as work:
            counts = PageCounts()
            page = Page(work, stream, mapping, clock(), counts, result)
            for entity in stream.entities:
                _apply(page, entity, records)
            for raw in records:
                seen = stream.stamp(raw)
                if seen is None:
                    continue
                if seen > started:
                    best = (started, None)
                elif best[0] is None or (seen, stream.key(raw)) > (best[0], best[1] or ""):
                    best = (seen, stream.key(raw))
            if stream.ordered:  # every record up to here is in: the cursor may move
                result.cursor_stamp, result.cursor_id = best
            spent, calls = source.api_calls - calls, source.api_calls
            _advance(work, stream, result, len(records), counts, spent)
            work.commit()
        if page.new_orders:
            _write_keys(new_uow, source, stream, mapping, clock(), result, page.new_orders)
        result.pages += 1
        result.read += len(records)
        result.written += counts.written
        result.skipped += counts.skipped
        result.quarantined += counts.quarantined
        result.api_calls += spent
        if on_page is not None:
            on_page(result)
    if "work_order" in stream.entities:
        _write_keys(new_uow, source, stream, mapping, clock(), result, None)  # those still pending
    spent = source.api_calls - calls
    moved = (result.cursor_stamp, result.cursor_id) != best
    result.cursor_stamp, result.cursor_id = best  # a stream read out of stamp order: now
    with new_uow() as work:
        counts = PageCounts(written=_redrive(work, stream, mapping, clock(), result))
        if spent or counts.written or moved:
            _advance(work, stream, result, 0, counts, spent)
            work.commit()
    result.written += counts.written
    result.api_calls += spent
    return result


def _write_keys(
    new_uow: Callable[[], UnitOfWork],
    source: Source,
    stream: Stream,
    mapping: InboundMap,
    now: datetime,
    result: StreamResult,
    external_ids: Sequence[str] | None,
) -> None:
    writer = cast(KeyWriter, source)  # the work-order stream's source: Salesforce's
    written, refused = write_keys(new_uow, writer, stream, mapping, now, external_ids)
    result.keys_written += written
    result.keys_refused += refused


def _apply(page: Page, entity: Entity, raws: Sequence[Mapping[str, Any]]) -> None:
    """Apply ``raws`` as ``entity``, in rounds that hold each Id once (a record changed twice
    within a page is applied in order)."""
    how = apply_work_orders if entity == "work_order" else apply_rows
    for batch in rounds(raws, page.stream):
        how(page, entity, batch)


def _redrive(
    work: UnitOfWork,
    stream: Stream,
    mapping: InboundMap,
    now: datetime,
    result: StreamResult,
) -> int:
    """Apply again the held records of the stream that only lacked a referenced row (which
    may have come in since: an account whose site now maps brings in its assets)."""
    quarantine = QUARANTINE.c
    held = work.connection().execute(
        select(quarantine.entity, quarantine.payload)
        .where(
            (quarantine.system == stream.system)
            & quarantine.entity.in_(stream.entities)
            & quarantine.resolved_at.is_(None)
            & quarantine.reason.like(f"%{DANGLING}%")
        )
        .order_by(quarantine.id)
    )
    counts = PageCounts()
    by_entity: dict[str, list[Mapping[str, Any]]] = {}
    for entity, payload in held:
        by_entity.setdefault(entity, []).append(payload)
    for entity in stream.entities:
        if entity in by_entity:
            _apply(Page(work, stream, mapping, now, counts, result), entity, by_entity[entity])
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
    new_uow: Callable[[], UnitOfWork],
    streams: Mapping[str, Stream],
    mapping: InboundMap,
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
    quarantine = QUARANTINE.c
    out: list[RetryResult] = []
    for stream in streams.values():
        for entity in stream.entities:
            if entities is not None and entity not in entities:
                continue
            one = RetryResult(stream.system, stream.name, entity)
            after = 0
            while True:
                with new_uow() as work:
                    batch = list(
                        work.connection().execute(
                            select(quarantine.id, quarantine.payload)
                            .where(
                                (quarantine.system == stream.system)
                                & (quarantine.entity == entity)
                                & quarantine.resolved_at.is_(None)
                                & (quarantine.id > after)
                            )
                            .order_by(quarantine.id)
                            .limit(batch_size)
                        )
                    )
                    if not batch:
                        break
                    after = batch[-1].id
                    counts = PageCounts()
                    result = StreamResult(stream.system, stream.name, clock(), False)
                    payloads = [row.payload for row in batch]
                    page = Page(work, stream, mapping, clock(), counts, result, again=True)
                    _apply(page, entity, payloads)
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
    counts: PageCounts,
    api_calls: int,
) -> None:
    cursor_row = CURSORS.c
    work.connection().execute(
        update(CURSORS)
        .where((cursor_row.system == stream.system) & (cursor_row.entity == stream.name))
        .values(
            cursor_stamp=result.cursor_stamp,
            cursor_id=result.cursor_id,
            read=cursor_row.read + read,
            written=cursor_row.written + counts.written,
            quarantined=cursor_row.quarantined + counts.quarantined,
            api_calls=cursor_row.api_calls + api_calls,
        )
    )
