"""Bulk API 2.0 queries through the connector against the simulator: the same records as REST,
typed and nested alike, for far fewer calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import Permanent
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce.query import Compare, Query
from sandbox.salesforce import SalesforceSimulator

ACCOUNTS = 5000
ASSETS = 700


@pytest.fixture(scope="module")
def org() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=23, customers=ACCOUNTS, assets=ASSETS, contacts=0) as sim:
        accounts = sim.find("Account", "Type", "Prospect")[:41]
        for record in accounts[:40]:  # deleted ones, for queryAll
            sim.delete("Account", record["Id"])
        # an Asset with no product: REST answers "Product2": null
        sim.create("Asset", {"Name": "Orphan", "AccountId": accounts[40]["Id"]})
        yield sim


def settings(org: SalesforceSimulator, **extra: object) -> SalesforceSettings:
    values = {
        k.removeprefix("FIELDBRIDGE_SALESFORCE_").lower(): v for k, v in org.env("jwt").items()
    }
    return SalesforceSettings(**{**values, "api_version": "62.0", **extra})  # type: ignore[arg-type]


def connector(org: SalesforceSimulator, **extra: object) -> SalesforceConnector:
    return SalesforceConnector(settings(org, **extra), sleep=lambda s: None)


def typed(value: Any) -> Any:
    """A record with every value paired with its type: 1 and 1.0 differ, True and 1 too."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def both(
    sf: SalesforceConnector, query: Query | str, *, include_deleted: bool = False
) -> tuple[Any, Any]:
    rest = [r for p in sf.query_pages(query, include_deleted=include_deleted) for r in p]
    bulk = [r for p in sf.bulk_query_pages(query, include_deleted=include_deleted) for r in p]
    return rest, bulk


ACCOUNT_SOQL = (
    "SELECT Id, IsDeleted, Name, Type, Phone, BillingStreet, BillingCity, BillingPostalCode,"
    " BillingLatitude, BillingLongitude, Fieldbridge_Id__c, CreatedDate, SystemModstamp"
    " FROM Account ORDER BY SystemModstamp, Id"
)


def test_accounts_with_numbers_and_deleted_ones_match_rest(org: SalesforceSimulator) -> None:
    with connector(org) as sf:
        rest, bulk = both(sf, ACCOUNT_SOQL, include_deleted=True)
    assert len(bulk) == ACCOUNTS
    assert [list(r) for r in bulk] == [list(r) for r in rest]  # same keys, same order
    assert [typed(r) for r in bulk] == [typed(r) for r in rest]
    assert sum(r["IsDeleted"] for r in bulk) == 40
    assert any(isinstance(r["BillingLatitude"], float) for r in bulk)
    assert any(r["BillingLatitude"] is None or r["Phone"] is None for r in bulk)
    assert all(r["SystemModstamp"].endswith("+0000") for r in bulk)


def test_assets_with_relationships_match_rest(org: SalesforceSimulator) -> None:
    soql = (
        "SELECT Id, Name, SerialNumber, Status, InstallDate, AccountId, Account.Name,"
        " Product2Id, Product2.Name, Product2.IsActive, LastModifiedDate FROM Asset ORDER BY Id"
    )
    with connector(org) as sf:
        rest, bulk = both(sf, soql)
    assert len(bulk) == ASSETS + 1
    assert [typed(r) for r in bulk] == [typed(r) for r in rest]
    assert [list(r) for r in bulk] == [list(r) for r in rest]
    orphan = next(r for r in bulk if r["Name"] == "Orphan")
    assert orphan["Product2"] is None and orphan["Product2Id"] is None
    with_product = next(r for r in bulk if r["Product2"] is not None)
    assert set(with_product["Product2"]) == {"Name", "IsActive"}
    assert isinstance(with_product["Product2"]["IsActive"], bool)


def test_live_accounts_only_without_include_deleted(org: SalesforceSimulator) -> None:
    with connector(org) as sf:
        prospects = Query("Account", ("Id", "IsDeleted"), (Compare("Type", "=", "Prospect"),))
        rest, bulk = both(sf, prospects)
        counted = sf.count(prospects)
        counted_all = sf.count(prospects, include_deleted=True)
    assert sorted(r["Id"] for r in bulk) == sorted(r["Id"] for r in rest)
    assert not any(r["IsDeleted"] for r in bulk)
    assert counted == len(bulk) and counted_all == counted + 40


def test_count_equals_the_records_and_costs_one_call(org: SalesforceSimulator) -> None:
    with connector(org) as sf:
        live = sf.count(Query("Account", ("Id",)))
        every = sf.count(Query("Account", ("Id",)), include_deleted=True)
        assets = sf.count(Query("Asset", ("Id",), (Compare("Product2Id", "!=", None),)))
        assert sf.api_calls == 3
        bulk = [r for p in sf.bulk_query_pages("SELECT Id FROM Account") for r in p]
    assert live == len(bulk) == org.count("Account") == ACCOUNTS - 40
    assert every == ACCOUNTS
    assert assets == ASSETS


def test_five_thousand_records_cost_four_calls(org: SalesforceSimulator) -> None:
    with connector(org) as sf:
        pages = list(sf.bulk_query_pages(ACCOUNT_SOQL, include_deleted=True))
        first_read = sf.api_calls
        again = list(sf.bulk_query_pages(ACCOUNT_SOQL, include_deleted=True, page_size=1000))
        second_read = sf.api_calls - first_read
    # create + one poll + one results set + the describe of Account (then cached)
    assert first_read == 4
    assert second_read == 3
    assert [len(p) for p in pages] == [2000, 2000, 1000]
    assert [len(p) for p in again] == [1000] * 5
    # REST: 3 pages of 2,000 (and the describe the mapping needs anyway)


def test_results_sets_by_locator_and_faults_lose_nothing(org: SalesforceSimulator) -> None:
    org.set_faults(rate=0.3, kinds=["503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"], seed=3)
    try:
        with connector(org, max_attempts=12) as sf:
            pages = list(
                sf.bulk_query_pages(
                    "SELECT Id FROM Account ORDER BY Id", page_size=700, results_per_call=600
                )
            )
            calls = sf.api_calls
            faults = len(org.fault_log)
    finally:
        org.clear_faults()
    ids = [r["Id"] for p in pages for r in p]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == ACCOUNTS - 40
    assert [len(p) for p in pages[:-1]] == [700] * (len(pages) - 1)
    assert faults > 0 and calls >= 2 + 9 + 1 + faults  # create, poll, 9 sets, describe


def test_a_session_expiring_between_results_sets_is_renewed(org: SalesforceSimulator) -> None:
    with connector(org) as sf:
        pages = sf.bulk_query_pages("SELECT Id FROM Account", page_size=1000, results_per_call=1000)
        ids = [r["Id"] for r in next(pages)]
        org.expire_sessions()
        ids += [r["Id"] for p in pages for r in p]
        calls = sf.api_calls
    assert len(set(ids)) == len(ids) == ACCOUNTS - 40
    assert calls == 2 + 5 + 1 + 1  # create, poll, 5 sets, describe, the set refused once


def test_a_refused_query_is_permanent(org: SalesforceSimulator) -> None:
    with connector(org) as sf, pytest.raises(Permanent) as caught:
        list(sf.bulk_query_pages("SELECT COUNT() FROM Account"))
    assert "not supported by Bulk API 2.0" in str(caught.value)
