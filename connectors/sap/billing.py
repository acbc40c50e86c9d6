"""The billing request (SAP's customer invoice request) fieldbridge raises for a finished work
order, and SAP's answer to it.

``BillingRequest.message_uuid`` is the caller's idempotency key: it goes out as the message's
``BusinessDocumentBasicMessageHeader/UUID``, and SAP processes a message once per UUID,
answering a repeat with its first answer. Keep the UUID with the billing trigger and send the
same one again after any failure (the connector's own retries do): a billing request is then
made exactly once, however often it is sent. A new UUID is a new billing request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["DEFAULT_PRICING_PROCEDURE", "BillingItem", "BillingRequest", "BillingResult"]

DEFAULT_PRICING_PROCEDURE = "PPSTD1"  # SAP Business ByDesign's standard pricing procedure
CREATE = "01"  # ActionCode: create


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters (SAP's limit)")
    return value


@dataclass(frozen=True)
class BillingItem:
    """One line: SAP's product (material or service) ``InternalID``, a description (at most
    40 characters), a positive quantity and its unit (SAP's unit code: ``EA``, ``HUR``)."""

    product_id: str
    description: str
    quantity: Decimal
    unit: str

    def __post_init__(self) -> None:
        _text("product_id", self.product_id, 40)
        _text("description", self.description, 40)
        _text("unit", self.unit, 3)
        quantity = Decimal(str(self.quantity))
        if not quantity.is_finite() or quantity <= 0:
            raise ValueError("quantity must be a positive number")
        object.__setattr__(self, "quantity", quantity)


@dataclass(frozen=True)
class BillingRequest:
    """A billing request for one of our documents (a work order): ``message_uuid`` the
    idempotency key (a UUID), ``document_id`` our document's key (SAP's
    ``BaseBusinessTransactionDocumentID``, at most 35 characters), ``buyer_id`` the SAP
    customer's ``InternalID``, ``name`` a title, ``items`` at least one line."""

    message_uuid: str
    document_id: str
    buyer_id: str
    name: str
    items: tuple[BillingItem, ...]
    currency: str | None = None
    pricing_procedure: str = DEFAULT_PRICING_PROCEDURE

    def __post_init__(self) -> None:
        try:
            key = str(uuid.UUID(str(self.message_uuid)))
        except ValueError:
            raise ValueError("message_uuid must be a UUID") from None
        object.__setattr__(self, "message_uuid", key)
        _text("document_id", self.document_id, 35)
        _text("buyer_id", self.buyer_id, 32)
        _text("name", self.name, 255)
        _text("pricing_procedure", self.pricing_procedure, 6)
        if self.currency is not None and (len(self.currency) != 3 or not self.currency.isalpha()):
            raise ValueError("currency must be an ISO 4217 code")
        items = tuple(self.items)
        if not items or not all(isinstance(i, BillingItem) for i in items):
            raise ValueError("items must be one or more BillingItem")
        object.__setattr__(self, "items", items)

    def message(self) -> dict[str, Any]:
        """The ``MaintainBundle`` request's parts, for zeep."""
        pricing: dict[str, Any] = {"PricingProcedureCode": self.pricing_procedure}
        if self.currency is not None:
            pricing["CurrencyCode"] = self.currency.upper()
        return {
            "BusinessDocumentBasicMessageHeader": {
                "ID": uuid.UUID(self.message_uuid).hex.upper(),
                "UUID": self.message_uuid,
            },
            "CustomerInvoiceRequest": [
                {
                    "actionCode": CREATE,
                    "ObjectNodeSenderTechnicalID": self.document_id,
                    "BaseBusinessTransactionDocumentID": self.document_id,
                    "Name": self.name,
                    # the external reference, which SAP carries onto the invoice
                    "ReferenceBusinessTransactionDocumentID": self.document_id,
                    "BuyerParty": {"InternalID": self.buyer_id},
                    "PricingTerms": pricing,
                    "Item": [
                        {
                            "BaseBusinessTransactionDocumentItemID": str(10 * n),
                            "Description": item.description,
                            "Product": {"InternalID": item.product_id},
                            "Quantity": {"_value_1": item.quantity, "unitCode": item.unit},
                            "QuantityTypeCode": item.unit,
                        }
                        for n, item in enumerate(self.items, start=1)
                    ],
                }
            ],
        }


@dataclass(frozen=True)
class BillingResult:
    """SAP's confirmation: the invoice request's ``uuid`` and ``change_state_id``, and the
    ``document_id`` it was made for. SAP answers a repeated message UUID with the first
    answer and says nothing of it being a repeat: ``attempts`` > 1 only tells that an
    earlier attempt of this call failed (and may have been processed: the answer is the same
    either way)."""

    message_uuid: str
    document_id: str
    uuid: str
    change_state_id: str
    attempts: int = 1
    notes: tuple[str, ...] = field(default=())
