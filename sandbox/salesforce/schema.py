"""The org's shape: sObject types, their fields (as ``describe`` tells them), and record Ids.

Salesforce Ids are 15 case-sensitive characters (a 3-character key prefix naming the object,
a 2-character pod, a reserved character, a 9-character base-62 counter) plus a 3-character
suffix that encodes the case of the first 15, so that the 18-character form survives
case-insensitive systems. Ids are handed out in counter order and the base-62 alphabet sorts
in ASCII order, so comparing two Ids of an object as strings compares their creation order,
as ``ORDER BY Id`` does in a real org.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "8d"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")

# Field types as describe names them.
STRING_TYPES = frozenset({"string", "textarea", "phone", "email", "url", "picklist"})
NUMBER_TYPES = frozenset({"double", "int", "currency", "percent"})
ID_TYPES = frozenset({"id", "reference"})
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "phone": "xsd:string",
    "email": "xsd:string",
    "url": "xsd:string",
    "picklist": "xsd:string",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def _upper_bits(chunk: str) -> int:
    bits = 0
    for position, ch in enumerate(chunk):
        if "A" <= ch <= "Z":
            bits |= 1 << position
    return bits


def id18(id15: str) -> str:
    """The 18-character form of a 15-character Id (the case-encoding suffix appended)."""
    return id15 + "".join(_SUFFIX[_upper_bits(id15[i : i + 5])] for i in (0, 5, 10))


def normalize_id(value: str) -> str | None:
    """An Id as the org stores it (18 characters), or None when ``value`` is not an Id."""
    if not ID_RE.match(value):
        return None
    if len(value) == 15:
        return id18(value)
    return id18(value[:15]) if id18(value[:15]).lower() == value.lower() else None


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(BASE62[digit])
    return "".join(reversed(out))


class IdMinter:
    """Hands out Ids of one key prefix in ascending order."""

    _triples: list[str] | None = None
    _triple_bits: list[int] | None = None

    def __init__(self, prefix: str, start: int = 0) -> None:
        self.prefix = prefix
        self.head = prefix + POD + "0"
        self.head_suffix = _SUFFIX[_upper_bits(prefix + POD)]
        self.next = start

    def mint(self) -> str:
        number = self.next
        self.next += 1
        return id18(self.head + _base62(number, 9))

    def mint_block(self, count: int) -> list[str]:
        """``count`` Ids at once: table-driven, about a microsecond each."""
        if count < 2000:
            return [self.mint() for _ in range(count)]
        triples, bits = IdMinter._tables()
        head, s1 = self.head, self.head_suffix
        suffix = _SUFFIX
        out = []
        start = self.next
        self.next += count
        for number in range(start, start + count):
            # number = high * 62**6 + middle * 62**3 + low, each below 62**3 (three characters)
            high, rest = divmod(number, 56_800_235_584)
            middle, low = divmod(rest, 238_328)
            ma, mb, mc = bits[high], bits[middle], bits[low]
            s2 = suffix[(ma << 1) | ((mb & 1) << 4)]
            s3 = suffix[(mb >> 1) | (mc << 2)]
            out.append(head + triples[high] + triples[middle] + triples[low] + s1 + s2 + s3)
        return out

    @classmethod
    def _tables(cls) -> tuple[list[str], list[int]]:
        if cls._triples is None or cls._triple_bits is None:
            triples = [x + y + z for x in BASE62 for y in BASE62 for z in BASE62]
            cls._triples = triples
            cls._triple_bits = [_upper_bits(t) for t in triples]
        return cls._triples, cls._triple_bits


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    default: Any = None
    auto_number: bool = False
    precision: int = 0
    scale: int = 0

    @property
    def required(self) -> bool:
        """Must be given on create (describe: not nillable, createable, not defaulted)."""
        return not self.nillable and self.createable and self.default is None

    @property
    def text(self) -> bool:
        return self.type in STRING_TYPES

    def describe(self) -> dict[str, Any]:
        picklist = [
            {
                "active": True,
                "defaultValue": value == self.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in self.picklist
        ]
        return {
            "aggregatable": self.type not in ("textarea",),
            "autoNumber": self.auto_number,
            "byteLength": self.length * 3,
            "calculated": False,
            "caseSensitive": False,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default if self.type == "boolean" else None,
            "defaultedOnCreate": self.default is not None or self.auto_number or self.type == "id",
            "digits": 0,
            "externalId": self.external_id,
            "filterable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "datetime"),
            "idLookup": self.type == "id" or self.external_id or self.auto_number,
            "label": self.label,
            "length": self.length,
            "name": self.name,
            "nameField": self.name == "Name",
            "nillable": self.nillable,
            "picklistValues": picklist,
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": bool(self.picklist),
            "scale": self.scale,
            "soapType": SOAP_TYPES[self.type],
            "sortable": self.type != "textarea",
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


@dataclass
class SObjectType:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: list[Field]
    custom: bool = False
    index: dict[str, int] = field(init=False)
    by_lower: dict[str, Field] = field(init=False)
    relationships: dict[str, Field] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {f.name: i for i, f in enumerate(self.fields)}
        self.by_lower = {f.name.lower(): f for f in self.fields}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name
        }

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The entry ``GET /sobjects`` lists for this type."""
        return {
            "activateable": False,
            "createable": True,
            "custom": self.custom,
            "customSetting": False,
            "deletable": True,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in ("Account", "Contact"),
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": True,
            "updateable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        out = self.summary(version)
        out.update(
            {
                "childRelationships": [],
                "fields": [f.describe() for f in self.fields],
                "recordTypeInfos": [],
                "supportedScopes": [{"label": "All " + self.label_plural, "name": "everything"}],
            }
        )
        return out


def _system_head() -> list[Field]:
    return [
        Field("Id", "id", "Record ID", 18, nillable=False, createable=False, updateable=False),
        Field(
            "IsDeleted", "boolean", "Deleted", nillable=False, createable=False, updateable=False
        ),
    ]


def _system_tail() -> list[Field]:
    return [
        Field(name, "datetime", label, nillable=False, createable=False, updateable=False)
        for name, label in (
            ("CreatedDate", "Created Date"),
            ("LastModifiedDate", "Last Modified Date"),
            ("SystemModstamp", "System Modstamp"),
        )
    ]


def _ext_id() -> Field:
    # An external ID, deliberately not unique: several records may carry one value, and an
    # upsert by it then answers 300 (Multiple Choices) as a real org does.
    return Field("Fieldbridge_Id__c", "string", "Fieldbridge Id", 64, external_id=True, custom=True)


def _custom(name: str, type_: str, label: str, length: int = 0, **kw: Any) -> Field:
    return Field(name, type_, label, length, custom=True, **kw)


def _ref(name: str, label: str, to: str, rel: str, **kw: Any) -> Field:
    return Field(name, "reference", label, 18, reference_to=(to,), relationship_name=rel, **kw)


ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
ASSET_STATUSES = ("Purchased", "Shipped", "Installed", "Registered", "Obsolete")
WORK_ORDER_STATUSES = (
    "New",
    "In Progress",
    "On Hold",
    "Completed",
    "Cannot Complete",
    "Closed",
    "Canceled",
)
WORK_ORDER_PRIORITIES = ("Low", "Medium", "High", "Critical")
PRODUCT_FAMILIES = ("Equipment", "Spare Part", "Consumable", "Service")


def build_schema(*, bare: bool = False) -> dict[str, SObjectType]:
    """The org's sObject types by name; ``bare``: without fieldbridge's custom fields and
    object (an org before its package is deployed)."""
    types = [
        _account(),
        _contact(),
        _product(),
        _asset(),
        _work_order(),
        _product_consumed(),
        _price_book(),
        _price_book_entry(),
        # Field Service: a technician is a ServiceResource, a certification a Skill, holding
        # it a ServiceResourceSkill (EffectiveEndDate: when it stops counting); fieldbridge's
        # external id on each (an org adds it), so that every write is an upsert.
        _service_resource(),
        _skill(),
        _service_resource_skill(),
        _certification(),
    ]
    if bare:
        types = [
            SObjectType(t.name, t.label, t.label_plural, t.key_prefix, standard_fields(t))
            for t in types
            if not t.custom
        ]
    return {t.name: t for t in types}


def standard_fields(sobject: SObjectType) -> list[Field]:
    return [f for f in sobject.fields if not f.custom]


def field_from_describe(described: Mapping[str, Any]) -> Field:
    """A field as a ``describe`` tells it (what an admin's deploy made): its name, type,
    label, length, precision and scale, flags, reference and active picklist values."""
    values = tuple(
        v["value"] for v in described.get("picklistValues") or () if v.get("active", True)
    )
    default = described.get("defaultValue")
    return Field(
        described["name"],
        described["type"],
        described.get("label") or described["name"],
        int(described.get("length") or 0),
        nillable=bool(described.get("nillable", True)),
        createable=bool(described.get("createable", True)),
        updateable=bool(described.get("updateable", True)),
        external_id=bool(described.get("externalId")),
        unique=bool(described.get("unique")),
        custom=described["name"].endswith("__c"),
        reference_to=tuple(described.get("referenceTo") or ()),
        relationship_name=described.get("relationshipName"),
        picklist=values,
        default=default,
        precision=int(described.get("precision") or 0),
        scale=int(described.get("scale") or 0),
    )


def with_fields(
    sobject: SObjectType | None, described: Mapping[str, Any], key_prefix: str
) -> SObjectType:
    """``sobject`` with the fields of ``described`` added (one named alike replaced), or a
    new custom object of them (its Id, IsDeleted and system dates added, a ``Name`` required
    when the describe gives one)."""
    fields = [field_from_describe(d) for d in described.get("fields") or ()]
    if sobject is None:
        name = described["name"]
        label = described.get("label") or name
        plural = described.get("labelPlural") or label + "s"
        return SObjectType(
            name,
            label,
            plural,
            key_prefix,
            [*_system_head(), *fields, *_system_tail()],
            custom=name.endswith("__c"),
        )
    given = {f.name.lower() for f in fields}
    kept = [f for f in sobject.fields if f.name.lower() not in given]
    tail = len(_system_tail())
    return SObjectType(
        sobject.name,
        sobject.label,
        sobject.label_plural,
        sobject.key_prefix,
        [*kept[:-tail], *fields, *kept[-tail:]],
        custom=sobject.custom,
    )


def _account() -> SObjectType:
    return SObjectType(
        "Account",
        "Account",
        "Accounts",
        "001",
        [
            *_system_head(),
            Field("Name", "string", "Account Name", 255, nillable=False),
            Field("Type", "picklist", "Account Type", 255, picklist=ACCOUNT_TYPES),
            Field("Phone", "phone", "Account Phone", 40),
            Field("BillingStreet", "textarea", "Billing Street", 255),
            Field("BillingCity", "string", "Billing City", 40),
            Field("BillingState", "string", "Billing State/Province", 80),
            Field("BillingPostalCode", "string", "Billing Zip/Postal Code", 20),
            Field("BillingCountry", "string", "Billing Country", 80),
            Field("BillingLatitude", "double", "Billing Latitude", precision=18, scale=15),
            Field("BillingLongitude", "double", "Billing Longitude", precision=18, scale=15),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _contact() -> SObjectType:
    return SObjectType(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        [
            *_system_head(),
            _ref("AccountId", "Account ID", "Account", "Account"),
            Field("FirstName", "string", "First Name", 40),
            Field("LastName", "string", "Last Name", 80, nillable=False),
            Field("Email", "email", "Email", 80),
            Field("Phone", "phone", "Business Phone", 40),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _product() -> SObjectType:
    return SObjectType(
        "Product2",
        "Product",
        "Products",
        "01t",
        [
            *_system_head(),
            Field("Name", "string", "Product Name", 255, nillable=False),
            Field("ProductCode", "string", "Product Code", 255),
            Field("Family", "picklist", "Product Family", 255, picklist=PRODUCT_FAMILIES),
            Field("IsActive", "boolean", "Active", nillable=False, default=False),
            Field("Description", "textarea", "Product Description", 4000),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _asset() -> SObjectType:
    return SObjectType(
        "Asset",
        "Asset",
        "Assets",
        "02i",
        [
            *_system_head(),
            _ref("AccountId", "Account ID", "Account", "Account"),
            _ref("ContactId", "Contact ID", "Contact", "Contact"),
            _ref("Product2Id", "Product ID", "Product2", "Product2"),
            Field("Name", "string", "Asset Name", 255, nillable=False),
            Field("SerialNumber", "string", "Serial Number", 80),
            Field("Status", "picklist", "Status", 255, picklist=ASSET_STATUSES),
            Field("InstallDate", "date", "Install Date"),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _work_order() -> SObjectType:
    return SObjectType(
        "WorkOrder",
        "Work Order",
        "Work Orders",
        "0WO",
        [
            *_system_head(),
            Field(
                "WorkOrderNumber",
                "string",
                "Work Order Number",
                30,
                nillable=False,
                createable=False,
                updateable=False,
                auto_number=True,
            ),
            Field("Subject", "string", "Subject", 255),
            Field("Description", "textarea", "Description", 32000),
            Field(
                "Status",
                "picklist",
                "Status",
                40,
                nillable=False,
                picklist=WORK_ORDER_STATUSES,
                default="New",
            ),
            Field("Priority", "picklist", "Priority", 40, picklist=WORK_ORDER_PRIORITIES),
            _ref("AccountId", "Account ID", "Account", "Account"),
            _ref("ContactId", "Contact ID", "Contact", "Contact"),
            _ref("AssetId", "Asset ID", "Asset", "Asset"),
            Field("StartDate", "datetime", "Start Date"),
            Field("EndDate", "datetime", "End Date"),
            Field("Street", "textarea", "Street", 255),
            Field("City", "string", "City", 40),
            Field("State", "string", "State/Province", 80),
            Field("PostalCode", "string", "Zip/Postal Code", 20),
            Field("Country", "string", "Country", 80),
            Field("Latitude", "double", "Latitude", precision=18, scale=15),
            Field("Longitude", "double", "Longitude", precision=18, scale=15),
            _ext_id(),
            # fieldbridge's write-back (custom fields an org adds for it): Number(18, 0)
            # fields describe as double, a Checkbox as a boolean that is never null, a
            # Long Text Area as a textarea
            _custom("Fieldbridge_Labour_Minutes__c", "double", "Labour Minutes", precision=18),
            _custom("Fieldbridge_Visits__c", "double", "Visits", precision=18),
            _custom(
                "Fieldbridge_First_Time_Fix__c",
                "boolean",
                "First-Time Fix",
                nillable=False,
                default=False,
            ),
            _custom("Fieldbridge_Technician__c", "string", "Technician Key", 64),
            _custom("Fieldbridge_Notes__c", "textarea", "Completion Notes", 32000),
            *_system_tail(),
        ],
    )


def _product_consumed() -> SObjectType:
    return SObjectType(
        "ProductConsumed",
        "Product Consumed",
        "Products Consumed",
        "0Q5",
        [
            *_system_head(),
            Field(
                "ProductConsumedNumber",
                "string",
                "Product Consumed Number",
                30,
                nillable=False,
                createable=False,
                updateable=False,
                auto_number=True,
            ),
            _ref(
                "WorkOrderId",
                "Work Order ID",
                "WorkOrder",
                "WorkOrder",
                nillable=False,
                updateable=False,
            ),
            # The product comes from the price book entry (or, in an org that tracks van
            # stock, a ProductItem): Product2Id is read-only, as in a real org.
            _ref("PricebookEntryId", "Price Book Entry ID", "PricebookEntry", "PricebookEntry"),
            _ref(
                "Product2Id",
                "Product ID",
                "Product2",
                "Product2",
                createable=False,
                updateable=False,
            ),
            Field(
                "QuantityConsumed",
                "double",
                "Quantity Consumed",
                nillable=False,
                precision=12,
                scale=2,
            ),
            Field("Description", "textarea", "Description", 32000),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _price_book() -> SObjectType:
    return SObjectType(
        "Pricebook2",
        "Price Book",
        "Price Books",
        "01s",
        [
            *_system_head(),
            Field("Name", "string", "Price Book Name", 255, nillable=False),
            Field("IsActive", "boolean", "Active", nillable=False, default=False),
            Field(
                "IsStandard",
                "boolean",
                "Is Standard Price Book",
                nillable=False,
                createable=False,
                updateable=False,
                default=False,
            ),
            Field("Description", "string", "Description", 255),
            *_system_tail(),
        ],
    )


def _price_book_entry() -> SObjectType:
    return SObjectType(
        "PricebookEntry",
        "Price Book Entry",
        "Price Book Entries",
        "01u",
        [
            *_system_head(),
            # Name and ProductCode are the product's, copied on create (read-only)
            Field("Name", "string", "Product Name", 255, createable=False, updateable=False),
            _ref(
                "Pricebook2Id",
                "Price Book ID",
                "Pricebook2",
                "Pricebook2",
                nillable=False,
                updateable=False,
            ),
            _ref(
                "Product2Id",
                "Product ID",
                "Product2",
                "Product2",
                nillable=False,
                updateable=False,
            ),
            Field(
                "ProductCode",
                "string",
                "Product Code",
                255,
                createable=False,
                updateable=False,
            ),
            Field(
                "UnitPrice",
                "currency",
                "List Price",
                nillable=False,
                precision=18,
                scale=2,
            ),
            Field("IsActive", "boolean", "Active", nillable=False, default=False),
            Field(
                "UseStandardPrice",
                "boolean",
                "Use Standard Price",
                nillable=False,
                default=False,
            ),
            # our part code, so that a ProductConsumed names its entry by external id
            _ext_id(),
            *_system_tail(),
        ],
    )


def _service_resource() -> SObjectType:
    return SObjectType(
        "ServiceResource",
        "Service Resource",
        "Service Resources",
        "0Hn",
        [
            *_system_head(),
            Field("Name", "string", "Name", 80, nillable=False),
            Field(
                "ResourceType",
                "picklist",
                "Resource Type",
                40,
                nillable=False,
                picklist=("T", "D", "C"),
                default="T",
            ),
            Field("IsActive", "boolean", "Active", nillable=False, default=False),
            Field("Description", "textarea", "Description", 4000),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _skill() -> SObjectType:
    return SObjectType(
        "Skill",
        "Skill",
        "Skills",
        "0C5",
        [
            *_system_head(),
            Field("MasterLabel", "string", "Skill Name", 80, nillable=False),
            Field("DeveloperName", "string", "Skill API Name", 80, nillable=False),
            Field("Description", "textarea", "Description", 1000),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _service_resource_skill() -> SObjectType:
    return SObjectType(
        "ServiceResourceSkill",
        "Service Resource Skill",
        "Service Resource Skills",
        "0Sm",
        [
            *_system_head(),
            _ref(
                "ServiceResourceId",
                "Service Resource ID",
                "ServiceResource",
                "ServiceResource",
                nillable=False,
                updateable=False,
            ),
            _ref("SkillId", "Skill ID", "Skill", "Skill", nillable=False, updateable=False),
            Field("SkillLevel", "double", "Skill Level", precision=5, scale=2),
            Field("EffectiveStartDate", "datetime", "Start Date", nillable=False),
            Field("EffectiveEndDate", "datetime", "End Date"),
            _ext_id(),
            *_system_tail(),
        ],
    )


def _certification() -> SObjectType:
    return SObjectType(
        "Fieldbridge_Certification__c",
        "Fieldbridge Certification",
        "Fieldbridge Certifications",
        "a0C",
        [
            *_system_head(),
            Field("Name", "string", "Certification Name", 80, nillable=False),
            _custom("Technician_Key__c", "string", "Technician Key", 64),
            _custom("Code__c", "string", "Code", 64),
            _custom("Issuer__c", "string", "Issuer", 200),
            _custom("Number__c", "string", "Number", 128),
            _custom("Issued_On__c", "date", "Issued On"),
            _custom("Expires_On__c", "date", "Expires On"),
            _ext_id(),
            *_system_tail(),
        ],
        custom=True,
    )
