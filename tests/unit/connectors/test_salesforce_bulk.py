"""Bulk API 2.0 queries through the connector, against recorded-style answers (``responses``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.errors import AuthExpired, Permanent, Retryable
from connectors.salesforce import QuotaExhausted
from connectors.salesforce.bulk import RecordShaper, rest_datetime
from connectors.salesforce.query import Compare, Query
from tests.support.salesforce_answers import (
    BASE,
    DESCRIBES,
    JOB,
    JOBS,
    RESULTS,
    TOKEN_URL,
    calls_to,
    connector,
    describes,
    job,
    results,
    sf_error,
    token_ok,
)

ASSET_SOQL = (
    "SELECT Id, Name, Quantity, Price, Discount__c, Visits__c, InstallDate, LastModifiedDate,"
    " Product2.Name, Product2.IsActive, RecordType.DeveloperName FROM Asset ORDER BY Id"
)
HEADER = (
    '"Id","Name","Quantity","Price","Discount__c","Visits__c","InstallDate",'
    '"LastModifiedDate","Product2.Name","Product2.IsActive","RecordType.DeveloperName"\n'
)
ROW_1 = (
    '"02i000000000001AAA","Pump, ""big""","2.5","1200","12.5","3","2024-05-01",'
    '"2026-11-02T08:15:00.000Z","Heat Pump","true","Service_Asset"\n'
)
ROW_2 = '"02i000000000002AAA","Valve","","","","","","2026-11-02T09:00:00.000Z","","",""\n'
ROW_3 = (
    '"02i000000000003AAA","Line\nbreak","1","0","0","0","","2026-11-03T10:00:00.000Z",'
    '"Filter","false",""\n'
)
EXPECTED: list[dict[str, Any]] = [
    {
        "Id": "02i000000000001AAA",
        "Name": 'Pump, "big"',
        "Quantity": 2.5,
        "Price": 1200.0,
        "Discount__c": 12.5,
        "Visits__c": 3,
        "InstallDate": "2024-05-01",
        "LastModifiedDate": "2026-11-02T08:15:00.000+0000",
        "Product2": {"Name": "Heat Pump", "IsActive": True},
        "RecordType": {"DeveloperName": "Service_Asset"},
    },
    {
        "Id": "02i000000000002AAA",
        "Name": "Valve",
        "Quantity": None,
        "Price": None,
        "Discount__c": None,
        "Visits__c": None,
        "InstallDate": None,
        "LastModifiedDate": "2026-11-02T09:00:00.000+0000",
        "Product2": None,
        "RecordType": None,
    },
    {
        "Id": "02i000000000003AAA",
        "Name": "Line\nbreak",
        "Quantity": 1.0,
        "Price": 0.0,
        "Discount__c": 0.0,
        "Visits__c": 0,
        "InstallDate": None,
        "LastModifiedDate": "2026-11-03T10:00:00.000+0000",
        "Product2": {"Name": "Filter", "IsActive": False},
        "RecordType": None,
    },
]


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def standard_job(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("UploadComplete"))
    mocked.get(f"{JOBS}/{JOB}", json=job("InProgress"))
    mocked.get(f"{JOBS}/{JOB}", json=job("JobComplete"))
    describes(mocked, "Asset", "Product2", "RecordType")


# -- records shaped as REST gives them -----------------------------------------------------


def test_typed_nested_records_paged_by_locator(mocked: responses.RequestsMock) -> None:
    standard_job(mocked)
    results(mocked, HEADER + ROW_1 + ROW_2, locator=None, following="MjAwMA")
    results(mocked, HEADER + ROW_3, locator="MjAwMA", following="null")
    sleeps: list[float] = []
    sf = connector(sleeps)
    pages = list(sf.bulk_query_pages(ASSET_SOQL, page_size=2))
    assert [typed(r) for p in pages for r in p] == [typed(r) for r in EXPECTED]
    assert [list(r) for r in pages[0]] == [list(r) for r in EXPECTED[:2]]  # REST's key order
    assert [len(p) for p in pages] == [2, 1]
    created = json.loads(calls_to(mocked, JOBS)[0].request.body)
    assert created == {
        "operation": "query",
        "query": ASSET_SOQL,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    assert sleeps == [0.5, 1.0]  # two looks at the job, backing off
    # create, 2 polls, 2 results sets, 3 describes (Asset, and the two parents)
    assert sf.api_calls == 8
    fetch = calls_to(mocked, "/results")[0].request
    assert fetch.headers["Accept"] == "text/csv"
    assert fetch.headers["Authorization"] == "Bearer 00D!first"
    assert fetch.req_kwargs["timeout"] == 7.5


def test_describes_are_cached_for_the_connectors_life(mocked: responses.RequestsMock) -> None:
    standard_job(mocked)
    results(mocked, HEADER + ROW_1, locator=None, following="null")
    sf = connector()
    first = list(sf.bulk_query_pages(ASSET_SOQL))
    second = list(sf.bulk_query_pages(ASSET_SOQL))
    assert first == second == [[EXPECTED[0]]]
    assert len(calls_to(mocked, "/describe")) == 3
    # create, two polls, results, 3 describes; then create, one poll, results
    assert sf.api_calls == 4 + 3 + 3


def test_query_all_and_a_complete_job_at_once(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("JobComplete", operation="queryAll"))
    describes(mocked, "Asset")
    results(
        mocked,
        '"Id","IsDeleted"\n"02i000000000009AAA","true"\n',
        locator=None,
        following="null",
    )
    sleeps: list[float] = []
    sf = connector(sleeps)
    pages = list(sf.bulk_query_pages("SELECT Id, IsDeleted FROM Asset", include_deleted=True))
    assert pages == [[{"Id": "02i000000000009AAA", "IsDeleted": True}]]
    assert json.loads(calls_to(mocked, JOBS)[0].request.body)["operation"] == "queryAll"
    assert sleeps == [] and sf.api_calls == 3  # no poll needed


def test_no_records_yield_no_pages(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("JobComplete"))
    results(mocked, "", locator=None, following="null", count=0)
    sf = connector()
    assert list(sf.bulk_query_pages("SELECT Id FROM Asset WHERE Name = 'none'")) == []
    assert sf.api_calls == 2  # nothing to describe


def test_deeper_relationships_and_unknown_columns() -> None:
    shaper = RecordShaper(
        "Asset",
        ["account.name", "Account.Owner.Email", "Account.NumberOfEmployees", "Mystery__c"],
        DESCRIBES.__getitem__,
    )
    assert shaper.record(["Acme", "a@acme.test", "12", "7"]) == {
        "Account": {"Name": "Acme", "Owner": {"Email": "a@acme.test"}, "NumberOfEmployees": 12},
        "Mystery__c": "7",  # not in the describe: text as it came
    }
    assert shaper.record(["Acme", "", "", ""]) == {
        "Account": {"Name": "Acme", "Owner": None, "NumberOfEmployees": None},
        "Mystery__c": None,
    }
    assert shaper.record(["", "", "", ""]) == {"Account": None, "Mystery__c": None}
    with pytest.raises(ValueError, match="cells"):
        shaper.record(["only one"])


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("2026-11-02T08:15:00.000Z", "2026-11-02T08:15:00.000+0000"),
        ("2026-11-02T08:15:00.000+0000", "2026-11-02T08:15:00.000+0000"),
        ("2026-11-02T08:15:00Z", "2026-11-02T08:15:00.000+0000"),
        ("2026-11-02T09:15:00.250+01:00", "2026-11-02T08:15:00.250+0000"),
        ("not a date", "not a date"),
    ],
)
def test_datetimes_as_rest_writes_them(text: str, rest: str) -> None:
    assert rest_datetime(text) == rest


# -- failures ------------------------------------------------------------------------------


def test_a_failed_job_is_permanent_with_its_message(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("UploadComplete"))
    mocked.get(
        f"{JOBS}/{JOB}", json=job("Failed", errorMessage="INVALID_FIELD: No such column 'Nope'")
    )
    sf = connector()
    with pytest.raises(Permanent) as raised:
        list(sf.bulk_query_pages("SELECT Nope FROM Asset"))
    assert "INVALID_FIELD: No such column 'Nope'" in str(raised.value)
    assert raised.value.code == "BULK_JOB_FAILED"
    assert sf.api_calls == 2


def test_a_refused_job_is_permanent(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(
        JOBS,
        status=400,
        json=sf_error("API_ERROR", "Aggregate queries are not supported by Bulk API 2.0"),
    )
    sf = connector()
    with pytest.raises(Permanent, match="Aggregate"):
        list(sf.bulk_query_pages("SELECT COUNT() FROM Asset"))
    assert sf.api_calls == 1


def test_a_job_still_running_after_the_timeout_is_aborted(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("UploadComplete"))
    mocked.get(f"{JOBS}/{JOB}", json=job("InProgress"))
    mocked.patch(f"{JOBS}/{JOB}", json=job("Aborted"))
    sleeps: list[float] = []
    sf = connector(sleeps)
    sf.bulk_job_timeout_s = 30.0
    with pytest.raises(Retryable) as raised:
        list(sf.bulk_query_pages("SELECT Id FROM Asset"))
    assert raised.value.code == "BULK_JOB_TIMEOUT"
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]  # 25.5 s; the next 10 would pass 30
    aborts = [c for c in mocked.calls if c.request.method == "PATCH"]
    assert [json.loads(str(c.request.body)) for c in aborts] == [{"state": "Aborted"}]


def test_a_503_on_a_results_fetch_is_retried_without_loss(mocked: responses.RequestsMock) -> None:
    standard_job(mocked)
    results(mocked, HEADER + ROW_1 + ROW_2, locator=None, following="MjAwMA")
    unavailable = sf_error("SERVER_UNAVAILABLE", "Server is unavailable")
    mocked.get(
        RESULTS,
        match=[matchers.query_param_matcher({"maxRecords": "50000", "locator": "MjAwMA"})],
        status=503,
        json=unavailable,
    )
    results(mocked, HEADER + ROW_3, locator="MjAwMA", following="null")
    sleeps: list[float] = []
    sf = connector(sleeps)
    records = [r for p in sf.bulk_query_pages(ASSET_SOQL) for r in p]
    assert records == EXPECTED
    fetched = [c.request.params.get("locator") for c in calls_to(mocked, "/results")]
    assert fetched == [None, "MjAwMA", "MjAwMA"]  # the same set asked again
    assert len(sleeps) == 3  # two polls and one retry
    assert sf.api_calls == 9


def test_a_short_results_set_is_fetched_again(mocked: responses.RequestsMock) -> None:
    standard_job(mocked)
    results(mocked, HEADER + ROW_1, locator=None, following="null", count=2)  # cut short
    results(mocked, HEADER + ROW_1 + ROW_2, locator=None, following="null")
    records = [r for p in connector().bulk_query_pages(ASSET_SOQL) for r in p]
    assert records == EXPECTED[:2]
    assert len(calls_to(mocked, "/results")) == 2


def test_an_expired_session_on_a_results_fetch_is_renewed(mocked: responses.RequestsMock) -> None:
    standard_job(mocked)
    token_ok(mocked, "00D!second")
    expired = sf_error("INVALID_SESSION_ID", "Session expired or invalid")
    mocked.get(RESULTS, status=401, json=expired)
    results(mocked, HEADER + ROW_1, locator=None, following="null")
    sf = connector()
    assert list(sf.bulk_query_pages(ASSET_SOQL)) == [[EXPECTED[0]]]
    fetches = calls_to(mocked, "/results")
    assert [c.request.headers["Authorization"] for c in fetches] == [
        "Bearer 00D!first",
        "Bearer 00D!second",
    ]
    assert len(calls_to(mocked, TOKEN_URL)) == 2
    assert sf.api_calls == 1 + 2 + 2 + 3


def test_a_second_expiry_raises_auth_expired(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    token_ok(mocked, "00D!second")
    mocked.post(JOBS, status=401, json=sf_error("INVALID_SESSION_ID", "Session expired"))
    with pytest.raises(AuthExpired):
        list(connector().bulk_query_pages("SELECT Id FROM Asset"))


def test_results_without_a_locator_are_refused(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("JobComplete"))
    mocked.get(RESULTS, body='"Id"\n"02i000000000001AAA"\n', content_type="text/csv")
    with pytest.raises(Permanent, match="Sforce-Locator"):
        list(connector().bulk_query_pages("SELECT Id FROM Asset"))


def test_a_connection_reset_on_create_is_retried(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, body=requests.ConnectionError("reset by peer"))
    mocked.post(JOBS, json=job("JobComplete"))
    results(mocked, "", locator=None, following="null", count=0)
    sf = connector()
    assert list(sf.bulk_query_pages("SELECT Id FROM Asset")) == []
    assert sf.api_calls == 3


def test_arguments_are_checked() -> None:
    sf = connector()
    with pytest.raises(ValueError, match="page_size"):
        list(sf.bulk_query_pages("SELECT Id FROM Asset", page_size=0))
    with pytest.raises(ValueError, match="results_per_call"):
        list(sf.bulk_query_pages("SELECT Id FROM Asset", results_per_call=0))
    with pytest.raises(ValueError, match="API name"):
        sf.count(Query("Asset; DROP", ("Id",)))
    assert sf.api_calls == 0


def test_the_quota_guard_stops_a_bulk_read(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json=job("JobComplete"), headers={"Sforce-Limit-Info": "api-usage=500/1000"})
    sf = connector()
    with pytest.raises(QuotaExhausted, match="500/1000"):
        list(sf.bulk_query_pages("SELECT Id FROM Asset"))
    assert sf.api_calls == 1 and calls_to(mocked, "/results") == []


# -- count ---------------------------------------------------------------------------------


def test_count_is_one_rest_query(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(
        BASE + "/query/",
        match=[
            matchers.query_param_matcher({"q": "SELECT COUNT() FROM Asset WHERE (Name != null)"})
        ],
        json={"totalSize": 1234, "done": True, "records": []},
    )
    mocked.get(
        BASE + "/queryAll/",
        match=[matchers.query_param_matcher({"q": "SELECT COUNT() FROM Asset"})],
        json={"totalSize": 1300, "done": True, "records": []},
    )
    named = Query("Asset", ("Id",), (Compare("Name", "!=", None),))
    every = Query("Asset", ("Id", "Name"), order_by=("Name",))  # its fields and order: not counted
    sf = connector()
    assert sf.count(named) == 1234
    assert sf.count(every, include_deleted=True) == 1300
    assert sf.api_calls == 2
