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
    r = Reader(entity, section.sobject, raw)
    external_id = r.record_id("Id", required=True)
    stamp = r.timestamp("SystemModstamp", required=True)
    assert external_id is not None and stamp is not None  # both required: read or raised
    model = MODELS[entity]
    if r.flag("IsDeleted"):
        return Mapped(SYSTEM, entity, external_id, stamp, True, model)
    if section.record_types:
        kind = r.text(RECORD_TYPE)
        if kind not in section.record_types:
            shown = repr(kind) if kind else "none"
            raise r.error(
                RECORD_TYPE,
                f"record type {shown} is not mapped ({', '.join(section.record_types)})",
            )
    fieldbridge_id = r.text(section.external_id_field)
    draft = _Draft()
    _BUILDERS[entity](mapping, r, draft)
    data = {"source_system": SYSTEM, "external_id": external_id, **draft.data}
    standins = {name: _ID_STANDIN for name in draft.refs}
    try:
        checked = model.model_validate({**data, **standins})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "record"
        raise r.error(draft.sources.get(name, name), first["msg"]) from None
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


def _customer(mapping: SalesforceConfig, r: Reader, d: _Draft) -> None:
    a = mapping.account
    d.put("name", r.text(a.name, required=True), a.name)
    if a.phone:
        d.put("phone", r.text(a.phone), a.phone)
    if a.email:
        d.put("email", r.email(a.email), a.email)


def _site(mapping: SalesforceConfig, r: Reader, d: _Draft) -> None:
    a = mapping.account
    d.put("name", r.text(a.name, required=True), a.name)
    fields = a.address_fields
    parts = [r.text(f) for f in fields]
    # One line: a multi-line street's lines, then the city and the rest, comma-separated.
    lines = [" ".join(line.split()) for p in parts if p for line in p.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise r.error(fields[0], f"no address ({', '.join(fields)} empty)")
    d.put("address", ", ".join(lines), fields[0])
    latitude, longitude = _position(mapping, r)
    d.put("latitude", latitude, a.latitude)
    d.put("longitude", longitude, a.longitude)
    d.put("time_zone", _time_zone(mapping, r, latitude, longitude), a.time_zone or a.latitude)
    if a.access_notes:
        d.put("access_notes", r.text(a.access_notes), a.access_notes)
    d.ref("customer_id", "customer", r.external_id, "Id")


def _position(mapping: SalesforceConfig, r: Reader) -> tuple[float, float]:
    a = mapping.account
    why = "required: a site needs coordinates (geocode the billing address)"
    latitude = r.number(a.latitude)
    if latitude is None:
        raise r.error(a.latitude, why)
    longitude = r.number(a.longitude)
    if longitude is None:
        raise r.error(a.longitude, why)
    if not -90 <= latitude <= 90:
        raise r.error(a.latitude, "outside -90..90")
    if not -180 <= longitude <= 180:
        raise r.error(a.longitude, "outside -180..180")
    if latitude == 0 and longitude == 0:
        raise r.error(a.latitude, "0, 0 is where a failed geocode lands, not a site")
    return latitude, longitude


def _time_zone(mapping: SalesforceConfig, r: Reader, latitude: float, longitude: float) -> str:
    """The org's own field when it has one and it is set, else the zone at the coordinates,
    else the mapping's default for the org."""
    a = mapping.account
    if a.time_zone:
        given = r.text(a.time_zone)
        if given is not None:
            if given not in KNOWN_TIME_ZONES:
                raise r.error(a.time_zone, "not an IANA time zone (such as Europe/Berlin)")
            return given
    if mapping.time_zone_from_coordinates:
        found = zone_at(latitude, longitude)
        if found in KNOWN_TIME_ZONES:
            return found
    if mapping.default_time_zone:
        return mapping.default_time_zone
    raise r.error(a.latitude, "no time zone for these coordinates and no default_time_zone")


@cache
def _finder() -> TimezoneFinder:
    from timezonefinder import TimezoneFinder  # loads its data once, on the first site

    return TimezoneFinder()


def zone_at(latitude: float, longitude: float) -> str | None:
    """The IANA zone at a point (at sea: an ``Etc/GMT`` zone), from timezonefinder's data."""
    return _finder().timezone_at(lat=latitude, lng=longitude)


def _contact(mapping: SalesforceConfig, r: Reader, d: _Draft) -> None:
    c = mapping.contact
    if c.first_name:
        d.put("first_name", r.text(c.first_name), c.first_name)
    d.put("last_name", r.text(c.last_name, required=True), c.last_name)
    if c.email:
        d.put("email", r.email(c.email), c.email)
    if c.phone:
        d.put("phone", r.text(c.phone), c.phone)
    if c.account:
        d.ref("customer_id", "customer", r.record_id(c.account), c.account)


def _asset(mapping: SalesforceConfig, r: Reader, d: _Draft) -> None:
    s = mapping.asset
    account = r.record_id(s.account)
    if account is None:
        raise r.error(s.account, "required: an asset is placed at its account's site")
    d.ref("site_id", "site", account, s.account)
    d.put("serial", r.text(s.serial, required=True), s.serial)
    if s.name:
        d.put("name", r.text(s.name), s.name)
    if s.model:
        d.put("model", r.text(s.model), s.model)


def _work_order(mapping: SalesforceConfig, r: Reader, d: _Draft) -> None:
    w = mapping.work_order
    d.state = r.picklist(w.status, w.status_in, required=True)
    d.remote_status = r.text(w.status)
    d.put("summary", r.text(w.subject, required=True), w.subject)
    if w.description:
        d.put("description", r.text(w.description), w.description)
    if w.priority:
        d.put("priority", r.picklist(w.priority, w.priority_in), w.priority)
    if w.account:
        account = r.record_id(w.account)
        d.ref("customer_id", "customer", account, w.account)
        d.ref("site_id", "site", account, w.account)  # the account's site (its billing address)
    if w.asset:
        d.ref("asset_id", "asset", r.record_id(w.asset), w.asset)
    if w.contact:
        d.ref("contact_id", "contact", r.record_id(w.contact), w.contact)
    if w.actual_start and w.actual_end:
        start, end = r.timestamp(w.actual_start), r.timestamp(w.actual_end)
        if start is not None and end is not None and end < start:
            raise r.error(w.actual_end, f"before {w.actual_start} ({r.text(w.actual_start)})")


_BUILDERS: dict[Entity, Callable[[SalesforceConfig, Reader, _Draft], None]] = {
    "customer": _customer,
    "site": _site,
    "contact": _contact,
    "asset": _asset,
    "work_order": _work_order,
}
