"""SAP Business ByDesign's records in: a customer (billing account) of QueryCustomerIn -> a
customer; a piece of equipment (identified stock) of QueryIdentifiedStocksIn -> an asset.

A record is the ``Customer`` element as the SAP connector hands it on, made JSON-safe (dates as
ISO 8601 text): ``InternalID`` (the key), ``SystemAdministrativeData/LastChangeDateTime`` (the
change stamp), ``LifeCycleStatusCode``, ``Organisation/FirstLineName`` (and ``SecondLineName``)
or ``Person/GivenName`` and ``FamilyName``, and ``AddressInformation``'s first ``EmailURI``
and telephone. SAP's queries carry no deletion flag: a customer set to the life-cycle status
``obsolete_status`` (ByDesign's 4, Obsolete) becomes a tombstone, and one that disappears is
found by reconciliation. What cannot be read raises ``MappingError`` naming the field.

Equipment: ``IdentifiedStockID`` (the key), ``ExternalIdentifiedStockID`` (the
manufacturer's serial number; the key when there is none) as the serial, ``ProductID`` as the
model and the ``Description`` in ``language`` (else the first) as the name. SAP's answer
carries no change date-time for identified stock, so the stream stamps each record with the
moment it asked (``READ_AT``). SAP does not say where a unit stands: an asset from SAP
arrives unplaced and keeps the site a dispatcher gives it. Life-cycle status
``obsolete_status`` makes it a tombstone, as for customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mappings.canonical import Asset, Customer, looks_like_email
from mappings.errors import MappingError, invalid
from mappings.records import Entity, Mapped, stamp_of

__all__ = ["READ_AT", "SYSTEM", "SAPMapping", "change_stamp"]

SYSTEM = "sap"
STAMP = ("SystemAdministrativeData", "LastChangeDateTime")
READ_AT = "_read_at"
"""Where a stream keeps the moment it asked for a record SAP sends without a change stamp."""


def change_stamp(raw: Mapping[str, Any]) -> datetime | None:
    """A customer's ``LastChangeDateTime`` (aware UTC), or None when it has none."""
    admin = raw.get(STAMP[0])
    return stamp_of(admin.get(STAMP[1]) if isinstance(admin, Mapping) else None)


class SAPMapping(BaseModel):
    """The mapping for one ByDesign tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    obsolete_status: str = "4"  # LifeCycleStatusCode of a record no longer in use
    language: str = "EN"  # the Description read as an asset's name, when SAP has it

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """One QueryCustomerIn record as a customer, or one QueryIdentifiedStocksIn record as
        an asset (``InboundMap``)."""
        if entity == "asset":
            return self._equipment(raw)
        if entity != "customer":
            raise KeyError(f"SAP's mapping reads customers and assets, not {entity}s")
        key = raw.get("InternalID") if isinstance(raw, Mapping) else None
        external_id = key.strip() if isinstance(key, str) and key.strip() else "?"

        def refused(field: str, reason: str) -> MappingError:
            return MappingError(SYSTEM, "customer", external_id, field, reason)

        if external_id == "?":
            raise refused("InternalID", "required, but empty")
        stamp = change_stamp(raw)
        if stamp is None:
            raise refused("/".join(STAMP), "required: an ISO 8601 date-time with an offset")
        if raw.get("LifeCycleStatusCode") == self.obsolete_status:
            return Mapped(SYSTEM, "customer", external_id, stamp, True, Customer)
        name = _name(raw)
        if name is None:
            raise refused("Organisation/FirstLineName", "required: a customer needs a name")
        email, phone = _contact(raw)
        if email is not None and not looks_like_email(email):
            raise refused("AddressInformation/Address/EmailURI", "not an e-mail address")
        data = {
            "source_system": SYSTEM,
            "external_id": external_id,
            "name": name,
            "email": email,
            "phone": phone,
        }
        try:
            Customer.model_validate(data)
        except ValidationError as exc:
            raise invalid(SYSTEM, "customer", external_id, exc) from None
        return Mapped(
            SYSTEM,
            "customer",
            external_id,
            stamp,
            False,
            Customer,
            data=data,
            owned_fields=frozenset(data),
        )

    def _equipment(self, raw: Mapping[str, Any]) -> Mapped[Any]:
        external_id = _text(_content(raw.get("IdentifiedStockID"))) or "?"

        def refused(field: str, reason: str) -> MappingError:
            return MappingError(SYSTEM, "asset", external_id, field, reason)

        if external_id == "?":
            raise refused("IdentifiedStockID", "required, but empty")
        stamp = stamp_of(raw.get(READ_AT))
        if stamp is None:
            raise refused(READ_AT, "required: the moment the record was read, with an offset")
        status = raw.get("LifeCycleStatusCode")
        if isinstance(status, Mapping):  # IdentifiedStockStatus wraps the code
            status = status.get("LifeCycleStatusCode")
        if status == self.obsolete_status:
            return Mapped(SYSTEM, "asset", external_id, stamp, True, Asset)
        data = {
            "source_system": SYSTEM,
            "external_id": external_id,
            "serial": _text(_content(raw.get("ExternalIdentifiedStockID"))) or external_id,
            "model": _text(_content(raw.get("ProductID"))),
            "name": self._description(raw.get("Description")),
        }
        try:
            Asset.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = {"serial": "ExternalIdentifiedStockID", "model": "ProductID"}.get(
                str(first["loc"][0]), "Description"
            )
            raise refused(field, first["msg"]) from None
        return Mapped(
            SYSTEM,
            "asset",
            external_id,
            stamp,
            False,
            Asset,
            data=data,
            owned_fields=frozenset(data),  # not site_id: SAP does not say where it stands
        )

    def _description(self, value: Any) -> str | None:
        texts = value if isinstance(value, list) else [value]

        def language(description: Any) -> Any:
            return description.get("languageCode") if isinstance(description, Mapping) else None

        ordered = sorted(texts, key=lambda d: language(d) != self.language)  # ours first
        return next(filter(None, (_text(_content(d)) for d in ordered)), None)

    def remote_field(self, entity: Entity, ref: str) -> str:
        """SAP's records name no other record (``InboundMap``)."""
        return ref


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _content(value: Any) -> Any:
    """A simple-content element's text: zeep keeps it as ``_value_1`` beside attributes."""
    return value.get("_value_1") if isinstance(value, Mapping) else value


def _name(raw: Mapping[str, Any]) -> str | None:
    org = raw.get("Organisation")
    if isinstance(org, Mapping):
        lines = [_text(org.get(k)) for k in ("FirstLineName", "SecondLineName")]
        if lines[0]:
            return " ".join(line for line in lines if line)
    person = raw.get("Person")
    if isinstance(person, Mapping):
        parts = [_text(person.get(k)) for k in ("GivenName", "FamilyName")]
        if parts[1]:
            return " ".join(p for p in parts if p)
    return None


def _contact(raw: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The first e-mail address and the first telephone number of the customer's addresses."""
    email = phone = None
    for info in raw.get("AddressInformation") or ():
        address = info.get("Address") if isinstance(info, Mapping) else None
        if not isinstance(address, Mapping):
            continue
        email = email or _text(address.get("EmailURI"))
        for telephone in address.get("Telephone") or ():
            if isinstance(telephone, Mapping):
                phone = phone or _text(telephone.get("FormattedNumberDescription"))
    return email, phone
