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
``classify`` decides all this for a page (by ``policy_of`` the mapping); ``apply_work_orders``
reads what it needs and carries out its decisions.

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

from sqlalchemy import select, update

from mappings.records import Entity, InboundMap, Mapped
from mappings.salesforce import SalesforceMapping
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.apply import Page, among, custom_plans, settle, targets_of
from orchestrator.sync.classify import (
    Action,
    Decision,
    Held,
    Key,
    OrderPolicy,
    classify,
    comparable,
    key_of,
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
    """Apply ``raws`` (each Id at most once) as work orders; see the module. The stored
    orders are read in bulk (by external id, then by our key for those not found so), the
    references' rows in one query per referenced entity; each order is then written on its
    own (its intake, or its edits, each with its audit event)."""
    connection = page.work.connection()
    custom_plans(connection)
    orders = policy_of(salesforce(page.mapping), page.stream.system)
    good = page.mapped(entity, raws)
    records = [mapped for _, mapped in good]
    rows = _stored(connection, records)
    held = {
        key: Held(row.id, row.remote_stamp, content=row._mapping, remote_status=row.remote_status)
        for key, row in rows.items()
    }
    targets = targets_of(connection, comparable(records, held, orders))
    remote_field = partial(page.mapping.remote_field, entity)
    decisions = classify(records, held, targets, remote_field, orders)
    actor = sync_actor(page.stream.system)
    # What the stamps decided first (a deletion there, a key that names no order), then
    # the rest: each in the order read.
    pairs = sorted(zip(good, decisions, strict=True), key=lambda pair: pair[1].compared)
    for (raw, mapped), decision in pairs:
        if decision.action is Action.QUARANTINE:
            page.refuse(entity, raw, mapped.external_id, decision.remote_field, decision.reason)
        elif decision.action is Action.INSERT:
            _intake(page, decision, actor)
        elif decision.action in (Action.UPDATE, Action.IGNORED, Action.UNCHANGED):
            _edit(page, rows[key_of(mapped)], decision, actor)
    settle(page, entity, decisions)


def policy_of(mapping: SalesforceMapping, system: str) -> OrderPolicy:
    """The work-order policy of ``system``'s stream, as ``mapping`` configures it."""
    section = mapping.work_order
    return OrderPolicy(
        system=system,
        owns=frozenset(section.salesforce_owns),
        intake_statuses=frozenset(section.intake_statuses),
        key_field=f"{section.sobject}.{section.external_id_field}",
    )


def _intake(page: Page, decision: Decision, actor: Actor) -> None:
    """A new order raised there, taken in as ``new`` (its key is written back after the
    page: ``write_keys``)."""
    mapped = decision.mapped
    intake_from_system(
        page.work,
        decision.model,
        actor,
        remote_stamp=mapped.stamp,
        remote_status=mapped.remote_status,
    )
    page.new_orders.append(mapped.external_id)


def _edit(page: Page, row: Any, decision: Decision, actor: Actor) -> None:
    """A held order's later version: the owned fields it changes applied, the change there
    the policy ignores recorded (``remote_change_ignored``), its stamp and status kept."""
    system = page.stream.system
    if decision.ignored.get("deleted"):
        log.info("%s deleted order %s there: ignored", system, row.tracking_code)
    elif decision.ignored:
        log.info(
            "%s status of order %s set to %r there: ignored (the status is ours)",
            system,
            row.tracking_code,
            decision.remote_status,
        )
    apply_system_edits(
        page.work,
        row,
        actor,
        decision.changes,
        remote_stamp=decision.mapped.stamp,
        remote_status=decision.remote_status,
        ignored=decision.ignored,
    )


def salesforce(mapping: InboundMap) -> SalesforceMapping:
    """The work-order stream is Salesforce's: its mapping is a ``SalesforceMapping``."""
    if not isinstance(mapping, SalesforceMapping):
        raise TypeError(f"work orders are read with a SalesforceMapping, not {mapping!r}")
    return mapping


def _stored(connection: Any, records: Sequence[Mapped[Any]]) -> dict[Key, Any]:
    """The stored order of each of ``records`` that has one, by the record's key: the one
    with its external id, else the one its key of ours (``fieldbridge_id``) names."""
    by_id = _orders(connection, ORDERS.c.external_id, [m.external_id for m in records])
    keys = [m.fieldbridge_id for m in records if m.fieldbridge_id and m.external_id not in by_id]
    by_key = _orders(connection, ORDERS.c.tracking_code, keys)
    found: dict[Key, Any] = {}
    for mapped in records:
        row = by_id.get(mapped.external_id) or by_key.get(mapped.fieldbridge_id or "")
        if row is not None:
            found[key_of(mapped)] = row
    return found


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
    section = salesforce(mapping).work_order
    columns = ORDERS.c
    pending = (columns.source_system == stream.system) & columns.remote_key_written_at.is_(None)
    query = select(columns.external_id, columns.tracking_code).where(
        pending & columns.external_id.is_not(None)
    )
    with new_uow() as work:
        connection = work.connection()
        if external_ids is None:
            rows = list(connection.execute(query.order_by(columns.id)))
        else:
            rows = [
                row
                for chunk in among(connection, columns.external_id, list(external_ids))
                for row in connection.execute(query.where(chunk).order_by(columns.id))
            ]
    if not rows:
        return 0, 0
    answers = source.update_many(
        section.sobject,
        [{"Id": r.external_id, section.external_id_field: r.tracking_code} for r in rows],
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
                section.sobject,
                row.external_id,
                answer.error,
            )
    with new_uow() as work:
        connection = work.connection()
        for chunk in among(connection, columns.external_id, done):
            connection.execute(
                update(ORDERS).where(pending & chunk).values(remote_key_written_at=now)
            )
        work.commit()
    return len(done), len(rows) - len(done)
