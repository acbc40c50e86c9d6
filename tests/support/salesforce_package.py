"""A Salesforce DX package as the org would hold it once deployed: each object's ``describe``
made from its ``.object-meta.xml`` and ``.field-meta.xml`` files, by the Metadata API's
documented mapping of field types to describe types (Text -> string, Long Text Area ->
textarea, Number -> double, Checkbox -> boolean that is never null, Lookup -> reference with
``<relationshipName>__r``), for the simulator's ``define``. Written from Salesforce's
documentation, apart from the code that makes the package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

NS = "http://soap.sforce.com/2006/04/metadata"
OBJECTS = "force-app/main/default/objects/"

# Metadata API field type -> (describe type, fixed length or None)
DESCRIBE_TYPES: dict[str, tuple[str, int | None]] = {
    "Text": ("string", None),
    "TextArea": ("textarea", 255),
    "LongTextArea": ("textarea", None),
    "Email": ("email", 80),
    "Phone": ("phone", 40),
    "Url": ("url", 255),
    "Number": ("double", 0),
    "Checkbox": ("boolean", 0),
    "Date": ("date", 0),
    "DateTime": ("datetime", 0),
    "Picklist": ("picklist", 255),
    "Lookup": ("reference", 18),
}


def parse(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text.encode())


def child(element: ElementTree.Element, name: str) -> str | None:
    found = element.find(f"{{{NS}}}{name}")
    return None if found is None else found.text


def _flag(element: ElementTree.Element, name: str) -> bool:
    return child(element, name) == "true"


def field_describe(element: ElementTree.Element) -> dict[str, Any]:
    """One ``CustomField`` as describe tells it."""
    kind = child(element, "type") or ""
    described, length = DESCRIBE_TYPES[kind]
    name = child(element, "fullName") or ""
    out: dict[str, Any] = {
        "name": name,
        "type": described,
        "label": child(element, "label"),
        "length": length if length is not None else int(child(element, "length") or 0),
        "precision": int(child(element, "precision") or 0),
        "scale": int(child(element, "scale") or 0),
        "externalId": _flag(element, "externalId"),
        "unique": _flag(element, "unique"),
        "nillable": kind != "Checkbox" and not _flag(element, "required"),
        "createable": True,
        "updateable": True,
        "custom": True,
        "defaultValue": (child(element, "defaultValue") == "true") if kind == "Checkbox" else None,
        "referenceTo": [],
        "relationshipName": None,
        "picklistValues": [],
    }
    if kind == "Lookup":
        out["referenceTo"] = [child(element, "referenceTo")]
        out["relationshipName"] = f"{child(element, 'relationshipName')}__r"
    if kind == "Picklist":
        values = element.iterfind(f"{{{NS}}}valueSet/{{{NS}}}valueSetDefinition/{{{NS}}}value")
        out["picklistValues"] = [
            {"value": child(v, "fullName"), "label": child(v, "label"), "active": True}
            for v in values
        ]
    return out


def describes(files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each object the package names -> its describe (a standard object's: only the custom
    fields the package adds)."""
    out: dict[str, dict[str, Any]] = {}
    for path, text in sorted(files.items()):
        if not path.startswith(OBJECTS):
            continue
        sobject, *rest = path.removeprefix(OBJECTS).split("/")
        entry = out.setdefault(sobject, {"name": sobject, "fields": []})
        root = parse(text)
        if rest[0] == "fields":
            entry["fields"].append(field_describe(root))
            continue
        entry["label"] = child(root, "label")
        entry["labelPlural"] = child(root, "pluralLabel")
        name_field = root.find(f"{{{NS}}}nameField")
        assert name_field is not None and child(name_field, "type") == "Text"
        entry["fields"].insert(
            0,
            {
                "name": "Name",
                "type": "string",
                "label": child(name_field, "label"),
                "length": 80,  # a Text name field holds 80 characters
                "nillable": False,
            },
        )
    return out
