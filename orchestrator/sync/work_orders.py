"""Work orders raised at a system of record: taken in once as intake, then kept by the
ownership policy.

A record the store does not hold, with no key of ours in its external-id field and in one
of the mapping's ``intake_statuses``, becomes a ``new`` order (its references resolved like
any record's; one that names no stored row is held in quarantine until it does). A record in
another status is left where it is (counted as skipped: history, or work run elsewhere). A
record that carries a key of ours names the order it was written from (by the write-back, or
by ``write_keys`` after intake).

A later version of a held order goes through the mapping's ``salesforce_owns``: edits to those
fields (subject, description and contact by default) are applied with an ``updated`` audit
event; a status edited there, or a deletion there, is recorded as ``remote_change_ignored``
and changes nothing: the status, schedule and completion are ours. A version whose owned
fields equal ours, and whose status is the one last seen there, is our own write coming back
(our key stamped in, say): only its stamp is kept, no version bump and no event.

After intake, ``write_keys`` puts each new order's key (its tracking code) into the record's
external-id field, 200 records per sObject Collections call, so that every later write
updates that record; an order whose key did not go in stays pending
(``remote_key_written_at`` is None) and is tried again at the end of the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import select, update

from mappings.records import Entity, InboundMap, Mapped
from mappings.salesforce import SalesforceMapping
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.apply import (
    Page,
    among,
    custom_plans,
    resolve_many,
    targets_of,
)
from orchestrator.sync.streams import Stream
from orchestrator.work_orders.commands import apply_system_edits, intake_from_system

log = logging.getLogger("orchestrator.sync")

ORDERS = models.table_of(models.WorkOrder)
_COLUMNS = (
    ORDERS.c.id,
    ORDERS.c.external_id,
    ORDERS.c.tracking_code,
    ORDERS.c.summary,
    ORDERS.c.description,
    ORDERS.c.contact_id,
    ORDERS.c.priority,
    ORDERS.c.customer_id,
    ORDERS.c.site_id,
    ORDERS.c.asset_id,
    ORDERS.c.remote_stamp,
    ORDERS.c.remote_status,
)


def sync_actor(system: str) -> Actor:
    """Who the audit trail says made a change the sync brought in."""
    return Actor(subject=f"sync:{system}", role=Role.INTEGRATION)


def apply_work_orders(page: Page, entity: Entity, raws: Sequence[Mapping[str, Any]]) -> None:
    """Apply ``raws`` (each Id at most once) as work orders; see the module."""
    work, stream, mapping = page.work, page.stream, salesforce(page.mapping)
    w = mapping.work_order
    connection = work.connection()
    custom_plans(connection)
    refuse = partial(page.refuse, entity)
    actor = sync_actor(stream.system)

    good = page.mapped(entity, raws)
    by_id = _orders(connection, ORDERS.c.external_id, [m.external_id for _, m in good])
    keys = [m.fieldbridge_id for _, m in good if m.fieldbridge_id and m.external_id not in by_id]
    by_key = _orders(connection, ORDERS.c.tracking_code, keys)

    resolved: list[str] = []
    live: list[tuple[Mapping[str, Any], Mapped[Any], Any]] = []
    for raw, mapped in good:
        row = by_id.get(mapped.external_id) or by_key.get(mapped.fieldbridge_id or "")
        if row is not None and row.remote_stamp is not None and mapped.stamp <= row.remote_stamp:
            page.counts.skipped += 1  # stale, or this very version again
        elif mapped.deleted:
            if row is None:
                page.counts.skipped += 1
            else:
                apply_system_edits(
                    work,
                    row,
                    actor,
                    {},
                    remote_stamp=mapped.stamp,
                    remote_status=row.remote_status,
                    ignored={"system": stream.system, "deleted": True},
                )
                page.counts.written += 1
                log.info("%s deleted order %s there: ignored", stream.system, row.tracking_code)
        elif row is None and mapped.fieldbridge_id:
            refuse(
                raw,
                mapped.external_id,
                f"{w.sobject}.{w.external_id_field}",
                f"names {mapped.fieldbridge_id}, which is no order here",
            )
            continue
        elif row is None and mapped.remote_status not in w.intake_statuses:
            page.counts.skipped += 1  # not intake: left where it is
        else:
            live.append((raw, mapped, row))
            continue
        resolved.append(mapped.external_id)

    targets = targets_of(connection, (mapped for _, mapped, _ in live))
    owns: set[str] = set(w.salesforce_owns)
    for raw, mapped, row in live:
        ids: dict[str, int | None] = {}
        missing = None
        for name, ref in mapped.refs.items():
            target = targets[ref.entity].get((ref.system, ref.external_id))
            ids[name] = None if target is None else target.id
            # A new order needs every reference; a held one only those the remote owns.
            if target is None and missing is None and (row is None or name in owns):
                missing = name
        if missing is not None:
            page.refuse_dangling(entity, raw, mapped, missing)
            continue
        try:
            order = mapped.canonical(ids)
        except ValidationError as exc:
            page.refuse_invalid(entity, raw, mapped, exc)
            continue
        if row is None:
            intake_from_system(
                work,
                order,
                actor,
                remote_stamp=mapped.stamp,
                remote_status=mapped.remote_status,
            )
            page.new_orders.append(mapped.external_id)
            page.counts.written += 1
        else:
            values = order.model_dump()
            changes = {
                name: values[name]
                for name in sorted(owns & mapped.owned_fields)
                if values[name] != getattr(row, name)
            }
            ignored: dict[str, Any] = {}
            if row.remote_status is not None and mapped.remote_status != row.remote_status:
                ignored = {"system": stream.system, "status": mapped.remote_status}
                log.info(
                    "%s status of order %s set to %r there: ignored (the status is ours)",
                    stream.system,
                    row.tracking_code,
                    mapped.remote_status,
                )
            apply_system_edits(
                work,
                row,
                actor,
                changes,
                remote_stamp=mapped.stamp,
                remote_status=mapped.remote_status,
                ignored=ignored,
            )
            if changes or ignored:
                page.counts.written += 1
            else:
                page.counts.skipped += 1  # our own write coming back, or nothing we keep
        resolved.append(mapped.external_id)
    resolve_many(work, stream, entity, resolved, page.now)


def salesforce(mapping: InboundMap) -> SalesforceMapping:
    """The work-order stream is Salesforce's: its mapping is a ``SalesforceMapping``."""
    if not isinstance(mapping, SalesforceMapping):
        raise TypeError(f"work orders are read with a SalesforceMapping, not {mapping!r}")
    return mapping


def _orders(connection: Any, column: Any, values: Sequence[str]) -> dict[str, Any]:
    """Stored orders whose ``column`` (external id or tracking code) is one of ``values``."""
    out: dict[str, Any] = {}
    for chunk in among(connection, column, sorted(set(values))):
        for row in connection.execute(select(*_COLUMNS).where(chunk)):
            out[row.external_id if column is ORDERS.c.external_id else row.tracking_code] = row
    return out


# -- our key into the remote record ---------------------------------------------------------


class KeyWriter(Protocol):
    """What ``write_keys`` needs of a connector: updates by record id, in batches."""

    @property
    def api_calls(self) -> int: ...

    def update_many(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[Any]: ...


def write_keys(
    new_uow: Callable[[], UnitOfWork],
    source: KeyWriter,
    stream: Stream,
    mapping: InboundMap,
    now: datetime,
    external_ids: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Write each order's key into its remote record's external-id field: the orders of
    ``external_ids``, or (None) every order of the stream's system still pending. Returns
    (written, refused); a refused record stays pending, logged with the remote's answer."""
    w = salesforce(mapping).work_order
    c = ORDERS.c
    pending = (c.source_system == stream.system) & c.remote_key_written_at.is_(None)
    query = select(c.external_id, c.tracking_code).where(pending & c.external_id.is_not(None))
    with new_uow() as work:
        connection = work.connection()
        if external_ids is None:
            rows = list(connection.execute(query.order_by(c.id)))
        else:
            rows = [
                row
                for chunk in among(connection, c.external_id, list(external_ids))
                for row in connection.execute(query.where(chunk).order_by(c.id))
            ]
    if not rows:
        return 0, 0
    answers = source.update_many(
        w.sobject, [{"Id": r.external_id, w.external_id_field: r.tracking_code} for r in rows]
    )
    done: list[str] = []
    for row, answer in zip(rows, answers, strict=True):
        if answer.success:
            done.append(row.external_id)
        else:
            log.warning(
                "%s refused the key %s for %s %s: %s",
                stream.system,
                row.tracking_code,
                w.sobject,
                row.external_id,
                answer.error,
            )
    with new_uow() as work:
        connection = work.connection()
        for chunk in among(connection, c.external_id, done):
            connection.execute(
                update(ORDERS).where(pending & chunk).values(remote_key_written_at=now)
            )
        work.commit()
    return len(done), len(rows) - len(done)
