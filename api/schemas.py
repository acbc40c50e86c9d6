"""Wire schemas: Create / Update / Public per resource. Create shapes are the canonical models."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)

from mappings import canonical
from mappings.canonical import Id
from orchestrator.domain.lifecycle import State
from orchestrator.maintenance.plans import PlanData
from orchestrator.reference.records import KINDS
from scheduler.model import Plan


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _optional(model: type[BaseModel], name: str) -> type[BaseModel]:
    """Every field of ``model``, optional: a PATCH body. The merged record is validated whole."""
    fields: dict[str, Any] = {
        n: (Optional[f.annotation], None)  # noqa: UP045 (the annotation is a runtime value)
        for n, f in model.model_fields.items()
    }
    return create_model(name, __base__=Wire, **fields)


def _each_optional(model: type[BaseModel], name: str, leave_out: set[str]) -> type[BaseModel]:
    """``model``'s fields but those in ``leave_out``, optional, each keeping its own
    constraints: a PATCH body whose every field is checked as it comes."""
    fields: dict[str, Any] = {
        n: (Optional[f.rebuild_annotation()], None)  # noqa: UP045 (a runtime value)
        for n, f in model.model_fields.items()
        if n not in leave_out
    }
    return create_model(name, __base__=Wire, **fields)


def _public(model: type[BaseModel], name: str, synced: bool = False) -> type[BaseModel]:
    extra: dict[str, Any] = {
        "id": (int, ...),
        "version": (int, ...),
        "created_at": (datetime, ...),
        "updated_at": (datetime, ...),
    }
    if issubclass(model, canonical.Technician):
        extra["certifications"] = (list[CertificationPublic], ...)
        extra |= TECHNICIAN_STATE
    if synced:
        extra["remote_stamp"] = (
            Optional[datetime],  # noqa: UP045 (the annotation is a runtime value)
            Field(description="the source's change stamp of the version stored"),
        )
        extra["deleted_at"] = (
            Optional[datetime],  # noqa: UP045
            Field(description="when the source deleted it (a tombstone); null while alive"),
        )
    return create_model(name, __base__=model, **extra)


class UnavailablePublic(BaseModel):
    """A period the technician's system of record (Workday) says they are not to be sent
    out: a termination from its date on (``to`` null), a leave for its dates."""

    from_: dt.date = Field(alias="from")
    to: dt.date | None
    why: str | None = Field(default=None, description="terminated or leave")


TECHNICIAN_STATE: dict[str, Any] = {
    "active": (bool, Field(description="active at the system of record (Workday); false: kept, "
                       "never dispatched")),
    "unavailable": (list[UnavailablePublic], Field(
        description="when the system of record says the technician is not to be sent out")),
    "dispatchable": (bool, Field(
        description="may be sent out today (in their time zone): active, not deleted at the "
        "source, not unavailable today, and nothing in `missing`")),
    "missing": (list[str], Field(
        description="the office's fields still empty that dispatch needs (a technician made "
        "from Workday starts with home_latitude, home_longitude, time_zone, weekly_hours)")),
}  # fmt: skip


class CertificationPublic(canonical.Certification):
    id: int
    status: canonical.CertificationStatus = Field(
        description="only an active certification counts for dispatch"
    )
    deleted_at: datetime | None = Field(
        description="when its source (the HR system) no longer had it; null while held"
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


REFERENCE_SCHEMAS: dict[str, tuple[type[BaseModel], type[BaseModel], type[BaseModel]]] = {}
for _name, _kind in KINDS.items():
    _base = _camel(_kind.singular.replace(" ", "_"))
    REFERENCE_SCHEMAS[_name] = (
        _kind.model,
        _optional(_kind.model, f"{_base}Update"),
        _public(_kind.model, f"{_base}Public", _kind.synced),
    )


class Page(Wire):
    next_cursor: str | None = None


class ReadingPublic(Wire):
    """A meter reading on an asset: taken at ``at`` (the device's clock), stored at
    ``recorded_at``, on the order it was taken during (null: taken otherwise)."""

    id: int
    measure: str
    value: float
    unit: str
    at: datetime
    work_order_id: int | None
    technician_id: int | None
    recorded_at: datetime


class ReadingPage(Page):
    items: list[ReadingPublic]


class Position(Wire):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class TransitionIn(Wire):
    to: State
    reason: Reason | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    division_id: Id | None = None
    work_type_id: Id | None = None
    technician_id: Id | None = None
    window_start: datetime | None = Field(
        default=None, description="ISO 8601 with offset; without one, local time at the site"
    )
    window_end: datetime | None = None
    position: Position | None = None
    resolution_code: canonical.Code | None = Field(
        default=None, description="completing: one of the work type's resolution_codes"
    )
    resolution_note: Reason | None = Field(
        default=None, description="completing: what was done, in the technician's words"
    )


# What an edit may name: the canonical order's fields less where it came from, which is
# set when the order is made and never changed. Who may change which of them in which state
# is the edit table's (``orchestrator/work_orders/edits.py``), checked with the order in hand.
WorkOrderUpdate = _each_optional(
    canonical.WorkOrder, "WorkOrderUpdate", set(canonical.SourceRef.model_fields)
)


class LocalWindow(Wire):
    start: str
    end: str
    time_zone: str


class RequesterContact(Wire):
    """The requester's contact details as their service request gave them (each may be
    missing): for the office, to call back."""

    name: str | None
    phone: str | None
    email: str | None
    address: str | None


class LateFact(Wire):
    """What a device sent after the order was closed or cancelled: kept and shown, never
    applied."""

    op_id: str
    kind: str | None
    at: datetime | None
    payload: dict[str, Any] = Field(description="the op's own fields, without its envelope")


class WorkOrderPublic(Wire):
    id: int
    tracking_code: str
    status: State
    priority: int | None
    summary: str
    description: str | None
    customer_id: int | None
    site_id: int | None
    asset_id: int | None
    contact_id: int | None
    division_id: int | None
    work_type_id: int | None
    technician_id: int | None
    window_start: datetime | None
    window_end: datetime | None
    window_local: LocalWindow | None
    checklist: dict[str, bool]
    visits: int
    first_time_fix: bool | None
    source_system: str | None
    external_id: str | None
    allowed_transitions: list[State]
    version: int
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    completed_at: datetime | None
    closed_at: datetime | None
    needs_attention: bool = Field(
        description="something outside the lifecycle makes the order's plan doubtful (its "
        "technician no longer dispatchable on its day): the office decides; nothing was moved"
    )
    attention_reason: str | None = Field(description="why it needs attention; null when not")
    requester_contact: RequesterContact | None = Field(
        default=None,
        description="who to call back, from the service request the order came from: shown "
        "by GET /work-orders/{ident} to a dispatcher, supervisor or admin; null for the other "
        "roles, in lists and in the answers to changes, and when no service request made it",
    )
    late_facts: list[LateFact] | None = Field(
        default=None,
        description="what devices sent after the order was closed or cancelled, kept for the "
        "supervisor's review, never applied: shown by GET /work-orders/{ident} (empty on an "
        "order neither closed nor cancelled; null in lists and other answers)",
    )


class WorkOrderPage(Page):
    items: list[WorkOrderPublic]


class ChecklistIn(Wire):
    items: dict[str, bool] = Field(description="checklist item code -> done")


class AttachmentPublic(Wire):
    id: int
    work_order_id: int
    attachment_id: str | None = Field(
        default=None, description="the id the device gave the upload (a UUID); null if none"
    )
    kind: str
    sha256: str
    content_type: str
    size_bytes: int
    created_at: datetime
    work_order_version: int | None = Field(
        default=None,
        description="the order's version after an upload without attachment_id (its new ETag); "
        "null for one with attachment_id, which changes no version",
    )


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    seq: int
    at: datetime
    actor: str
    role: str
    kind: str
    from_: str | None = Field(alias="from")
    to: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditTrail(Wire):
    work_order_id: int
    events: list[AuditEventPublic]


class BrokenLink(Wire):
    work_order_id: int
    seq: int
    event_id: int
    reason: str


class AuditVerification(Wire):
    ok: bool
    chains: int
    events: int
    first_broken: BrokenLink | None


class ServiceRequestContact(Wire):
    """Who to call back about the request."""

    name: Annotated[str, StringConstraints(max_length=300)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None


class ServiceRequestIn(Wire):
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)
    ]
    contact: ServiceRequestContact | None = None
    address: Annotated[str, StringConstraints(max_length=2000)] | None = None
    site_code: canonical.Code | None = Field(
        default=None, description="the code the organisation publishes for the site"
    )
    site_id: Id | None = Field(default=None, description="with a token only (422 without)")
    customer_id: Id | None = Field(default=None, description="with a token only (422 without)")


class ServiceRequestAccepted(Wire):
    tracking_code: str
    status: State
    status_url: str
    work_order_id: int | None = None


class PublicStatus(Wire):
    tracking_code: str
    status: State
    status_label: str
    appointment_window: LocalWindow | None
    last_update: datetime


class Health(Wire):
    status: str = Field(description="ok, or degraded (the reasons say why)")
    database: str
    version: str
    reasons: list[str] = Field(
        default_factory=list, description="dead letters, an old pending outbox row, ..."
    )


class ScheduleRunIn(Wire):
    date: dt.date = Field(description="the day to plan, in each technician's own time zone")
    territories: list[canonical.Code] = Field(
        default=[], description="territory codes to plan; every territory if empty"
    )
    time_limit_s: float | None = Field(
        default=None, gt=0, le=600, description="the solver's time; default grows with the day"
    )
    engine: Literal["auto", "vroom", "pyvrp"] = "auto"


class RunProgress(Wire):
    phase: Literal["queued", "building", "solving", "storing", "done", "failed"]
    fraction: float = Field(ge=0, le=1)


class ScheduleRunPublic(Wire):
    id: int
    kind: Literal["plan", "insert", "replan"] = Field(
        description="a planned day, an urgent order placed into it, or a re-plan of its rest"
    )
    based_on: int | None = Field(default=None, description="the run whose plan this one changed")
    status: Literal["queued", "running", "done", "failed"]
    day: dt.date
    territories: list[str]
    engine: str
    time_limit_s: float | None = Field(
        default=None, description="left out when the engine's default grows with the day"
    )
    requested_by: str
    created_at: datetime
    started_at: datetime | None = Field(
        default=None, description="left out until a process takes it"
    )
    finished_at: datetime | None = Field(
        default=None, description="left out until it is done or failed"
    )
    progress: RunProgress
    attempts: int = Field(
        default=0,
        description="how often a process took the run: 2 and more when one died running it "
        "(a worker killed mid-plan) and another took it over once its lease ran out",
    )
    error: str | None = None
    summary: dict[str, Any] | None = None
    orders: list[dict[str, Any]] | None = Field(
        default=None,
        description="what became of each order: scheduled, rescheduled, unchanged, "
        "unscheduled, unassigned (with the reason), kept (pinned), skipped or conflict",
    )
    plan: Plan | None = Field(
        default=None, description="job ids are work-order ids, technician ids technician ids"
    )


class InsertIn(Wire):
    work_order_id: canonical.Id = Field(description="a triaged order")
    date: dt.date | None = Field(default=None, description="the day; today at its site if omitted")


class ReplanIn(Wire):
    date: dt.date
    technician_id: canonical.Id | None = Field(default=None, description="with unavailable_from")
    unavailable_from: AwareDatetime | None = None
    work_order_id: canonical.Id | None = Field(default=None, description="with late_minutes")
    late_minutes: int | None = Field(default=None, ge=1, le=12 * 60)
    as_of: AwareDatetime | None = Field(
        default=None, description="when the change became known; now if omitted"
    )
    time_limit_s: float | None = Field(default=None, gt=0, le=120)

    @model_validator(mode="after")
    def _one_change(self) -> ReplanIn:
        absent = "name a technician_id with unavailable_from, or a work_order_id with late_minutes"
        pairs = (
            ("technician_id", "unavailable_from"),
            ("work_order_id", "late_minutes"),
        )
        given = [pair for pair in pairs if any(getattr(self, n) is not None for n in pair)]
        if len(given) != 1:
            raise ValueError(f"technician_id: {absent}")
        first, second = given[0]
        for name, other in ((first, second), (second, first)):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required with {other}")
        return self


class ScheduleRunList(Wire):
    items: list[ScheduleRunPublic]


class SyncStreamStatus(Wire):
    system: str
    entity: str = Field(
        description="the stream: customers, contacts, assets, work_orders, certifications"
    )
    cursor: datetime | None = Field(
        description="the source's change stamp of the last record committed; null if never run"
    )
    cursor_id: str | None = Field(default=None, description="the cursor's tie-breaker: an id")
    last_run_at: datetime | None
    read: int = Field(description="records read by the latest run")
    written: int
    quarantined: int
    api_calls: int


class ReconciliationPublic(Wire):
    system: str
    entity: str = Field(description="the stream: customers, contacts, assets, certifications")
    ran_at: datetime
    remote: int = Field(description="records the system of record holds")
    local: int = Field(description="live rows the store held from it before this run")
    tombstoned: int = Field(description="rows whose record is gone there: now tombstones")
    missing_here: int = Field(
        description="records there the store lacks (not in quarantine): sync run --full"
    )
    api_calls: int
    tombstoned_ids: list[str] = Field(description="up to 100 of them, by external id")
    missing_ids: list[str] = Field(description="up to 100 of them, by external id")


class QuarantinedPublic(Wire):
    id: int
    system: str
    entity: str = Field(description="customer, site, contact, asset, work_order, certification")
    external_id: str
    field: str | None = Field(description="the source's field at fault, when one is")
    reason: str
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime
    remote_stamp: datetime | None
    payload: dict[str, Any] = Field(description="the raw record as the source sent it")


class QuarantinePage(Page):
    items: list[QuarantinedPublic]


class OutboxRow(Wire):
    id: int
    key: str = Field(description="the delivery's idempotency key (a webhook's webhook-id)")
    event: str = Field(description="crm.work_order_completed, erp.billing_request, ...")
    destination: str = Field(description="crm, erp or finance")
    work_order_id: int | None
    state: str = Field(description="pending, delivered or dead")
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    remote_id: str | None = Field(description="the remote's id of what it made")
    last_error: str | None = Field(description="the remote's last answer, when it refused")


class OutboxStatus(Wire):
    by_state: dict[str, int] = Field(description="rows by state: pending, delivered, dead")
    by_destination: dict[str, dict[str, int]] = Field(description="the same, per destination")
    oldest_pending_age_s: float | None = Field(description="None when nothing is pending")
    dead_letters: list[OutboxRow] = Field(description="the newest 50, with the remote's answer")


class WebhookSubscriptionIn(Wire):
    url: str = Field(min_length=1, max_length=2000, description="http or https")
    secret: str | None = Field(
        default=None, max_length=200, description="whsec_<base64>; made for you when left out"
    )
    description: str | None = Field(default=None, max_length=300)


class WebhookSubscriptionPublic(Wire):
    id: int
    url: str
    description: str | None
    active: bool
    created_by: str
    created_at: datetime


class WebhookSubscriptionCreated(WebhookSubscriptionPublic):
    secret: str = Field(description="shown once: keep it to verify each delivery's signature")


class BillingTriggerRow(Wire):
    key: str = Field(description="the outbox row's key: erp.billing_request|<id>, ...")
    event: str = Field(description="erp.billing_request or finance.billing_trigger")
    destination: str = Field(description="erp or finance")
    state: str = Field(description="pending, delivered or dead")
    attempts: int
    remote_id: str | None = Field(description="SAP's document id (the invoice request's UUID)")
    delivered_at: datetime | None
    last_error: str | None = Field(description="the remote's last answer, when it refused")


class BillingCustomer(Wire):
    id: int
    name: str | None
    source_system: str | None
    external_id: str | None


class BillingInvoice(Wire):
    id: str | None = Field(description="SAP's customer invoice ID")
    uuid: str | None
    document_id: str | None = Field(description="the document it names: our tracking code")
    date: str | None
    created_at: str | None
    buyer_id: str | None
    release_status: str | None
    request_ids: list[str] = Field(description="SAP's ids of the billing requests it was made of")


class LineMismatch(Wire):
    line: str = Field(description="the order's line(s) of this product, or SAP's item not owed")
    product_id: str = Field(description="SAP's product")
    owed: str | None = Field(description="quantity and unit owed (`3 EA`); None: not owed")
    invoiced: str | None = Field(description="quantity and unit invoiced; None: missing")
    why: str = Field(
        description="missing from the invoice, another unit, another quantity or not owed"
    )


class ReconciledOrder(Wire):
    work_order_id: int | None = Field(description="None for an invoice naming no order of ours")
    tracking_code: str
    closed_at: datetime | None
    customer: BillingCustomer | None
    status: str = Field(
        description="missing_trigger, dead, unknown_invoice, delivered_not_invoiced, "
        "line_mismatch (problems), pending, delivered or invoiced"
    )
    problem: bool = Field(description="something is missing on either side")
    triggers: list[BillingTriggerRow] = Field(description="the ERP billing row first")
    invoice: BillingInvoice | None = Field(description="SAP's invoice, where read back")
    mismatches: list[LineMismatch] = Field(
        default_factory=list,
        description="where read back: how the invoice's lines differ from what was owed",
    )


class ClosedPeriod(Wire):
    closed_from: datetime | None = Field(description="orders closed at or after this only")
    closed_to: datetime | None = Field(description="orders closed before this only")


class BillingReconciliation(Wire):
    summary: dict[str, int] = Field(
        description="orders per status over all of them, with orders and problems in total"
    )
    total: int = Field(description="entries over all: closed orders and unknown invoices")
    shown: int = Field(description="entries here: at most limit, problems first")
    read_back: bool = Field(description="whether SAP's invoices were read back (never over HTTP)")
    period: ClosedPeriod
    orders: list[ReconciledOrder]


# --- an order's notes and facts, the technician's day and its changes (/me) -------------------


class NotePublic(Wire):
    """A note on an order: ``reason`` (why a move was made: ``state`` is the state it moved
    to), ``completion`` (the technician's account of the job) or ``note`` (a remark from the
    field); who wrote it, when (``at``: the device's clock for one written offline) and when
    it was stored (``created_at``)."""

    id: int
    kind: str
    state: str | None
    text: str
    author: str | None
    author_role: str | None
    at: datetime | None
    created_at: datetime


class FieldAttachment(Wire):
    """An attachment's metadata (its content: ``GET .../attachments/{id}/content``)."""

    id: int
    attachment_id: str | None = Field(description="the id the device gave it (a UUID), if any")
    kind: str
    sha256: str
    content_type: str
    size_bytes: int
    created_at: datetime


class PartUsePublic(Wire):
    id: int
    part_code: str
    quantity: float
    from_van: bool
    off_van: bool = Field(description="not from the van, or more than the van held")
    at: datetime
    op_id: str | None = Field(description="the device op that recorded it; null from the office")


class LabourLinePublic(Wire):
    id: int
    activity: str = Field(description="travel or work")
    start: datetime
    end: datetime
    at: datetime


class OrderReading(Wire):
    """A meter reading taken during the order."""

    id: int
    asset_id: int
    measure: str
    value: float
    unit: str
    at: datetime


class PacketSite(Wire):
    id: int
    name: str
    address: str
    latitude: float
    longitude: float
    time_zone: str
    access_notes: str | None


class PacketCustomer(Wire):
    id: int
    name: str
    phone: str | None


class PacketContact(Wire):
    id: int
    first_name: str | None
    last_name: str
    phone: str | None
    email: str | None


class HistoryPart(Wire):
    part_code: str
    quantity: float = Field(description="the quantities used of this part on the order, summed")


class AssetHistoryEntry(Wire):
    """One of the asset's closed orders."""

    tracking_code: str
    closed_at: datetime | None
    summary: str
    first_time_fix: bool = Field(description="done in one visit")
    parts_used: list[HistoryPart]


class PacketAsset(Wire):
    id: int
    serial: str
    model: str | None
    name: str | None
    history: list[AssetHistoryEntry] = Field(description="its last 10 closed orders, newest first")


class PacketChecklistItem(Wire):
    code: str
    label: str
    required: bool


class PacketWorkType(Wire):
    id: int
    code: str
    name: str
    checklist: list[PacketChecklistItem]
    min_photos: int
    signature_required: bool
    resolution_codes: list[str] = Field(description="the codes a completion names (one of them)")
    parts: dict[str, int] = Field(description="the parts a job of this type takes, by code")


class PacketOrder(WorkOrderPublic):
    """An order as the technician's day shows it: the order as the API shows it, with the
    records it names and the facts recorded on it so far."""

    site: PacketSite | None
    customer: PacketCustomer | None
    contact: PacketContact | None
    asset: PacketAsset | None
    work_type: PacketWorkType | None
    notes: list[NotePublic] = Field(description="oldest first")
    attachments: list[FieldAttachment]
    parts_used: list[PartUsePublic]
    labour: list[LabourLinePublic]
    readings: list[OrderReading]
    late_facts: list[LateFact]


class PacketTechnician(Wire):
    id: int
    name: str
    time_zone: str = Field(description="the zone the day is in: UTC until the office sets one")


PartPublic = REFERENCE_SCHEMAS["parts"][2]
"""A part of the catalogue as ``GET /parts`` shows it."""


class DayPacket(Wire):
    """Everything a technician's day needs offline."""

    technician: PacketTechnician
    date: dt.date = Field(description="the day, in the technician's time zone")
    sync_token: str = Field(description="for GET /me/changes: what changed after this read")
    orders: list[PacketOrder] = Field(
        description="the orders assigned to the technician whose window overlaps the day, and "
        "those of theirs in progress or on hold, by window start"
    )
    van_stock: dict[str, float] = Field(description="what the van carries, by part code")
    parts: list[PartPublic] = Field(  # type: ignore[valid-type]
        description="the catalogue's entries of the parts on the van or taken by the day's "
        "work types"
    )


class ChangesPacket(Wire):
    """What changed for the technician since a sync token."""

    sync_token: str = Field(description="the token to ask with next (the same if none changed)")
    orders: list[PacketOrder] = Field(
        description="orders changed or newly assigned that are theirs, in full, by window start"
    )
    removed: list[int] = Field(description="ids of orders changed that are no longer theirs")


# -- Preventive maintenance --------------------------------------------------------------------

MaintenancePlanIn = PlanData
MaintenancePlanUpdate = _each_optional(PlanData, "MaintenancePlanUpdate", set())
"""A PATCH of a plan: each field checked as it comes, the merged plan checked whole."""
MaintenancePlanPublic = _public(PlanData, "MaintenancePlanPublic")


class MaintenancePlanPage(Page):
    items: list[MaintenancePlanPublic]  # type: ignore[valid-type]
