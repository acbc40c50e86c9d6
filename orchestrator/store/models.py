"""The store: SQLAlchemy 2 typed ORM tables. Migrations in ``orchestrator/migrations`` create them.

Times are ``UTCDateTime`` (aware UTC). Rows a system of record can own carry
``(source_system, external_id)``, unique together.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from orchestrator.store.db import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets bigint identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for statements that need no ORM objects (reads, appends)."""
    return cast(Table, model.__table__)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class SourceOwned:
    """A row a system of record may own: unique by (source_system, external_id)."""

    source_system: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(128))


class Synced:
    """A row a sync keeps: the remote's change stamp (SystemModstamp) of the version stored,
    and the time the remote deleted it (a tombstone: the row and its history stay)."""

    remote_stamp: Mapped[datetime | None] = mapped_column()
    deleted_at: Mapped[datetime | None] = mapped_column()


class Division(Timestamped, Base):
    __tablename__ = "divisions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Territory(Timestamped, Base):
    __tablename__ = "territories"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    division_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"))


class Customer(Timestamped, SourceOwned, Synced, Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))


class Site(Timestamped, SourceOwned, Synced, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    time_zone: Mapped[str] = mapped_column(String(64))
    access_notes: Mapped[str | None] = mapped_column(Text)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    """The code the organisation publishes for the site (on a sign, a letter), by which an
    anonymous service request names it: ids are never taken from anonymous callers."""


class Asset(Timestamped, SourceOwned, Synced, Base):
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    serial: Mapped[str] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))


class Contact(Timestamped, SourceOwned, Synced, Base):
    """A person at a customer (a CRM contact); ``customer_id`` None for a private contact."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))


class Technician(Timestamped, SourceOwned, Synced, Base):
    """A technician: entered by the office, or made by a sync (Workday's workers) with only
    what that system owns, the office's fields (home location, time zone, hours...) empty
    until the office fills them (``dispatchable`` says which are missing). ``active`` and
    ``unavailable`` (``[{"from": date, "to": date | null}]``: a termination from its date
    on, a leave for its dates) are the system of record's."""

    __tablename__ = "technicians"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    skills: Mapped[list[Any]] = mapped_column(default=list)
    home_latitude: Mapped[float | None] = mapped_column(Float)
    home_longitude: Mapped[float | None] = mapped_column(Float)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hours_exceptions: Mapped[list[Any]] = mapped_column(default=list)
    break_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    van_stock: Mapped[dict[str, Any]] = mapped_column(default=dict)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    unavailable: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    certifications: Mapped[list[Certification]] = relationship(
        back_populates="technician",
        cascade="all, delete-orphan",
        order_by="Certification.id",
        lazy="selectin",
    )


class Certification(SourceOwned, Synced, Base):
    """A certification a technician holds; from the HR system (``source_system`` ``hr``,
    ``external_id`` ``<worker>|<code>``) or entered with the technician. It counts for
    dispatch only while ``active``, not deleted at its source, and valid on the job's day."""

    __tablename__ = "certifications"
    __table_args__ = (UniqueConstraint("source_system", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    technician_id: Mapped[int] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    issuer: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(128))
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    technician: Mapped[Technician] = relationship(back_populates="certifications")

    @property
    def counts(self) -> bool:
        """Whether it counts for dispatch at all (on which days is ``valid_on``'s question)."""
        return self.status == "active" and self.deleted_at is None


class WorkType(Timestamped, Base):
    __tablename__ = "work_types"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_duration_min: Mapped[int] = mapped_column(Integer)
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    required_certifications: Mapped[list[Any]] = mapped_column(default=list)
    checklist: Mapped[list[Any]] = mapped_column(default=list)
    min_photos: Mapped[int] = mapped_column(Integer, default=0)
    signature_required: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_codes: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    """The codes a completion may be closed with; none listed, completion takes none."""
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    """The parts a job of this type takes, by code: how many."""


class WorkOrder(Timestamped, SourceOwned, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        Index("ix_work_orders_status_id", "status", "id"),
        Index("ix_work_orders_asset_closed", "asset_id", "closed_at"),  # an asset's history
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tracking_code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int | None] = mapped_column(Integer, index=True)
    summary: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    division_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    work_type_id: Mapped[int | None] = mapped_column(ForeignKey("work_types.id"))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"), index=True)
    window_start: Mapped[datetime | None] = mapped_column()
    window_end: Mapped[datetime | None] = mapped_column()
    requester_subject: Mapped[str | None] = mapped_column(String(200))
    checklist_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    first_checked_in_at: Mapped[datetime | None] = mapped_column()
    last_checked_in_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Kept by the inbound sync for an order a system of record also holds (raised there, or
    # written there by the write-back): the remote's change stamp of the version last read,
    # the remote status last seen there (an edit to it there is logged and ignored: the status
    # is ours), and when our key went into the remote record's external-id field (None: an
    # order raised there whose key is still to be written).
    remote_stamp: Mapped[datetime | None] = mapped_column()
    remote_status: Mapped[str | None] = mapped_column(String(64))
    remote_key_written_at: Mapped[datetime | None] = mapped_column()
    resolution_code: Mapped[str | None] = mapped_column(String(64))
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set when something outside the lifecycle makes the order's plan doubtful (its
    technician no longer dispatchable on its day); ``attention_reason`` says what. Nothing
    is moved: the office decides."""
    attention_reason: Mapped[str | None] = mapped_column(Text)
    site: Mapped[Site | None] = relationship(lazy="joined", viewonly=True)


class Note(Base):
    """Free text that belongs to an order. Events hold its id and hash, never the text.

    ``kind``: ``reason`` (why a move was made: ``state`` is the state it moved to, on_hold,
    cannot_complete, cancelled...), ``completion`` (the technician's account of the job) or
    ``note`` (a remark from the field). ``author`` and ``author_role`` say who wrote it;
    ``at`` is when it was written (the device's clock for a note made offline),
    ``created_at`` when it was stored."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str | None] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(200))
    author_role: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime | None] = mapped_column()
    op_id: Mapped[str | None] = mapped_column(String(36))


class Position(Base):
    """A GPS fix taken at check-in. Events hold its id and hash, never the coordinates."""

    __tablename__ = "positions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    """The id the device gave the upload (a UUID): a repeat with it is the same attachment."""


class Upload(Base):
    """A resumable upload under way (tus 1.0 at ``/api/v1/uploads``): the bytes so far in
    ``attachments root/.tus/<id>``; an attachment once the last byte is in and its SHA-256
    matches ``sha256``."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    attachment_client_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    subject: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    technician_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))


class Part(Timestamped, Base):
    """The parts catalogue: what may be used on a job, with its unit (SAP's unit codes: EA,
    HUR, M...), its ids at SAP (the material billed) and Salesforce (the product consumed),
    and an optional unit price."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    unit: Mapped[str] = mapped_column(String(8))
    sap_product_id: Mapped[str | None] = mapped_column(String(64))
    salesforce_product_code: Mapped[str | None] = mapped_column(String(64))
    unit_price: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))


class FieldFact:
    """A fact a technician records on an order, from the API or a device's op: who (``actor``,
    ``role``, ``technician_id``), when it happened (``at``, the device's clock) and was
    stored (``recorded_at``), and the device op that carried it (``op_id``; None from the
    office)."""

    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    op_id: Mapped[str | None] = mapped_column(String(36), unique=True)


class PartUse(FieldFact, Base):
    """A part used on an order: the code (the catalogue's), how many, and whether it came
    from the technician's van; ``off_van`` when it did not, or the van held fewer than
    used (the stock is never taken below zero: the flag says so)."""

    __tablename__ = "part_uses"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    part_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[float] = mapped_column(Float)
    from_van: Mapped[bool] = mapped_column(Boolean)
    off_van: Mapped[bool] = mapped_column(Boolean, default=False)


class LabourLine(FieldFact, Base):
    """Time worked on an order: ``activity`` travel or work, from ``start`` to ``end``."""

    __tablename__ = "labour_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    activity: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()


class Reading(FieldFact, Base):
    """A meter reading on an asset (``measure``, ``value``, ``unit``), taken at ``at``,
    on the order it was taken during (None: taken otherwise)."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_asset_at", "asset_id", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    measure: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))


class MaintenancePlan(Timestamped, Base):
    """A preventive maintenance plan: an asset (``asset_id``), or every asset of a model
    (``asset_model``), tied to a work type by an RFC 5545 recurrence rule (``rule``, from
    ``starts_on``), counted from the ``schedule`` or from the last ``completion``; orders
    appear ``horizon_days`` ahead, a plan's ``lead_days`` earlier still."""

    __tablename__ = "maintenance_plans"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    asset_model: Mapped[str | None] = mapped_column(String(200))
    work_type_id: Mapped[int] = mapped_column(ForeignKey("work_types.id"))
    rule: Mapped[str] = mapped_column(String(500))
    starts_on: Mapped[date] = mapped_column(Date)
    counts_from: Mapped[str] = mapped_column(String(16))
    horizon_days: Mapped[int] = mapped_column(Integer)
    lead_days: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class MaintenanceOccurrence(Base):
    """One occurrence of a plan on one asset, made once: (plan, asset, due date) is unique,
    so two generators at once make it once; the order made for it."""

    __tablename__ = "maintenance_occurrences"
    __table_args__ = (UniqueConstraint("plan_id", "asset_id", "due_on"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("maintenance_plans.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    due_on: Mapped[date] = mapped_column(Date)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceOp(Base):
    """One op a technician's device sent (``POST /api/v1/me/ops``), kept by its ``op_id``:
    the op as sent (``body``), what became of it (``status``: applied, conflict, rejected,
    pending) and the answer given (``result``), so a replay answers the same. ``late``: a
    fact that came after its order was closed or cancelled, kept and shown (late facts).
    ``waiting``: the attachment ids a pending completion waits for."""

    __tablename__ = "device_ops"
    __table_args__ = (
        Index("ix_device_ops_late", "work_order_id", postgresql_where=text("late"),
              sqlite_where=text("late")),
        Index("ix_device_ops_pending", "work_order_id", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )  # fmt: skip
    op_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    actor: Mapped[str] = mapped_column(String(200))
    device_id: Mapped[str] = mapped_column(String(200))
    work_order_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime | None] = mapped_column()
    body: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column()
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    waiting: Mapped[list[Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class TechnicianPosition(Base):
    """A technician's latest position from their device (for arrival checks and ETAs)."""

    __tablename__ = "technician_positions"
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class TechnicianChange(Base):
    """The change feed behind ``GET /api/v1/me/changes``: one row per change to an order
    assigned to a technician (``removed``: it stopped being theirs). A sync token is the id
    of the last row a device has seen; rows older than the feed keeps are pruned, and a
    token from before them answers 410."""

    __tablename__ = "technician_changes"
    __table_args__ = (Index("ix_technician_changes_feed", "technician_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    technician_id: Mapped[int] = mapped_column(Integer)
    work_order_id: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceRequest(Base):
    """A customer's or citizen's report: the personal data stays here, out of the audit trail."""

    __tablename__ = "service_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tracking_code: Mapped[str] = mapped_column(String(32), unique=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), unique=True)
    requester_subject: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(300))
    contact_phone: Mapped[str | None] = mapped_column(String(64))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Append-only and hash-chained per work order (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("work_order_id", "seq"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class IdempotencyRecord(Base):
    """One row per (caller, Idempotency-Key): the request's fingerprint and the first response."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column()


class RateLimitHit(Base):
    """One request counted against a rate limit, when the server's processes share the count
    in the store (``orchestrator.access.rate_limits``): ``key`` is the limit and client,
    ``at`` the time in seconds since the epoch. Rows older than the longest window go."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[float] = mapped_column(Float)


class ScheduleRun(Base):
    """One planning of a day: asked for, run in the background, its plan kept. An urgent
    insertion or a re-plan makes a run of its own (``kind``), ``based_on`` the plan it changed,
    so the latest finished run of a day is the plan in force.

    ``problem`` and ``plan`` are the scheduler's own JSON formats (job ids are work-order
    ids, technician ids technician ids, as text); ``outcomes`` says what became of each
    order; ``summary`` counts them."""

    __tablename__ = "schedule_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="plan")  # plan, insert, replan
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("schedule_runs.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    territories: Mapped[list[Any]] = mapped_column(default=list)
    engine: Mapped[str] = mapped_column(String(16))
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcomes: Mapped[list[Any] | None] = mapped_column(JSON)
    # who runs it, until when (renewed as it runs): a run whose process died is taken over
    # once its lease has run out; ``attempts`` counts the takings (2 and more: taken over)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()


class SyncReconciliation(Base):
    """The latest reconciliation of one stream (``fieldbridge sync reconcile``): the key sets
    on both sides compared, what the system of record no longer had tombstoned here, and what
    it has that the store lacks (a ``sync run --full`` brings those in)."""

    __tablename__ = "sync_reconciliations"
    __table_args__ = (UniqueConstraint("system", "entity"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    ran_at: Mapped[datetime] = mapped_column()
    remote: Mapped[int] = mapped_column(Integer)
    local: Mapped[int] = mapped_column(Integer)
    tombstoned: Mapped[int] = mapped_column(Integer)
    missing_here: Mapped[int] = mapped_column(Integer)
    api_calls: Mapped[int] = mapped_column(Integer)
    # Up to ``SAMPLE`` external ids of each kind, to look at.
    tombstoned_ids: Mapped[list[Any]] = mapped_column(default=list)
    missing_ids: Mapped[list[Any]] = mapped_column(default=list)


class SyncCursor(Base):
    """Where an inbound stream has got to: the (stamp, id) of the last record committed, and
    the counts of its latest run (``orchestrator.sync``)."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("system", "entity"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    cursor_stamp: Mapped[datetime | None] = mapped_column()
    cursor_id: Mapped[str | None] = mapped_column(String(128))
    last_run_at: Mapped[datetime | None] = mapped_column()
    read: Mapped[int] = mapped_column(Integer, default=0)
    written: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)


class QuarantinedRecord(Base):
    """An inbound record that could not be applied: the raw payload and why (the field named).
    ``resolved_at`` is set when a later version of the record applies."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("system", "entity", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    field: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    remote_stamp: Mapped[datetime | None] = mapped_column()
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None] = mapped_column()


class OutboxMessage(Base):
    """One delivery owed to a remote (``orchestrator.outbox``): written in the transaction that
    makes it owed (closing a work order), delivered by the relay, at least once, to a remote
    that makes a repeat harmless (an upsert by external id, SAP's message UUID, a webhook id).

    ``key`` is the delivery's idempotency key, unique: a second row for the same key is never
    written. ``state`` is ``pending`` (due at ``next_attempt_at``), ``delivered`` (with the
    remote's ``remote_id``) or ``dead`` (``last_error`` holds the remote's last answer). A
    relay holds a row while delivering it (``lease_owner`` until ``lease_until``); a lease that
    runs out (a relay killed) frees the row for the next claim."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
        # the claim's "an earlier row of this sequence is pending" (the only index that fits
        # that probe: one on pending ids lured the planner without statistics, migration 0011)
        Index(
            "ix_outbox_pending_sequence",
            "sequence_key",
            "destination",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(32))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    sequence_key: Mapped[str | None] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    dead_at: Mapped[datetime | None] = mapped_column()
    remote_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookSubscription(Base):
    """A finance subscriber: its URL and the ``whsec_`` secret deliveries are signed with
    (shown once, when registered). Each closed order owes every active subscription one
    ``finance.billing_trigger`` delivery."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
