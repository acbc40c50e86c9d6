"""SOQL written by the connector from a described query (``connectors.salesforce.query``), and
the queries the Salesforce streams send, as Salesforce receives them (``responses``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.salesforce.query import (
    And,
    Compare,
    In,
    Or,
    Query,
    count_soql,
    literal,
    to_soql,
)
from mappings.salesforce import SalesforceMapping
from orchestrator.sync.streams import Cursor, salesforce_streams
from tests.support.salesforce_answers import (
    BASE,
    FIXTURES,
    JOBS,
    connector,
    describes,
    job,
    results,
    token_ok,
)

STANDARD = SalesforceMapping()
CUSTOM = SalesforceMapping.load(FIXTURES / "custom_org" / "mapping.toml")
AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


# -- writing SOQL ----------------------------------------------------------------------------


def test_a_query_is_written_field_by_field_condition_by_condition() -> None:
    query = Query(
        "Contact",
        ("Id", "Name", "Account.Name"),
        (Compare("SystemModstamp", ">=", AT), Compare("IsDeleted", "=", False)),
        order_by=("SystemModstamp", "Id"),
    )
    assert to_soql(query) == (
        "SELECT Id, Name, Account.Name FROM Contact"
        " WHERE (SystemModstamp >= 2026-03-01T08:30:00Z) AND (IsDeleted = false)"
        " ORDER BY SystemModstamp, Id"
    )
    assert to_soql(Query("Account", ["Id"])) == "SELECT Id FROM Account"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("Acme", "'Acme'"),
        ("O'Brien", r"'O\'Brien'"),
        ("C:\\temp", r"'C:\\temp'"),
        ("two\nlines\tand\ra\bbell\f", r"'two\nlines\tand\ra\bbell\f'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),  # one literal, never query text
        ("", "''"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (1.5, "1.5"),
        (Decimal("2.50"), "2.50"),
        (date(2026, 3, 1), "2026-03-01"),
        (AT, "2026-03-01T08:30:00Z"),
        # UTC, to the second: the offset applied, the fraction cut off
        (datetime(2026, 3, 1, 9, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=1))),
         "2026-03-01T08:30:05Z"),
    ],
)  # fmt: skip
def test_values_are_written_as_soql_literals(value: Any, written: str) -> None:
    assert literal(value) == written
    assert to_soql(Query("Account", ("Id",), (Compare("Name", "=", value),))).endswith(
        f"WHERE (Name = {written})"
    )


def test_in_lists_and_nested_conditions() -> None:
    record_types = In("RecordType.DeveloperName", ["Customer_Site", "Partner's"])
    after = Or(
        Compare("SystemModstamp", ">", AT),
        And(Compare("SystemModstamp", "=", AT), Compare("Id", ">", "001000000000001AAA")),
    )
    query = Query("Account", ("Id",), (record_types, after), order_by=("SystemModstamp", "Id"))
    assert to_soql(query) == (
        "SELECT Id FROM Account"
        r" WHERE (RecordType.DeveloperName IN ('Customer_Site', 'Partner\'s'))"
        " AND (SystemModstamp > 2026-03-01T08:30:00Z"
        " OR (SystemModstamp = 2026-03-01T08:30:00Z AND Id > '001000000000001AAA'))"
        " ORDER BY SystemModstamp, Id"
    )
    assert record_types.values == ("Customer_Site", "Partner's")
    assert count_soql(query) == (
        "SELECT COUNT() FROM Account"
        r" WHERE (RecordType.DeveloperName IN ('Customer_Site', 'Partner\'s'))"
        " AND (SystemModstamp > 2026-03-01T08:30:00Z"
        " OR (SystemModstamp = 2026-03-01T08:30:00Z AND Id > '001000000000001AAA'))"
    )
    assert count_soql(Query("Asset", ("Id", "Name"), order_by=("Name",))) == (
        "SELECT COUNT() FROM Asset"
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: Query("Account; DELETE", ("Id",)), "API name"),
        (lambda: Query("Account", ()), "at least one field"),
        (lambda: Query("Account", ("Id, Name",)), "field name"),
        (lambda: Query("Account", ("Id",), order_by=("Name DESC",)), "field name"),
        (lambda: Query("Account", ("Id",), ("Name = 'x'",)), "conditions"),  # type: ignore[arg-type]
        (lambda: Compare("Name) OR (Id", "=", "x"), "field name"),
        (lambda: Compare("Name", "LIKE", "x%"), "comparison"),  # type: ignore[arg-type]
        (lambda: Compare("Name", ">", None), "null"),
        (lambda: Compare("SystemModstamp", ">", datetime(2026, 3, 1)), "time zone"),
        (lambda: Compare("Amount", "=", float("nan")), "number"),
        (lambda: Compare("Name", "=", ["a"]), "no SOQL literal"),  # type: ignore[arg-type]
        (lambda: In("Name", ()), "at least one value"),
        (lambda: And(), "at least one condition"),
        (lambda: Or(), "at least one condition"),
    ],
)
def test_what_cannot_be_written_is_refused_when_made(make: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        make()


# -- what reaches Salesforce -----------------------------------------------------------------


def answers(mocked: responses.RequestsMock, path: str, soql: str, **answer: Any) -> None:
    mocked.get(
        f"{BASE}/{path}/",
        match=[matchers.query_param_matcher({"q": soql})],
        json={"done": True, "records": []} | answer,
    )


def test_the_connector_sends_a_query_as_soql(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    query = Query("Asset", ("Id", "Name"), (Compare("Name", "!=", None),), order_by=("Id",))
    answers(
        mocked,
        "query",
        "SELECT Id, Name FROM Asset WHERE (Name != null) ORDER BY Id",
        records=[{"attributes": {"type": "Asset"}, "Id": "02i1", "Name": "Pump"}],
    )
    answers(mocked, "queryAll", "SELECT COUNT() FROM Asset WHERE (Name != null)", totalSize=3)
    sf = connector()
    assert list(sf.query_pages(query)) == [[{"Id": "02i1", "Name": "Pump"}]]
    assert sf.count(query, include_deleted=True) == 3
    assert sf.api_calls == 2


def test_a_bulk_read_sends_the_query_as_soql(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.post(JOBS, json={k: v for k, v in job("JobComplete").items() if k != "object"})
    describes(mocked, "Asset")  # the job names no object: the query's
    results(mocked, '"Id","Name"\n"02i000000000001AAA","Pump"\n', locator=None, following="null")
    query = Query("Asset", ("Id", "Name"), (In("Name", ("Pump", "Valve")),), order_by=("Id",))
    pages = list(connector().bulk_query_pages(query, include_deleted=True))
    assert pages == [[{"Id": "02i000000000001AAA", "Name": "Pump"}]]
    (created,) = [c for c in mocked.calls if c.request.url == JOBS]
    assert json.loads(created.request.body or "{}")["query"] == (
        "SELECT Id, Name FROM Asset WHERE (Name IN ('Pump', 'Valve')) ORDER BY Id"
    )


def test_a_stream_reads_the_mappings_record_types_only(mocked: responses.RequestsMock) -> None:
    """An org whose mapping names record types: every read, count and key read of the
    stream filters on them; the standard org's reads every record."""
    token_ok(mocked)
    custom, standard = salesforce_streams(CUSTOM)["customers"], salesforce_streams(STANDARD)
    fields = ", ".join(CUSTOM.soql_fields("Account"))
    only = "(RecordType.DeveloperName IN ('Customer_Site'))"
    read_all = f"SELECT {fields} FROM Account WHERE {only} ORDER BY SystemModstamp, Id"
    answers(mocked, "queryAll", read_all)
    answers(mocked, "queryAll", f"SELECT COUNT() FROM Account WHERE {only}", totalSize=5)
    answers(mocked, "query", f"SELECT Id FROM Account WHERE {only} ORDER BY Id")
    answers(mocked, "query", f"SELECT COUNT() FROM Account WHERE {only}", totalSize=5)
    answers(mocked, "query", "SELECT Id FROM Contact ORDER BY Id")
    sf = connector()
    read = custom.read(sf, None, batch_size=200, bulk_threshold=10)
    assert (list(read.pages), read.to_read, read.bulk) == ([], 5, False)
    assert list(custom.keys(sf, batch_size=500, bulk_threshold=10)) == []
    assert list(standard["contacts"].keys(sf, batch_size=500, bulk_threshold=None)) == []
    assert sf.api_calls == 5


def test_a_stream_reads_on_from_its_cursor(mocked: responses.RequestsMock) -> None:
    """No look-back: after the cursor's stamp and id (the id quoted as text); a look-back:
    from the stamp less it, to the second."""
    token_ok(mocked)
    stream = salesforce_streams(CUSTOM)["customers"]
    head = f"SELECT {', '.join(CUSTOM.soql_fields('Account'))} FROM Account WHERE" + (
        " (RecordType.DeveloperName IN ('Customer_Site')) AND "
    )
    order = " ORDER BY SystemModstamp, Id"
    answers(
        mocked,
        "queryAll",
        head + "(SystemModstamp > 2026-03-01T08:30:00Z OR (SystemModstamp = "
        r"2026-03-01T08:30:00Z AND Id > '0O\'x'))" + order,
    )
    answers(mocked, "queryAll", head + "(SystemModstamp >= 2026-03-01T08:25:00Z)" + order)
    sf = connector()
    exact = stream.read(sf, Cursor(AT, "0O'x", 0.0), batch_size=200, bulk_threshold=None)
    assert list(exact.pages) == [] and exact.since == AT
    moment = AT.replace(microsecond=500_000)
    back = stream.read(sf, Cursor(moment, "001", 300.0), batch_size=200, bulk_threshold=None)
    assert list(back.pages) == [] and back.since == AT - timedelta(minutes=5)
    assert sf.api_calls == 2
