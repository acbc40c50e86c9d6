"""SAP Business ByDesign's mapping: a customer (billing account) of QueryCustomerIn -> a customer.

A record is the ``Customer`` element as the SAP connector hands it on, made JSON-safe (dates as
ISO 8601 text): ``InternalID`` (the key), ``SystemAdministrativeData/LastChangeDateTime`` (the
change stamp), ``LifeCycleStatusCode``, ``Organisation/FirstLineName`` (and ``SecondLineName``)
or ``Person/GivenName`` and ``FamilyName``, and ``AddressInformation``'s first ``EmailURI``
and telephone. SAP's queries carry no deletion flag: a customer set to the life-cycle status
``obsolete_status`` (ByDesign's 4, Obsolete) becomes a tombstone, and one that disappears is
found by reconciliation. What cannot be read raises ``MappingError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mappings.canonical import Customer, looks_like_email
from mappings.errors import MappingError
from mappings.records import Entity, Mapped

__all__ = ["SYSTEM", "SAPMapping", "change_stamp"]

SYSTEM = "sap"
STAMP = ("SystemAdministrativeData", "LastChangeDateTime")


def change_stamp(raw: Mapping[str, Any]) -> datetime | None:
    """A customer's ``LastChangeDateTime`` (aware UTC), or None when it has none."""
    admin = raw.get(STAMP[0])
    value = admin.get(STAMP[1]) if isinstance(admin, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


class SAPMapping(BaseModel):
    """The mapping for one ByDesign tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    obsolete_status: str = "4"  # LifeCycleStatusCode of a customer no longer in use

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """One QueryCustomerIn record as a customer (``InboundMap``)."""
        if entity != "customer":
            raise KeyError(f"SAP's QueryCustomerIn holds customers, not {entity}s")
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
            first = exc.errors()[0]
            raise refused(".".join(map(str, first["loc"])) or "record", first["msg"]) from None
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

    def remote_field(self, entity: Entity, ref: str) -> str:
        """SAP customers name no other record (``InboundMap``)."""
        return ref


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


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
