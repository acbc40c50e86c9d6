"""An org-ready Salesforce DX source package: exactly the custom fields and objects a mapping
needs, each as the start-up check (``describe``) demands it, and a permission set that grants
the integration user access to them.

Pure: a mapping in, files out (``files``: a relative path -> its text). The command line
writes them (``fieldbridge salesforce package --out DIR``) and an admin deploys them with
``sf project deploy start``.

- What the org must hold is ``describe.demand``, the walk the start-up check makes, recorded
  here instead of checked (``_Needs``): each field, the object a lookup refers to, an
  external id, the text a field must hold, a picklist's values. So the package and the check
  cannot disagree.
- What kind of value each field takes (a number, a checkbox, a date and time) is what the
  reads and the write-back put in it (``_kinds``, by the mapping's attributes). A text longer
  than a Text field holds (255) becomes a Long Text Area.
- Only custom names (``__c``) are made: a standard object gets its custom fields (no object
  file), a custom object its object file (label, name field, sharing, deployment status) and
  its fields. Record types and the picklist values of standard fields stay the org's to add
  (the check names any that are missing).
- An external id the write-back writes is also unique (case-insensitive), so that an upsert
  by it never meets two records; one only read, or only looked up by (a part code a
  PricebookEntry may carry in two price books), is not.

Element names are the Metadata API's (``CustomField``, ``CustomObject``, ``PermissionSet``),
each element's children in the order a retrieve writes them: ``fullName`` first, the rest
alphabetical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree import ElementTree  # nosec B405  # builds XML to write; it parses nothing

from mappings.errors import MappingConfigError
from mappings.salesforce.config import SYSTEM, Lookup, SalesforceConfig, parent_object
from mappings.salesforce.describe import demand

__all__ = ["METADATA_NAMESPACE", "PERMISSION_SET", "CustomField", "CustomObject", "files", "plan"]

METADATA_NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
SOURCE = "force-app/main/default"
PERMISSION_SET = "Fieldbridge_Integration"
KEY_LENGTH = 64  # an external id the check demands no length of (the mapping's key default)
TEXT_MAX = 255  # the longest Text field; longer is a Long Text Area
LONG_TEXT_MIN, LONG_TEXT_MAX = 256, 131_072
NAME_FIELD_LENGTH = 80  # a custom object's Text name field, fixed by Salesforce
LABEL_MAX = 40
KEYABLE = ("Text", "Number", "Email")  # the types an external id (or a unique field) may be


@dataclass(frozen=True)
class Kind:
    """A field's type in the Metadata API's words (``Text``, ``Number`` ...) with its size."""

    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


TEXT_255 = Kind("Text", 255)
TEXT_80 = Kind("Text", 80)
KEY = Kind("Text", 64)  # our keys and codes (``mappings.canonical.Code``)
LONG_TEXT = Kind("LongTextArea", 32_000)
WHOLE = Kind("Number", precision=18, scale=0)
COORDINATE = Kind("Number", precision=18, scale=15)
CHECKBOX = Kind("Checkbox")
DATE = Kind("Date")
DATETIME = Kind("DateTime")
EMAIL = Kind("Email")
PHONE = Kind("Phone")


@dataclass(frozen=True)
class CustomField:
    """One field to make: ``sobject.name`` with its type and flags."""

    sobject: str
    name: str
    label: str
    kind: Kind
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    values: tuple[str, ...] = ()  # a picklist's


@dataclass(frozen=True)
class CustomObject:
    """An object the package names: a custom one is made (``custom``), a standard one only
    gets its custom ``fields``."""

    name: str
    fields: tuple[CustomField, ...]

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def label(self) -> str:
        return _label(self.name, keep_prefix=True)


@dataclass
class _Need:
    """What the check demands of one field."""

    external_id: bool = False
    written: bool = False
    length: int = 0
    target: str | None = None
    values: list[str] = field(default_factory=list)


class _Needs:
    """A ``describe.Org`` that writes each demand down instead of checking it."""

    def __init__(self) -> None:
        self.fields: dict[tuple[str, str], _Need] = {}
        self.objects: list[str] = []

    def need(self, sobject: str, name: str) -> _Need:
        self.named(sobject)
        return self.fields.setdefault((sobject, name), _Need())

    def named(self, sobject: str) -> None:
        if sobject not in self.objects:
            self.objects.append(sobject)

    def readable(self, sobject: str, path: str) -> None:
        if "." not in path:
            self.need(sobject, path)
            return
        relationship, name = path.split(".", 1)
        parent = parent_object(path)
        if relationship.endswith("__r"):  # a custom lookup; a standard one is the org's
            self.need(sobject, relationship[:-3] + "__c").target = parent
        self.need(parent, name)

    def external_id(self, sobject: str, name: str) -> None:
        self.need(sobject, name).external_id = True

    def writable(self, sobject: str, name: str, *, create_only: bool = False) -> None:
        self.need(sobject, name).written = True

    def holds(self, sobject: str, name: str, length: int, setting: str) -> None:
        need = self.need(sobject, name)
        need.length = max(need.length, length)

    def reference(self, sobject: str, name: str, target: str) -> None:
        self.need(sobject, name).target = target
        self.named(target)

    def lookup(self, sobject: str, lookup: Lookup) -> None:
        self.writable(sobject, lookup.field)
        self.reference(sobject, lookup.field, lookup.target)
        self.external_id(lookup.target, lookup.by)

    def picklist(self, sobject: str, name: str, values: Iterable[str]) -> None:
        need = self.need(sobject, name)
        need.values += [v for v in dict.fromkeys(values) if v not in need.values]

    def record_type(self, sobject: str, developer_name: str) -> None:
        self.named(sobject)  # a record type is the org's to add


def _kinds(mapping: SalesforceConfig) -> dict[tuple[str, str], Kind]:
    """Each field the mapping names by what goes in it (the standard org's sizes)."""
    acc, con, asset, wo = mapping.account, mapping.contact, mapping.asset, mapping.work_order
    pc, cert, sk = mapping.product_consumed, mapping.certification, mapping.skills
    table: list[tuple[str, str | Lookup | None, Kind]] = [
        (acc.sobject, acc.name, TEXT_255),
        (acc.sobject, acc.phone, PHONE),
        (acc.sobject, acc.email, EMAIL),
        (acc.sobject, acc.street, Kind("TextArea")),
        (acc.sobject, acc.city, Kind("Text", 40)),
        (acc.sobject, acc.state, TEXT_80),
        (acc.sobject, acc.postal_code, Kind("Text", 20)),
        (acc.sobject, acc.country, TEXT_80),
        (acc.sobject, acc.latitude, COORDINATE),
        (acc.sobject, acc.longitude, COORDINATE),
        (acc.sobject, acc.time_zone, Kind("Text", 40)),  # an IANA zone name
        (acc.sobject, acc.access_notes, LONG_TEXT),
        (con.sobject, con.first_name, Kind("Text", 40)),
        (con.sobject, con.last_name, TEXT_80),
        (con.sobject, con.email, EMAIL),
        (con.sobject, con.phone, PHONE),
        (asset.sobject, asset.name, TEXT_255),
        (asset.sobject, asset.serial, TEXT_80),
        (wo.sobject, wo.subject, TEXT_255),
        (wo.sobject, wo.description, LONG_TEXT),
        (wo.sobject, wo.actual_start, DATETIME),
        (wo.sobject, wo.actual_end, DATETIME),
        (wo.sobject, wo.labour_minutes, WHOLE),
        (wo.sobject, wo.visits, WHOLE),
        (wo.sobject, wo.first_time_fix, CHECKBOX),
        (wo.sobject, wo.technician, KEY),
        (wo.sobject, wo.notes, LONG_TEXT),
        (pc.sobject, pc.quantity, Kind("Number", precision=12, scale=2)),
        (cert.sobject, cert.technician, KEY),
        (cert.sobject, cert.name, TEXT_80),
        (cert.sobject, cert.code, KEY),
        (cert.sobject, cert.issuer, Kind("Text", 200)),  # as long as the canonical model's
        (cert.sobject, cert.number, Kind("Text", 128)),
        (cert.sobject, cert.issued_on, DATE),
        (cert.sobject, cert.expires_on, DATE),
        (sk.resource, sk.resource_name, TEXT_80),
        (sk.resource, sk.resource_active, CHECKBOX),
        (sk.skill, sk.skill_label, TEXT_80),
        (sk.skill, sk.skill_name, TEXT_80),
        (sk.holding, sk.start, DATETIME),
        (sk.holding, sk.end, DATETIME),
    ]
    return {(sobject, name): kind for sobject, name, kind in table if isinstance(name, str)}


def _sized(kind: Kind, length: int) -> Kind:
    """``kind`` holding at least ``length`` characters (a text the check demands)."""
    if kind.type not in ("Text", "TextArea", "LongTextArea", "Email", "Phone") or not length:
        return kind
    if kind.type == "Text" and length <= TEXT_MAX:
        return Kind("Text", max(kind.length or 0, length))
    if kind.type == "LongTextArea" or length > TEXT_MAX:
        wanted = max(kind.length or 0, length, LONG_TEXT_MIN)
        return Kind("LongTextArea", min(wanted, LONG_TEXT_MAX))
    return kind  # TextArea, Email and Phone hold 255, 80 and 40, and the check holds no more


def _field(sobject: str, name: str, need: _Need, kind: Kind | None) -> CustomField:
    if need.target is not None:
        return CustomField(sobject, name, _label(name), Kind("Lookup"), reference_to=need.target)
    if need.values:
        return CustomField(sobject, name, _label(name), Kind("Picklist"), values=tuple(need.values))
    if kind is None:
        kind = KEY if need.external_id else TEXT_255
    if need.external_id and kind.type not in KEYABLE:
        kind = KEY
    return CustomField(
        sobject,
        name,
        _label(name),
        _sized(kind, need.length),
        external_id=need.external_id,
        unique=need.external_id and need.written,
    )


def plan(mapping: SalesforceConfig) -> list[CustomObject]:
    """The objects the package names, in the mapping's order, each with the custom fields to
    make (``MappingConfigError`` for a demand no field can meet)."""
    needs = _Needs()
    demand(mapping, needs)
    kinds = _kinds(mapping)
    problems = []
    by_object: dict[str, list[CustomField]] = {sobject: [] for sobject in needs.objects}
    for (sobject, name), need in needs.fields.items():
        if name == "Name" and sobject.endswith("__c"):
            if need.length > NAME_FIELD_LENGTH:
                problems.append(
                    f"{sobject}.Name: a custom object's name field holds {NAME_FIELD_LENGTH} "
                    f"characters, the mapping writes up to {need.length} (map another field, "
                    f"or write at most {NAME_FIELD_LENGTH})"
                )
            continue  # the object file's name field
        if name.endswith("__c"):
            by_object[sobject].append(_field(sobject, name, need, kinds.get((sobject, name))))
    if problems:
        raise MappingConfigError(SYSTEM, problems)
    objects = [CustomObject(name, tuple(fields)) for name, fields in by_object.items()]
    return [o for o in objects if o.custom or o.fields]


def files(mapping: SalesforceConfig, api_version: str) -> dict[str, str]:
    """The package for ``mapping``: each file's path (relative, ``/``-separated) and text.
    ``api_version``: the project's ``sourceApiVersion`` (``61.0``)."""
    objects = plan(mapping)
    out = {"sfdx-project.json": _project(api_version)}
    for sobject in objects:
        folder = f"{SOURCE}/objects/{sobject.name}"
        if sobject.custom:
            out[f"{folder}/{sobject.name}.object-meta.xml"] = _xml(_object_element(sobject))
        for custom in sobject.fields:
            out[f"{folder}/fields/{custom.name}.field-meta.xml"] = _xml(_field_element(custom))
    path = f"{SOURCE}/permissionsets/{PERMISSION_SET}.permissionset-meta.xml"
    out[path] = _xml(_permission_set(objects))
    return out


# -- the files ---------------------------------------------------------------------------------


def _project(api_version: str) -> str:
    project = {
        "packageDirectories": [{"path": "force-app", "default": True}],
        "name": "fieldbridge",
        "namespace": "",
        "sfdcLoginUrl": "https://login.salesforce.com",
        "sourceApiVersion": api_version,
    }
    return json.dumps(project, indent=2) + "\n"


def _object_element(sobject: CustomObject) -> ElementTree.Element:
    root = _root("CustomObject")
    _add(root, "deploymentStatus", "Deployed")
    _add(root, "description", "Made for fieldbridge's Salesforce mapping.")
    _add(root, "label", sobject.label)
    name_field = ElementTree.SubElement(root, "nameField")
    _add(name_field, "label", _truncate(f"{sobject.label} Name"))
    _add(name_field, "type", "Text")
    _add(root, "pluralLabel", _truncate(f"{sobject.label}s"))
    _add(root, "sharingModel", "ReadWrite")
    return root


def _field_element(custom: CustomField) -> ElementTree.Element:
    kind = custom.kind
    root = _root("CustomField")
    _add(root, "fullName", custom.name)
    if custom.unique:
        _add(root, "caseSensitive", False)
    if kind.type == "Checkbox":
        _add(root, "defaultValue", False)
    if kind.type == "Lookup":
        _add(root, "deleteConstraint", "SetNull")
    if kind.type in KEYABLE:
        _add(root, "externalId", custom.external_id)
    _add(root, "label", custom.label)
    if kind.length is not None:
        _add(root, "length", kind.length)
    if kind.precision is not None:
        _add(root, "precision", kind.precision)
    if kind.type == "Lookup":
        assert custom.reference_to is not None  # nosec B101  # a Lookup is made with its target
        _add(root, "referenceTo", custom.reference_to)
        _add(root, "relationshipLabel", _truncate(_label(custom.sobject, keep_prefix=True) + "s"))
        _add(root, "relationshipName", custom.name.removesuffix("__c"))
    if kind.type != "Checkbox":  # a checkbox is never required, and may not say so
        _add(root, "required", False)
    if kind.scale is not None:
        _add(root, "scale", kind.scale)
    _add(root, "type", kind.type)
    if kind.type in KEYABLE:
        _add(root, "unique", custom.unique)
    if kind.type == "Picklist":
        root.append(_value_set(custom.values))
    if kind.type == "LongTextArea":
        _add(root, "visibleLines", 5)
    return root


def _value_set(values: Iterable[str]) -> ElementTree.Element:
    value_set = ElementTree.Element("valueSet")
    _add(value_set, "restricted", True)
    definition = ElementTree.SubElement(value_set, "valueSetDefinition")
    _add(definition, "sorted", False)
    for value in values:
        entry = ElementTree.SubElement(definition, "value")
        _add(entry, "fullName", value)
        _add(entry, "default", False)
        _add(entry, "label", value)
    return value_set


PERMISSION_SET_DESCRIPTION = (
    "fieldbridge's integration user: API Enabled, read and edit on each field fieldbridge "
    "needs, full access to its objects. Assign it to the user the JWT bearer flow logs in "
    "as, and add it to the connected app (Admin approved users are pre-authorized)."
)


def _permission_set(objects: list[CustomObject]) -> ElementTree.Element:
    root = _root("PermissionSet")
    _add(root, "description", PERMISSION_SET_DESCRIPTION)
    fields = sorted(f"{f.sobject}.{f.name}" for o in objects for f in o.fields)
    for name in fields:
        grant = ElementTree.SubElement(root, "fieldPermissions")
        _add(grant, "editable", True)
        _add(grant, "field", name)
        _add(grant, "readable", True)
    _add(root, "hasActivationRequired", False)
    _add(root, "label", "Fieldbridge Integration")
    for sobject in sorted(o.name for o in objects if o.custom):
        grant = ElementTree.SubElement(root, "objectPermissions")
        for name in ("allowCreate", "allowDelete", "allowEdit", "allowRead"):
            _add(grant, name, True)
        _add(grant, "modifyAllRecords", False)
        _add(grant, "object", sobject)
        _add(grant, "viewAllRecords", False)
    permission = ElementTree.SubElement(root, "userPermissions")
    _add(permission, "enabled", True)
    _add(permission, "name", "ApiEnabled")
    return root


# -- XML ---------------------------------------------------------------------------------------


def _root(tag: str) -> ElementTree.Element:
    return ElementTree.Element(tag, xmlns=METADATA_NAMESPACE)


def _add(parent: ElementTree.Element, tag: str, value: str | int | bool) -> None:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    ElementTree.SubElement(parent, tag).text = text


def _xml(root: ElementTree.Element) -> str:
    ElementTree.indent(root, space="    ")
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _label(name: str, *, keep_prefix: bool = False) -> str:
    """A label from an API name: ``Fieldbridge_Labour_Minutes__c`` -> ``Labour Minutes``,
    ``WorkOrder`` -> ``Work Order`` (fieldbridge's prefix kept where the rest would say too
    little: ``Fieldbridge Id``)."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.removesuffix("__c")).split("_")
    if not keep_prefix and words[0] == "Fieldbridge" and words[1:] not in ([], ["Id"]):
        words = words[1:]
    return _truncate(" ".join(w for w in words if w))


def _truncate(label: str) -> str:
    return label[:LABEL_MAX].rstrip()
