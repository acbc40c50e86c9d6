"""The canonical model: what a customer, site, technician or work type *is* to fieldbridge.

These models validate input from any source (the API, a connector's mapping) and
hold the pure rules that belong to the data itself, such as which UTC intervals a
technician works on a given local date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, get_args
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

_ZONES: frozenset[str] = frozenset(available_timezones())


def _iana_zone(value: str) -> str:
    # The set holds every zone this machine knows (system zoneinfo and the tzdata package).
    if value not in _ZONES:
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


TimeZoneName = Annotated[str, AfterValidator(_iana_zone)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
MAX_ID = 2**63 - 1  # a signed 64-bit key, as on SQLite and PostgreSQL
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a local time HH:MM")
    return value


LocalTime = Annotated[str, AfterValidator(_hhmm)]


def parse_hhmm(value: str) -> tuple[int, int]:
    hours, minutes = value.split(":")
    return int(hours), int(minutes)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourceRef(Model):
    """Where a row came from when a system of record owns it."""

    source_system: Annotated[str, StringConstraints(max_length=32)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=128)] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> SourceRef:
        if (self.source_system is None) != (self.external_id is None):
            missing = "external_id" if self.external_id is None else "source_system"
            raise ValueError(f"{missing} is required with the other of source_system/external_id")
        return self


class Division(Model):
    code: Code
    name: Name


class Territory(Model):
    code: Code
    name: Name
    division_id: Id | None = None


class Customer(SourceRef):
    name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class Site(SourceRef):
    customer_id: Id | None = None
    name: Name
    address: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    latitude: Latitude
    longitude: Longitude
    time_zone: TimeZoneName
    access_notes: Annotated[str, StringConstraints(max_length=4000)] | None = None
    territory_id: Id | None = None


class Asset(SourceRef):
    """A piece of equipment. ``site_id`` None: not placed yet (SAP's equipment arrives
    without a place; a dispatcher places it, and the sync keeps the place)."""

    site_id: Id | None = None
    serial: Code
    model: Annotated[str, StringConstraints(max_length=200)] | None = None
    name: Annotated[str, StringConstraints(max_length=300)] | None = None


class Certification(SourceRef):
    code: Code
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    issuer: Annotated[str, StringConstraints(max_length=200)] | None = None
    number: Annotated[str, StringConstraints(max_length=128)] | None = None
    issued_on: date | None = None
    expires_on: date | None = None

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> Certification:
        if self.issued_on and self.expires_on and self.expires_on < self.issued_on:
            raise ValueError("expires_on is before issued_on")
        return self

    def valid_on(self, day: date) -> bool:
        """Valid on a local date: issued by then and not yet expired (the expiry day counts)."""
        if self.issued_on and day < self.issued_on:
            return False
        return not (self.expires_on and day > self.expires_on)


class Interval(Model):
    """A span of local wall-clock time within one day, e.g. ``08:00``-``17:00``."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if parse_hhmm(self.end) <= parse_hhmm(self.start):
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursException(Model):
    """A dated change to the weekly hours: other hours that day, or none (``hours: []``)."""

    date: date
    hours: list[Interval] = Field(default_factory=list)
    reason_code: Code | None = None


class BreakRule(Model):
    """A break of ``minutes`` to be taken within a local window (e.g. lunch 12:00-14:00)."""

    window: Interval
    minutes: int = Field(gt=0, le=240)


def local_to_utc(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    """A local wall time on a date to UTC; ``24:00`` is the next midnight.

    A time in a DST gap moves forward by the gap (as clocks do); in a fold, the first
    (earlier) occurrence is taken.
    """
    hours, minutes = parse_hhmm(hhmm)
    if hours == 24:
        day, hours = day + timedelta(days=1), 0
    # PEP 495: with fold=0 a gap time takes the offset before the change, landing later by the gap.
    return datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)


class Technician(SourceRef):
    name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    skills: list[Code] = Field(default_factory=list)
    certifications: list[Certification] = Field(default_factory=list)
    home_latitude: Latitude
    home_longitude: Longitude
    time_zone: TimeZoneName
    weekly_hours: dict[Weekday, list[Interval]] = Field(default_factory=dict)
    hours_exceptions: list[HoursException] = Field(default_factory=list)
    break_rule: BreakRule | None = None
    van_stock: dict[Code, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    """What the van carries, by part code: whole units, or metres and litres; a part used
    from the van takes its quantity off (``orchestrator.field.facts``)."""
    territory_id: Id | None = None

    @field_validator("skills")
    @classmethod
    def _unique_skills(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("hours_exceptions")
    @classmethod
    def _one_exception_per_date(cls, value: list[HoursException]) -> list[HoursException]:
        dates = [e.date for e in value]
        dupes = sorted({d for d in dates if dates.count(d) > 1})
        if dupes:
            raise ValueError(f"more than one exception for {dupes[0].isoformat()}")
        return sorted(value, key=lambda e: e.date)

    def hours_on(self, day: date) -> list[Interval]:
        for exception in self.hours_exceptions:
            if exception.date == day:
                return exception.hours
        return self.weekly_hours.get(WEEKDAYS[day.weekday()], [])

    def shifts_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC intervals worked on a local date: wall-clock hours, right across DST changes."""
        zone = ZoneInfo(self.time_zone)
        return [
            (local_to_utc(day, i.start, zone), local_to_utc(day, i.end, zone))
            for i in self.hours_on(day)
        ]

    def certified_on(self, code: str, day: date) -> bool:
        return any(c.code == code and c.valid_on(day) for c in self.certifications)


class ChecklistItem(Model):
    code: Code
    label: Name
    required: bool = True


class WorkType(Model):
    code: Code
    name: Name
    default_duration_min: int = Field(gt=0, le=24 * 60)
    required_skills: list[Code] = Field(default_factory=list)
    required_certifications: list[Code] = Field(default_factory=list)
    checklist: list[ChecklistItem] = Field(default_factory=list)
    min_photos: int = Field(default=0, ge=0, le=100)
    signature_required: bool = False
    resolution_codes: list[Code] = Field(default_factory=list, max_length=100)
    """The codes a completion names (fixed, replaced, temporary...); none: it names none."""
    parts: dict[Code, Annotated[int, Field(ge=1, le=10_000)]] = Field(default_factory=dict)
    """The parts a job of this type takes (the catalogue's codes) and how many: the van must
    carry them for the scheduler to send it, and the day's packet lists them."""

    @field_validator("checklist")
    @classmethod
    def _unique_codes(cls, value: list[ChecklistItem]) -> list[ChecklistItem]:
        codes = [item.code for item in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"checklist item code {dupes[0]!r} appears more than once")
        return value

    @field_validator("resolution_codes")
    @classmethod
    def _unique_resolutions(cls, value: list[str]) -> list[str]:
        dupes = sorted({c for c in value if value.count(c) > 1})
        if dupes:
            raise ValueError(f"resolution code {dupes[0]!r} appears more than once")
        return value


UnitCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z0-9]{1,3}$")]
"""A unit of measure as SAP codes it (UN/ECE Recommendation 20): EA each, HUR hour, M metre."""
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code."""


class Part(Model):
    """A part in the catalogue: our ``code`` for it, its unit, the ids the systems of record
    know it by (SAP's material, billed; Salesforce's product code, consumed) and an optional
    unit price in a currency."""

    code: Code
    name: Name
    unit: UnitCode
    sap_product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    salesforce_product_code: (
        Annotated[str, StringConstraints(min_length=1, max_length=64)] | None
    ) = None
    unit_price: Annotated[float, Field(ge=0, le=1_000_000_000)] | None = None
    currency: CurrencyCode | None = None

    @model_validator(mode="after")
    def _priced(self) -> Part:
        if (self.unit_price is None) != (self.currency is None):
            missing = "currency" if self.currency is None else "unit_price"
            raise ValueError(f"{missing} is required with the other of unit_price/currency")
        return self


class WorkOrder(SourceRef):
    """An order as raised (intake). Lifecycle state is the orchestrator's, not input."""

    summary: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    customer_id: Id | None = None
    site_id: Id | None = None
    asset_id: Id | None = None
    contact_id: Id | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    division_id: Id | None = None
    work_type_id: Id | None = None


def jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


# -- Sync and write-back: what the per-system maps read and produce -------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def looks_like_email(value: str) -> bool:
    """One ``@``, no spaces, a dotted domain: what a mapping asks of an e-mail address (the
    systems of record check more, or less, themselves)."""
    return _EMAIL.match(value) is not None


KNOWN_TIME_ZONES: frozenset[str] = _ZONES  # every IANA zone ``TimeZoneName`` accepts here

# The work-order lifecycle's states, as the orchestrator's table names them
# (``orchestrator.domain.lifecycle.State``; a unit test keeps the two equal). A system's
# status table maps to and from these, so they live here where ``mappings`` can see them.
LifecycleState = Literal[
    "new",
    "triaged",
    "scheduled",
    "dispatched",
    "in_progress",
    "on_hold",
    "completed",
    "cannot_complete",
    "closed",
    "cancelled",
]
LIFECYCLE_STATES: tuple[LifecycleState, ...] = get_args(LifecycleState)


class Contact(SourceRef):
    """A person at a customer (a CRM contact). ``customer_id`` is None for a private contact."""

    customer_id: Id | None = None
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    last_name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class PartUsed(Model):
    """A part consumed on a job: our part code and how many (fractions for metres, litres),
    every use of it on the job added up: a CRM holds one record per job and part."""

    code: Code
    quantity: Annotated[float, Field(gt=0, le=1_000_000)]


class CompletedJob(Model):
    """What the write-back tells a CRM about a finished work order.

    ``key`` is our stable id for the order (what a remote's external-id field holds);
    ``remote_id`` is the remote's own id when the order was raised there. The technician is
    named by ``technician_key`` (our stable id for them), never by name or contact details:
    personal data goes only into the remote record a map builds, not into this hand-off.
    """

    key: Code
    remote_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    state: LifecycleState
    summary: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    customer_remote_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    asset_remote_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    actual_start: AwareDatetime | None = None
    actual_end: AwareDatetime | None = None
    labour_minutes: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    visits: Annotated[int, Field(ge=1, le=1000)] = 1
    first_time_fix: bool = False
    technician_key: Code | None = None
    notes: Annotated[str, StringConstraints(max_length=32000)] | None = None
    parts: list[PartUsed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CompletedJob:
        if self.actual_start and self.actual_end and self.actual_end < self.actual_start:
            raise ValueError("actual_end is before actual_start")
        codes = [p.code for p in self.parts]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"part {dupes[0]!r} appears more than once (add the quantities)")
        return self


class RecordRef(Model):
    """Another row as the store knows it: its id here, and where it came from (the system of
    record and the row's id there; None for a row made here)."""

    id: Id
    source_system: Annotated[str, StringConstraints(max_length=32)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=128)] | None = None


HOURS = "HUR"  # the unit of a labour line: hours, as SAP codes them


class BillingLine(Model):
    """One line a closed order owes billing, in our terms.

    ``labour``: hours (``quantity``, unit ``HUR``) of one ``activity`` (``work`` or
    ``travel``) when the technician entered labour lines, or of the order's time in progress
    (no activity) when none were. ``part``: a part of the catalogue by our ``part_code``,
    every use of it on the order added up (``quantity`` in its ``unit``), with what the
    catalogue holds for it (its ``name``, SAP's material ``sap_product_id``, ``unit_price`` and
    ``currency``; each None when the catalogue has none, or no longer has the part). What a
    billing system cannot bill (a part SAP has no material for) is its map's refusal, not
    this model's: the line says what happened.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    kind: Literal["labour", "part"]
    activity: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    part_code: Code | None = None
    name: Annotated[str, StringConstraints(max_length=300)] | None = None
    sap_product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    quantity: Annotated[float, Field(gt=0, le=1_000_000)]
    unit: UnitCode | None = None
    unit_price: Annotated[float, Field(ge=0, le=1_000_000_000)] | None = None
    currency: CurrencyCode | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BillingLine:
        if self.kind == "labour":
            extra = [
                name
                for name in ("part_code", "name", "sap_product_id", "unit_price", "currency")
                if getattr(self, name) is not None
            ]
            if extra:
                raise ValueError(f"a labour line has no {extra[0]}")
            if self.unit != HOURS:
                raise ValueError(f"a labour line is in hours (unit {HOURS})")
        else:
            if self.part_code is None:
                raise ValueError("a part line names its part_code")
            if self.activity is not None:
                raise ValueError("a part line has no activity")
        return self

    @classmethod
    def labour(cls, minutes: int, activity: str | None = None) -> BillingLine:
        """A labour line of ``minutes``: hours to the hundredth, rounded half up, and at least
        one minute's worth (an order closed owes some labour, however quick)."""
        hours = (Decimal(max(minutes, 1)) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return cls(kind="labour", activity=activity, quantity=float(hours), unit=HOURS)

    def label(self) -> str:
        """The line as a person names it: ``labour``, ``labour (travel)``, ``part FD-16``."""
        if self.kind == "part":
            return f"part {self.part_code}"
        return f"labour ({self.activity})" if self.activity else "labour"


class BillingTrigger(Model):
    """What a closed work order owes billing, in our terms: the order (its id and
    ``tracking_code``, our key for it) and its ``summary``, its customer as the store knows it
    (None: it has none), when it closed, the minutes of labour over all its ``visits``,
    whether the first visit fixed it, its ``lines`` (the labour and the parts, each a
    ``BillingLine``), and ``message_uuid``: the billing request's idempotency key, the same
    however often the trigger is sent. Each billing system's map makes its own request of it
    (``mappings.sap.billing``).

    Every field must be present (``summary`` and ``customer`` may be None) but ``lines``: a
    trigger written before orders had lines has none, and owes its ``labour_minutes`` only
    (``billed``). Keys it does not name are ignored, so a row may carry more than billing
    reads.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    work_order_id: Id
    tracking_code: Code
    summary: Annotated[str, StringConstraints(max_length=300)] | None
    customer: RecordRef | None
    closed_at: AwareDatetime
    labour_minutes: Annotated[int, Field(ge=0)]
    visits: Annotated[int, Field(ge=0)]
    first_time_fix: bool
    message_uuid: UUID
    lines: tuple[BillingLine, ...] = ()

    def billed(self) -> tuple[BillingLine, ...]:
        """The lines to bill: ``lines``, or for a trigger without any, its labour minutes as
        one labour line."""
        return self.lines or (BillingLine.labour(self.labour_minutes),)


CertificationStatus = Literal["active", "suspended", "revoked"]


class HeldCertification(Certification):
    """A certification as its system of record (HR) holds it for one technician. Only an
    ``active`` one counts for dispatch, and only on the days it is valid."""

    technician_id: Id
    status: CertificationStatus = "active"


class TechnicianCertification(Model):
    """A technician's certification as pushed to a CRM: the technician by key, never by name."""

    technician_key: Code
    certification: Certification

    @property
    def key(self) -> str:
        """One remote record per technician and certification code: a renewal updates it."""
        return f"{self.technician_key}:{self.certification.code}"
