"""Salesforce records in: Account -> Customer and Site, Contact, Asset, WorkOrder -> intake.

``to_canonical(mapping, entity, raw)`` maps one raw record to one canonical entity (an
Account is read twice: once as its customer, once as its site, so a site that cannot be
mapped is quarantined on its own and the customer still comes in). The external id is the
record's 18-character Salesforce id; references to other records are the ids the record
holds, resolved by the engine. A deleted record (``IsDeleted``) maps to a tombstone whatever
its other fields hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mappings import canonical
from mappings.canonical import KNOWN_TIME_ZONES
from mappings.records import Entity, ExternalRef, Mapped
from mappings.salesforce.config import RECORD_TYPE, SYSTEM, SalesforceConfig
from mappings.salesforce.values import Reader

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

MODELS: dict[Entity, type[BaseModel]] = {
    "customer": canonical.Customer,
    "site": canonical.Site,
    "contact": canonical.Contact,
    "asset": canonical.Asset,
    "work_order": canonical.WorkOrder,
}
_ID_STANDIN = 1  # a reference's place while its record is not resolved: ids are >= 1


@dataclass(slots=True)
class _Draft:
    """The canonical fields read so far, where each came from, and the references."""

    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    refs: dict[str, ExternalRef] = field(default_factory=dict)
    state: str | None = None
    remote_status: str | None = None

    def put(self, name: str, value: Any, source: str) -> None:
        self.data[name] = value
        self.sources[name] = source

    def ref(self, name: str, entity: Entity, remote_id: str | None, source: str) -> None:
        self.sources[name] = source
        if remote_id is not None:
            self.refs[name] = ExternalRef(SYSTEM, entity, remote_id)


def to_canonical(mapping: SalesforceConfig, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
    """One raw record of ``mapping.section(entity).sobject`` as one canonical ``entity``.

    Raises ``MappingError`` naming the record, the field and the reason when it cannot.
    """
    section = mapping.section(entity)
    read = Reader(entity, section.sobject, raw)
    external_id = read.record_id("Id", required=True)
    stamp = read.timestamp("SystemModstamp", required=True)
    assert external_id is not None and stamp is not None  # nosec B101  # both required: read or raised
    model = MODELS[entity]
    if read.flag("IsDeleted"):
        return Mapped(SYSTEM, entity, external_id, stamp, True, model)
    if section.record_types:
        kind = read.text(RECORD_TYPE)
        if kind not in section.record_types:
            shown = repr(kind) if kind else "none"
            raise read.error(
                RECORD_TYPE,
                f"record type {shown} is not mapped ({', '.join(section.record_types)})",
            )
    fieldbridge_id = read.text(section.external_id_field)
    draft = _Draft()
    _BUILDERS[entity](mapping, read, draft)
    data = {"source_system": SYSTEM, "external_id": external_id, **draft.data}
    standins = {name: _ID_STANDIN for name in draft.refs}
    try:
        checked = model.model_validate({**data, **standins})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "record"
        raise read.error(draft.sources.get(name, name), first["msg"]) from None
    return Mapped(
        SYSTEM,
        entity,
        external_id,
        stamp,
        False,
        model,
        data={name: getattr(checked, name) for name in data},
        refs=draft.refs,
        owned_fields=frozenset(draft.sources),
        fieldbridge_id=fieldbridge_id,
        state=draft.state,
        remote_status=draft.remote_status,
    )


# -- one builder per entity -------------------------------------------------------------------


def _customer(mapping: SalesforceConfig, read: Reader, draft: _Draft) -> None:
    account = mapping.account
    draft.put("name", read.text(account.name, required=True), account.name)
    if account.phone:
        draft.put("phone", read.text(account.phone), account.phone)
    if account.email:
        draft.put("email", read.email(account.email), account.email)


def _site(mapping: SalesforceConfig, read: Reader, draft: _Draft) -> None:
    account = mapping.account
    draft.put("name", read.text(account.name, required=True), account.name)
    fields = account.address_fields
    parts = [read.text(f) for f in fields]
    # One line: a multi-line street's lines, then the city and the rest, comma-separated.
    lines = [" ".join(line.split()) for p in parts if p for line in p.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise read.error(fields[0], f"no address ({', '.join(fields)} empty)")
    draft.put("address", ", ".join(lines), fields[0])
    latitude, longitude = _position(mapping, read)
    draft.put("latitude", latitude, account.latitude)
    draft.put("longitude", longitude, account.longitude)
    draft.put(
        "time_zone",
        _time_zone(mapping, read, latitude, longitude),
        account.time_zone or account.latitude,
    )
    if account.access_notes:
        draft.put("access_notes", read.text(account.access_notes), account.access_notes)
    draft.ref("customer_id", "customer", read.external_id, "Id")


def _position(mapping: SalesforceConfig, read: Reader) -> tuple[float, float]:
    account = mapping.account
    why = "required: a site needs coordinates (geocode the billing address)"
    latitude = read.number(account.latitude)
    if latitude is None:
        raise read.error(account.latitude, why)
    longitude = read.number(account.longitude)
    if longitude is None:
        raise read.error(account.longitude, why)
    if not -90 <= latitude <= 90:
        raise read.error(account.latitude, "outside -90..90")
    if not -180 <= longitude <= 180:
        raise read.error(account.longitude, "outside -180..180")
    if latitude == 0 and longitude == 0:
        raise read.error(account.latitude, "0, 0 is where a failed geocode lands, not a site")
    return latitude, longitude


def _time_zone(mapping: SalesforceConfig, read: Reader, latitude: float, longitude: float) -> str:
    """The org's own field when it has one and it is set, else the zone at the coordinates,
    else the mapping's default for the org."""
    account = mapping.account
    if account.time_zone:
        given = read.text(account.time_zone)
        if given is not None:
            if given not in KNOWN_TIME_ZONES:
                raise read.error(account.time_zone, "not an IANA time zone (such as Europe/Berlin)")
            return given
    if mapping.time_zone_from_coordinates:
        found = zone_at(latitude, longitude)
        if found in KNOWN_TIME_ZONES:
            return found
    if mapping.default_time_zone:
        return mapping.default_time_zone
    raise read.error(
        account.latitude, "no time zone for these coordinates and no default_time_zone"
    )


@cache
def _finder() -> TimezoneFinder:
    from timezonefinder import TimezoneFinder  # loads its data once, on the first site

    return TimezoneFinder()


def zone_at(latitude: float, longitude: float) -> str | None:
    """The IANA zone at a point (at sea: an ``Etc/GMT`` zone), from timezonefinder's data."""
    return _finder().timezone_at(lat=latitude, lng=longitude)


def _contact(mapping: SalesforceConfig, read: Reader, draft: _Draft) -> None:
    contact = mapping.contact
    if contact.first_name:
        draft.put("first_name", read.text(contact.first_name), contact.first_name)
    draft.put("last_name", read.text(contact.last_name, required=True), contact.last_name)
    if contact.email:
        draft.put("email", read.email(contact.email), contact.email)
    if contact.phone:
        draft.put("phone", read.text(contact.phone), contact.phone)
    if contact.account:
        draft.ref("customer_id", "customer", read.record_id(contact.account), contact.account)


def _asset(mapping: SalesforceConfig, read: Reader, draft: _Draft) -> None:
    asset = mapping.asset
    account = read.record_id(asset.account)
    if account is None:
        raise read.error(asset.account, "required: an asset is placed at its account's site")
    draft.ref("site_id", "site", account, asset.account)
    draft.put("serial", read.text(asset.serial, required=True), asset.serial)
    if asset.name:
        draft.put("name", read.text(asset.name), asset.name)
    if asset.model:
        draft.put("model", read.text(asset.model), asset.model)


def _work_order(mapping: SalesforceConfig, read: Reader, draft: _Draft) -> None:
    work_order = mapping.work_order
    draft.state = read.picklist(work_order.status, work_order.status_in, required=True)
    draft.remote_status = read.text(work_order.status)
    draft.put("summary", read.text(work_order.subject, required=True), work_order.subject)
    if work_order.description:
        draft.put("description", read.text(work_order.description), work_order.description)
    if work_order.priority:
        draft.put(
            "priority",
            read.picklist(work_order.priority, work_order.priority_in),
            work_order.priority,
        )
    if work_order.account:
        account = read.record_id(work_order.account)
        draft.ref("customer_id", "customer", account, work_order.account)
        draft.ref(
            "site_id", "site", account, work_order.account
        )  # the account's site (its billing address)
    if work_order.asset:
        draft.ref("asset_id", "asset", read.record_id(work_order.asset), work_order.asset)
    if work_order.contact:
        draft.ref("contact_id", "contact", read.record_id(work_order.contact), work_order.contact)
    if work_order.actual_start and work_order.actual_end:
        start, end = read.timestamp(work_order.actual_start), read.timestamp(work_order.actual_end)
        if start is not None and end is not None and end < start:
            raise read.error(
                work_order.actual_end,
                f"before {work_order.actual_start} ({read.text(work_order.actual_start)})",
            )


_BUILDERS: dict[Entity, Callable[[SalesforceConfig, Reader, _Draft], None]] = {
    "customer": _customer,
    "site": _site,
    "contact": _contact,
    "asset": _asset,
    "work_order": _work_order,
}
