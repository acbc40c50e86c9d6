"""The org-ready package (``mappings.salesforce.package``) against the Metadata API's names
and against an org: deployed to a bare simulator (its describes made from the package's
files, as the org would hold them), the start-up check the sync runs passes, logged in by
the JWT bearer flow; without one of the package's fields it fails naming that field."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from mappings.errors import MappingConfigError
from mappings.salesforce import SalesforceMapping
from mappings.salesforce.package import files
from orchestrator.domain.errors import SetupError
from orchestrator.sync.systems import check_mapping
from sandbox.salesforce import SalesforceSimulator
from sandbox.salesforce.schema import build_schema
from tests.support.salesforce_package import NS, child, describes, parse
from tests.support.simulators import fresh_simulators, settings_of

MAPPING = SalesforceMapping()
PACKAGE = files(MAPPING, "62.0")
OBJECTS = "force-app/main/default/objects"
PERMISSION_SET = (
    "force-app/main/default/permissionsets/Fieldbridge_Integration.permissionset-meta.xml"
)

# The Metadata API's element names (developer.salesforce.com, Metadata API Developer Guide:
# CustomField, CustomObject, PermissionSet and the types inside them), the ones a package
# may use; and the ones each must have.
ALLOWED: dict[str, set[str]] = {
    "CustomField": {
        *("fullName", "caseSensitive", "defaultValue", "deleteConstraint", "description"),
        *("externalId", "formula", "inlineHelpText", "label", "length", "precision"),
        *("referenceTo", "relationshipLabel", "relationshipName", "relationshipOrder"),
        *("required", "scale", "trackHistory", "trackTrending", "type", "unique"),
        *("valueSet", "visibleLines"),
    },
    "valueSet": {"controllingField", "restricted", "valueSetDefinition", "valueSettings"},
    "valueSetDefinition": {"sorted", "value"},
    "value": {"fullName", "color", "default", "description", "isActive", "label"},
    "CustomObject": {
        *("actionOverrides", "allowInChatterGroups", "compactLayoutAssignment"),
        *("deploymentStatus", "description", "enableActivities", "enableBulkApi"),
        *("enableFeeds", "enableHistory", "enableReports", "enableSearch", "enableSharing"),
        *("enableStreamingApi", "externalSharingModel", "fields", "label", "listViews"),
        *("nameField", "pluralLabel", "recordTypes", "sharingModel", "startsWith"),
        "visibility",
    },
    "nameField": {"displayFormat", "label", "trackHistory", "type"},
    "PermissionSet": {
        *("applicationVisibilities", "classAccesses", "customPermissions", "description"),
        *("fieldPermissions", "hasActivationRequired", "label", "license"),
        *("objectPermissions", "pageAccesses", "recordTypeVisibilities", "tabSettings"),
        "userPermissions",
    },
    "fieldPermissions": {"editable", "field", "readable"},
    "objectPermissions": {
        *("allowCreate", "allowDelete", "allowEdit", "allowRead", "modifyAllRecords"),
        *("object", "viewAllFields", "viewAllRecords"),
    },
    "userPermissions": {"enabled", "name"},
}
REQUIRED: dict[str, set[str]] = {
    "CustomField": {"fullName", "label", "type"},
    "CustomObject": {"deploymentStatus", "label", "nameField", "pluralLabel", "sharingModel"},
    "nameField": {"label", "type"},
    "PermissionSet": {"label"},
    "fieldPermissions": {"editable", "field", "readable"},
    "objectPermissions": {
        *("allowCreate", "allowDelete", "allowEdit", "allowRead", "modifyAllRecords"),
        *("object", "viewAllRecords"),
    },
    "userPermissions": {"enabled", "name"},
}
FIELD_TYPES = {
    *("Checkbox", "Date", "DateTime", "Email", "Lookup", "LongTextArea", "Number"),
    *("Phone", "Picklist", "Text", "TextArea", "Url"),
}
ROOTS = {
    ".field-meta.xml": "CustomField",
    ".object-meta.xml": "CustomObject",
    ".permissionset-meta.xml": "PermissionSet",
}


def local(tag: str) -> str:
    namespace, _, name = tag.rpartition("}")
    assert namespace == "{" + NS, f"{tag} is not in the Metadata API's namespace"
    return name


def unknown_names(element: Element, kind: str, where: str) -> list[str]:
    """Each child of ``element`` whose name the Metadata API does not give ``kind``, and
    each required one missing, recursively."""
    names = [local(c.tag) for c in element]
    wrong = [f"{where}: <{n}> is not a {kind} element" for n in names if n not in ALLOWED[kind]]
    wrong += [f"{where}: {kind} lacks <{n}>" for n in REQUIRED.get(kind, set()) - set(names)]
    for sub in element:
        name = local(sub.tag)
        if name in ALLOWED and len(sub):
            wrong += unknown_names(sub, name, f"{where}/{name}")
    return wrong


def test_every_file_is_metadata_api_xml_with_its_documented_element_names() -> None:
    wrong: list[str] = []
    metadata = [p for p in PACKAGE if p.endswith(".xml")]
    assert len(metadata) == len(PACKAGE) - 1  # and sfdx-project.json
    for path in metadata:
        kind = next(k for suffix, k in ROOTS.items() if path.endswith(suffix))
        root = parse(PACKAGE[path])
        assert local(root.tag) == kind, path
        wrong += unknown_names(root, kind, path)
        if kind == "CustomField":
            wrong += field_problems(path, root)
    assert wrong == []
    project = json.loads(PACKAGE["sfdx-project.json"])
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    assert project["sourceApiVersion"] == "62.0"


def field_problems(path: str, root: Element) -> list[str]:
    """What the Metadata API would refuse of a field: its file named otherwise, an unknown
    type, a length outside the type's bounds, an external id of a type that cannot be one."""
    text = {local(c.tag): c.text for c in root}
    kind, length = text["type"] or "", int(text.get("length") or 0)
    problems = []
    if Path(path).name != f"{text['fullName']}.field-meta.xml" or "__c" not in path:
        problems.append(f"{path}: named otherwise than {text['fullName']}")
    if kind not in FIELD_TYPES:
        problems.append(f"{path}: no field type {kind}")
    bounds = {"Text": (1, 255), "LongTextArea": (256, 131_072)}.get(kind)
    if bounds and not bounds[0] <= length <= bounds[1]:
        problems.append(f"{path}: a {kind} of {length}")
    if kind == "LongTextArea" and not text.get("visibleLines"):
        problems.append(f"{path}: a Long Text Area needs visibleLines")
    if kind == "Number" and not 0 <= int(text["scale"] or 0) <= int(text["precision"] or 0) <= 18:
        problems.append(f"{path}: precision {text['precision']}, scale {text['scale']}")
    if text.get("externalId") == "true" and kind not in ("Text", "Number", "Email"):
        problems.append(f"{path}: a {kind} cannot be an external id")
    if len(text["label"] or "") > 40:
        problems.append(f"{path}: a label over 40 characters")
    return problems


def test_the_permission_set_grants_each_field_and_the_custom_object_and_the_api() -> None:
    root = parse(PACKAGE[PERMISSION_SET])
    fields = {
        child(grant, "field"): (child(grant, "readable"), child(grant, "editable"))
        for grant in root.iterfind(f"{{{NS}}}fieldPermissions")
    }
    made = {
        f"{p.split('/')[-3]}.{Path(p).name.removesuffix('.field-meta.xml')}"
        for p in PACKAGE
        if p.endswith(".field-meta.xml")
    }
    assert set(fields) == made and set(fields.values()) == {("true", "true")}
    assert (
        "WorkOrder.Fieldbridge_Notes__c" in made and "Fieldbridge_Certification__c.Name" not in made
    )
    (grant,) = root.iterfind(f"{{{NS}}}objectPermissions")
    crud = {local(c.tag): c.text for c in grant}
    assert crud == {
        "allowCreate": "true",
        "allowDelete": "true",
        "allowEdit": "true",
        "allowRead": "true",
        "modifyAllRecords": "false",
        "object": "Fieldbridge_Certification__c",
        "viewAllRecords": "false",
    }
    (api,) = root.iterfind(f"{{{NS}}}userPermissions")
    assert (child(api, "name"), child(api, "enabled")) == ("ApiEnabled", "true")
    description = child(root, "description") or ""
    assert len(description) <= 255 and "JWT bearer" in description


def test_the_package_makes_the_fields_as_the_reference_org_holds_them() -> None:
    """The simulator's full org is a standard org with fieldbridge's fields added by hand:
    the package's describes say the same type, length, precision and external id."""
    org = build_schema()
    made = describes(PACKAGE)
    assert set(made) == {
        *("Account", "Contact", "Asset", "WorkOrder", "ProductConsumed", "PricebookEntry"),
        *("Fieldbridge_Certification__c", "ServiceResource", "Skill", "ServiceResourceSkill"),
    }
    assert [f["name"] for f in made["Account"]["fields"]] == ["Fieldbridge_Id__c"]
    assert not any(p.endswith("WorkOrder.object-meta.xml") for p in PACKAGE)
    keys = ("type", "length", "precision", "scale", "externalId")
    for sobject, described in made.items():
        for field in described["fields"]:
            held = org[sobject].field(field["name"])
            assert held is not None, f"{sobject}.{field['name']}"
            expected = held.describe()
            assert {k: field.get(k, expected[k]) for k in keys} == {k: expected[k] for k in keys}


@pytest.fixture
def fresh() -> Iterator[Callable[..., SalesforceSimulator]]:
    with fresh_simulators(SalesforceSimulator) as make:
        yield make


def deployed(
    fresh: Callable[..., SalesforceSimulator], package: Mapping[str, str]
) -> SalesforceSimulator:
    """A bare org with ``package`` deployed to it."""
    sim = fresh(seed=31, bare=True)
    for described in describes(package).values():
        sim.define(described)
    return sim


def start_up_check(sim: SalesforceSimulator, mapping: SalesforceMapping) -> None:
    """What ``sync run`` does first: the mapping held against the org's describes, logged in
    as the integration user through the JWT bearer flow (the settings a user pastes)."""
    settings = settings_of(sim.env("jwt"), "SALESFORCE") | {"api_version": sim.api_version}
    assert "private_key_file" in settings and "password" not in settings
    with SalesforceConnector(SalesforceSettings(**settings), sleep=lambda _: None) as sf:
        check_mapping(sf, mapping)


def test_a_bare_org_fails_the_check_and_passes_it_with_the_package_deployed(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    with pytest.raises(SetupError) as bare:
        start_up_check(fresh(seed=31, bare=True), MAPPING)
    assert "WorkOrder.Fieldbridge_Notes__c: no such field" in bare.value.problems
    assert any(
        p.startswith("Fieldbridge_Certification__c: no describe") for p in bare.value.problems
    )

    start_up_check(deployed(fresh, PACKAGE), MAPPING)  # raises naming any misfit


@pytest.mark.parametrize(
    "removed",
    [
        "WorkOrder/fields/Fieldbridge_Notes__c",
        "Fieldbridge_Certification__c/fields/Fieldbridge_Id__c",
        "PricebookEntry/fields/Fieldbridge_Id__c",  # only looked up by, never written
    ],
)
def test_without_one_of_the_packages_fields_the_check_fails_naming_it(
    fresh: Callable[..., SalesforceSimulator], removed: str
) -> None:
    path = f"{OBJECTS}/{removed}.field-meta.xml"
    assert path in PACKAGE
    package = {p: text for p, text in PACKAGE.items() if p != path}
    with pytest.raises(SetupError) as caught:
        start_up_check(deployed(fresh, package), MAPPING)
    sobject, _, name = removed.split("/")
    assert caught.value.problems == (f"{sobject}.{name}: no such field",)


ORG_MAPPING = {
    "account": {"time_zone": "Site_Time_Zone__c"},
    "work_order": {
        "status": "Field_Status__c",
        "status_in": {
            "Open": "new",
            "Working": "in_progress",
            "Paused": "on_hold",
            "Done": "completed",
            "Failed": "cannot_complete",
            "Closed": "closed",
            "Cancelled": "cancelled",
        },
        "status_out": {
            "new": "Open",
            "triaged": "Open",
            "scheduled": "Open",
            "dispatched": "Open",
            "in_progress": "Working",
            "on_hold": "Paused",
            "completed": "Done",
            "cannot_complete": "Failed",
            "closed": "Closed",
            "cancelled": "Cancelled",
        },
        "intake_statuses": ["Open"],
        "technician": {"field": "Engineer__c", "target": "Engineer__c", "by": "Engineer_Key__c"},
        "notes_length": 100_000,
        "visits": "",
    },
}


def test_an_orgs_own_mapping_gets_its_picklist_lookup_and_custom_object(
    fresh: Callable[..., SalesforceSimulator], tmp_path: Path
) -> None:
    (tmp_path / "org.json").write_text(json.dumps(ORG_MAPPING))
    mapping = SalesforceMapping.load(tmp_path / "org.json")
    package = files(mapping, "62.0")
    made = describes(package)
    work_order = {f["name"]: f for f in made["WorkOrder"]["fields"]}
    assert "Fieldbridge_Visits__c" not in work_order
    assert work_order["Fieldbridge_Notes__c"]["length"] == 100_000
    assert [v["value"] for v in work_order["Field_Status__c"]["picklistValues"]] == [
        "Open",
        "Working",
        "Paused",
        "Done",
        "Failed",
        "Closed",
        "Cancelled",
    ]
    assert work_order["Engineer__c"]["referenceTo"] == ["Engineer__c"]
    engineer = {f["name"]: f for f in made["Engineer__c"]["fields"]}
    assert engineer["Engineer_Key__c"]["externalId"] is True
    assert f"{OBJECTS}/Engineer__c/Engineer__c.object-meta.xml" in package
    assert made["Account"]["fields"][1]["name"] == "Site_Time_Zone__c"

    start_up_check(deployed(fresh, package), mapping)


def test_a_name_longer_than_a_custom_objects_name_field_is_refused(tmp_path: Path) -> None:
    mapping = SalesforceMapping.model_validate({"certification": {"name_length": 120}})
    with pytest.raises(MappingConfigError) as caught:
        files(mapping, "62.0")
    (problem,) = caught.value.problems
    assert problem.startswith("Fieldbridge_Certification__c.Name: a custom object's name field")
