"""SAP's mapping of equipment (QueryIdentifiedStocksIn's ``IdentifiedStock``) to assets: what
each field becomes, and every refusal naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from mappings.canonical import Asset
from mappings.errors import MappingError
from mappings.sap.inbound import READ_AT, SAPMapping

MAPPING = SAPMapping()
READ = "2026-12-03T09:15:00.250000+00:00"


def stock(**over: Any) -> dict[str, Any]:
    """One identified stock as the connector hands it on: zeep's simple content with an
    attribute stays a dict (``_value_1``), the status wraps its code."""
    record: dict[str, Any] = {
        "IdentifiedStockID": "HP-2024-004711",
        "ExternalIdentifiedStockID": "VT7731204455",
        "ProductID": "HEATPUMP-AW-12KW",
        "ProductionDateTime": "2024-03-01T00:00:00+00:00",
        "LifeCycleStatusCode": {"LifeCycleStatusCode": "2"},
        "Description": [
            {"_value_1": "Luft-Wasser-Waermepumpe 12 kW", "languageCode": "DE"},
            {"_value_1": "Air-to-water heat pump 12 kW", "languageCode": "EN"},
        ],
        READ_AT: READ,
    }
    return record | over


def test_equipment_becomes_an_unplaced_asset() -> None:
    mapped = MAPPING.to_canonical("asset", stock())
    assert (mapped.system, mapped.entity, mapped.external_id) == ("sap", "asset", "HP-2024-004711")
    assert mapped.stamp.isoformat() == READ and not mapped.deleted
    assert mapped.data == {
        "source_system": "sap",
        "external_id": "HP-2024-004711",
        "serial": "VT7731204455",  # the manufacturer's serial number
        "model": "HEATPUMP-AW-12KW",
        "name": "Air-to-water heat pump 12 kW",  # the mapping's language first
    }
    assert not mapped.refs and "site_id" not in mapped.owned_fields  # a dispatcher places it
    assert mapped.canonical({}) == Asset.model_validate(mapped.data)


def test_optional_parts_fall_back() -> None:
    bare = stock(ExternalIdentifiedStockID=None, ProductID=None, Description=None)
    assert MAPPING.to_canonical("asset", bare).data == {
        "source_system": "sap",
        "external_id": "HP-2024-004711",
        "serial": "HP-2024-004711",  # no manufacturer's serial: SAP's own ID
        "model": None,
        "name": None,
    }
    german = stock(Description={"_value_1": "Waermepumpe", "languageCode": "DE"})
    assert MAPPING.to_canonical("asset", german).data["name"] == "Waermepumpe"
    blank = stock(Description=[{"_value_1": "   ", "languageCode": "EN"}, "Heat pump"])
    assert MAPPING.to_canonical("asset", blank).data["name"] == "Heat pump"
    assert SAPMapping(language="DE").to_canonical("asset", stock()).data["name"] == (
        "Luft-Wasser-Waermepumpe 12 kW"
    )


def test_an_obsolete_unit_is_a_tombstone() -> None:
    mapped = MAPPING.to_canonical("asset", stock(LifeCycleStatusCode={"LifeCycleStatusCode": "4"}))
    assert mapped.deleted and mapped.external_id == "HP-2024-004711"
    blocked = MAPPING.to_canonical("asset", stock(LifeCycleStatusCode={"LifeCycleStatusCode": "3"}))
    assert not blocked.deleted  # blocked is still there to be serviced


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"IdentifiedStockID": "  "}, "IdentifiedStockID", "required"),
        ({"IdentifiedStockID": None}, "IdentifiedStockID", "required"),
        ({READ_AT: None}, READ_AT, "the moment the record was read"),
        ({READ_AT: "2026-12-03T09:15:00"}, READ_AT, "with an offset"),
        ({"ExternalIdentifiedStockID": "S" * 65}, "ExternalIdentifiedStockID", "at most 64"),
        ({"ProductID": "P" * 201}, "ProductID", "at most 200"),
    ],
)
def test_what_cannot_be_read_names_its_field(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(MappingError) as caught:
        MAPPING.to_canonical("asset", stock(**changes))
    assert (caught.value.entity, caught.value.field) == ("asset", field)
    assert reason in caught.value.reason


def test_only_customers_and_assets() -> None:
    with pytest.raises(KeyError, match="customers and assets"):
        MAPPING.to_canonical("contact", stock())
