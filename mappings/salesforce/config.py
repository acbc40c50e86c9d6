"""The Salesforce mapping as configuration: objects, field names, tables, lookups.

Every org is customised, so nothing here is hard-wired: the defaults describe a standard org
with fieldbridge's custom fields added (the external-id field ``Fieldbridge_Id__c`` on every
object, a few ``Fieldbridge_*__c`` fields on WorkOrder for the write-back, and the custom
object ``Fieldbridge_Certification__c``), and a TOML or JSON file overrides any of it. At
start-up ``describe.check`` holds the mapping against the org's ``describe``s and refuses one
that names anything the org lacks.

This module is the configuration only and imports none of its siblings: ``inbound`` reads
records with it, ``outbound`` writes them, ``describe`` checks it against the org, and
``mapping.SalesforceMapping`` is ``SalesforceConfig`` with those bound to it.

Unknown keys are refused (a misspelt option is an error, not a silent default), and each
status and priority table is explicit in both directions: every lifecycle state has a
Salesforce status, every status we write maps back in, and nothing falls back to a default.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mappings.canonical import LIFECYCLE_STATES, LifecycleState, TimeZoneName
from mappings.records import Entity

SYSTEM = "salesforce"
DEFAULT_EXTERNAL_ID = "Fieldbridge_Id__c"
RECORD_TYPE = "RecordType.DeveloperName"
"""The field a record's type is read by, where a section names ``record_types``."""
# The longest text the write-back puts into a field (the standard org's lengths; the start-up
# check refuses a mapping whose org holds less): a longer text is cut and ends in an ellipsis,
# a longer key is shortened deterministically (``outbound.fit_key``).
Length = Annotated[int, Field(ge=16, le=131_072)]

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
# An API name (``BillingCity``, ``Site_Time_Zone__c``); a path may name a parent's field
# through a lookup's relationship (``Product2.Name``), for reading only.
ApiName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=rf"^{_NAME}$")]
FieldPath = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=rf"^{_NAME}(\.{_NAME})?$")
]
Priority = Annotated[int, Field(ge=1, le=5)]
SalesforceOwned = Literal[
    "summary", "description", "contact_id", "priority", "customer_id", "site_id", "asset_id"
]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An optional field: None (or "" in a TOML file, which has no null) leaves it unmapped.
BlankIsNone = BeforeValidator(_blank_is_none)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def relationship_name(field: str) -> str:
    """The relationship a lookup field is written through: ``WorkOrderId`` -> ``WorkOrder``,
    ``Technician__c`` -> ``Technician__r``."""
    if field.endswith("__c"):
        return field[:-3] + "__r"
    if field.endswith("Id") and len(field) > 2:
        return field[:-2]
    raise ValueError(f"{field!r} is not a lookup field (a lookup ends in 'Id' or '__c')")


class Lookup(_Config):
    """A reference written by the target's external id: ``{"WorkOrder": {"Ext__c": "..."}}``,
    so the write needs no Salesforce id and no query first."""

    field: ApiName
    target: ApiName
    by: ApiName = DEFAULT_EXTERNAL_ID

    @model_validator(mode="after")
    def _is_lookup(self) -> Lookup:
        relationship_name(self.field)
        return self

    @property
    def relationship(self) -> str:
        return relationship_name(self.field)


# A technician is written either as text (our key for them) in a plain field, or as a lookup
# to a record that carries that key in an external-id field (a ServiceResource, say).
TechnicianRef = ApiName | Lookup


class _Inbound(_Config):
    """An object read by a stream: its external-id field and, optionally, its record types."""

    sobject: ApiName
    external_id_field: ApiName = DEFAULT_EXTERNAL_ID
    record_types: tuple[ApiName, ...] = ()  # DeveloperNames; empty: every record type

    def reads(self) -> list[str]:
        """The fields the stream reads besides the system ones, in a fixed order."""
        raise NotImplementedError


class AccountMap(_Inbound):
    """Account -> a Customer, and a Site from its billing address and coordinates."""

    sobject: ApiName = "Account"
    name: ApiName = "Name"
    phone: Annotated[ApiName | None, BlankIsNone] = "Phone"
    email: Annotated[ApiName | None, BlankIsNone] = None
    street: Annotated[ApiName | None, BlankIsNone] = "BillingStreet"
    city: Annotated[ApiName | None, BlankIsNone] = "BillingCity"
    state: Annotated[ApiName | None, BlankIsNone] = "BillingState"
    postal_code: Annotated[ApiName | None, BlankIsNone] = "BillingPostalCode"
    country: Annotated[ApiName | None, BlankIsNone] = "BillingCountry"
    latitude: ApiName = "BillingLatitude"
    longitude: ApiName = "BillingLongitude"
    time_zone: Annotated[ApiName | None, BlankIsNone] = (
        None  # a field holding an IANA zone, where the org has one
    )
    access_notes: Annotated[ApiName | None, BlankIsNone] = None

    @property
    def address_fields(self) -> list[str]:
        parts = (self.street, self.city, self.state, self.postal_code, self.country)
        return [f for f in parts if f]

    def reads(self) -> list[str]:
        return _present(
            self.name,
            self.phone,
            self.email,
            *self.address_fields,
            self.latitude,
            self.longitude,
            self.time_zone,
            self.access_notes,
        )

    @model_validator(mode="after")
    def _has_address(self) -> AccountMap:
        if not self.address_fields:
            raise ValueError("account: a site needs at least one address field")
        return self


class ContactMap(_Inbound):
    sobject: ApiName = "Contact"
    account: Annotated[ApiName | None, BlankIsNone] = "AccountId"
    first_name: Annotated[ApiName | None, BlankIsNone] = "FirstName"
    last_name: ApiName = "LastName"
    email: Annotated[ApiName | None, BlankIsNone] = "Email"
    phone: Annotated[ApiName | None, BlankIsNone] = "Phone"

    def reads(self) -> list[str]:
        return _present(self.account, self.first_name, self.last_name, self.email, self.phone)


class AssetMap(_Inbound):
    """Asset -> an Asset at its account's site."""

    sobject: ApiName = "Asset"
    account: ApiName = "AccountId"
    name: Annotated[ApiName | None, BlankIsNone] = "Name"
    serial: ApiName = "SerialNumber"
    model: Annotated[FieldPath | None, BlankIsNone] = "Product2.Name"

    def reads(self) -> list[str]:
        return _present(self.account, self.name, self.serial, self.model)


DEFAULT_STATUS_IN: dict[str, LifecycleState] = {
    "New": "new",
    "In Progress": "in_progress",
    "On Hold": "on_hold",
    "Completed": "completed",
    "Cannot Complete": "cannot_complete",
    "Closed": "closed",
    "Canceled": "cancelled",
}
# A standard org has no statuses for triage, scheduling and dispatch: those are "New" there.
DEFAULT_STATUS_OUT: dict[LifecycleState, str] = {
    "new": "New",
    "triaged": "New",
    "scheduled": "New",
    "dispatched": "New",
    "in_progress": "In Progress",
    "on_hold": "On Hold",
    "completed": "Completed",
    "cannot_complete": "Cannot Complete",
    "closed": "Closed",
    "cancelled": "Canceled",
}
DEFAULT_PRIORITY_IN: dict[str, int] = {"Critical": 1, "High": 2, "Medium": 3, "Low": 4}
DEFAULT_PRIORITY_OUT: dict[int, str] = {1: "Critical", 2: "High", 3: "Medium", 4: "Low", 5: "Low"}


class WorkOrderMap(_Inbound):
    """WorkOrder: raised there -> intake here; completed here -> written back there."""

    sobject: ApiName = "WorkOrder"
    subject: ApiName = "Subject"
    description: Annotated[ApiName | None, BlankIsNone] = "Description"
    account: Annotated[ApiName | None, BlankIsNone] = "AccountId"
    asset: Annotated[ApiName | None, BlankIsNone] = "AssetId"
    contact: Annotated[ApiName | None, BlankIsNone] = "ContactId"
    status: ApiName = "Status"
    priority: Annotated[ApiName | None, BlankIsNone] = "Priority"
    # A record raised there comes in as intake only in one of these statuses (a record in
    # another, older history or work run elsewhere, is left there).
    intake_statuses: tuple[str, ...] = ("New",)
    # The ownership policy: after intake, the canonical fields whose edits there are applied
    # here; every other field, and always the status, schedule and completion, is ours.
    salesforce_owns: tuple[SalesforceOwned, ...] = ("summary", "description", "contact_id")
    status_in: dict[str, LifecycleState] = Field(default_factory=lambda: dict(DEFAULT_STATUS_IN))
    status_out: dict[LifecycleState, str] = Field(default_factory=lambda: dict(DEFAULT_STATUS_OUT))
    priority_in: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_PRIORITY_IN))
    priority_out: dict[Priority, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITY_OUT))
    # The write-back; None leaves a detail out of it.
    actual_start: Annotated[ApiName | None, BlankIsNone] = "StartDate"
    actual_end: Annotated[ApiName | None, BlankIsNone] = "EndDate"
    labour_minutes: Annotated[ApiName | None, BlankIsNone] = "Fieldbridge_Labour_Minutes__c"
    visits: Annotated[ApiName | None, BlankIsNone] = "Fieldbridge_Visits__c"
    first_time_fix: Annotated[ApiName | None, BlankIsNone] = "Fieldbridge_First_Time_Fix__c"
    technician: Annotated[TechnicianRef | None, BlankIsNone] = "Fieldbridge_Technician__c"
    notes: Annotated[ApiName | None, BlankIsNone] = "Fieldbridge_Notes__c"
    subject_length: Length = 255
    notes_length: Length = 32_000

    def reads(self) -> list[str]:
        """Besides what intake reads, the actual start and end: a record whose end is before
        its start is not taken in."""
        return _present(
            self.subject,
            self.description,
            self.account,
            self.asset,
            self.contact,
            self.status,
            self.priority,
            self.actual_start,
            self.actual_end,
        )

    def writes(self) -> list[str]:
        """The plain fields the write-back may set (lookups apart)."""
        technician = self.technician if isinstance(self.technician, str) else None
        return _present(
            self.subject,
            self.account,
            self.asset,
            self.status,
            self.priority,
            self.actual_start,
            self.actual_end,
            self.labour_minutes,
            self.visits,
            self.first_time_fix,
            technician,
            self.notes,
        )

    @model_validator(mode="after")
    def _tables_explicit(self) -> WorkOrderMap:
        problems = []
        unmapped = [s for s in LIFECYCLE_STATES if s not in self.status_out]
        if unmapped:
            problems.append(f"status_out has no Salesforce status for {', '.join(unmapped)}")
        echo = sorted({v for v in self.status_out.values() if v not in self.status_in})
        if echo:
            problems.append(f"status_in does not map back {', '.join(map(repr, echo))}")
        if not self.status_in:
            problems.append("status_in is empty")
        strays = [s for s in self.intake_statuses if s not in self.status_in]
        if strays:
            problems.append(f"intake_statuses not in status_in: {', '.join(map(repr, strays))}")
        unread = [f for f in self.salesforce_owns if not _OWNED_FROM[f](self)]
        if unread:
            problems.append(f"salesforce_owns {', '.join(unread)}, which the mapping does not read")
        if self.priority is not None:
            missing = [str(p) for p in range(1, 6) if p not in self.priority_out]
            if missing:
                problems.append(f"priority_out has no Salesforce priority for {', '.join(missing)}")
            back = sorted({v for v in self.priority_out.values() if v not in self.priority_in})
            if back:
                problems.append(f"priority_in does not map back {', '.join(map(repr, back))}")
        if problems:
            raise ValueError("work_order: " + "; ".join(problems))
        return self


# What ``salesforce_owns`` may name, and the mapping field each is read from.
_OWNED_FROM: dict[str, Callable[[WorkOrderMap], str | None]] = {
    "summary": lambda w: w.subject,
    "description": lambda w: w.description,
    "contact_id": lambda w: w.contact,
    "priority": lambda w: w.priority,
    "customer_id": lambda w: w.account,
    "site_id": lambda w: w.account,
    "asset_id": lambda w: w.asset,
}


class ProductConsumedMap(_Config):
    """A part used on a job -> ProductConsumed, upserted by our key ``<order key>:<part code>``.

    The work order is named by the WorkOrder section's external-id field (or by its record
    id when it was raised in Salesforce). The product lookup defaults to a PricebookEntry
    carrying our part code: ProductConsumed's Product2Id is read-only in Salesforce, which
    takes the product from the price book entry (or from a ProductItem: an org that tracks
    van stock there points ``product`` at ProductItemId).
    """

    sobject: ApiName = "ProductConsumed"
    external_id_field: ApiName = DEFAULT_EXTERNAL_ID
    work_order: ApiName = "WorkOrderId"
    product: Lookup = Lookup(field="PricebookEntryId", target="PricebookEntry")
    quantity: ApiName = "QuantityConsumed"
    key_length: Length = 64  # of the external-id field: ``<order key>:<part code>``

    @model_validator(mode="after")
    def _is_lookup(self) -> ProductConsumedMap:
        relationship_name(self.work_order)
        return self

    def writes(self) -> list[str]:
        return [self.quantity]


class CertificationMap(_Config):
    """A technician's certification -> one record per technician and code (a custom object)."""

    sobject: ApiName = "Fieldbridge_Certification__c"
    external_id_field: ApiName = DEFAULT_EXTERNAL_ID
    technician: TechnicianRef = "Technician_Key__c"
    name: ApiName = "Name"
    code: ApiName = "Code__c"
    issuer: Annotated[ApiName | None, BlankIsNone] = "Issuer__c"
    number: Annotated[ApiName | None, BlankIsNone] = "Number__c"
    issued_on: Annotated[ApiName | None, BlankIsNone] = "Issued_On__c"
    expires_on: Annotated[ApiName | None, BlankIsNone] = "Expires_On__c"
    key_length: Length = 64  # of the external-id field: ``<technician key>:<code>``
    name_length: Length = 80

    def writes(self) -> list[str]:
        technician = self.technician if isinstance(self.technician, str) else None
        return _present(
            technician,
            self.name,
            self.code,
            self.issuer,
            self.number,
            self.issued_on,
            self.expires_on,
        )


class SkillsMap(_Config):
    """A technician's certifications as Field Service skills: the technician a ServiceResource
    (by technician key), a certification a Skill (by code), holding it a ServiceResourceSkill
    (by ``<technician key>|<code>``) whose effective dates bound when it counts. Each object
    carries ``external_id_field``."""

    external_id_field: ApiName = DEFAULT_EXTERNAL_ID
    resource: ApiName = "ServiceResource"
    resource_name: ApiName = "Name"
    resource_active: Annotated[ApiName | None, BlankIsNone] = "IsActive"
    skill: ApiName = "Skill"
    skill_label: ApiName = "MasterLabel"
    skill_name: Annotated[ApiName | None, BlankIsNone] = "DeveloperName"
    holding: ApiName = "ServiceResourceSkill"
    holding_resource: ApiName = "ServiceResourceId"  # lookups, written by external id
    holding_skill: ApiName = "SkillId"
    start: ApiName = "EffectiveStartDate"
    end: ApiName = "EffectiveEndDate"
    key_length: Length = 64
    label_length: Length = 80

    @model_validator(mode="after")
    def _are_lookups(self) -> SkillsMap:
        relationship_name(self.holding_resource)
        relationship_name(self.holding_skill)
        return self


class SalesforceConfig(_Config):
    """The whole mapping for one org, as configuration. ``SalesforceConfig()`` is the standard
    org's."""

    default_time_zone: TimeZoneName | None = None  # the org's zone, when nothing better is known
    time_zone_from_coordinates: bool = True
    account: AccountMap = Field(default_factory=AccountMap)
    contact: ContactMap = Field(default_factory=ContactMap)
    asset: AssetMap = Field(default_factory=AssetMap)
    work_order: WorkOrderMap = Field(default_factory=WorkOrderMap)
    product_consumed: ProductConsumedMap = Field(default_factory=ProductConsumedMap)
    certification: CertificationMap = Field(default_factory=CertificationMap)
    skills: SkillsMap = Field(default_factory=SkillsMap)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """A mapping from a ``.toml`` or ``.json`` file (missing keys keep their defaults)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".toml", ".json"):
            raise ValueError(f"{path}: a mapping file is .toml or .json")
        text = path.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
        return cls.model_validate(data)

    # -- what each stream reads ------------------------------------------------------------

    def section(self, entity: Entity) -> AccountMap | ContactMap | AssetMap | WorkOrderMap:
        sections: dict[str, AccountMap | ContactMap | AssetMap | WorkOrderMap] = {
            "customer": self.account,
            "site": self.account,
            "contact": self.contact,
            "asset": self.asset,
            "work_order": self.work_order,
        }
        return sections[entity]

    def entities(self, sobject: str) -> tuple[Entity, ...]:
        """The canonical entities one record of ``sobject`` becomes (an Account: two)."""
        found: list[Entity] = []
        for entity in ENTITIES:
            if self.section(entity).sobject == sobject:
                found.append(entity)
        if not found:
            raise KeyError(f"{sobject} is not read by any stream of this mapping")
        return tuple(found)

    def soql_fields(self, sobject: str) -> list[str]:
        """The fields a stream of ``sobject`` selects: the system ones, the external id, the
        record type where filtered, then every field the mapping reads (custom names too)."""
        sections = {self.section(e).sobject: self.section(e) for e in self.entities(sobject)}
        section = sections[sobject]
        fields = ["Id", "IsDeleted", "SystemModstamp", section.external_id_field]
        if section.record_types:
            fields.append(RECORD_TYPE)
        fields.extend(section.reads())
        return list(dict.fromkeys(fields))

    def remote_field(self, entity: Entity, ref: str) -> str:
        """The remote field a reference was read from (``Asset.AccountId``; ``InboundMap``)."""
        if entity == "site":
            return f"{self.account.sobject}.Id"
        if entity == "work_order":
            work_order = self.work_order
            field = {"asset_id": work_order.asset, "contact_id": work_order.contact}.get(
                ref, work_order.account
            )
            return f"{work_order.sobject}.{field}"
        section = self.section(entity)
        lookup = getattr(section, "account", None)
        return f"{section.sobject}.{lookup or ref}"

    def record_types(self, sobject: str) -> tuple[str, ...]:
        """The record types (``DeveloperName``s, read in ``RECORD_TYPE``) a stream of
        ``sobject`` reads; empty: every record type."""
        return self.section(self.entities(sobject)[0]).record_types

    def sobjects(self) -> list[str]:
        """Every sObject whose ``describe`` the start-up check (``describe.check``) needs."""
        names = [self.section(e).sobject for e in ENTITIES]
        for entity in ENTITIES:
            names += [parent_object(path) for path in self.section(entity).reads() if "." in path]
        names.append(self.product_consumed.sobject)
        names.append(self.product_consumed.product.target)
        for ref in (self.work_order.technician, self.certification.technician):
            if isinstance(ref, Lookup):
                names.append(ref.target)
        names.append(self.certification.sobject)
        names += [self.skills.resource, self.skills.skill, self.skills.holding]
        return list(dict.fromkeys(names))


ENTITIES: tuple[Entity, ...] = ("customer", "site", "contact", "asset", "work_order")


def parent_object(path: str) -> str:
    """The object a dotted read goes to, by Salesforce's naming: ``Product2.Name`` ->
    ``Product2``, ``Site__r.Code__c`` -> ``Site__c``. (A standard relationship named otherwise,
    such as ``Owner``, is not supported: use a formula field on the object instead.)"""
    relationship = path.split(".", 1)[0]
    return relationship[:-3] + "__c" if relationship.endswith("__r") else relationship


def _present(*names: str | None) -> list[str]:
    return [n for n in names if n]
