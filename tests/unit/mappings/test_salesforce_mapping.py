"""The Salesforce mapping against recorded-style payloads: golden files both ways.

Raw query pages and describes live in ``tests/fixtures/salesforce``; each ``*.expected.json``
is the mapping's answer as it was reviewed. After a deliberate change, regenerate them with
``FIELDBRIDGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/mappings/test_salesforce_mapping.py``
and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mappings import canonical
from mappings.canonical import LIFECYCLE_STATES, CompletedJob, TechnicianCertification
from mappings.errors import MappingConfigError, MappingError
from mappings.records import ExternalRef, Mapped
from mappings.salesforce import (
    SalesforceMapping,
    certification_to_salesforce,
    certification_to_skills,
    products_consumed_to_salesforce,
    to_canonical,
    work_order_to_salesforce,
)
from mappings.salesforce.outbound import developer_name
from mappings.salesforce.values import id18
from tests.support.salesforce_answers import FIXTURES

UPDATE = os.environ.get("FIELDBRIDGE_UPDATE_GOLDEN") == "1"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def golden(name: str, actual: Any) -> None:
    path = FIXTURES / name
    if UPDATE:
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8")), f"differs from {name}"


STANDARD = SalesforceMapping()
CUSTOM = SalesforceMapping.load(FIXTURES / "custom_org" / "mapping.toml")
MAPPINGS = {"standard": STANDARD, "custom_org": CUSTOM}


def record(page: str, index: int = 0) -> dict[str, Any]:
    raw: dict[str, Any] = load(page)["records"][index]
    return raw


def map_page(mapping: SalesforceMapping, sobject: str, page: dict[str, Any]) -> list[Any]:
    """Every record of a page as every entity it becomes: the mapped form, or the error."""
    out: list[Any] = []
    for raw in page["records"]:
        for entity in mapping.entities(sobject):
            try:
                result: Any = {"mapped": to_canonical(mapping, entity, raw).as_json()}
            except MappingError as exc:
                assert exc.external_id == raw["Id"] and exc.entity == entity
                result = {"error": {"field": exc.field, "reason": exc.reason}}
            out.append({"record": raw["Id"], "entity": entity, **result})
    return out


# -- inbound: golden pages -----------------------------------------------------------------

PAGES = [
    ("standard", "Account", "account_query"),
    ("standard", "Contact", "contact_query"),
    ("standard", "Asset", "asset_query"),
    ("standard", "WorkOrder", "work_order_query"),
    ("custom_org", "Account", "custom_org/account_query"),
    ("custom_org", "WorkOrder", "custom_org/work_order_query"),
]


@pytest.mark.parametrize(("org", "sobject", "page"), PAGES)
def test_query_pages_map_to_the_golden_output(org: str, sobject: str, page: str) -> None:
    golden(f"{page}.expected.json", map_page(MAPPINGS[org], sobject, load(f"{page}.json")))


@pytest.mark.parametrize(("org", "sobject", "page"), PAGES)
def test_recorded_pages_hold_exactly_the_fields_the_mapping_selects(
    org: str, sobject: str, page: str
) -> None:
    selected = {path.split(".")[0] for path in MAPPINGS[org].soql_fields(sobject)}
    for raw in load(f"{page}.json")["records"]:
        assert set(raw) - {"attributes"} == selected


def test_an_account_becomes_a_customer_and_its_site() -> None:
    raw = record("account_query.json")
    customer = to_canonical(STANDARD, "customer", raw)
    site = to_canonical(STANDARD, "site", raw)
    assert customer.external_id == site.external_id == "0018d0000004C9hAAE"
    assert customer.stamp == datetime(2026, 11, 2, 10, 15, 30, tzinfo=UTC)
    assert site.refs == {"customer_id": ExternalRef("salesforce", "customer", customer.external_id)}
    built = site.canonical({"customer_id": 7})
    assert isinstance(built, canonical.Site)
    assert (built.customer_id, built.time_zone) == (7, "Europe/Berlin")
    assert built.address == "Am Sandtorkai 50, Haus B, Hamburg, 20457, Germany"
    assert (built.source_system, built.external_id) == ("salesforce", "0018d0000004C9hAAE")
    # The site's territory and access notes stay ours: the org owns only what it gives.
    assert "territory_id" not in site.owned_fields and "access_notes" not in site.owned_fields
    assert isinstance(customer.canonical({}), canonical.Customer)


def test_a_work_order_raised_in_salesforce_is_intake_and_names_its_records() -> None:
    mapped = to_canonical(STANDARD, "work_order", record("work_order_query.json"))
    assert (mapped.state, mapped.fieldbridge_id) == ("new", None)
    assert mapped.refs == {
        "customer_id": ExternalRef("salesforce", "customer", "0018d0000004C9hAAE"),
        "site_id": ExternalRef("salesforce", "site", "0018d0000004C9hAAE"),
        "asset_id": ExternalRef("salesforce", "asset", "02i8d0000001g3nAAA"),
        "contact_id": ExternalRef("salesforce", "contact", "0038d00000AbCdEAAV"),
    }
    order = mapped.canonical({"customer_id": 3, "site_id": 4, "asset_id": 5, "contact_id": 6})
    assert isinstance(order, canonical.WorkOrder)
    assert (order.priority, order.site_id, order.contact_id) == (2, 4, 6)
    assert (order.summary, mapped.remote_status) == ("Pump 3 vibrates at full load", "New")
    echo = to_canonical(STANDARD, "work_order", record("work_order_query.json", 2))
    assert (echo.fieldbridge_id, echo.state) == ("WO-1042", "completed")


def test_a_deletion_is_a_tombstone_whatever_its_fields_hold() -> None:
    raw = record("account_query.json", 3) | {"Name": None, "BillingLatitude": 999}
    for entity in ("customer", "site"):
        mapped = to_canonical(STANDARD, entity, raw)
        assert mapped.deleted and not mapped.data and not mapped.refs
        with pytest.raises(ValueError, match="deletion"):
            mapped.canonical({})


def test_a_reference_must_be_resolved_before_the_model_is_built() -> None:
    mapped = to_canonical(STANDARD, "asset", record("asset_query.json"))
    with pytest.raises(KeyError, match="site_id"):
        mapped.canonical({})
    # a Salesforce asset always names its account's site (one not found waits in quarantine)
    assert mapped.refs["site_id"].entity == "site"
    assert mapped.canonical({"site_id": 7}).site_id == 7


def test_fifteen_character_ids_are_widened_to_eighteen() -> None:
    raw = record("contact_query.json") | {"Id": "0038d0000008OJh", "AccountId": "0018d0000004C9h"}
    mapped = to_canonical(STANDARD, "contact", raw)
    assert mapped.external_id == "0038d0000008OJhAAM"
    assert mapped.refs["customer_id"].external_id == "0018d0000004C9hAAE"
    assert id18("0018d0000004C9hAAE") == "0018d0000004C9hAAE"
    assert id18("0018d0000004C9hAAA") is None  # a wrong case suffix


# -- inbound: every failure names the record, the field and the reason ---------------------

ACCOUNT, WORK_ORDER = "account_query.json", "work_order_query.json"
ERRORS = [
    # (fixture, index, entity, changes, field, reason fragment)
    (ACCOUNT, 0, "customer", {"Name": None}, "Account.Name", "required"),
    (ACCOUNT, 0, "customer", {"Name": "   "}, "Account.Name", "required"),
    (ACCOUNT, 0, "customer", {"Name": "x" * 301}, "Account.Name", "at most 300"),
    (ACCOUNT, 0, "customer", {"Phone": 4940555}, "Account.Phone", "expected text"),
    (ACCOUNT, 0, "customer", {"SystemModstamp": "2026-11-02 10:15"}, "Account.SystemModstamp", ""),
    (
        ACCOUNT,
        0,
        "customer",
        {"SystemModstamp": "2026-11-02T10:15:30"},
        "Account.SystemModstamp",
        "",
    ),
    (
        ACCOUNT,
        0,
        "customer",
        {"SystemModstamp": "2026-13-02T10:15:30Z"},
        "Account.SystemModstamp",
        "",
    ),
    (ACCOUNT, 0, "customer", {"SystemModstamp": None}, "Account.SystemModstamp", "required"),
    (ACCOUNT, 0, "customer", {"IsDeleted": "false"}, "Account.IsDeleted", "true or false"),
    (ACCOUNT, 0, "site", {"BillingLatitude": 123.4}, "Account.BillingLatitude", "-90..90"),
    (ACCOUNT, 0, "site", {"BillingLongitude": -181.0}, "Account.BillingLongitude", "-180..180"),
    (ACCOUNT, 0, "site", {"BillingLongitude": None}, "Account.BillingLongitude", "coordinates"),
    (ACCOUNT, 0, "site", {"BillingLatitude": "53.5"}, "Account.BillingLatitude", "a number"),
    (ACCOUNT, 0, "site", {"BillingLatitude": True}, "Account.BillingLatitude", "a number"),
    (
        ACCOUNT,
        0,
        "site",
        {"BillingLatitude": 0, "BillingLongitude": 0.0},
        "Account.BillingLatitude",
        "geocode",
    ),
    (
        ACCOUNT,
        0,
        "site",
        dict.fromkeys(
            ("BillingStreet", "BillingCity", "BillingPostalCode", "BillingCountry"), None
        ),
        "Account.BillingStreet",
        "no address",
    ),
    (WORK_ORDER, 0, "work_order", {"Status": "Dispatched"}, "WorkOrder.Status", "'Dispatched'"),
    (WORK_ORDER, 0, "work_order", {"Status": None}, "WorkOrder.Status", "required"),
    (WORK_ORDER, 0, "work_order", {"Priority": "Urgent"}, "WorkOrder.Priority", "'Urgent'"),
    (WORK_ORDER, 0, "work_order", {"Subject": None}, "WorkOrder.Subject", "required"),
    (WORK_ORDER, 0, "work_order", {"AccountId": "001-bogus"}, "WorkOrder.AccountId", "record id"),
    (WORK_ORDER, 0, "work_order", {"ContactId": "003?"}, "WorkOrder.ContactId", "record id"),
    (
        WORK_ORDER,
        0,
        "work_order",
        {"StartDate": "2026-11-05T14:00:00.000+0000", "EndDate": "2026-11-05T13:59:00.000+0000"},
        "WorkOrder.EndDate",
        "before StartDate (2026-11-05T14:00:00.000+0000)",
    ),
    (WORK_ORDER, 0, "work_order", {"Subject": "Pump\x003"}, "WorkOrder.Subject", "NUL"),
    ("asset_query.json", 0, "asset", {"SerialNumber": None}, "Asset.SerialNumber", "required"),
    ("asset_query.json", 0, "asset", {"AccountId": None}, "Asset.AccountId", "site"),
    ("asset_query.json", 0, "asset", {"Product2": "Etanorm"}, "Asset.Product2.Name", "nested"),
    ("contact_query.json", 0, "contact", {"LastName": None}, "Contact.LastName", "required"),
    ("contact_query.json", 0, "contact", {"Email": "j.petersen@"}, "Contact.Email", "e-mail"),
    ("contact_query.json", 0, "contact", {"Email": "a b@x.example"}, "Contact.Email", "e-mail"),
]


@pytest.mark.parametrize(("page", "index", "entity", "changes", "field", "reason"), ERRORS)
def test_a_record_that_cannot_be_mapped_names_its_field(
    page: str, index: int, entity: Any, changes: dict[str, Any], field: str, reason: str
) -> None:
    raw = record(page, index) | changes
    with pytest.raises(MappingError) as caught:
        to_canonical(STANDARD, entity, raw)
    err = caught.value
    assert (err.system, err.entity, err.external_id, err.field) == (
        "salesforce",
        entity,
        raw["Id"],
        field,
    )
    assert reason in err.reason
    assert str(err) == f"salesforce {entity} {raw['Id']}: {field}: {err.reason}"


def test_an_error_never_repeats_a_personal_value() -> None:
    raw = record(ACCOUNT) | {"Name": "Ada Lovelace " * 30, "Phone": 4940555}
    for entity in ("customer", "site"):
        with pytest.raises(MappingError) as caught:
            to_canonical(STANDARD, entity, raw)
        assert "Lovelace" not in str(caught.value) and "4940555" not in str(caught.value)


def test_a_bad_or_missing_id_is_named_and_the_record_is_unknown() -> None:
    for bad in ("not-an-id", "0018d0000004C9hAAA", None):
        with pytest.raises(MappingError) as caught:
            to_canonical(STANDARD, "customer", record(ACCOUNT) | {"Id": bad})
        assert (caught.value.field, caught.value.external_id) == ("Account.Id", "?")


def test_a_field_the_query_did_not_select_is_an_error_not_a_null() -> None:
    raw = {k: v for k, v in record(ACCOUNT).items() if k != "BillingCity"}
    with pytest.raises(MappingError, match=r"Account\.BillingCity: missing from the record"):
        to_canonical(STANDARD, "site", raw)
    with pytest.raises(MappingError, match="not a JSON object"):
        to_canonical(STANDARD, "site", ["not", "a", "record"])  # type: ignore[arg-type]


def test_a_record_without_a_deletion_flag_is_live() -> None:
    raw = {k: v for k, v in record(ACCOUNT).items() if k != "IsDeleted"}
    assert not to_canonical(STANDARD, "customer", raw).deleted


# -- the site's time zone -------------------------------------------------------------------


def test_the_time_zone_comes_from_the_orgs_field_then_the_coordinates_then_the_default() -> None:
    page = "custom_org/account_query.json"
    given = to_canonical(CUSTOM, "site", record(page, 0))
    assert given.data["time_zone"] == "America/Chicago"
    far_away = record(page, 0) | {"Site_Time_Zone__c": "Asia/Tokyo"}
    assert to_canonical(CUSTOM, "site", far_away).data["time_zone"] == "Asia/Tokyo"  # the org's
    derived = to_canonical(CUSTOM, "site", record(page, 1))  # no value: the coordinates
    assert derived.data["time_zone"] == "America/Chicago"
    hamburg = to_canonical(STANDARD, "site", record(ACCOUNT, 0))
    assert hamburg.data["time_zone"] == "Europe/Berlin"
    no_lookup = STANDARD.model_copy(
        update={"time_zone_from_coordinates": False, "default_time_zone": "Europe/London"}
    )
    assert to_canonical(no_lookup, "site", record(ACCOUNT)).data["time_zone"] == "Europe/London"
    nothing = STANDARD.model_copy(update={"time_zone_from_coordinates": False})
    with pytest.raises(MappingError, match=r"Account\.BillingLatitude: no time zone"):
        to_canonical(nothing, "site", record(ACCOUNT))


def test_a_time_zone_field_holding_no_iana_zone_is_named() -> None:
    raw = record("custom_org/account_query.json") | {"Site_Time_Zone__c": "Central Time"}
    with pytest.raises(MappingError) as caught:
        to_canonical(CUSTOM, "site", raw)
    assert caught.value.field == "Account.Site_Time_Zone__c"


def test_a_record_type_the_mapping_does_not_take_is_named() -> None:
    raw = record("custom_org/account_query.json")
    raw = raw | {"RecordType": raw["RecordType"] | {"DeveloperName": "Partner"}}
    with pytest.raises(MappingError, match="'Partner' is not mapped") as caught:
        to_canonical(CUSTOM, "customer", raw)
    assert caught.value.field == "Account.RecordType.DeveloperName"


# -- the queries come from the mapping ------------------------------------------------------


def test_soql_fields_follow_the_mapping_custom_names_included() -> None:
    assert STANDARD.soql_fields("WorkOrder") == [
        "Id",
        "IsDeleted",
        "SystemModstamp",
        "Fieldbridge_Id__c",
        "Subject",
        "Description",
        "AccountId",
        "AssetId",
        "ContactId",
        "Status",
        "Priority",
        "StartDate",
        "EndDate",
    ]
    assert STANDARD.soql_fields("Asset")[-1] == "Product2.Name"
    assert STANDARD.record_types("Account") == ()
    custom = CUSTOM.soql_fields("Account")
    assert custom[:5] == [
        "Id",
        "IsDeleted",
        "SystemModstamp",
        "Fieldbridge_Id__c",
        "RecordType.DeveloperName",
    ]
    assert "Service_Location__Latitude__s" in custom and "BillingLatitude" not in custom
    assert "BillingState" not in custom  # switched off with "" in the TOML file
    assert CUSTOM.record_types("Account") == ("Customer_Site",)
    assert CUSTOM.soql_fields("WorkOrder")[3] == "Fieldbridge_Key__c"
    assert STANDARD.entities("Account") == ("customer", "site")
    with pytest.raises(KeyError):
        STANDARD.soql_fields("Opportunity")


# -- start-up: the mapping against the org's describes --------------------------------------


def test_the_default_mapping_fits_a_standard_org_and_the_custom_one_its_org() -> None:
    STANDARD.validate_against(load("describe_standard.json"))
    CUSTOM.validate_against(load("custom_org/describe.json"))
    assert set(STANDARD.sobjects()) == set(load("describe_standard.json"))
    assert set(CUSTOM.sobjects()) <= set(load("custom_org/describe.json"))


def refused(mapping: SalesforceMapping, describes: dict[str, Any]) -> list[str]:
    with pytest.raises(MappingConfigError) as caught:
        mapping.validate_against(describes)
    assert all(p in str(caught.value) for p in caught.value.problems)
    return caught.value.problems


def without_field(describes: dict[str, Any], sobject: str, name: str) -> dict[str, Any]:
    out = copy.deepcopy(describes)
    out[sobject]["fields"] = [f for f in out[sobject]["fields"] if f["name"] != name]
    return out


def test_a_field_the_org_lacks_stops_start_up_with_its_name() -> None:
    describes = without_field(load("describe_standard.json"), "WorkOrder", "Fieldbridge_Visits__c")
    assert refused(STANDARD, describes) == ["WorkOrder.Fieldbridge_Visits__c: no such field"]


def test_every_misfit_is_named_at_once() -> None:
    problems = refused(CUSTOM, load("describe_standard.json"))
    for expected in (
        "Account.Service_Email__c: no such field",
        "WorkOrder.Fieldbridge_Key__c: no such field",
        "Account.Service_Location__Latitude__s: no such field",
        "Account.Site_Time_Zone__c: no such field",
        "Account.RecordType: no record type 'Customer_Site'",
        "WorkOrder.Status: 'Awaiting Parts' is not an active picklist value",
        "WorkOrder.Priority: 'P1 - Emergency' is not an active picklist value",
        "WorkOrder.Labor_Minutes__c: no such field",
        "PricebookEntry.SAP_Material__c: no such field",
        "ServiceResource.Employee_Key__c: no such field",
        "Technician_Certification__c: no describe for this object (is it in the org and visible?)",
    ):
        assert expected in problems


def test_an_external_id_field_must_be_marked_external() -> None:
    describes = copy.deepcopy(load("describe_standard.json"))
    for field in describes["ProductConsumed"]["fields"]:
        if field["name"] == "Fieldbridge_Id__c":
            field["externalId"] = field["idLookup"] = False
    assert refused(STANDARD, describes) == [
        "ProductConsumed.Fieldbridge_Id__c: not an external id (mark it External ID)"
    ]


def test_status_and_priority_tables_must_hold_active_picklist_values() -> None:
    describes = copy.deepcopy(load("describe_standard.json"))
    for field in describes["WorkOrder"]["fields"]:
        if field["name"] == "Status":
            for value in field["picklistValues"]:
                value["active"] = value["value"] != "Cannot Complete"
    assert refused(STANDARD, describes) == [
        "WorkOrder.Status: 'Cannot Complete' is not an active picklist value"
    ]


def test_a_write_to_a_read_only_field_and_a_misspelt_field_are_refused() -> None:
    mapping = STANDARD.model_copy(
        update={
            "work_order": STANDARD.work_order.model_copy(
                update={"visits": "WorkOrderNumber", "notes": "fieldbridge_notes__c"}
            )
        }
    )
    assert refused(mapping, load("describe_standard.json")) == [
        "WorkOrder.WorkOrderNumber: not createable",
        "WorkOrder.WorkOrderNumber: not updateable",
        "WorkOrder.fieldbridge_notes__c: no such field (the org spells it Fieldbridge_Notes__c)",
    ]


def test_a_read_through_a_relationship_is_checked_on_the_parent() -> None:
    describes = without_field(load("describe_standard.json"), "Product2", "Name")
    assert refused(STANDARD, describes) == ["Product2.Name: no such field"]
    owner = STANDARD.model_copy(
        update={"asset": STANDARD.asset.model_copy(update={"model": "Account.Nme"})}
    )
    assert refused(owner, load("describe_standard.json")) == ["Account.Nme: no such field"]


def test_the_parts_lookup_must_be_writable_and_point_at_an_external_id() -> None:
    # Salesforce derives ProductConsumed.Product2Id; it cannot be written.
    mapping = STANDARD.model_validate(
        {"product_consumed": {"product": {"field": "Product2Id", "target": "Product2"}}}
    )
    assert refused(mapping, load("describe_standard.json")) == [
        "ProductConsumed.Product2Id: not createable",
        "ProductConsumed.Product2Id: not updateable",
    ]


# -- the mapping file ----------------------------------------------------------------------


def test_a_mapping_file_loads_from_toml_or_json_and_refuses_unknown_keys(tmp_path: Path) -> None:
    as_json = tmp_path / "mapping.json"
    as_json.write_text(json.dumps(CUSTOM.model_dump(mode="json")), encoding="utf-8")
    assert SalesforceMapping.load(as_json) == CUSTOM
    typo = tmp_path / "typo.toml"
    typo.write_text('[work_order]\nlabor_minutes = "Labor_Minutes__c"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="labor_minutes"):
        SalesforceMapping.load(typo)
    with pytest.raises(ValidationError):
        SalesforceMapping.model_validate({"account": {"latitude": "Billing Latitude"}})
    with pytest.raises(ValueError, match=r"\.toml or \.json"):
        SalesforceMapping.load(tmp_path / "mapping.yaml")


# -- status and priority tables: explicit both ways -----------------------------------------

# Our state -> the status written -> the state that status reads back as.
STANDARD_STATUS_ROUND_TRIP = {
    "new": ("New", "new"),
    "triaged": ("New", "new"),
    "scheduled": ("New", "new"),
    "dispatched": ("New", "new"),
    "in_progress": ("In Progress", "in_progress"),
    "on_hold": ("On Hold", "on_hold"),
    "completed": ("Completed", "completed"),
    "cannot_complete": ("Cannot Complete", "cannot_complete"),
    "closed": ("Closed", "closed"),
    "cancelled": ("Canceled", "cancelled"),
}


def test_the_status_table_round_trips_as_written_down() -> None:
    wo = STANDARD.work_order
    assert {
        state: (wo.status_out[state], wo.status_in[wo.status_out[state]])
        for state in LIFECYCLE_STATES
    } == STANDARD_STATUS_ROUND_TRIP
    assert {wo.status_out[wo.status_in[s]] for s in wo.status_in} == set(wo.status_in)
    assert {p: wo.priority_in[wo.priority_out[p]] for p in range(1, 6)} == {
        1: 1,
        2: 2,
        3: 3,
        4: 4,
        5: 4,  # the standard picklist has four priorities: our 5 is written as Low
    }
    custom = CUSTOM.work_order
    assert all(
        custom.status_in[custom.status_out[s]] == s for s in LIFECYCLE_STATES if s != "triaged"
    )
    assert all(custom.priority_in[custom.priority_out[p]] == p for p in range(1, 6))


def test_the_lifecycle_states_are_the_orchestrators() -> None:
    from orchestrator.domain.lifecycle import State

    assert set(LIFECYCLE_STATES) == {s.value for s in State}


def test_a_status_table_with_a_gap_is_refused_not_defaulted() -> None:
    out = {k: v for k, v in STANDARD.work_order.status_out.items() if k != "on_hold"}
    with pytest.raises(ValidationError, match="no Salesforce status for on_hold"):
        SalesforceMapping.model_validate({"work_order": {"status_out": out}})
    back = {k: v for k, v in STANDARD.work_order.status_in.items() if k != "Canceled"}
    with pytest.raises(ValidationError, match="status_in does not map back 'Canceled'"):
        SalesforceMapping.model_validate({"work_order": {"status_in": back}})
    with pytest.raises(
        ValidationError, match="priority_out has no Salesforce priority for 2, 3, 4, 5"
    ):
        SalesforceMapping.model_validate({"work_order": {"priority_out": {1: "Critical"}}})
    with pytest.raises(ValidationError):
        SalesforceMapping.model_validate({"work_order": {"status_in": {"New": "fresh"}}})
    with pytest.raises(ValidationError, match="intake_statuses not in status_in: 'Open'"):
        SalesforceMapping.model_validate({"work_order": {"intake_statuses": ["New", "Open"]}})


def test_the_ownership_policy_names_only_fields_the_mapping_reads() -> None:
    assert STANDARD.work_order.salesforce_owns == ("summary", "description", "contact_id")
    wider = {"salesforce_owns": ["summary", "priority", "asset_id"]}
    assert SalesforceMapping.model_validate({"work_order": wider}).work_order.salesforce_owns
    with pytest.raises(ValidationError, match="salesforce_owns contact_id, which the mapping"):
        SalesforceMapping.model_validate({"work_order": {"contact": ""}})
    with pytest.raises(ValidationError):  # the status is never Salesforce's
        SalesforceMapping.model_validate({"work_order": {"salesforce_owns": ["status"]}})
    with pytest.raises(ValidationError):  # an unknown state cannot even be handed over
        CompletedJob.model_validate(load("outbound/job_born_here.json") | {"state": "done"})


# -- outbound: golden writes ----------------------------------------------------------------


def writes(mapping: SalesforceMapping, job: CompletedJob) -> list[dict[str, Any]]:
    return [
        u.as_json()
        for u in [
            work_order_to_salesforce(mapping, job),
            *products_consumed_to_salesforce(mapping, job),
        ]
    ]


@pytest.mark.parametrize("org", ["standard", "custom_org"])
@pytest.mark.parametrize("job", ["job_born_here", "job_raised_in_salesforce"])
def test_a_completed_job_writes_the_golden_work_order_and_parts(org: str, job: str) -> None:
    completed = CompletedJob.model_validate(load(f"outbound/{job}.json"))
    out = writes(MAPPINGS[org], completed)
    json.dumps(out)  # plain JSON, as the connector sends it
    golden(f"outbound/{job}.{org}.expected.json", out)


@pytest.mark.parametrize("org", ["standard", "custom_org"])
def test_a_certification_writes_the_golden_record(org: str) -> None:
    held = TechnicianCertification.model_validate(load("outbound/certification.json"))
    out = certification_to_salesforce(MAPPINGS[org], held).as_json()
    golden(f"outbound/certification.{org}.expected.json", out)


@pytest.mark.parametrize("org", ["standard", "custom_org"])
def test_a_certification_writes_the_golden_field_service_skills(org: str) -> None:
    held = TechnicianCertification.model_validate(load("outbound/certification.json"))
    out = [
        w.as_json()
        for w in certification_to_skills(
            MAPPINGS[org], held, resource_name="Tom Berger", time_zone="Europe/Berlin"
        )
    ]
    golden(f"outbound/skills.{org}.expected.json", out)


def test_skills_count_until_the_end_of_the_expiry_day_where_the_technician_works() -> None:
    held = TechnicianCertification.model_validate(load("outbound/certification.json"))
    cert = held.certification.model_copy(
        update={"issued_on": date(2026, 1, 10), "expires_on": date(2026, 12, 3)}
    )
    held = held.model_copy(update={"certification": cert})

    def holding(zone: str, **options: Any) -> dict[str, Any]:
        *_, last = certification_to_skills(
            STANDARD, held, resource_name="x", time_zone=zone, **options
        )
        assert last.key == "T-0193|F-GAS-1" and last.sobject == "ServiceResourceSkill"
        return dict(last.record)

    auckland, berlin = holding("Pacific/Auckland"), holding("Europe/Berlin")
    # the 4th of December begins at 11:00 UTC on the 3rd in Auckland, at 23:00 in Berlin
    assert auckland["EffectiveEndDate"] == "2026-12-03T11:00:00.000Z"
    assert berlin["EffectiveEndDate"] == "2026-12-03T23:00:00.000Z"
    assert auckland["EffectiveStartDate"] == "2026-01-09T11:00:00.000Z"
    now = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
    ended = holding("Europe/Berlin", counts=False, now=now)
    assert ended["EffectiveEndDate"] == "2026-06-01T08:30:00.000Z"
    with pytest.raises(ValueError, match="give now"):
        holding("Europe/Berlin", counts=False)
    forever = held.model_copy(
        update={"certification": cert.model_copy(update={"expires_on": None})}
    )
    *_, open_ended = certification_to_skills(STANDARD, forever, resource_name="x", time_zone="UTC")
    assert open_ended.record["EffectiveEndDate"] is None
    assert [developer_name(c) for c in ("F-GAS 1", "18ED", "--", "WAH")] == [
        "F_GAS_1",
        "C_18ED",
        "C",
        "WAH",
    ]


def test_outbound_writes_are_deterministic_and_carry_no_name() -> None:
    job = CompletedJob.model_validate(load("outbound/job_born_here.json"))
    assert writes(STANDARD, job) == writes(STANDARD, job.model_copy())
    held = TechnicianCertification.model_validate(load("outbound/certification.json"))
    renewed = held.model_copy(
        update={"certification": held.certification.model_copy(update={"expires_on": None})}
    )
    again = certification_to_salesforce(STANDARD, renewed)
    assert again.key == "T-0193:F-GAS-1" and again.record["Expires_On__c"] is None


def test_text_longer_than_the_field_is_cut_and_a_long_key_shortened_the_same_way_each_time() -> (
    None
):
    job = CompletedJob.model_validate(load("outbound/job_born_here.json"))
    long = job.model_copy(update={"summary": "Boiler " * 42, "notes": "x" * 33_000})
    record = work_order_to_salesforce(STANDARD, long).record
    assert len(record["Subject"]) == 255 and record["Subject"].endswith("…")
    assert record["Subject"].startswith("Boiler Boiler")
    assert len(record["Fieldbridge_Notes__c"]) == 32_000
    held = TechnicianCertification.model_validate(load("outbound/certification.json"))
    cert = held.certification.model_copy(update={"code": "C" * 60, "name": "N" * 200})
    wide = held.model_copy(update={"technician_key": "T" * 60, "certification": cert})
    first, again = (certification_to_salesforce(STANDARD, wide) for _ in range(2))
    assert (
        first == again and len(first.key) == 64 and first.record["Fieldbridge_Id__c"] == first.key
    )
    other = wide.model_copy(
        update={"certification": cert.model_copy(update={"code": "C" * 59 + "D"})}
    )
    assert certification_to_salesforce(STANDARD, other).key != first.key
    assert len(first.record["Name"]) == 80
    assert certification_to_salesforce(STANDARD, held).key == held.key  # short: as it is


def test_a_text_field_shorter_than_the_mapping_writes_stops_start_up() -> None:
    describes = copy.deepcopy(load("describe_standard.json"))
    for field in describes["WorkOrder"]["fields"]:
        if field["name"] == "Subject":
            field["length"] = 100
    assert refused(STANDARD, describes) == [
        "WorkOrder.Subject: holds 100 characters, the mapping writes up to 255 "
        "(set work_order.subject_length to 100)"
    ]
    shorter = SalesforceMapping.model_validate({"work_order": {"subject_length": 100}})
    shorter.validate_against(describes)
    job = CompletedJob.model_validate(load("outbound/job_born_here.json"))
    cut = work_order_to_salesforce(shorter, job.model_copy(update={"summary": "y" * 300}))
    assert len(cut.record["Subject"]) == 100


def test_a_job_with_a_bad_salesforce_id_is_named() -> None:
    job = CompletedJob.model_validate(load("outbound/job_raised_in_salesforce.json"))
    bad = job.model_copy(update={"remote_id": "0WO-nope"})
    with pytest.raises(MappingError) as caught:
        work_order_to_salesforce(STANDARD, bad)
    assert (caught.value.entity, caught.value.external_id, caught.value.field) == (
        "work_order",
        "WO-1077",
        "WorkOrder.Id",
    )


def test_a_completed_job_refuses_inconsistent_input() -> None:
    base = load("outbound/job_born_here.json")
    with pytest.raises(ValidationError, match="before actual_start"):
        CompletedJob.model_validate(base | {"actual_end": "2026-11-05T07:00:00+01:00"})
    with pytest.raises(ValidationError, match="more than once"):
        CompletedJob.model_validate(base | {"parts": [base["parts"][0], base["parts"][0]]})
    with pytest.raises(ValidationError):
        CompletedJob.model_validate(base | {"actual_start": "2026-11-05T08:05:00"})  # naive


# -- the error types ------------------------------------------------------------------------


def test_errors_survive_pickling_with_every_attribute() -> None:
    err = MappingError("salesforce", "site", "0018d0000004C9hAAE", "Account.BillingLatitude", "x")
    again = pickle.loads(pickle.dumps(err))
    assert (again.system, again.entity, again.external_id, again.field, again.reason) == (
        "salesforce",
        "site",
        "0018d0000004C9hAAE",
        "Account.BillingLatitude",
        "x",
    )
    assert str(again) == str(err)
    config = pickle.loads(pickle.dumps(MappingConfigError("salesforce", ["A.B: no such field"])))
    assert config.problems == ["A.B: no such field"] and "1 problem)" in str(config)


def test_mapped_needs_an_aware_stamp() -> None:
    with pytest.raises(ValueError, match="aware"):
        Mapped("salesforce", "customer", "x", datetime(2026, 1, 1), False, canonical.Customer)
