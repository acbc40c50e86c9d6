"""The default Salesforce mapping against the simulator, through the connector.

The simulator is the org the embedded mode points fieldbridge at, so the standard mapping
must fit it as it stands: its describes pass ``validate_against``; every seeded record maps,
except the ones seeded malformed on purpose, which the mapping refuses naming the field or
hands on with what makes the sync engine quarantine them (each kind is held to what the
mapping can and cannot see); and the write-back the mapping builds is accepted and reads
back as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.errors import Permanent
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.query import Query
from mappings.canonical import (
    Certification,
    CompletedJob,
    PartUsed,
    TechnicianCertification,
)
from mappings.errors import MappingError
from mappings.records import ExternalRef, Mapped
from mappings.salesforce import (
    SalesforceMapping,
    Upsert,
    certification_to_salesforce,
    certification_to_skills,
    products_consumed_to_salesforce,
    to_canonical,
    work_order_to_salesforce,
)
from mappings.salesforce.values import id18
from orchestrator.sync.streams import record_type_filter
from sandbox.salesforce import SalesforceSimulator
from tests.support.simulators import salesforce_settings

MAPPING = SalesforceMapping()
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")  # as the write-back sends it
STREAMS = ("Account", "Contact", "Asset", "WorkOrder")


@pytest.fixture(scope="module")
def sim() -> Iterator[SalesforceSimulator]:
    # 2% malformed: a dozen or more of each kind (a share is capped at a tenth of an object)
    with SalesforceSimulator(
        seed=23, customers=600, assets=900, work_orders=300, malformed=0.02
    ) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def sf(sim: SalesforceSimulator) -> Iterator[SalesforceConnector]:
    with SalesforceConnector(salesforce_settings(sim)) as connector:
        yield connector


def read_stream(sf: SalesforceConnector, sobject: str) -> list[dict[str, Any]]:
    """Every record of a stream, selected and filtered as the mapping says."""
    where = record_type_filter(MAPPING.record_types(sobject))
    query = Query(sobject, tuple(MAPPING.soql_fields(sobject)), where, order_by=("Id",))
    return [r for page in sf.query_pages(query) for r in page]


@pytest.fixture(scope="module")
def streams(sf: SalesforceConnector) -> dict[str, list[dict[str, Any]]]:
    return {sobject: read_stream(sf, sobject) for sobject in STREAMS}


@pytest.fixture(scope="module")
def outcomes(
    streams: dict[str, list[dict[str, Any]]],
) -> dict[tuple[str, str], Mapped[Any] | MappingError]:
    """(record id, entity) -> what ``to_canonical`` made of it, or the error it raised."""
    out: dict[tuple[str, str], Mapped[Any] | MappingError] = {}
    for sobject, records in streams.items():
        for raw in records:
            for entity in MAPPING.entities(sobject):
                try:
                    out[raw["Id"], entity] = to_canonical(MAPPING, entity, raw)
                except MappingError as exc:
                    out[raw["Id"], entity] = exc
    return out


# -- (a) the org fits the mapping ------------------------------------------------------------


def test_the_default_mapping_validates_against_the_simulators_describes(
    sf: SalesforceConnector,
) -> None:
    describes = {obj: sf.describe(obj) for obj in MAPPING.sobjects()}
    MAPPING.validate_against(describes)  # raises MappingConfigError naming every misfit
    assert set(describes) == {
        "Account",
        "Contact",
        "Asset",
        "WorkOrder",
        "Product2",
        "ProductConsumed",
        "PricebookEntry",
        "Fieldbridge_Certification__c",
        "ServiceResource",
        "Skill",
        "ServiceResourceSkill",
    }
    consumed = {f["name"]: f for f in describes["ProductConsumed"]["fields"]}
    # the product comes from the price book entry: Product2Id is read-only, as in a real org
    assert (consumed["Product2Id"]["createable"], consumed["Product2Id"]["updateable"]) == (
        False,
        False,
    )
    assert consumed["PricebookEntryId"]["referenceTo"] == ["PricebookEntry"]
    assert describes["Fieldbridge_Certification__c"]["custom"] is True


# -- (b) every seeded record maps, or is refused for what is wrong with it ---------------------


def test_every_record_not_seeded_malformed_maps_without_error(
    sim: SalesforceSimulator,
    streams: dict[str, list[dict[str, Any]]],
    outcomes: dict[tuple[str, str], Mapped[Any] | MappingError],
) -> None:
    for sobject in STREAMS:
        assert len(streams[sobject]) == sim.count(sobject), f"every {sobject} was read"
    malformed = sim.malformed_ids()
    good = {key: out for key, out in outcomes.items() if key[0] not in malformed}
    errors = {key: str(out) for key, out in good.items() if isinstance(out, MappingError)}
    assert errors == {}
    for (record_id, _), mapped in good.items():
        assert isinstance(mapped, Mapped)
        assert mapped.external_id == record_id and not mapped.deleted
        mapped.canonical({name: 1 for name in mapped.refs})  # complete once resolved
    # the billing state is part of a site's address where the org has one (not in Denmark)
    addresses = [m.data["address"] for (_, e), m in good.items() if e == "site"]
    assert any(", Bayern, " in a for a in addresses)
    assert any(a.endswith(", Denmark") and "Hovedstaden" not in a for a in addresses)


def test_malformed_accounts_bring_their_customer_and_refuse_their_site(
    sim: SalesforceSimulator, outcomes: dict[tuple[str, str], Mapped[Any] | MappingError]
) -> None:
    reasons = {i: r for i, (o, r) in sim.malformed_reasons().items() if o == "Account"}
    assert {"missing_coordinates", "latitude_out_of_range"} == set(reasons.values())
    expected = {
        "missing_coordinates": "required: a site needs coordinates",
        "latitude_out_of_range": "outside -90..90",
    }
    for record_id, reason in reasons.items():
        assert isinstance(outcomes[record_id, "customer"], Mapped)  # the customer comes in
        error = outcomes[record_id, "site"]
        assert isinstance(error, MappingError), f"{reason}: {record_id} mapped"
        assert (error.entity, error.external_id) == ("site", record_id)
        assert error.field == "Account.BillingLatitude"
        assert error.reason.startswith(expected[reason])


def test_malformed_contacts_are_refused_naming_the_email_field(
    sim: SalesforceSimulator, outcomes: dict[tuple[str, str], Mapped[Any] | MappingError]
) -> None:
    reasons = {i: r for i, (o, r) in sim.malformed_reasons().items() if o == "Contact"}
    assert set(reasons.values()) == {"invalid_email"}
    for record_id in reasons:
        error = outcomes[record_id, "contact"]
        assert isinstance(error, MappingError)
        assert (error.field, error.reason) == ("Contact.Email", "not an e-mail address")


def test_an_asset_on_a_missing_account_maps_to_a_reference_the_engine_cannot_resolve(
    sim: SalesforceSimulator,
    streams: dict[str, list[dict[str, Any]]],
    outcomes: dict[tuple[str, str], Mapped[Any] | MappingError],
) -> None:
    """A dangling AccountId is a well-formed id: the mapping cannot know the account is not
    there (it sees one record at a time), so it hands on an ExternalRef; resolving it is the
    sync engine's job, and it quarantines an asset whose named site does not resolve (a
    Salesforce asset always names one; only SAP's equipment arrives unplaced)."""
    reasons = {i: r for i, (o, r) in sim.malformed_reasons().items() if o == "Asset"}
    assert set(reasons.values()) == {"account_not_found"}
    accounts = {r["Id"] for r in streams["Account"]}
    raw = {r["Id"]: r for r in streams["Asset"]}
    for record_id in reasons:
        mapped = outcomes[record_id, "asset"]
        assert isinstance(mapped, Mapped), "the mapping cannot see a dangling lookup"
        dangling = raw[record_id]["AccountId"]
        assert id18(dangling) == dangling and dangling not in accounts
        assert mapped.refs == {"site_id": ExternalRef("salesforce", "site", dangling)}


def test_a_work_order_ending_before_it_starts_is_refused_naming_the_end(
    sim: SalesforceSimulator,
    sf: SalesforceConnector,
    outcomes: dict[tuple[str, str], Mapped[Any] | MappingError],
) -> None:
    """StartDate and EndDate are where the write-back puts a job's actual start and end;
    intake reads them only to refuse a record whose dates contradict each other (it is not to
    be trusted, and would only be written back wrong). A CompletedJob refuses the same."""
    reasons = {i: r for i, (o, r) in sim.malformed_reasons().items() if o == "WorkOrder"}
    assert set(reasons.values()) == {"end_before_start"}
    assert {"StartDate", "EndDate"} <= set(MAPPING.soql_fields("WorkOrder"))
    ids = ", ".join(f"'{i}'" for i in sorted(reasons))
    soql = f"SELECT Id, StartDate, EndDate FROM WorkOrder WHERE Id IN ({ids})"
    for raw in (r for page in sf.query_pages(soql) for r in page):
        assert raw["EndDate"] < raw["StartDate"]  # malformed, as seeded
        error = outcomes[raw["Id"], "work_order"]
        assert isinstance(error, MappingError)
        assert error.field == "WorkOrder.EndDate"
        assert error.reason == f"before StartDate ({raw['StartDate']})"
    with pytest.raises(ValidationError, match="actual_end is before actual_start"):
        CompletedJob(
            key="WO-X",
            state="completed",
            actual_start=datetime(2026, 3, 2, 10, tzinfo=UTC),
            actual_end=datetime(2026, 3, 2, 9, tzinfo=UTC),
        )


# -- (c) the write-back is accepted and reads back as written ----------------------------------


def send(sf: SalesforceConnector, upsert: Upsert, *, update: bool = False) -> str:
    """One write as the sync engine sends it: by record id (an update), or an upsert by
    external id; ``update`` leaves out what Salesforce takes on create only."""
    record = {k: v for k, v in upsert.record.items() if not (update and k in upsert.create_only)}
    if upsert.key_field == "Id":
        result = sf.update(upsert.sobject, upsert.key, record)
    else:
        result = sf.upsert(upsert.sobject, upsert.key_field, upsert.key, record)
    assert result.success and result.id is not None
    return result.id


def read_back(sf: SalesforceConnector, upsert: Upsert, record_id: str) -> dict[str, Any]:
    """The record as the org holds it: each plain field written, and each lookup written by
    external id as the parent's value of that field."""
    fields = []
    for name, value in upsert.record.items():
        if isinstance(value, Mapping):
            (by,) = value
            fields.append(f"{name}.{by}")
        else:
            fields.append(name)
    soql = f"SELECT {', '.join(fields)} FROM {upsert.sobject} WHERE Id = '{record_id}'"
    (record,) = (r for page in sf.query_pages(soql) for r in page)
    return record


def assert_reads_back(sf: SalesforceConnector, upsert: Upsert, record_id: str) -> None:
    stored = read_back(sf, upsert, record_id)
    for name, sent in upsert.record.items():
        held = stored[name]
        if isinstance(sent, str) and DATETIME.fullmatch(sent):
            assert datetime.fromisoformat(held) == datetime.fromisoformat(sent), name
        else:
            assert held == sent, name


def raised_in_salesforce(sim: SalesforceSimulator) -> dict[str, Any]:
    """A clean seeded order, New, on an asset and its account."""
    malformed = sim.malformed_ids()
    candidates = [
        r
        for r in sim.find("WorkOrder", "Status", "New")
        if r["Id"] not in malformed and r["AccountId"] and r["AssetId"]
    ]
    return candidates[0]


def finished_job(key: str, **over: Any) -> CompletedJob:
    values: dict[str, Any] = {
        "key": key,
        "state": "completed",
        "priority": 2,
        "actual_start": datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
        "actual_end": datetime(2026, 3, 2, 9, 50, 30, tzinfo=UTC),
        "labour_minutes": 95,
        "visits": 2,
        "first_time_fix": False,
        "technician_key": "TECH-0042",
        "notes": "Replaced the filter drier; refilled 1.5 kg R-290; leak test passed.",
        "parts": [PartUsed(code="FD-16", quantity=1), PartUsed(code="R-290", quantity=1.5)],
    }
    return CompletedJob(**values | over)


def test_an_order_raised_in_salesforce_is_written_back_by_its_record_id(
    sim: SalesforceSimulator, sf: SalesforceConnector
) -> None:
    order = raised_in_salesforce(sim)
    job = finished_job(
        "FB-WO-000101",
        remote_id=order["Id"][:15],  # as a user might paste it: the mapping makes it 18
        customer_remote_id=order["AccountId"],
        asset_remote_id=order["AssetId"],
    )
    write = work_order_to_salesforce(MAPPING, job)
    assert (write.key_field, write.key) == ("Id", order["Id"])
    orders = sim.count("WorkOrder")
    assert send(sf, write) == order["Id"]
    assert_reads_back(sf, write, order["Id"])
    assert sim.count("WorkOrder") == orders, "updated, not created"

    parts = products_consumed_to_salesforce(MAPPING, job)
    assert [p.create_only for p in parts] == [frozenset({"WorkOrderId"})] * 2
    ids = [send(sf, p) for p in parts]
    for part, record_id, code in zip(parts, ids, ("FD-16", "R-290"), strict=True):
        assert_reads_back(sf, part, record_id)
        (held,) = (
            r
            for page in sf.query_pages(
                "SELECT WorkOrderId, PricebookEntry.ProductCode, Product2.ProductCode, "
                f"QuantityConsumed FROM ProductConsumed WHERE Id = '{record_id}'"
            )
            for r in page
        )
        assert held["WorkOrderId"] == order["Id"]
        # the org took the product from the price book entry the part code named
        assert held["PricebookEntry"] == held["Product2"] == {"ProductCode": code}

    # sent again (a retry, a replay): the same records, changed in place
    assert send(sf, write) == order["Id"]
    assert [send(sf, p, update=True) for p in parts] == ids
    on_order = f"SELECT Id FROM ProductConsumed WHERE WorkOrderId = '{order['Id']}'"
    assert sorted(r["Id"] for page in sf.query_pages(on_order) for r in page) == sorted(ids)

    # the next intake of the order knows it for our own write-back: our key is on it now
    (raw,) = (
        r
        for page in sf.query_pages(
            f"SELECT {', '.join(MAPPING.soql_fields('WorkOrder'))} FROM WorkOrder "
            f"WHERE Id = '{order['Id']}'"
        )
        for r in page
    )
    echo = to_canonical(MAPPING, "work_order", raw)
    assert (echo.fieldbridge_id, echo.state) == ("FB-WO-000101", "completed")


def test_an_order_made_here_is_upserted_by_our_key_and_its_parts_name_it_so(
    sim: SalesforceSimulator, sf: SalesforceConnector
) -> None:
    order = raised_in_salesforce(sim)
    job = finished_job(
        "FB-WO-000202",
        summary="Annual maintenance, cold room 2",
        customer_remote_id=order["AccountId"],
        asset_remote_id=order["AssetId"],
        first_time_fix=True,
        parts=[PartUsed(code="DG-1", quantity=2)],
    )
    write = work_order_to_salesforce(MAPPING, job)
    assert write.key_field == "Fieldbridge_Id__c"
    created = sf.upsert(write.sobject, write.key_field, write.key, write.record)
    assert created.created and created.id is not None
    assert_reads_back(sf, write, created.id)

    (part,) = products_consumed_to_salesforce(MAPPING, job)
    assert part.record["WorkOrder"] == {"Fieldbridge_Id__c": "FB-WO-000202"}
    assert part.create_only == frozenset({"WorkOrder"})
    first = sf.upsert(part.sobject, part.key_field, part.key, part.record)
    assert first.created and first.id is not None
    assert_reads_back(sf, part, first.id)

    # a detail keeps its parent: the lookup by external id is refused on update as the
    # plain field is, which is why the Upsert names it create-only
    with pytest.raises(Permanent) as refused:
        sf.upsert(part.sobject, part.key_field, part.key, part.record)
    assert (refused.value.code, refused.value.fields) == (
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ("WorkOrderId",),
    )
    assert send(sf, part, update=True) == first.id


def test_the_product_of_a_part_is_never_written_directly(
    sim: SalesforceSimulator, sf: SalesforceConnector
) -> None:
    """Why the mapping names a price book entry: Product2Id is read-only (plainly or by a
    lookup), as a real org answers."""
    order = raised_in_salesforce(sim)
    (product,) = sim.find("Product2", "ProductCode", "TS-2")
    for product_ref in ({"Product2Id": product["Id"]}, {"Product2": {"Id": product["Id"]}}):
        record = {"WorkOrderId": order["Id"], "QuantityConsumed": 1, **product_ref}
        with pytest.raises(Permanent) as refused:
            sf.upsert("ProductConsumed", "Fieldbridge_Id__c", "FB-WO-X:TS-2", record)
        assert (refused.value.code, refused.value.fields) == (
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ("Product2Id",),
        )
    assert sim.find("ProductConsumed", "Fieldbridge_Id__c", "FB-WO-X:TS-2") == []


def test_a_certification_is_upserted_by_our_key_and_a_renewal_updates_it(
    sf: SalesforceConnector,
) -> None:
    held = TechnicianCertification(
        technician_key="TECH-0042",
        certification=Certification(
            code="FGAS-CAT-I",
            name="F-Gas Category I",
            issuer="Bundesfachschule Kälte-Klima-Technik",
            number="FG-2024-118842",
            issued_on=date(2024, 4, 15),
            expires_on=date(2029, 4, 14),
        ),
    )
    write = certification_to_salesforce(MAPPING, held)
    first = send(sf, write)
    assert_reads_back(sf, write, first)

    renewed = held.model_copy(
        update={
            "certification": held.certification.model_copy(
                update={"issued_on": date(2029, 3, 1), "expires_on": date(2034, 2, 28)}
            )
        }
    )
    again = certification_to_salesforce(MAPPING, renewed)
    assert again.key == write.key
    result = sf.upsert(again.sobject, again.key_field, again.key, again.record)
    assert (result.id, result.created) == (first, False)
    assert_reads_back(sf, again, first)


def test_a_certification_becomes_field_service_skills_and_sending_again_changes_nothing(
    sim: SalesforceSimulator, sf: SalesforceConnector
) -> None:
    held = TechnicianCertification(
        technician_key="TECH-0042",
        certification=Certification(
            code="GAS-SAFE",
            name="Gas Safe Register",
            issued_on=date(2024, 4, 15),
            expires_on=date(2027, 4, 14),
        ),
    )
    writes = certification_to_skills(
        MAPPING, held, resource_name="Tom Berger", time_zone="Europe/London"
    )
    ids = [send(sf, w) for w in writes]
    for write, record_id in zip(writes, ids, strict=True):
        assert_reads_back(sf, write, record_id)
    (holding,) = sim.find("ServiceResourceSkill", "Fieldbridge_Id__c", "TECH-0042|GAS-SAFE")
    assert (holding["ServiceResourceId"], holding["SkillId"]) == (ids[0], ids[1])
    again = [send(sf, w, update=True) for w in writes]  # a retry, a replay: the same records
    assert again == ids
    assert [sim.count(o) for o in ("ServiceResource", "Skill", "ServiceResourceSkill")] == [1, 1, 1]
    revoked = certification_to_skills(
        MAPPING,
        held,
        resource_name="Tom Berger",
        time_zone="Europe/London",
        counts=False,
        now=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
    )
    send(sf, revoked[-1], update=True)
    ended = sim.get("ServiceResourceSkill", ids[2])
    assert ended is not None and ended["EffectiveEndDate"].startswith("2026-12-03T09:00:00")
