"""What closing a work order owes the remotes: the outbox rows, written in the closing
transaction, each a fact about the order (its payload) and its idempotency key.

- ``crm.work_order_completed``: the completed job for the CRM (``mappings.canonical.
  CompletedJob``: times, labour minutes, visits, first-time fix, technician by key, every
  note, the parts used); key ``crm.work_order_completed|<order id>|v<version>``: a later
  update of the order is a new delivery, a repeat converges by external-id upsert.
- ``erp.billing_request``: one billing request, the order's billing lines in it (labour and
  parts, ``mappings.canonical.BillingLine``); key ``erp.billing_request|<order id>``, and the
  SAP message UUID derived from that key, so a repeat is the same message to SAP.
- ``finance.billing_trigger``: the billing trigger each active finance subscription receives
  as a signed webhook, its lines too; key ``finance.billing_trigger|<order id>|<subscription
  id>``, which is the ``webhook-id``.

What the order owes is what the field recorded: the labour lines the technician entered
(work and travel), else its time in progress (``labour_minutes``); each part used, its uses
added up (one line, one CRM record per part code); its notes, oldest first.

- ``crm.certification_updated``: a technician's certification changed in the HR system (the
  sync wrote it): pushed to the CRM as ServiceResource, Skill and ServiceResourceSkill; key
  ``crm.certification_updated|<worker>|<code>|<updated_at>``, in sequence per technician and
  code.

How each is formatted for its remote is the destination's business (``destinations``), so
the row holds what happened, not one remote's idea of it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from mappings.canonical import BillingLine, CompletedJob, PartUsed
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork

__all__ = [
    "BILLING_NAMESPACE",
    "CRM_CERTIFICATION",
    "CRM_COMPLETED",
    "ERP_BILLING",
    "EVENTS",
    "FINANCE_TRIGGER",
    "NOTES_LIMIT",
    "billing_lines",
    "enqueue_certifications",
    "enqueue_closed",
    "labour_minutes",
    "notes_text",
]

CRM_COMPLETED = "crm.work_order_completed"
CRM_CERTIFICATION = "crm.certification_updated"
ERP_BILLING = "erp.billing_request"
FINANCE_TRIGGER = "finance.billing_trigger"
EVENTS = (CRM_COMPLETED, ERP_BILLING, FINANCE_TRIGGER, CRM_CERTIFICATION)
BILLING_NAMESPACE = uuid.UUID("6f1d3a52-8c1e-5b7a-9d0e-4b2f8a6c1e07")
"""uuid5 namespace of the SAP message UUIDs: the same key gives the same UUID, everywhere."""
NOTES_LIMIT = 32_000
"""Characters of notes a completed job carries at most (``CompletedJob.notes``)."""

OUTBOX = models.table_of(models.OutboxMessage)

_EVENTS = models.table_of(models.AuditEvent)
_NOTES = models.table_of(models.Note)
_PARTS = models.table_of(models.Part)
_PART_USES = models.table_of(models.PartUse)
_LABOUR = models.table_of(models.LabourLine)
_SUBSCRIPTIONS = models.table_of(models.WebhookSubscription)
_CERTIFICATIONS = models.table_of(models.Certification)
_TECHNICIANS = models.table_of(models.Technician)
_CERT_FIELDS = ("code", "name", "issuer", "number", "issued_on", "expires_on")


def labour_minutes(uow: UnitOfWork, work_order_id: int, until: datetime) -> int:
    """Minutes the order spent in progress, over all its visits (from its audit trail)."""
    rows = uow.connection().execute(
        select(_EVENTS.c.at, _EVENTS.c.from_state, _EVENTS.c.to_state)
        .where(_EVENTS.c.work_order_id == work_order_id)
        .order_by(_EVENTS.c.seq)
    )
    total, since = 0.0, None
    for at, source, target in rows:
        if target == "in_progress" and since is None:
            since = at
        elif source == "in_progress" and target != "in_progress" and since is not None:
            total += (at - since).total_seconds()
            since = None
    if since is not None:
        total += (until - since).total_seconds()
    return round(total / 60)


def _ref(uow: UnitOfWork, model: type[models.Base], ident: int | None) -> dict[str, Any] | None:
    """Who a reference is at its source: {id, source_system, external_id}."""
    if ident is None:
        return None
    table = models.table_of(model)
    row = (
        uow.connection()
        .execute(select(table.c.source_system, table.c.external_id).where(table.c.id == ident))
        .first()
    )
    if row is None:
        return None
    return {"id": ident, "source_system": row.source_system, "external_id": row.external_id}


def _remote_id(ref: dict[str, Any] | None, system: str) -> str | None:
    if ref is None or ref["source_system"] != system:
        return None
    return str(ref["external_id"]) if ref["external_id"] else None


def notes_text(uow: UnitOfWork, work_order_id: int) -> str | None:
    """Every note of the order, oldest first (when written, then when stored), one a line as
    ``<kind>[ (<state>)]: text``: reasons, the completion account, remarks from the field.
    Cut to ``NOTES_LIMIT`` characters, ending in an ellipsis, when longer; None when none."""
    note = _NOTES.c
    rows = uow.connection().execute(
        select(note.kind, note.state, note.text)
        .where(note.work_order_id == work_order_id)
        .order_by(func.coalesce(note.at, note.created_at), note.id)
    )
    lines = [f"{kind}{f' ({state})' if state else ''}: {text}" for kind, state, text in rows]
    text = "\n".join(lines)
    if len(text) > NOTES_LIMIT:
        text = text[: NOTES_LIMIT - 1] + "…"
    return text or None


def _labour(uow: UnitOfWork, wo: models.WorkOrder, now: datetime) -> tuple[int, list[BillingLine]]:
    """The order's labour, its minutes and its lines: one line per activity of the labour
    lines entered (work, then travel; each summed to the second, then rounded to the
    minute), or, when none were (or they add up to no time), one line of its time in
    progress (``labour_minutes``)."""
    labour = _LABOUR.c
    rows = uow.connection().execute(
        select(labour.activity, labour.start, labour.end)
        .where(labour.work_order_id == wo.id)
        .order_by(labour.start, labour.id)
    )
    seconds: dict[str, float] = {}
    for activity, start, end in rows:
        seconds[activity] = seconds.get(activity, 0.0) + max((end - start).total_seconds(), 0.0)
    first = ("work", "travel")
    ordered = sorted(seconds, key=lambda a: (first.index(a) if a in first else 2, a))
    minutes = {a: m for a in ordered if (m := round(seconds[a] / 60)) > 0}
    if minutes:
        return sum(minutes.values()), [BillingLine.labour(m, a) for a, m in minutes.items()]
    spent = labour_minutes(uow, wo.id, wo.completed_at or now)
    return spent, [BillingLine.labour(spent)]


def _parts(uow: UnitOfWork, work_order_id: int) -> list[BillingLine]:
    """One line per part code used on the order, its uses added up (a part whose uses add
    up to nothing is not owed), in the order of first use, with what the catalogue holds
    for it."""
    use, part = _PART_USES.c, _PARTS.c
    rows = uow.connection().execute(
        select(
            use.part_code, use.quantity, part.name, part.unit, part.sap_product_id,
            part.unit_price, part.currency,
        )
        .select_from(_PART_USES.outerjoin(_PARTS, part.code == use.part_code))
        .where(use.work_order_id == work_order_id)
        .order_by(use.at, use.id)
    )  # fmt: skip
    totals: dict[str, Decimal] = {}
    catalogue: dict[str, Any] = {}
    for row in rows:  # summed as decimals: 0.1 m and 0.2 m are 0.3 m
        totals[row.part_code] = totals.get(row.part_code, Decimal(0)) + Decimal(str(row.quantity))
        catalogue.setdefault(row.part_code, row)
    return [
        BillingLine(
            kind="part", part_code=code, quantity=float(total), name=found.name,
            unit=found.unit, sap_product_id=found.sap_product_id,
            unit_price=found.unit_price, currency=found.currency,
        )
        for code, total in totals.items()
        if total > 0 and (found := catalogue[code])
    ]  # fmt: skip


def billing_lines(
    uow: UnitOfWork, wo: models.WorkOrder, now: datetime
) -> tuple[int, list[BillingLine]]:
    """What the order owes billing: its labour minutes, and its lines (its labour, then its
    parts)."""
    minutes, labour = _labour(uow, wo, now)
    return minutes, [*labour, *_parts(uow, wo.id)]


def _line_payload(line: BillingLine) -> dict[str, Any]:
    """A line as the rows carry it: a labour line without the part's fields, a part line with
    every one of them (None where the catalogue has none)."""
    if line.kind == "labour":
        return line.model_dump(mode="json", exclude_none=True)
    return line.model_dump(mode="json", exclude={"activity"})


def enqueue_closed(uow: UnitOfWork, wo: models.WorkOrder, now: datetime) -> list[str]:
    """Write the rows the order's closing owes, in the caller's transaction; their keys."""
    minutes, lines = billing_lines(uow, wo, now)
    customer = _ref(uow, models.Customer, wo.customer_id)
    asset = _ref(uow, models.Asset, wo.asset_id)
    technician = _ref(uow, models.Technician, wo.technician_id)
    technician_key = None
    if technician is not None:
        technician_key = technician["external_id"] or f"T{technician['id']}"
    job = CompletedJob(
        key=wo.tracking_code,
        remote_id=wo.external_id if wo.source_system == "salesforce" else None,
        state="closed",
        summary=wo.summary,
        customer_remote_id=_remote_id(customer, "salesforce"),
        asset_remote_id=_remote_id(asset, "salesforce"),
        priority=wo.priority,
        actual_start=wo.first_checked_in_at,
        actual_end=wo.completed_at,
        labour_minutes=minutes,
        visits=max(wo.visits, 1),
        first_time_fix=wo.visits == 1,
        technician_key=technician_key,
        notes=notes_text(uow, wo.id),
        parts=[
            PartUsed(code=line.part_code, quantity=line.quantity)
            for line in lines
            if line.kind == "part" and line.part_code is not None
        ],
    )
    order = {
        "work_order_id": wo.id,
        "tracking_code": wo.tracking_code,
        "summary": wo.summary,
        "customer": customer,
        "closed_at": now.isoformat(),
        "labour_minutes": minutes,
        "visits": wo.visits,
        "first_time_fix": wo.visits == 1,
        "lines": [_line_payload(line) for line in lines],
    }
    billing_key = f"{ERP_BILLING}|{wo.id}"
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (CRM_COMPLETED, f"{CRM_COMPLETED}|{wo.id}|v{wo.version}", job.model_dump(mode="json")),
        (
            ERP_BILLING,
            billing_key,
            order | {"message_uuid": str(uuid.uuid5(BILLING_NAMESPACE, billing_key))},
        ),
    ]
    subscriptions = uow.connection().execute(
        select(_SUBSCRIPTIONS.c.id).where(_SUBSCRIPTIONS.c.active).order_by(_SUBSCRIPTIONS.c.id)
    )
    for (subscription,) in subscriptions:
        trigger = order | {"type": FINANCE_TRIGGER, "subscription_id": subscription}
        rows.append((FINANCE_TRIGGER, f"{FINANCE_TRIGGER}|{wo.id}|{subscription}", trigger))
    uow.outbox_written()
    uow.connection().execute(
        insert(OUTBOX),
        [
            {
                "key": key,
                "event": event,
                "destination": event.split(".", 1)[0],
                "work_order_id": wo.id,
                "sequence_key": f"work_order:{wo.id}",
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event, key, payload in rows
        ],
    )
    return [key for _, key, _ in rows]


def enqueue_certifications(
    uow: UnitOfWork, system: str, external_ids: list[str], now: datetime
) -> int:
    """The CRM push each certification just written owes (by the sync, in its transaction):
    the certification as it now stands, whether it still counts (active, not gone), its
    technician by key (the worker id) with the name and time zone the CRM record needs. A
    version already owed (its key written before) is not owed twice. How many rows."""
    cert, tech = _CERTIFICATIONS.c, _TECHNICIANS.c
    connection = uow.connection()
    rows: list[dict[str, Any]] = []
    for start in range(0, len(external_ids), 500):
        chunk = external_ids[start : start + 500]
        technician = (
            tech.external_id.label("worker"),
            tech.name.label("technician_name"),
            tech.time_zone.label("technician_zone"),
        )
        found = connection.execute(
            select(_CERTIFICATIONS, *technician)
            .join(_TECHNICIANS, tech.id == cert.technician_id)
            .where((cert.source_system == system) & cert.external_id.in_(chunk))
        )
        for row in found:
            worker = row.worker or f"T{row.technician_id}"
            stamp = (row.remote_stamp or now).isoformat()
            certification = {
                f: (v.isoformat() if hasattr(v, "isoformat") else v)
                for f in _CERT_FIELDS
                if (v := getattr(row, f)) is not None
            }
            payload = {
                "technician_id": row.technician_id,
                "technician_key": worker,
                "resource_name": row.technician_name,
                # a technician a sync made has no zone until the office sets one: UTC's days
                "time_zone": row.technician_zone or "UTC",
                "certification": certification,
                "status": row.status,
                "counts": row.status == "active" and row.deleted_at is None,
                "changed_at": stamp,
            }
            rows.append({
                "key": f"{CRM_CERTIFICATION}|{worker}|{row.code}|{stamp}",
                "event": CRM_CERTIFICATION,
                "destination": "crm",
                "work_order_id": None,
                "sequence_key": f"certification:{worker}|{row.code}",
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            })  # fmt: skip
    if not rows:
        return 0
    owed = {
        k
        for (k,) in connection.execute(
            select(OUTBOX.c.key).where(OUTBOX.c.key.in_([r["key"] for r in rows]))
        )
    }
    fresh = [r for r in rows if r["key"] not in owed]
    if fresh:
        connection.execute(insert(OUTBOX), fresh)
        uow.outbox_written()
    return len(fresh)
