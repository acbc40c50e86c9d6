"""Billing reconciliation for finance: every closed work order with the billing its closing
owes (the ``erp.billing_request`` row and each ``finance.billing_trigger`` row), their
delivery state, SAP's document id and, where the caller read them back, SAP's invoice.

Each order gets a ``status``; the problems (something missing on either side) come first:

- ``missing_trigger``: a closed order without an ERP billing row (nothing will bill it);
- ``dead``: one of its billing rows is a dead letter (the remote refused it);
- ``unknown_invoice``: an invoice SAP has for a document that names no closed order of ours;
- ``delivered_not_invoiced``: SAP took the billing request, but the invoices read back have
  none for it (only when invoices were read back);
- ``line_mismatch``: SAP's invoice for it bills other than the order owed (only when invoices
  were read back): a line missing, another quantity or unit, an item it did not owe (another
  product shows as both). What the order owed is its ERP row's billing request as
  ``mappings.sap.billing`` makes it (labour as hours of the tenant's ``labour_product``, each
  part as its SAP material), compared with the invoice's items product by product; each
  difference is one of the order's ``mismatches``, naming the line;

then the rest: ``pending`` (a billing row still on its way), ``delivered`` (SAP took it; no
invoices read back) and ``invoiced``. Problems are ordered by kind, then by ``closed_at``;
the rest by ``closed_at``. The summary counts every order, whatever ``limit`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, select

from mappings.errors import MappingError
from mappings.sap.billing import DEFAULT_LABOUR_PRODUCT, invoice_request, read_trigger
from orchestrator.domain.errors import invalid
from orchestrator.outbox.events import ERP_BILLING, FINANCE_TRIGGER
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork

__all__ = [
    "OK",
    "PROBLEMS",
    "STATUSES",
    "by_document",
    "duplicates",
    "line_mismatches",
    "owed_items",
    "reconciliation",
]

PROBLEMS = ("missing_trigger", "dead", "unknown_invoice", "delivered_not_invoiced", "line_mismatch")
OK = ("pending", "delivered", "invoiced")
STATUSES = PROBLEMS + OK

_ORDERS = models.table_of(models.WorkOrder)
_CUSTOMERS = models.table_of(models.Customer)
_OUTBOX = models.table_of(models.OutboxMessage)
_TRIGGER_FIELDS = (
    "key",
    "event",
    "destination",
    "state",
    "attempts",
    "remote_id",
    "delivered_at",
    "last_error",
)


def by_document(invoices: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """SAP invoices (``QueryCustomerInvoiceIn``'s ``CustomerInvoice``, plain data) by the
    document of ours each names (``ReferenceBusinessTransactionDocumentID``, our tracking
    code); an invoice naming none is left out, and of two for one document the later ID
    stays (``duplicates`` says which documents have more than one)."""
    out: dict[str, dict[str, Any]] = {}
    for invoice in sorted(invoices, key=lambda i: str(i.get("ID") or "")):
        document = invoice.get("ReferenceBusinessTransactionDocumentID")
        if document:
            out[str(document)] = dict(invoice)
    return out


def duplicates(invoices: Iterable[Mapping[str, Any]]) -> list[str]:
    """The documents of ours that more than one SAP invoice names (billed twice)."""
    seen: dict[str, int] = {}
    for invoice in invoices:
        document = invoice.get("ReferenceBusinessTransactionDocumentID")
        if document:
            seen[str(document)] = seen.get(str(document), 0) + 1
    return sorted(d for d, n in seen.items() if n > 1)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _brief(invoice: Mapping[str, Any]) -> dict[str, Any]:
    """The invoice as finance reads it: SAP's ID and UUID, its date, buyer and release
    status, and the billing requests (SAP's ids) it was made of."""
    created = (invoice.get("SystemAdministrativeData") or {}).get("CreationDateTime")
    date = invoice.get("Date")
    requests = sorted(
        {
            str(ref["ID"])
            for item in invoice.get("Item") or []
            for ref in item.get("CustomerInvoiceRequestReference") or []
            if ref.get("ID")
        }
    )
    return {
        "id": invoice.get("ID"),
        "uuid": invoice.get("UUID"),
        "document_id": invoice.get("ReferenceBusinessTransactionDocumentID"),
        "date": _iso(date),
        "created_at": _iso(created),
        "buyer_id": (invoice.get("BuyerParty") or {}).get("PartyID"),
        "release_status": (invoice.get("Status") or {}).get("ReleaseStatusCode"),
        "request_ids": requests,
    }


def owed_items(payload: Mapping[str, Any], labour_product: str) -> list[dict[str, Any]] | None:
    """What an ERP billing row asks SAP to bill, item by item: ``line`` (the order's line it
    is, ``labour (work)``, ``part FD-16``), ``product_id``, ``quantity`` and ``unit``; None
    when the payload makes no request (the row is a dead letter for that)."""
    try:
        trigger = read_trigger(payload)
        request = invoice_request(trigger, labour_product=labour_product)
    except MappingError:
        return None
    return [
        {"line": line.label(), "product_id": item.product_id, "quantity": item.quantity,
         "unit": item.unit}
        for line, item in zip(trigger.billed(), request.items, strict=True)
    ]  # fmt: skip


def _value(value: Any) -> Any:
    """A simple-content value's text (``{"_value_1": ..., <attributes>}``) or the value."""
    return value.get("_value_1") if isinstance(value, Mapping) else value


def _invoiced(item: Mapping[str, Any]) -> tuple[str, Decimal, str | None]:
    """An invoice item's product, quantity and unit (``Quantity/Quantity`` with its
    ``unitCode``, else its ``TypeCode``)."""
    product = _value((item.get("Product") or {}).get("InternalID"))
    extended = item.get("Quantity") or {}
    measured = extended.get("Quantity") if isinstance(extended, Mapping) else extended
    unit = measured.get("unitCode") if isinstance(measured, Mapping) else None
    try:
        quantity = Decimal(str(_value(measured)))
    except InvalidOperation:
        quantity = Decimal(0)
    if not quantity.is_finite():
        quantity = Decimal(0)
    return str(product or "-"), quantity, unit or extended.get("TypeCode")


def _amount(quantity: Decimal, unit: str | None) -> str:
    """``3 EA``, ``1.75 HUR``: a quantity as finance reads it."""
    return f"{quantity.normalize():f} {unit or '?'}".rstrip()


def line_mismatches(owed: list[dict[str, Any]], invoice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Where SAP's ``invoice`` bills other than ``owed`` (``owed_items``), product by product
    (two lines of one product, work and travel say, count together): each ``{"line",
    "product_id", "owed", "invoiced", "why"}``, ``why`` one of ``missing from the invoice``,
    ``another unit``, ``another quantity``, ``not owed`` (an item for a product the order did
    not owe: ``line`` names SAP's item). Empty when they agree."""
    wanted: dict[str, dict[str, Any]] = {}
    for item in owed:
        entry = wanted.setdefault(
            item["product_id"], {"lines": [], "quantity": Decimal(0), "unit": item["unit"]}
        )
        entry["lines"].append(item["line"])
        entry["quantity"] += item["quantity"]
    billed: dict[str, dict[str, Any]] = {}
    for item in invoice.get("Item") or []:
        product, quantity, unit = _invoiced(item)
        entry = billed.setdefault(product, {"items": [], "quantity": Decimal(0), "unit": unit})
        entry["items"].append(str(item.get("ID") or "?"))
        entry["quantity"] += quantity
    out: list[dict[str, Any]] = []
    for product, want in wanted.items():
        got = billed.get(product)
        if got is None:
            why = "missing from the invoice"
        elif got["unit"] != want["unit"]:
            why = "another unit"
        elif got["quantity"] != want["quantity"]:
            why = "another quantity"
        else:
            continue
        out.append({
            "line": ", ".join(want["lines"]), "product_id": product,
            "owed": _amount(want["quantity"], want["unit"]),
            "invoiced": None if got is None else _amount(got["quantity"], got["unit"]),
            "why": why,
        })  # fmt: skip
    for product, got in billed.items():
        if product not in wanted:
            out.append({
                "line": f"SAP item {', '.join(got['items'])}", "product_id": product,
                "owed": None, "invoiced": _amount(got["quantity"], got["unit"]),
                "why": "not owed",
            })  # fmt: skip
    return out


def _status(triggers: list[dict[str, Any]], invoice: Any, read_back: bool, mismatched: bool) -> str:
    erp = [t for t in triggers if t["event"] == ERP_BILLING]
    if not erp:
        return "missing_trigger"
    states = {t["state"] for t in triggers}
    if "dead" in states:
        return "dead"
    delivered = all(t["state"] == "delivered" for t in erp)
    if delivered and read_back and invoice is None:
        return "delivered_not_invoiced"
    if mismatched:
        return "line_mismatch"
    if "pending" in states:
        return "pending"
    return "invoiced" if invoice is not None else "delivered"


def _order_key(entry: dict[str, Any]) -> tuple[int, int, bool, datetime | str, int, str]:
    status = entry["status"]
    problem = status in PROBLEMS
    rank = PROBLEMS.index(status) if problem else 0
    closed = entry["closed_at"]
    return (
        0 if problem else 1,
        rank,
        closed is None,
        closed if closed is not None else "",
        entry["work_order_id"] or 0,
        entry["tracking_code"] or "",
    )


def reconciliation(
    uow: UnitOfWork,
    *,
    invoices: Mapping[str, Mapping[str, Any]] | None = None,
    limit: int | None = None,
    closed_from: datetime | None = None,
    closed_to: datetime | None = None,
    labour_product: str = DEFAULT_LABOUR_PRODUCT,
) -> dict[str, Any]:
    """``{"summary", "orders", "total", "shown", "read_back", "period"}``: every closed work
    order (``work_order_id``, ``tracking_code``, ``closed_at``, ``customer``) with its billing
    rows (``triggers``: key, event, destination, state, attempts, remote_id, delivered_at,
    last_error; the ERP row first), its ``invoice`` when ``invoices`` (tracking code -> SAP
    invoice, read back by the caller; ``by_document`` makes it) has one, its ``status`` and
    whether that is a ``problem``; plus one entry per invoice naming no closed order of ours.
    Where invoices were read back, each entry also has its ``mismatches`` (``line_mismatches``
    of what its ERP row owed, the labour as hours of ``labour_product``, the tenant's SAP
    service product, and its invoice; empty when they agree or either is missing).

    Only the orders closed in the period ``closed_from`` (inclusive) to ``closed_to``
    (exclusive), where given: a month's reconciliation reads that month, not the whole
    history. Problems first, then by ``closed_at``; at most ``limit`` entries (all when
    None), the ``summary`` (counts per status, ``orders``, ``problems``) and ``total`` over
    all of them.
    """
    if closed_from is not None and closed_to is not None and closed_to <= closed_from:
        raise invalid("closed_to", "must come after closed_from")
    read_back = invoices is not None
    closed = _closed(closed_from, closed_to)
    entries, owed = _closed_orders(uow, closed, read_back, labour_product)
    listed = _classified(entries, invoices or {}, read_back, owed)
    summary = _summary(listed, orders=len(entries))
    listed.sort(key=_order_key)
    shown = listed if limit is None else listed[:limit]
    return {
        "summary": summary,
        "total": len(listed),
        "shown": len(shown),
        "read_back": read_back,
        "period": {"closed_from": closed_from, "closed_to": closed_to},
        "orders": shown,
    }


def _closed(closed_from: datetime | None, closed_to: datetime | None) -> ColumnElement[bool]:
    """The orders closed in the period (each bound where given)."""
    work_order = _ORDERS.c
    closed = work_order.status == "closed"
    if closed_from is not None:
        closed &= work_order.closed_at >= closed_from
    if closed_to is not None:
        closed &= work_order.closed_at < closed_to
    return closed


def _closed_orders(
    uow: UnitOfWork, closed: ColumnElement[bool], read_back: bool, labour_product: str
) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]] | None]]:
    """The closed orders by id, each with its customer and its billing rows (the ERP row
    first); and, where invoices were read back, what each order's ERP row owed SAP
    (``owed_items``) by order id."""
    connection = uow.connection()
    work_order, buyer, trigger = _ORDERS.c, _CUSTOMERS.c, _OUTBOX.c
    orders = connection.execute(
        select(
            work_order.id, work_order.tracking_code, work_order.closed_at, work_order.customer_id,
            buyer.name.label("customer_name"), buyer.source_system, buyer.external_id,
        )
        .select_from(_ORDERS.outerjoin(_CUSTOMERS, buyer.id == work_order.customer_id))
        .where(closed)
        .order_by(work_order.id)
    )  # fmt: skip
    entries: dict[int, dict[str, Any]] = {}
    for row in orders:
        customer = None
        if row.customer_id is not None:
            customer = {
                "id": row.customer_id,
                "name": row.customer_name,
                "source_system": row.source_system,
                "external_id": row.external_id,
            }
        entries[row.id] = {
            "work_order_id": row.id,
            "tracking_code": row.tracking_code,
            "closed_at": row.closed_at,
            "customer": customer,
            "triggers": [],
        }
    columns = [trigger.work_order_id, *(getattr(trigger, n) for n in _TRIGGER_FIELDS)]
    if read_back:  # what the ERP row owed, to compare with SAP's invoice
        columns.append(trigger.payload)
    billed = connection.execute(
        select(*columns)
        .select_from(_OUTBOX.join(_ORDERS, work_order.id == trigger.work_order_id))
        .where(trigger.event.in_((ERP_BILLING, FINANCE_TRIGGER)) & closed)
        .order_by(trigger.work_order_id, trigger.event != ERP_BILLING, trigger.id)
    )
    owed: dict[int, list[dict[str, Any]] | None] = {}
    for row in billed:
        entry = entries.get(row.work_order_id)
        if entry is None:
            continue
        entry["triggers"].append({n: getattr(row, n) for n in _TRIGGER_FIELDS})
        if read_back and row.event == ERP_BILLING and isinstance(row.payload, Mapping):
            owed[row.work_order_id] = owed_items(row.payload, labour_product)
    return entries, owed


def _classified(
    entries: dict[int, dict[str, Any]],
    invoices: Mapping[str, Mapping[str, Any]],
    read_back: bool,
    owed: Mapping[int, list[dict[str, Any]] | None],
) -> list[dict[str, Any]]:
    """Each order with its invoice (and, read back, its ``mismatches``), its status and
    whether that is a problem, then an entry per invoice naming no order of ours
    (``unknown_invoice``)."""
    ours: set[str] = set()
    for order_id, entry in entries.items():
        ours.add(entry["tracking_code"])
        invoice = invoices.get(entry["tracking_code"])
        entry["invoice"] = None if invoice is None else _brief(invoice)
        mismatches: list[dict[str, Any]] = []
        if invoice is not None and (items := owed.get(order_id)) is not None:
            mismatches = line_mismatches(items, invoice)
        if read_back:
            entry["mismatches"] = mismatches
        entry["status"] = _status(entry["triggers"], invoice, read_back, bool(mismatches))
    listed = list(entries.values())
    for document, invoice in sorted(invoices.items()):
        if document not in ours:
            listed.append({
                "work_order_id": None, "tracking_code": document, "closed_at": None,
                "customer": None, "triggers": [], "invoice": _brief(invoice),
                "mismatches": [], "status": "unknown_invoice",
            })  # fmt: skip
    for entry in listed:
        entry["problem"] = entry["status"] in PROBLEMS
    return listed


def _summary(listed: list[dict[str, Any]], *, orders: int) -> dict[str, int]:
    """The count of each status, of the ``orders`` and of the ``problems``."""
    summary = dict.fromkeys(STATUSES, 0)
    for entry in listed:
        summary[entry["status"]] += 1
    summary["orders"] = orders
    summary["problems"] = sum(summary[s] for s in PROBLEMS)
    return summary
