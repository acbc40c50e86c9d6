"""The simulated tenant's customer invoice requests (SAP's billing requests), made by
``ManageCustomerInvoiceRequestIn.MaintainBundle``, and the customer invoices billing makes of
them (``bill``, as SAP's billing run does), read by ``QueryCustomerInvoiceIn.FindByElements``.

SAP's ``MaintainBundle`` is an idempotent service: a message carrying
``BusinessDocumentBasicMessageHeader/UUID`` is processed once per UUID and a repeat is
answered with the first answer, creating nothing. Here the answers are kept for the
simulator's life (SAP keeps them for its idempotency window). Every answer is kept, a refusal
too, as SAP does: a repeat of a refused message is refused again, whatever changed since.
"""

from __future__ import annotations

import bisect
import copy
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["InvoiceRequests"]

FIRST_ID = 9000001  # the number range SAP draws customer invoice request IDs from, here
FIRST_INVOICE_ID = 1000001  # and customer invoice IDs
RELEASED = "3"  # ReleaseStatusCode


@dataclass
class InvoiceRequests:
    """What ``MaintainBundle`` created (``created``, in order) and the answer given to each
    message UUID (``answers``), under ``lock``."""

    seed: int = 1
    created: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)  # by ID (ascending)
    invoiced: dict[str, str] = field(default_factory=dict)  # request ID -> invoice ID
    bases: dict[str, str] = field(default_factory=dict)  # invoice ID -> base document ID
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"fieldbridge-sap-invoices-{self.seed}")  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def answered(self, message_uuid: str | None) -> dict[str, Any] | None:
        """The answer given to this message UUID before, if any (a copy)."""
        if message_uuid is None:
            return None
        with self.lock:
            answer = self.answers.get(message_uuid.lower())
            return copy.deepcopy(answer) if answer is not None else None

    def remember(self, message_uuid: str | None, answer: dict[str, Any]) -> None:
        if message_uuid is not None:
            with self.lock:
                self.answers.setdefault(message_uuid.lower(), copy.deepcopy(answer))

    def create(self, message_uuid: str | None, request: dict[str, Any]) -> dict[str, Any]:
        """Store one invoice request (``request`` in the shape of the message's
        ``CustomerInvoiceRequest``, plain data) and return it with SAP's ``ID``, ``UUID``,
        ``ChangeStateID`` and ``CreationDateTime``."""
        with self.lock:
            now = datetime.now(UTC).replace(microsecond=0)
            record = copy.deepcopy(request) | {
                "ID": str(FIRST_ID + len(self.created)),
                "UUID": self._uuid(),
                "ChangeStateID": now.strftime("%Y%m%d%H%M%S") + f".{len(self.created):07d}",
                "CreationDateTime": now,
                "MessageUUID": message_uuid,
            }
            self.created.append(record)
            return copy.deepcopy(record)

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.created)

    def amend(
        self,
        document_id: str,
        item_id: str,
        *,
        quantity: Any = None,
        product_id: str | None = None,
        unit: str | None = None,
        remove: bool = False,
    ) -> dict[str, Any]:
        """Change one item (by its ``BaseBusinessTransactionDocumentItemID``) of the invoice
        request for this base document, as a user does in SAP's billing work centre before
        billing runs: its quantity, product or unit, or remove it. The request as it now
        stands; ``KeyError`` for no such request or item, ``ValueError`` once it is
        invoiced (SAP keeps an invoiced request as it was)."""
        with self.lock:
            found = [
                r for r in self.created if r.get("BaseBusinessTransactionDocumentID") == document_id
            ]
            if not found:
                raise KeyError(f"no invoice request for {document_id}")
            request = found[-1]
            if request["ID"] in self.invoiced:
                raise ValueError(f"invoice request {request['ID']} is invoiced already")
            items = request["Item"]
            at = [
                n
                for n, item in enumerate(items)
                if item.get("BaseBusinessTransactionDocumentItemID") == item_id
            ]
            if not at:
                raise KeyError(f"invoice request {request['ID']} has no item {item_id}")
            if remove:
                del items[at[0]]
            else:
                item = items[at[0]]
                if quantity is not None:
                    item["Quantity"] = quantity
                if product_id is not None:
                    item["ProductID"] = product_id
                if unit is not None:
                    item["unitCode"] = item["QuantityTypeCode"] = unit
            return copy.deepcopy(request)

    # --- billing: invoice requests become customer invoices ---------------------------------

    def bill(self, document_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Make one released customer invoice of each invoice request not invoiced yet (those
        whose ``BaseBusinessTransactionDocumentID`` is in ``document_ids``, when given), in the
        shape of the query response's ``CustomerInvoice``; they are returned."""
        wanted = set(document_ids) if document_ids is not None else None
        made: list[dict[str, Any]] = []
        with self.lock:
            for request in self.created:
                base = request.get("BaseBusinessTransactionDocumentID")
                if request["ID"] in self.invoiced or (wanted is not None and base not in wanted):
                    continue
                now = datetime.now(UTC).replace(microsecond=0)
                invoice_id = str(FIRST_INVOICE_ID + len(self.invoices))
                invoice: dict[str, Any] = {
                    "ID": invoice_id,
                    "UUID": self._uuid(),
                    "SystemAdministrativeData": {"CreationDateTime": now},
                    "Date": now.date(),
                    "ReferenceBusinessTransactionDocumentID": request.get(
                        "ReferenceBusinessTransactionDocumentID", base
                    ),
                    "Status": {"ReleaseStatusCode": RELEASED},
                    "BuyerParty": {"PartyID": request["BuyerParty"]["InternalID"]},
                    "Item": [_invoice_item(request["ID"], item) for item in request["Item"]],
                }
                invoice = {k: v for k, v in invoice.items() if v is not None}
                self.invoices.append(invoice)
                self.invoiced[request["ID"]] = invoice_id
                if base is not None:
                    self.bases[invoice_id] = base
                made.append(copy.deepcopy(invoice))
        return made

    def find_invoices(
        self, bases: list[str], after: str | None, limit: int | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` (all, when None) invoices made of the requests whose base document
        is one of ``bases`` (any, when empty) and whose ID comes after ``after``, by ID; and
        whether more hits are available."""
        wanted = set(bases)
        with self.lock:
            ids = [i["ID"] for i in self.invoices]
            start = bisect.bisect_right(ids, after) if after is not None else 0
            hits: list[dict[str, Any]] = []
            for invoice in self.invoices[start:]:
                if wanted and self.bases.get(invoice["ID"]) not in wanted:
                    continue
                if limit is not None and len(hits) == limit:
                    return hits, True
                hits.append(copy.deepcopy(invoice))
            return hits, False

    def all_invoices(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.invoices)


def _invoice_item(request_id: str, item: dict[str, Any]) -> dict[str, Any]:
    quantity: dict[str, Any] = {"Quantity": {"_value_1": item["Quantity"]}}
    if item.get("unitCode") is not None:
        quantity["Quantity"]["unitCode"] = item["unitCode"]
    if item.get("QuantityTypeCode") is not None:
        quantity["TypeCode"] = item["QuantityTypeCode"]
    out: dict[str, Any] = {
        "ID": item.get("BaseBusinessTransactionDocumentItemID"),
        "Description": item.get("Description"),
        "Quantity": quantity,
        "Product": {"InternalID": item["ProductID"]} if item.get("ProductID") else None,
        "CustomerInvoiceRequestReference": [
            {"ID": request_id, "ItemID": item.get("BaseBusinessTransactionDocumentItemID")}
        ],
    }
    return {k: v for k, v in out.items() if v is not None}
