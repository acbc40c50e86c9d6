"""The technician's day, for a device that works offline. One request gives everything a day's
work needs (``GET /me/day``): each order of the day as the API shows it, with its site,
customer, contact, asset and the asset's last closed orders, its work type, and the facts
recorded on it so far (``facts_of``); the van's stock; the catalogue entries of the parts the
van carries or the day's work types take. A cheap second request says what changed since
(``GET /me/changes``).

Every read is in bulk: one statement per kind of row, an ``IN`` over the ids, so a day of
fifteen orders takes as many statements as a day of one.

What changed comes from the change feed (``models.TechnicianChange``), which
``work_orders.audit_trail.append_event`` writes with every change to an order that concerns a
technician. A sync token names the newest row of the feed a device has seen: ``c`` and the
row's id in base 36. The day answers the feed's newest id, read before the orders, so a change
committed while the day is read is sent again rather than lost. Rows older than
``FIELDBRIDGE_CHANGE_FEED_DAYS`` are pruned (``prune_changes``, from the server's hourly
housekeeping); a token from before the oldest row kept, or newer than the newest (a store
restored from an older backup), answers 410: the device fetches its day again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    Row,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    true,
)

from orchestrator.domain.errors import FieldbridgeError, NotFound, invalid
from orchestrator.domain.lifecycle import Actor, State
from orchestrator.reference import records
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders.notes import notes_of
from orchestrator.work_orders.order import ORDERS, to_public
from orchestrator.work_orders.queries import late_facts_of

TOKEN_PATTERN = r"^c(0|[1-9a-z][0-9a-z]{0,12})$"  # nosec B105  # a sync token's form, no secret
"""A sync token: ``c`` and a feed row's id in base 36 (lower case, no leading zero; thirteen
digits at most, as a 64-bit id takes)."""
LARGEST_ID = 2**63 - 1
_TOKEN = re.compile(TOKEN_PATTERN)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
CARRIED_OVER = (State.IN_PROGRESS.value, State.ON_HOLD.value)
"""An order of these states is on the technician's day whatever its window: work under way."""
HISTORY = 10
"""How many of an asset's closed orders its history shows, newest first."""
DAYS_AHEAD = 366
"""How far from today (either way) a day may be asked for."""
PRUNE_BATCH = 5000

_CHANGES = models.table_of(models.TechnicianChange)
_TECHNICIANS = models.table_of(models.Technician)
_SITES = models.table_of(models.Site)
_CUSTOMERS = models.table_of(models.Customer)
_CONTACTS = models.table_of(models.Contact)
_ASSETS = models.table_of(models.Asset)
_WORK_TYPES = models.table_of(models.WorkType)
_PARTS = models.table_of(models.Part)
_ATTACHMENTS = models.table_of(models.Attachment)
_PART_USES = models.table_of(models.PartUse)
_LABOUR = models.table_of(models.LabourLine)
_READINGS = models.table_of(models.Reading)
_DEVICE_OPS = models.table_of(models.DeviceOp)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
"""The ids a bulk read is for: its statements are built once, here, and their compiled form
cached, however many ids a day has."""


class FeedGone(FieldbridgeError):
    """[410] A sync token the change feed can no longer answer: older than the rows it keeps,
    or from a store that was restored since. The device fetches its day again."""

    status = 410
    title = "Gone"


# --- sync tokens ------------------------------------------------------------------------------


def encode_token(feed_id: int) -> str:
    """The sync token that names feed row ``feed_id`` (0: none yet)."""
    digits = ""
    while True:
        feed_id, digit = divmod(feed_id, 36)
        digits = _DIGITS[digit] + digits
        if not feed_id:
            return "c" + digits


def decode_token(token: str, field: str = "since") -> int:
    """The feed id a sync token names; 422 naming ``field`` for anything else."""
    match = _TOKEN.match(token)
    feed_id = -1 if match is None else int(match[1], 36)
    if not 0 <= feed_id <= LARGEST_ID:
        raise invalid(field, "not a sync token: give the sync_token of your last day or changes")
    return feed_id


# --- the facts recorded on orders -------------------------------------------------------------

_FACT_READS = {
    "attachments": select(
        _ATTACHMENTS.c.work_order_id,
        _ATTACHMENTS.c.id,
        _ATTACHMENTS.c.client_id.label("attachment_id"),
        _ATTACHMENTS.c.kind,
        _ATTACHMENTS.c.sha256,
        _ATTACHMENTS.c.content_type,
        _ATTACHMENTS.c.size_bytes,
        _ATTACHMENTS.c.created_at,
    ).order_by(_ATTACHMENTS.c.id),
    "parts_used": select(
        _PART_USES.c.work_order_id,
        _PART_USES.c.id,
        _PART_USES.c.part_code,
        _PART_USES.c.quantity,
        _PART_USES.c.from_van,
        _PART_USES.c.off_van,
        _PART_USES.c.at,
        _PART_USES.c.op_id,
    ).order_by(_PART_USES.c.at, _PART_USES.c.id),
    "labour": select(
        _LABOUR.c.work_order_id,
        _LABOUR.c.id,
        _LABOUR.c.activity,
        _LABOUR.c.start,
        _LABOUR.c.end,
        _LABOUR.c.at,
    ).order_by(_LABOUR.c.start, _LABOUR.c.id),
    "readings": select(
        _READINGS.c.work_order_id,
        _READINGS.c.id,
        _READINGS.c.asset_id,
        _READINGS.c.measure,
        _READINGS.c.value,
        _READINGS.c.unit,
        _READINGS.c.at,
    ).order_by(_READINGS.c.at, _READINGS.c.id),
}
_FACT_READS = {
    kind: query.where(query.selected_columns.work_order_id.in_(_IDS))
    for kind, query in _FACT_READS.items()
}
"""Each kind of fact of many orders, one statement each (``work_order_id IN ...``)."""
FACT_KINDS = ("notes", *_FACT_READS, "late_facts")


def facts_of(uow: UnitOfWork, order_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The facts recorded on each order of ``order_ids``, as shown: its ``notes``,
    ``attachments`` (metadata, with the device's id for each: ``attachment_id``),
    ``parts_used``, ``labour``, ``readings`` taken during it, and ``late_facts``: what a
    device sent after the order was closed or cancelled, kept and shown, never applied. One
    statement per kind however many orders. The caller has decided the reader may see them."""
    ids = list(dict.fromkeys(order_ids))
    out: dict[int, dict[str, Any]] = {oid: {kind: [] for kind in FACT_KINDS} for oid in ids}
    if not ids:
        return out
    for oid, notes in notes_of(uow, ids).items():
        out[oid]["notes"] = notes
    conn = uow.connection()
    for kind, query in _FACT_READS.items():
        for row in conn.execute(query, {"ids": ids}):
            fact = dict(row._mapping)
            out[fact.pop("work_order_id")][kind].append(fact)
    for oid, late in late_facts_of(uow, ids).items():
        out[oid]["late_facts"] = late
    return out


# --- orders as the packet shows them ----------------------------------------------------------

_ORDERS_READ = select(
    ORDERS,
    _SITES.c.name.label("site_name"),
    _SITES.c.address.label("site_address"),
    _SITES.c.latitude.label("site_latitude"),
    _SITES.c.longitude.label("site_longitude"),
    _SITES.c.time_zone.label("site_time_zone"),
    _SITES.c.access_notes.label("site_access_notes"),
).outerjoin(_SITES, _SITES.c.id == ORDERS.c.site_id)
"""Orders with their sites, as plain rows."""
_HISTORY_RANKED = (
    select(
        ORDERS.c.id,
        ORDERS.c.asset_id,
        ORDERS.c.tracking_code,
        ORDERS.c.closed_at,
        ORDERS.c.summary,
        ORDERS.c.visits,
        func.row_number()
        .over(
            partition_by=ORDERS.c.asset_id,
            order_by=(ORDERS.c.closed_at.desc(), ORDERS.c.id.desc()),
        )
        .label("rank"),
    )
    .where(ORDERS.c.status == State.CLOSED.value)
    .where(ORDERS.c.asset_id.in_(bindparam("asset_ids", expanding=True)))
    .subquery("ranked")
)
_HISTORY = (
    select(_HISTORY_RANKED)
    .where(_HISTORY_RANKED.c.rank <= HISTORY)
    .order_by(_HISTORY_RANKED.c.asset_id, _HISTORY_RANKED.c.rank)
)
"""The last ``HISTORY`` closed orders of each asset, newest first: one statement for all."""
_HISTORY_PARTS = (
    select(
        _PART_USES.c.work_order_id,
        _PART_USES.c.part_code,
        func.sum(_PART_USES.c.quantity).label("quantity"),
    )
    .where(_PART_USES.c.work_order_id.in_(bindparam("order_ids", expanding=True)))
    .group_by(_PART_USES.c.work_order_id, _PART_USES.c.part_code)
    .order_by(_PART_USES.c.work_order_id, _PART_USES.c.part_code)
)
_SHOWN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "customer": (_CUSTOMERS, ("id", "name", "phone")),
    "contact": (_CONTACTS, ("id", "first_name", "last_name", "phone", "email")),
    "asset": (_ASSETS, ("id", "serial", "model", "name")),
    "work_type": (
        _WORK_TYPES,
        (
            "id",
            "code",
            "name",
            "checklist",
            "min_photos",
            "signature_required",
            "resolution_codes",
            "parts",
        ),
    ),
}
"""What an order's packet shows of each record it names: the table and the columns."""
_RECORD_READS = {
    name: select(*(table.c[c] for c in columns)).where(table.c.id.in_(_IDS))
    for name, (table, columns) in _SHOWN.items()
}


def _records(uow: UnitOfWork, name: str, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The records of kind ``name`` (``_SHOWN``) with these ids, as shown, by id."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = uow.connection().execute(_RECORD_READS[name], {"ids": wanted})
    return {row.id: dict(row._mapping) for row in rows}


def _histories(uow: UnitOfWork, asset_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Each asset's last closed orders, with the parts used on each (summed by code)."""
    out: dict[int, list[dict[str, Any]]] = {aid: [] for aid in asset_ids}
    if not out:
        return out
    conn = uow.connection()
    rows = conn.execute(_HISTORY, {"asset_ids": sorted(out)}).all()
    parts: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if parts:
        for used in conn.execute(_HISTORY_PARTS, {"order_ids": sorted(parts)}):
            parts[used.work_order_id].append(
                {"part_code": used.part_code, "quantity": used.quantity}
            )
    for row in rows:
        out[row.asset_id].append(
            {
                "tracking_code": row.tracking_code,
                "closed_at": row.closed_at,
                "summary": row.summary,
                "first_time_fix": row.visits == 1,
                "parts_used": parts[row.id],
            }
        )
    return out


def _site(row: Row[Any]) -> dict[str, Any] | None:
    if row.site_id is None or row.site_name is None:
        return None
    return {
        "id": row.site_id,
        "name": row.site_name,
        "address": row.site_address,
        "latitude": row.site_latitude,
        "longitude": row.site_longitude,
        "time_zone": row.site_time_zone,
        "access_notes": row.site_access_notes,
    }


def _work_type(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    checklist = [
        {"code": item["code"], "label": item["label"], "required": item.get("required", True)}
        for item in record["checklist"]
    ]
    return record | {"checklist": checklist}


def packets(uow: UnitOfWork, actor: Actor, orders: list[Row[Any]]) -> list[dict[str, Any]]:
    """Each order of ``orders`` (rows of ``_ORDERS_READ``) as the day shows it: the order as
    the API shows it, with the records it names and its facts embedded. A fixed number of
    statements however many orders."""
    shown = {
        name: _records(uow, name, (getattr(row, f"{name}_id") for row in orders)) for name in _SHOWN
    }
    histories = _histories(uow, list(shown["asset"]))
    facts = facts_of(uow, (row.id for row in orders))
    out = []
    for row in orders:
        asset = shown["asset"].get(row.asset_id)
        out.append(
            to_public(row, row.site_time_zone, actor)
            | {
                "site": _site(row),
                "customer": shown["customer"].get(row.customer_id),
                "contact": shown["contact"].get(row.contact_id),
                "asset": None if asset is None else asset | {"history": histories[asset["id"]]},
                "work_type": _work_type(shown["work_type"].get(row.work_type_id)),
            }
            | facts[row.id]
        )
    return out


def _in_day_order(rows: Iterable[Row[Any]]) -> list[Row[Any]]:
    """By window start (orders without a window last), then id."""
    latest = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda row: (row.window_start or latest, row.id))


# --- the day ----------------------------------------------------------------------------------

_TECHNICIAN = select(
    _TECHNICIANS.c.id, _TECHNICIANS.c.name, _TECHNICIANS.c.time_zone, _TECHNICIANS.c.van_stock
).where(_TECHNICIANS.c.id == bindparam("id"))
_NEWEST_CHANGE = select(func.max(_CHANGES.c.id))


_POSITION = select(
    select(func.max(_CHANGES.c.id))
    .where(_CHANGES.c.technician_id == bindparam("technician_id"))
    .scalar_subquery()
    .label("mine"),
    select(func.min(_CHANGES.c.id)).scalar_subquery().label("low"),
)


def sync_token(uow: UnitOfWork, actor: Actor) -> str:
    """The technician's place in the change feed as it stands: their newest row (never the
    feed's newest: another technician's row may have committed before one of theirs that
    is still being written; theirs commit in order, ``audit_trail.append_event``), or the
    feed's horizon when nothing of theirs is kept. Every change of theirs made after this
    read comes after it. Tokens compare as their positions do: the shorter is the older, of
    two as long the lesser."""
    found = uow.connection().execute(_POSITION, {"technician_id": _technician_id(actor)}).one()
    horizon = 0 if found.low is None else found.low - 1
    return encode_token(max(found.mine or 0, horizon))


def _technician_id(actor: Actor) -> int:
    if actor.technician_id is None:  # a technician's token always names one (access.tokens)
        raise NotFound("technician", "of this token")
    return actor.technician_id


def _local_day(on: date | None, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    """The day asked for (today in ``zone`` if none), and its first and last instant in UTC."""
    today = utcnow().astimezone(zone).date()
    day = today if on is None else on
    if abs((day - today).days) > DAYS_AHEAD:
        raise invalid("date", f"a day within {DAYS_AHEAD} days of today ({today.isoformat()})")
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return day, start, end


def day(uow: UnitOfWork, actor: Actor, on: date | None = None) -> dict[str, Any]:
    """The technician's day (``on``, in their time zone; today there if None): their orders
    whose appointment window overlaps it, and those of theirs in progress or on hold
    whichever day they were planned for, by window start; their van's stock; the catalogue
    entries of the parts on the van or taken by the day's work types; and the sync token as
    of this read, for ``changes``."""
    tech_id = _technician_id(actor)
    conn = uow.connection()
    tech = conn.execute(_TECHNICIAN, {"id": tech_id}).one_or_none()
    if tech is None:
        raise NotFound("technician", tech_id)
    zone = tech.time_zone or "UTC"  # a technician a sync made has none until the office sets it
    local, start, end = _local_day(on, ZoneInfo(zone))
    token = sync_token(uow, actor)  # before the orders
    query = _ORDERS_READ.where(
        ORDERS.c.technician_id == tech_id,
        or_(
            (ORDERS.c.window_start < end) & (ORDERS.c.window_end > start),
            ORDERS.c.status.in_(CARRIED_OVER),
        ),
    )
    orders = packets(uow, actor, _in_day_order(conn.execute(query)))
    codes = set(tech.van_stock).union(
        *(order["work_type"]["parts"] for order in orders if order["work_type"] is not None)
    )
    return {
        "technician": {"id": tech.id, "name": tech.name, "time_zone": zone},
        "date": local,
        "sync_token": token,
        "orders": orders,
        "van_stock": dict(tech.van_stock),
        "parts": _parts(uow, codes),
    }


_PARTS_READ = (
    select(_PARTS)
    .where(_PARTS.c.code.in_(bindparam("codes", expanding=True)))
    .order_by(_PARTS.c.code)
)


def _parts(uow: UnitOfWork, codes: Collection[str]) -> list[dict[str, Any]]:
    """The catalogue's entries for these codes, as ``GET /parts`` shows them, by code."""
    if not codes:
        return []
    kind = records.KINDS["parts"]
    rows = uow.connection().execute(_PARTS_READ, {"codes": sorted(codes)})
    return [records.to_public(kind, row) for row in rows]


# --- what changed since -----------------------------------------------------------------------

_MINE = (
    select(_CHANGES.c.id, _CHANGES.c.work_order_id)
    .where(_CHANGES.c.technician_id == bindparam("technician_id"))
    .where(_CHANGES.c.id > bindparam("since"))
    .subquery("mine")
)
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
_FEED = (
    select(
        select(func.min(_CHANGES.c.id)).scalar_subquery().label("low"),
        select(func.max(_CHANGES.c.id)).scalar_subquery().label("high"),
        _MINE.c.id,
        _MINE.c.work_order_id,
    )
    .select_from(_ONE_ROW.outerjoin(_MINE, true()))
    .order_by(_MINE.c.id)
)
"""One statement: the feed's oldest and newest ids (its horizon), and the technician's rows
after the token, if any (``ix_technician_changes_feed``). An empty delta costs this alone."""


def _check_horizon(seen: int, low: int | None, high: int | None) -> None:
    """410 unless every row after ``seen`` is still in the feed: ``seen`` is at least the
    oldest row kept less one (none pruned after it) and at most the newest (a store restored
    from a backup older than the token has lost what the device saw)."""
    kept = seen == 0 if high is None or low is None else low - 1 <= seen <= high
    if not kept:
        raise FeedGone(
            "the sync token is older than the change feed keeps, or from before this store "
            "was restored: fetch the day again (GET /api/v1/me/day)"
        )


def changes(uow: UnitOfWork, actor: Actor, since: str) -> dict[str, Any]:
    """What changed for the technician since the sync token ``since``: each order changed or
    newly assigned to them that is still theirs, in full as the day shows it (``orders``),
    and the ids of those changed that are no longer theirs (``removed``), with the token to
    ask with next. With nothing changed, the same token back."""
    seen = decode_token(since)
    tech_id = _technician_id(actor)
    conn = uow.connection()
    feed = conn.execute(_FEED, {"technician_id": tech_id, "since": seen}).all()
    _check_horizon(seen, feed[0].low, feed[0].high)
    rows = [row for row in feed if row.id is not None]
    if not rows:
        return {"sync_token": encode_token(seen), "orders": [], "removed": []}
    changed = sorted({row.work_order_id for row in rows})
    read = conn.execute(_ORDERS_READ.where(ORDERS.c.id.in_(changed)))
    mine = [row for row in read if row.technician_id == tech_id]
    still = {row.id for row in mine}
    return {
        "sync_token": encode_token(rows[-1].id),
        "orders": packets(uow, actor, _in_day_order(mine)),
        "removed": [oid for oid in changed if oid not in still],
    }


# --- pruning ----------------------------------------------------------------------------------

_OLDEST = select(_CHANGES.c.id, _CHANGES.c.at).order_by(_CHANGES.c.id).limit(bindparam("batch"))


def prune_changes(uow: UnitOfWork, days: float, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the change feed's rows older than ``days``: the oldest first, at most ``batch``
    a transaction, and never the newest row (the feed's newest id never goes back, so a token
    naming it stays good). Each round reads the oldest ``batch`` rows by id and deletes the run
    of them written before the cutoff; ids and times grow together, so a round that starts
    with a newer row ends the work. Run hourly by the server's housekeeping (``api.app``),
    off any request. Returns how many rows were deleted."""
    cutoff = utcnow() - timedelta(days=days)
    conn = uow.connection()
    newest = conn.execute(_NEWEST_CHANGE).scalar()
    deleted = 0
    while newest is not None:
        oldest = conn.execute(_OLDEST, {"batch": batch}).all()
        old = list(itertools.takewhile(lambda row: row.at < cutoff and row.id < newest, oldest))
        if not old:
            break
        conn.execute(delete(_CHANGES).where(_CHANGES.c.id <= old[-1].id))
        uow.commit()
        deleted += len(old)
        if len(old) < batch:
            break
    return deleted
