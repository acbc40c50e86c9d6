"""Holding a Salesforce mapping against the org's ``describe``s (the start-up check).

Each misfit becomes one line naming what it is about (``Object.Field: reason``), and all of
them are raised together, so one start-up shows every name to fix.

What a mapping needs of the org is one walk, ``demand``, over an ``Org``: the check's
``_Org`` holds each demand against the describes; the package (``package.py``) records them
to make the fields an org lacks, so that the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from mappings.errors import MappingConfigError
from mappings.salesforce.config import ENTITIES, SYSTEM, Lookup, SalesforceConfig, parent_object


class Org(Protocol):
    """What ``demand`` asks of an org, one field (or object) at a time."""

    def readable(self, sobject: str, path: str) -> None: ...

    def external_id(self, sobject: str, name: str) -> None: ...

    def writable(self, sobject: str, name: str, *, create_only: bool = False) -> None: ...

    def holds(self, sobject: str, name: str, length: int, setting: str) -> None: ...

    def reference(self, sobject: str, name: str, target: str) -> None: ...

    def lookup(self, sobject: str, lookup: Lookup) -> None: ...

    def picklist(self, sobject: str, name: str, values: Iterable[str]) -> None: ...

    def record_type(self, sobject: str, developer_name: str) -> None: ...


class _Org:
    """The describes, with every failed check written down instead of raised."""

    def __init__(self, describes: Mapping[str, Mapping[str, Any]]) -> None:
        self.describes = describes
        self.problems: list[str] = []
        self._fields: dict[str, dict[str, Mapping[str, Any]]] = {}

    def problem(self, name: str, reason: str) -> None:
        line = f"{name}: {reason}"
        if line not in self.problems:
            self.problems.append(line)

    def fields(self, sobject: str) -> dict[str, Mapping[str, Any]] | None:
        if sobject not in self.describes:
            self.problem(sobject, "no describe for this object (is it in the org and visible?)")
            return None
        if sobject not in self._fields:
            self._fields[sobject] = {f["name"]: f for f in self.describes[sobject]["fields"]}
        return self._fields[sobject]

    def field(self, sobject: str, name: str) -> Mapping[str, Any] | None:
        fields = self.fields(sobject)
        if fields is None:
            return None
        found = fields.get(name)
        if found is None:
            spelt = [f for f in fields if f.lower() == name.lower()]
            hint = f" (the org spells it {spelt[0]})" if spelt else ""
            self.problem(f"{sobject}.{name}", "no such field" + hint)
        return found

    # -- checks ----------------------------------------------------------------------------

    def readable(self, sobject: str, path: str) -> None:
        if "." not in path:
            self.field(sobject, path)
            return
        relationship, name = path.split(".", 1)
        fields = self.fields(sobject)
        if fields is None:
            return
        ref = next((f for f in fields.values() if f.get("relationshipName") == relationship), None)
        if ref is None:
            self.problem(f"{sobject}.{path}", f"no relationship {relationship}")
            return
        parent = parent_object(path)
        if parent not in (ref.get("referenceTo") or ()):
            self.problem(
                f"{sobject}.{path}",
                f"{relationship} refers to {', '.join(ref.get('referenceTo') or ())}, not "
                f"{parent} (use a formula field on {sobject})",
            )
            return
        self.field(parent, name)

    def external_id(self, sobject: str, name: str) -> None:
        field = self.field(sobject, name)
        if field is not None and not (field.get("externalId") or field.get("idLookup")):
            self.problem(f"{sobject}.{name}", "not an external id (mark it External ID)")

    def writable(self, sobject: str, name: str, *, create_only: bool = False) -> None:
        field = self.field(sobject, name)
        if field is None:
            return
        if not field.get("createable"):
            self.problem(f"{sobject}.{name}", "not createable")
        if not create_only and not field.get("updateable"):
            self.problem(f"{sobject}.{name}", "not updateable")

    def holds(self, sobject: str, name: str, length: int, setting: str) -> None:
        """A text field must hold ``length`` characters (what the write-back may put in)."""
        field = self.field(sobject, name)
        if field is None or field.get("type") not in (
            "string",
            "textarea",
            "email",
            "phone",
            "url",
        ):
            return
        if int(field.get("length") or 0) < length:
            self.problem(
                f"{sobject}.{name}",
                f"holds {field.get('length')} characters, the mapping writes up to {length} "
                f"(set {setting} to {field.get('length')})",
            )

    def reference(self, sobject: str, name: str, target: str) -> None:
        field = self.field(sobject, name)
        if field is not None and target not in (field.get("referenceTo") or ()):
            self.problem(f"{sobject}.{name}", f"does not refer to {target}")

    def lookup(self, sobject: str, lookup: Lookup) -> None:
        self.writable(sobject, lookup.field)
        self.reference(sobject, lookup.field, lookup.target)
        self.external_id(lookup.target, lookup.by)

    def picklist(self, sobject: str, name: str, values: Iterable[str]) -> None:
        field = self.field(sobject, name)
        if field is None:
            return
        active = {v["value"] for v in field.get("picklistValues") or () if v.get("active", True)}
        for value in sorted(set(values)):
            if value not in active:
                self.problem(f"{sobject}.{name}", f"{value!r} is not an active picklist value")

    def record_type(self, sobject: str, developer_name: str) -> None:
        if self.fields(sobject) is None:
            return
        infos = self.describes[sobject].get("recordTypeInfos") or ()
        if not any(i.get("developerName") == developer_name for i in infos):
            self.problem(f"{sobject}.RecordType", f"no record type {developer_name!r}")


def check(mapping: SalesforceConfig, describes: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse (``MappingConfigError``, every misfit named) a mapping the org does not fit."""
    org = _Org(describes)
    demand(mapping, org)
    if org.problems:
        raise MappingConfigError(SYSTEM, org.problems)


def demand(mapping: SalesforceConfig, org: Org) -> None:
    """Every field, reference, external id, length, picklist value and record type that
    ``mapping`` needs, asked of ``org``."""
    for entity in ENTITIES:
        section = mapping.section(entity)
        org.external_id(section.sobject, section.external_id_field)
        for path in section.reads():
            org.readable(section.sobject, path)
        for name in section.record_types:
            org.record_type(section.sobject, name)
    if mapping.contact.account:
        org.reference(mapping.contact.sobject, mapping.contact.account, mapping.account.sobject)
    org.reference(mapping.asset.sobject, mapping.asset.account, mapping.account.sobject)

    wo = mapping.work_order
    org.picklist(wo.sobject, wo.status, [*wo.status_in, *wo.status_out.values()])
    if wo.priority:
        org.picklist(wo.sobject, wo.priority, [*wo.priority_in, *wo.priority_out.values()])
    # An order raised in Salesforce is written by its record id, with our key stamped on it.
    org.writable(wo.sobject, wo.external_id_field)
    for name in wo.writes():
        org.writable(wo.sobject, name)
    if wo.account:
        org.reference(wo.sobject, wo.account, mapping.account.sobject)
    if wo.asset:
        org.reference(wo.sobject, wo.asset, mapping.asset.sobject)
    if wo.contact:
        org.reference(wo.sobject, wo.contact, mapping.contact.sobject)
    org.holds(wo.sobject, wo.subject, wo.subject_length, "work_order.subject_length")
    if wo.notes:
        org.holds(wo.sobject, wo.notes, wo.notes_length, "work_order.notes_length")
    if isinstance(wo.technician, Lookup):
        org.lookup(wo.sobject, wo.technician)

    pc = mapping.product_consumed
    org.external_id(pc.sobject, pc.external_id_field)
    org.writable(pc.sobject, pc.external_id_field)
    org.writable(pc.sobject, pc.work_order, create_only=True)  # a detail keeps its parent
    org.reference(pc.sobject, pc.work_order, wo.sobject)
    org.lookup(pc.sobject, pc.product)
    for name in pc.writes():
        org.writable(pc.sobject, name)
    org.holds(pc.sobject, pc.external_id_field, pc.key_length, "product_consumed.key_length")

    cert = mapping.certification
    org.external_id(cert.sobject, cert.external_id_field)
    org.writable(cert.sobject, cert.external_id_field)
    for name in cert.writes():
        org.writable(cert.sobject, name)
    if isinstance(cert.technician, Lookup):
        org.lookup(cert.sobject, cert.technician)
    org.holds(cert.sobject, cert.external_id_field, cert.key_length, "certification.key_length")
    org.holds(cert.sobject, cert.name, cert.name_length, "certification.name_length")

    sk = mapping.skills
    for sobject in (sk.resource, sk.skill, sk.holding):
        org.external_id(sobject, sk.external_id_field)
        org.writable(sobject, sk.external_id_field)
        org.holds(sobject, sk.external_id_field, sk.key_length, "skills.key_length")
    pairs: tuple[tuple[str, str | None], ...] = (
        (sk.resource, sk.resource_name),
        (sk.resource, sk.resource_active),
        (sk.skill, sk.skill_label),
        (sk.skill, sk.skill_name),
        (sk.holding, sk.start),
        (sk.holding, sk.end),
    )
    for sobject, field in pairs:
        if field:
            org.writable(sobject, field)
    org.holds(sk.skill, sk.skill_label, sk.label_length, "skills.label_length")
    for field, target in ((sk.holding_resource, sk.resource), (sk.holding_skill, sk.skill)):
        org.writable(sk.holding, field, create_only=True)  # a holding keeps its two ends
        org.reference(sk.holding, field, target)
