"""A closed work order's billing trigger -> SAP's customer invoice request.

The request is our document: its id is the order's tracking code (SAP's
``BaseBusinessTransactionDocumentID``) and its title the order's summary (else the tracking
code), at most 255 characters. The buyer is the order's customer as SAP knows it (its
``InternalID``): a customer that is not SAP's, or none, leaves SAP no buyer to bill, and the
trigger is refused. It bills one item per line of the trigger, in the trigger's order
(``BillingTrigger.billed``): the labour in hours (SAP's unit ``HUR``) of the tenant's labour
product, to the hundredth of an hour rounded half up and at least one minute's worth (a
travel line described as travel); each part as its SAP material (``sap_product_id``), its
quantity and its unit (``EA``, ``M``...), described by its name cut to SAP's 40 characters.
A part SAP has no material for (or no unit) refuses the whole trigger, naming the part: SAP
is never sent part of a bill. Its ``message_uuid`` is the trigger's, so a trigger sent again
is the same request to SAP, which makes it once.

``InvoiceRequest`` is plain data in SAP's terms, not the connector's ``BillingRequest``:
mappings and connectors do not import each other, so the outbox's SAP destination, which
sees both, copies one into the other; the connector checks SAP's limits and writes the SOAP
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import ValidationError

from mappings.canonical import BillingLine, BillingTrigger
from mappings.errors import MappingError, invalid
from mappings.sap.inbound import SYSTEM

__all__ = [
    "DEFAULT_LABOUR_PRODUCT",
    "HOURS",
    "LABOUR",
    "TRAVEL",
    "InvoiceLine",
    "InvoiceRequest",
    "invoice_request",
    "read_trigger",
]

ENTITY = "billing_trigger"
DEFAULT_LABOUR_PRODUCT = "S-FIELD-LABOUR"  # SAP's service product for field labour
LABOUR = "Field service labour"  # the labour line's description
TRAVEL = "Field service travel"  # a travel line's
HOURS = "HUR"  # SAP's unit code for hours
DESCRIPTION_LENGTH = 40  # SAP's SHORT_Description
PRODUCT_LENGTH = 40  # SAP's ProductInternalID


@dataclass(frozen=True)
class InvoiceLine:
    """One line to bill: SAP's product (its ``InternalID``), a description, a quantity and
    SAP's unit code."""

    product_id: str
    description: str
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class InvoiceRequest:
    """A customer invoice request: ``message_uuid`` its idempotency key, ``document_id`` our
    document (the order's tracking code), ``buyer_id`` the SAP customer's ``InternalID``,
    ``name`` its title, ``items`` its lines, ``currency`` an ISO 4217 code (None: the
    buyer's)."""

    message_uuid: str
    document_id: str
    buyer_id: str
    name: str
    items: tuple[InvoiceLine, ...]
    currency: str | None = None


def read_trigger(payload: Mapping[str, Any]) -> BillingTrigger:
    """An outbox row's payload as a ``BillingTrigger``; ``MappingError`` naming the first
    field that is missing or does not validate."""
    try:
        return BillingTrigger.model_validate(payload)
    except ValidationError as exc:
        key = payload.get("tracking_code") if isinstance(payload, Mapping) else None
        raise invalid(SYSTEM, ENTITY, key if isinstance(key, str) else "?", exc) from None


def invoice_request(
    trigger: BillingTrigger, *, labour_product: str, currency: str | None = None
) -> InvoiceRequest:
    """The request SAP is to make of ``trigger`` (see the module), one item per billed line
    in order; ``MappingError`` on ``customer`` when the order has no SAP customer, on
    ``lines[<n>].sap_product_id`` (or ``.unit``) naming a part SAP cannot bill."""
    customer = trigger.customer
    if customer is None or customer.source_system != SYSTEM or not customer.external_id:
        where = "none" if customer is None else f"{customer.source_system}:{customer.external_id}"
        raise MappingError(
            SYSTEM,
            ENTITY,
            trigger.tracking_code,
            "customer",
            f"the order's customer ({where}) is not an SAP customer, so SAP has no buyer to bill",
        )
    items = tuple(
        _item(trigger.tracking_code, number, line, labour_product)
        for number, line in enumerate(trigger.billed())
    )
    return InvoiceRequest(
        message_uuid=str(trigger.message_uuid),
        document_id=trigger.tracking_code,
        buyer_id=customer.external_id,
        name=(trigger.summary or trigger.tracking_code)[:255],
        items=items,
        currency=currency,
    )


def _item(document: str, number: int, line: BillingLine, labour_product: str) -> InvoiceLine:
    """One billed line as SAP's item (``number``: its place among the trigger's lines)."""
    quantity = Decimal(str(line.quantity))
    if line.kind == "labour":
        hours = quantity.quantize(Decimal("0.01"), ROUND_HALF_UP)
        return InvoiceLine(
            labour_product, TRAVEL if line.activity == "travel" else LABOUR, hours, HOURS
        )
    product, unit = line.sap_product_id, line.unit
    if not product:
        why = "has no sap_product_id in the parts catalogue"
        raise _unbillable(document, number, line, "sap_product_id", why)
    if len(product) > PRODUCT_LENGTH:
        why = f"has a sap_product_id longer than SAP's {PRODUCT_LENGTH} characters"
        raise _unbillable(document, number, line, "sap_product_id", why)
    if not unit:
        why = "has no unit in the parts catalogue"
        raise _unbillable(document, number, line, "unit", why)
    name = line.name or str(line.part_code)
    return InvoiceLine(product, name[:DESCRIPTION_LENGTH], quantity, unit)


def _unbillable(
    document: str, number: int, line: BillingLine, field: str, why: str
) -> MappingError:
    """The refusal of a part SAP cannot bill: the line's field, and the part by its code."""
    return MappingError(
        SYSTEM, ENTITY, document, f"lines[{number}].{field}",
        f"part {line.part_code} {why}, so SAP cannot bill it",
    )  # fmt: skip
