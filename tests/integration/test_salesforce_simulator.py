"""The Salesforce simulator as a client sees it: over real HTTPS, with ``requests`` and with
simple-salesforce, which proves a real client understands it.

A note on TLS in these tests: ``requests`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from
the environment override a Session's ``verify`` (``trust_env``), so the sessions here set
``trust_env = False``; a per-call ``verify=`` is not overridden.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
)

from connectors.hr import HRConnector, HRSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SAPConnector, SAPSettings
from sandbox.salesforce import SalesforceSimulator
from tests.support.cli import FIELDBRIDGE
from tests.support.simulators import fresh_simulators

ID18 = re.compile(r"^[a-zA-Z0-9]{15}[A-Z0-5]{3}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


def http_session(sim: SalesforceSimulator) -> requests.Session:
    session = requests.Session()
    session.verify = str(sim.ca_path)
    session.trust_env = False
    return session


def password_grant(sim: SalesforceSimulator, **override: str) -> requests.Response:
    data = {
        "grant_type": "password",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "username": sim.username,
        "password": sim.password,
    }
    data.update(override)
    return requests.post(sim.token_url, data=data, verify=str(sim.ca_path), timeout=10)


def jwt_grant(
    sim: SalesforceSimulator, key: bytes | None = None, **claims: Any
) -> requests.Response:
    body = {
        "iss": sim.client_id,
        "sub": sim.username,
        "aud": sim.login_url,
        "exp": int(time.time()) + 180,
    }
    body.update(claims)
    assertion = jwt.encode(body, key or sim.private_key_path.read_bytes(), algorithm="RS256")
    return requests.post(
        sim.token_url,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        verify=str(sim.ca_path),
        timeout=10,
    )


class Api:
    """A thin REST client: bearer token, the simulator's CA, paths under /services/data/vXX."""

    def __init__(self, sim: SalesforceSimulator, token: str | None = None) -> None:
        self.sim = sim
        self.http = http_session(sim)
        self.token = token or password_grant(sim).json()["access_token"]

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("https://") else self.sim.base_url + path
        return self.http.request(method, url, headers=headers, timeout=kw.pop("timeout", 10), **kw)

    def query(self, soql: str, batch: int | None = None, all_rows: bool = False) -> Any:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        return self.call(
            "GET", "/queryAll" if all_rows else "/query", params={"q": soql}, headers=headers
        )

    def pages(self, soql: str, batch: int | None = None, all_rows: bool = False) -> list[dict]:
        response = self.query(soql, batch, all_rows)
        assert response.status_code == 200, response.text
        pages = [response.json()]
        while not pages[-1]["done"]:
            nxt = self.call("GET", self.sim.instance_url + pages[-1]["nextRecordsUrl"])
            assert nxt.status_code == 200, nxt.text
            pages.append(nxt.json())
        return pages


def simple(sim: SalesforceSimulator, token: str) -> Salesforce:
    return Salesforce(
        instance_url=sim.instance_url,
        session_id=token,
        session=http_session(sim),
        version=sim.api_version,
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SalesforceSimulator]:
    """A shared org: 2,500 customers with contacts, 600 assets, 60 work orders. Tests that
    write to it use values of their own; tests that change its state use ``fresh``."""
    with SalesforceSimulator(seed=11, customers=2500, assets=600, work_orders=60) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def api(sim: SalesforceSimulator) -> Api:
    return Api(sim)


@pytest.fixture
def fresh() -> Iterator[Callable[..., SalesforceSimulator]]:
    """Simulators of the test's own, stopped after it."""
    with fresh_simulators(SalesforceSimulator) as make:
        yield make


# --- OAuth -------------------------------------------------------------------------------


def test_password_flow_issues_a_session_the_api_accepts(sim: SalesforceSimulator) -> None:
    response = password_grant(sim)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sim.instance_url
    assert body["id"].startswith(f"{sim.login_url}/id/00D")
    expected = base64.b64encode(
        hmac.new(
            sim.client_secret.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert body["signature"] == expected
    used_before = sim.api_usage[0]
    limits = Api(sim, body["access_token"]).call("GET", "/limits")
    assert limits.status_code == 200
    assert sim.api_usage[0] == used_before + 1, "token calls are not counted, API calls are"


def test_jwt_bearer_flow_and_simple_salesforce_on_its_session(sim: SalesforceSimulator) -> None:
    response = jwt_grant(sim)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "Bearer"
    client = simple(sim, token)
    result = client.query("SELECT Id, Name FROM Account ORDER BY Id LIMIT 5")
    assert result["totalSize"] == 5 and result["done"] is True
    assert all(ID18.match(rec["Id"]) and rec["Id"].startswith("001") for rec in result["records"])
    assert result["records"][0]["attributes"]["type"] == "Account"


@pytest.mark.parametrize(
    ("override", "error", "description"),
    [
        ({"password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@example.com"}, "invalid_grant", "authentication failure"),
        ({"client_id": "3MVG9unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "nope"}, "invalid_client", "invalid client credentials"),
        ({"grant_type": "client_magic"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_password_flow_refuses_bad_credentials(
    sim: SalesforceSimulator, override: dict[str, str], error: str, description: str
) -> None:
    response = password_grant(sim, **override)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_bearer_flow_refuses_bad_assertions(sim: SalesforceSimulator) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases = [
        (jwt_grant(sim, key=stranger), "invalid_grant", "invalid assertion"),
        (jwt_grant(sim, exp=int(time.time()) - 60), "invalid_grant", "expired authorization code"),
        (
            jwt_grant(sim, aud="https://login.salesforce.com"),
            "invalid_grant",
            "audience is invalid",
        ),
        (jwt_grant(sim, iss="someone-else"), "invalid_client_id", "client identifier invalid"),
        (
            jwt_grant(sim, sub="nobody@example.com"),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
    ]
    for response, error, description in cases:
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}


def test_expired_sessions_answer_401_invalid_session_id(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    sim = fresh(seed=3, customers=20)
    api = Api(sim)
    assert api.call("GET", "/sobjects").status_code == 200
    assert sim.expire_sessions() >= 1
    response = api.call("GET", "/sobjects")
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    with pytest.raises(SalesforceExpiredSession):
        simple(sim, api.token).query("SELECT Id FROM Account")
    no_header = requests.get(sim.base_url + "/limits", verify=str(sim.ca_path), timeout=10)
    assert no_header.status_code == 401
    assert Api(sim).call("GET", "/sobjects").status_code == 200, "a new token works again"


# --- queries -----------------------------------------------------------------------------


def test_paging_honours_batch_size_and_orders_ties_across_page_boundaries(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    sim = fresh(seed=5)
    sim.seed(customers=450, contacts=0, malformed=0)
    touched = sim.touch("Account", 300)  # one bulk change: 300 records, one SystemModstamp
    assert len(set(touched.ids)) == 300 and STAMP.match(touched.stamp)
    api = Api(sim)
    soql = "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id"
    pages = api.pages(soql, batch=200)
    assert [len(p["records"]) for p in pages] == [200, 200, 50]
    assert [p["done"] for p in pages] == [False, False, True]
    assert all(p["totalSize"] == 450 for p in pages)
    assert re.match(r"^/services/data/v62\.0/query/01g\w{15}-200$", pages[0]["nextRecordsUrl"])
    assert pages[1]["nextRecordsUrl"].endswith("-400")
    records = [r for p in pages for r in p["records"]]
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys) and len(set(keys)) == 450, "(SystemModstamp, Id), no repeats"
    for boundary in (200, 400):  # the tie straddles both page boundaries
        assert records[boundary - 1]["SystemModstamp"] == records[boundary]["SystemModstamp"]
    assert {r["Id"] for r in records if r["SystemModstamp"] == touched.stamp} == set(touched.ids)

    # Resuming after the last record of page 1 with a keyset condition gives exactly the rest.
    last = pages[0]["records"][-1]
    rest = api.pages(
        "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > "
        f"{last['SystemModstamp']} OR (SystemModstamp = {last['SystemModstamp']} "
        f"AND Id > '{last['Id']}') ORDER BY SystemModstamp, Id",
        batch=200,
    )
    assert [r["Id"] for p in rest for r in p["records"]] == [r["Id"] for r in records[200:]]

    # simple-salesforce follows nextRecordsUrl to the same records.
    everything = simple(sim, api.token).query_all(
        soql, headers={"Sforce-Query-Options": "batchSize=200"}
    )
    assert [r["Id"] for r in everything["records"]] == [r["Id"] for r in records]

    # A page can be fetched again (a client retrying after a lost answer).
    again = api.call("GET", sim.instance_url + pages[0]["nextRecordsUrl"]).json()
    assert again["records"] == pages[1]["records"]


def test_default_page_is_2000_and_batch_size_is_clamped(sim: SalesforceSimulator, api: Api) -> None:
    pages = api.pages("SELECT Id FROM Account")
    total = sim.count("Account")  # 2,500 seeded, and whatever other tests added
    assert 2000 < total < 4000
    assert [len(p["records"]) for p in pages] == [2000, total - 2000]
    small = api.query("SELECT Id FROM Account", batch=10).json()
    assert len(small["records"]) == 200, "below the minimum, 200"
    big = api.query("SELECT Id FROM Account", batch=5000).json()
    assert len(big["records"]) == 2000, "above the maximum, 2,000"
    stale = api.call("GET", "/query/01g8d0000zzzzzzAAA-2000")
    assert stale.status_code == 400 and stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_hides_a_deleted_row_that_query_all_shows(sim: SalesforceSimulator, api: Api) -> None:
    created = api.call("POST", "/sobjects/Account", json={"Name": "Soon Gone Ltd"})
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert created.json() == {"id": record_id, "success": True, "errors": []}
    deleted = api.call("DELETE", f"/sobjects/Account/{record_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    soql = f"SELECT Id, IsDeleted, Name FROM Account WHERE Id = '{record_id}'"
    assert api.query(soql).json() == {"totalSize": 0, "done": True, "records": []}
    shown = api.query(soql, all_rows=True).json()
    assert shown["totalSize"] == 1 and shown["records"][0]["IsDeleted"] is True
    client = simple(sim, api.token)
    assert client.query(soql)["totalSize"] == 0
    assert client.query(soql, include_deleted=True)["records"][0]["IsDeleted"] is True
    gone = api.call("GET", f"/sobjects/Account/{record_id}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        (
            "SELECT Id, Foo FROM Account",
            "INVALID_FIELD",
            "ERROR at Row:1:Column:12\nNo such column 'Foo' on entity 'Account'",
        ),
        ("SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id Name FROM Account", "MALFORMED_QUERY", "unexpected token: 'Name'"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Phone = null",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01'",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE BillingLatitude = 'north'",
            "INVALID_FIELD",
            "must be of type double",
        ),
        (
            "SELECT Id FROM Account WHERE Id = 'nonsense'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: nonsense",
        ),
        (
            "SELECT Id, Owner.Name FROM Contact",
            "INVALID_FIELD",
            "Didn't understand relationship 'Owner'",
        ),
        ("SELECT Id, id FROM Account", "MALFORMED_QUERY", "duplicate field selected: id"),
    ],
)
def test_soql_errors_are_those_of_a_real_org(
    sim: SalesforceSimulator, api: Api, soql: str, code: str, fragment: str
) -> None:
    response = api.query(soql)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert fragment in error["message"]
    assert error["message"].startswith("\n" + soql.split("\n")[0])


def test_simple_salesforce_raises_on_a_malformed_query(sim: SalesforceSimulator, api: Api) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        simple(sim, api.token).query("SELECT Id FROM Account WHERE Name =")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_soql_filters_literals_and_relationships(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    sim = fresh(seed=8)
    acme = sim.create(
        "Account",
        {
            "Name": "Acme 100% Cooling",
            "BillingCountry": "Germany",
            "BillingLatitude": 52.5,
            "Type": "Customer - Direct",
        },
    )
    beta = sim.create(
        "Account", {"Name": "Beta_Foods", "BillingCountry": "France", "BillingLatitude": 45.7}
    )
    gamma = sim.create("Account", {"Name": "gamma foods", "BillingCountry": None})
    quote = sim.create("Account", {"Name": "O'Brien Bakery", "BillingCountry": "Ireland"})
    sim.create("Contact", {"LastName": "Keller", "AccountId": acme, "Email": "k@acme.example"})
    sim.create("Asset", {"Name": "Chiller", "AccountId": beta, "InstallDate": "2024-03-01"})
    api = Api(sim)

    def ids(soql: str) -> list[str]:
        response = api.query(soql)
        assert response.status_code == 200, response.text
        return [rec["Id"] for rec in response.json()["records"]]

    where = "SELECT Id FROM Account WHERE "
    assert ids(where + "Name LIKE '%foods' ORDER BY Name") == [beta, gamma], "case-insensitive"
    assert ids(where + r"Name LIKE '%100\%%'") == [acme]
    assert ids(where + r"Name LIKE 'Beta\_%'") == [beta]
    assert ids(where + "Name = 'ACME 100% COOLING'") == [acme]
    assert ids(where + r"Name = 'O\'Brien Bakery'") == [quote]
    assert ids(where + "BillingCountry IN ('germany', 'France') ORDER BY Id") == [acme, beta]
    assert ids(where + "BillingCountry NOT IN ('Germany') ORDER BY Id") == [beta, gamma, quote]
    assert ids(where + "BillingCountry = null") == [gamma]
    assert ids(where + "BillingCountry != null ORDER BY Id") == [acme, beta, quote]
    assert ids(where + "BillingCountry != 'Germany' ORDER BY Id") == [beta, gamma, quote], (
        "null included"
    )
    assert ids(where + "NOT (BillingLatitude > 50 OR BillingLatitude = null)") == [beta]
    assert ids(where + "BillingLatitude >= 45.7 AND BillingLatitude < 52.5") == [beta]
    assert ids(where + "Type = 'Customer - Direct' AND (Name LIKE 'A%' OR Name LIKE 'Z%')") == [
        acme
    ]
    by_latitude = "SELECT Id FROM Account ORDER BY BillingLatitude"
    assert ids(by_latitude + " DESC NULLS LAST") == [acme, beta, gamma, quote]
    assert ids(by_latitude + " ASC") == [gamma, quote, beta, acme], "nulls first, ties by Id"
    assert ids("SELECT Id FROM Account ORDER BY Id LIMIT 1 OFFSET 1") == [beta]
    stamp = sim.get("Account", acme)["SystemModstamp"]  # type: ignore[index]
    for literal in (stamp, stamp.replace(".000+0000", "Z"), stamp[:19] + "+00:00"):
        assert acme in ids(where + f"SystemModstamp = {literal}")
    assert ids("SELECT Id FROM Asset WHERE InstallDate > 2024-01-31") != []
    contact = api.query(
        "SELECT Id, Account.Name, Account.BillingCountry FROM Contact "
        "WHERE Account.BillingCountry = 'Germany'"
    ).json()["records"]
    assert contact[0]["Account"]["Name"] == "Acme 100% Cooling"
    assert contact[0]["Account"]["attributes"]["type"] == "Account"
    count = api.query("SELECT COUNT() FROM Account WHERE Name LIKE '%foods'").json()
    assert count == {"totalSize": 2, "done": True, "records": []}


CITIES = ["Berlin", "Hamburg", "Wien", "Zürich", "London", "Lyon"]
conditions = st.recursive(
    st.one_of(
        st.tuples(st.just("BillingCity"), st.sampled_from(["=", "!="]), st.sampled_from(CITIES)),
        st.tuples(
            st.just("BillingCity"),
            st.sampled_from(["IN", "NOT IN"]),
            st.lists(st.sampled_from(CITIES), min_size=1, max_size=3),
        ),
        st.tuples(
            st.just("BillingLatitude"),
            st.sampled_from(["<", "<=", ">", ">=", "=", "!="]),
            st.sampled_from([None, 45.0, 48.2, 50.0, 51.5, 53.0]),
        ),
        st.tuples(
            st.just("Name"),
            st.just("LIKE"),
            st.sampled_from(["%gmbh", "keller%", "%bakery%", "%_a%", "Nothing"]),
        ),
    ),
    lambda inner: st.one_of(
        st.tuples(st.just("NOT"), inner),
        st.tuples(st.sampled_from(["AND", "OR"]), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)


def _soql(condition: Any) -> str:
    if condition[0] == "NOT":
        return f"NOT ({_soql(condition[1])})"
    if condition[0] in ("AND", "OR"):
        return f" {condition[0]} ".join(f"({_soql(x)})" for x in condition[1])
    field, op, value = condition
    if op in ("IN", "NOT IN"):
        return f"{field} {op} (" + ", ".join(f"'{v}'" for v in value) + ")"
    shown = "null" if value is None else f"'{value}'" if isinstance(value, str) else str(value)
    return f"{field} {op} {shown}"


def _matches(condition: Any, rec: dict[str, Any]) -> bool:
    if condition[0] == "NOT":
        return not _matches(condition[1], rec)
    if condition[0] == "AND":
        return all(_matches(x, rec) for x in condition[1])
    if condition[0] == "OR":
        return any(_matches(x, rec) for x in condition[1])
    field, op, value = condition
    actual = rec[field]
    if op == "LIKE":
        pattern = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in value
        )
        return (
            actual is not None
            and re.fullmatch(pattern, actual, re.IGNORECASE | re.DOTALL) is not None
        )
    if isinstance(actual, str):
        actual = actual.lower()
        value = [x.lower() for x in value] if isinstance(value, list) else value.lower()
    if op == "IN":
        return actual in value
    if op == "NOT IN":
        return actual not in value
    if value is None:
        return (actual is None) if op == "=" else (actual is not None) if op == "!=" else False
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    if actual is None:
        return False
    compared = {
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }
    return compared[op]


@pytest.fixture(scope="module")
def oracle_org() -> tuple[SalesforceSimulator, list[dict[str, Any]]]:
    simulator = SalesforceSimulator(seed=21)  # not served: the parser and evaluator alone
    simulator.seed(customers=400, contacts=0, malformed=0.05)
    records = simulator.org.query(
        "SELECT Id, Name, BillingCity, BillingLatitude FROM Account", False, 2000, "62.0"
    )["records"]
    return simulator, records


@given(conditions)
def test_where_clauses_agree_with_a_python_oracle(
    oracle_org: tuple[SalesforceSimulator, list[dict[str, Any]]], condition: Any
) -> None:
    simulator, records = oracle_org
    soql = f"SELECT Id FROM Account WHERE {_soql(condition)} ORDER BY Id"
    got = [r["Id"] for r in simulator.org.query(soql, False, 2000, "62.0")["records"]]
    assert got == [r["Id"] for r in records if _matches(condition, r)], soql


# --- sObjects ----------------------------------------------------------------------------


def test_sobjects_list_and_describe_are_enough_to_validate_a_mapping(
    sim: SalesforceSimulator, api: Api
) -> None:
    listed = api.call("GET", "/sobjects").json()
    prefixes = {o["name"]: o["keyPrefix"] for o in listed["sobjects"]}
    assert (
        prefixes
        | {
            "Account": "001",
            "Contact": "003",
            "Asset": "02i",
            "WorkOrder": "0WO",
            "ProductConsumed": "0Q5",
        }
        == prefixes
    )
    describe = simple(sim, api.token).WorkOrder.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    status = fields["Status"]
    assert status["type"] == "picklist" and status["nillable"] is False
    assert [p["value"] for p in status["picklistValues"]] == [
        "New",
        "In Progress",
        "On Hold",
        "Completed",
        "Cannot Complete",
        "Closed",
        "Canceled",
    ]
    assert fields["Fieldbridge_Id__c"]["externalId"] is True
    assert fields["Fieldbridge_Id__c"]["unique"] is False
    assert fields["WorkOrderNumber"]["updateable"] is False
    assert fields["AssetId"]["referenceTo"] == ["Asset"]
    assert fields["AssetId"]["relationshipName"] == "Asset"
    for field in describe["fields"]:
        assert {
            "name",
            "type",
            "label",
            "externalId",
            "nillable",
            "updateable",
            "picklistValues",
        } <= set(field)
    assert api.call("GET", "/sobjects/Nope/describe").status_code == 404


def test_record_get_update_and_timestamps(sim: SalesforceSimulator, api: Api) -> None:
    record_id = api.call(
        "POST", "/sobjects/Account/", json={"Name": "Stamp Test AG", "Type": "Prospect"}
    ).json()["id"]
    before = api.call("GET", f"/sobjects/Account/{record_id}").json()
    assert ID18.match(before["Id"]) and before["IsDeleted"] is False
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert STAMP.match(before[name])
    patched = api.call("PATCH", f"/sobjects/Account/{record_id}", json={"Phone": "+49 30 1"})
    assert patched.status_code == 204
    after = api.call(
        "GET", f"/sobjects/Account/{record_id}", params={"fields": "Phone,SystemModstamp"}
    ).json()
    assert after["Phone"] == "+49 30 1" and after["SystemModstamp"] >= before["SystemModstamp"]
    assert set(after) == {"attributes", "Phone", "SystemModstamp"}
    bad_pick = api.call("PATCH", f"/sobjects/Account/{record_id}", json={"Type": "Friend"})
    assert bad_pick.status_code == 400
    assert bad_pick.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    missing = api.call("POST", "/sobjects/Contact", json={"FirstName": "Only"})
    assert missing.json() == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    assert api.call("GET", "/sobjects/Account/001000000000000AAA").status_code == 404
    wrong_method = api.call("PATCH", "/sobjects/Account")
    assert wrong_method.status_code == 405
    assert wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_upsert_by_external_id_answers_201_200_and_300(sim: SalesforceSimulator, api: Api) -> None:
    path = "/sobjects/Account/Fieldbridge_Id__c/FB-CUST-0001"
    first = api.call("PATCH", path, json={"Name": "Upsert GmbH", "BillingCity": "Berlin"})
    assert first.status_code == 201
    record_id = first.json()["id"]
    assert first.json() == {"id": record_id, "success": True, "errors": [], "created": True}
    second = api.call("PATCH", path, json={"BillingCity": "Hamburg"})
    assert second.status_code == 200
    assert second.json() == {"id": record_id, "success": True, "errors": [], "created": False}
    assert sim.get("Account", record_id)["BillingCity"] == "Hamburg"  # type: ignore[index]
    assert api.call("GET", path).json()["Id"] == record_id

    client = simple(sim, api.token)
    assert client.Account.upsert("Fieldbridge_Id__c/FB-CUST-0002", {"Name": "Two Ltd"}) == 201
    assert client.Account.upsert("Fieldbridge_Id__c/FB-CUST-0002", {"Phone": "1"}) == 200

    dup_ids = [
        api.call(
            "POST", "/sobjects/Account", json={"Name": f"Twin {n}", "Fieldbridge_Id__c": "FB-TWIN"}
        ).json()["id"]
        for n in (1, 2)
    ]
    several = api.call("PATCH", "/sobjects/Account/Fieldbridge_Id__c/FB-TWIN", json={"Phone": "2"})
    assert several.status_code == 300
    assert several.json() == [f"/services/data/v62.0/sobjects/Account/{i}" for i in dup_ids]
    with pytest.raises(SalesforceMoreThanOneRecord):
        client.Account.upsert("Fieldbridge_Id__c/FB-TWIN", {"Phone": "3"})
    assert all(sim.get("Account", i)["Phone"] is None for i in dup_ids)  # type: ignore[index]

    by_parent = api.call(
        "PATCH",
        "/sobjects/Contact/Fieldbridge_Id__c/FB-CONT-1",
        json={"LastName": "Neumann", "Account": {"Fieldbridge_Id__c": "FB-CUST-0001"}},
    )
    assert by_parent.status_code == 201
    assert sim.get("Contact", by_parent.json()["id"])["AccountId"] == record_id  # type: ignore[index]
    orphan = api.call(
        "PATCH",
        "/sobjects/Contact/Fieldbridge_Id__c/FB-CONT-2",
        json={"LastName": "X", "Account": {"Fieldbridge_Id__c": "FB-NOPE"}},
    )
    assert orphan.status_code == 400
    assert "Foreign key external ID: FB-NOPE not found" in orphan.json()[0]["message"]


def test_unknown_fields_are_refused(sim: SalesforceSimulator, api: Api) -> None:
    before = sim.count("Account")
    for method, path in (
        ("POST", "/sobjects/Account"),
        ("PATCH", "/sobjects/Account/Fieldbridge_Id__c/FB-UNKNOWN-1"),
    ):
        response = api.call(method, path, json={"Name": "Ghost", "Colour__c": "blue"})
        assert response.status_code == 400
        assert response.json() == [
            {
                "message": "No such column 'Colour__c' on sobject of type Account",
                "errorCode": "INVALID_FIELD",
                "fields": [],
            }
        ]
    collection = api.call(
        "PATCH",
        "/composite/sobjects/Account/Fieldbridge_Id__c",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Fieldbridge_Id__c": "FB-U-2", "Name": "Fine"},
                {
                    "attributes": {"type": "Account"},
                    "Fieldbridge_Id__c": "FB-U-3",
                    "Colour__c": "red",
                },
            ],
        },
    )
    assert collection.status_code == 400 and collection.json()[0]["errorCode"] == "INVALID_FIELD"
    assert sim.count("Account") == before, "nothing written"


def test_collection_upsert_fails_a_malformed_record_alone(
    sim: SalesforceSimulator, api: Api
) -> None:
    def rec(ext: str | None, **fields: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": "WorkOrder"}, **fields}
        if ext is not None:
            out["Fieldbridge_Id__c"] = ext
        return out

    existing = api.call(
        "PATCH", "/sobjects/WorkOrder/Fieldbridge_Id__c/FB-WO-1", json={"Subject": "Old"}
    ).json()["id"]
    payload = {
        "allOrNone": False,
        "records": [
            rec("FB-WO-1", Status="Completed", Subject="Pump fixed"),
            rec("FB-WO-2", Status="Done-ish"),
            rec("FB-WO-3", Status="In Progress", Priority="High"),
            rec(None, Subject="no key"),
        ],
    }
    response = api.call("PATCH", "/composite/sobjects/WorkOrder/Fieldbridge_Id__c", json=payload)
    assert response.status_code == 200
    results = response.json()
    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["success"] is False and results[1]["errors"] == [
        {
            "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "Status: bad value for restricted picklist field: Done-ish",
            "fields": ["Status"],
        }
    ]
    assert results[2]["success"] is True and results[2]["created"] is True
    assert results[3]["success"] is False
    assert results[3]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert sim.get("WorkOrder", existing)["Status"] == "Completed"  # type: ignore[index]
    stamps = {sim.get("WorkOrder", results[i]["id"])["SystemModstamp"] for i in (0, 2)}  # type: ignore[index]
    assert len(stamps) == 1, "one call, one transaction, one stamp"

    rolled = api.call(
        "PATCH",
        "/composite/sobjects/WorkOrder/Fieldbridge_Id__c",
        json={
            "allOrNone": True,
            "records": [rec("FB-WO-4", Subject="ok"), rec("FB-WO-5", Status="??")],
        },
    )
    assert [x["success"] for x in rolled.json()] == [False, False]
    assert rolled.json()[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sim.find("WorkOrder", "Fieldbridge_Id__c", "FB-WO-4") == []


def test_collections_take_at_most_200_records(sim: SalesforceSimulator, api: Api) -> None:
    def records(count: int, prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "attributes": {"type": "Contact"},
                "Fieldbridge_Id__c": f"{prefix}-{i}",
                "LastName": f"Batch {i}",
            }
            for i in range(count)
        ]

    path = "/composite/sobjects/Contact/Fieldbridge_Id__c"
    refused = api.call("PATCH", path, json={"allOrNone": False, "records": records(201, "C201")})
    assert refused.status_code == 400
    assert refused.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
            "fields": [],
        }
    ]
    assert sim.find("Contact", "Fieldbridge_Id__c", "C201-0") == []
    client = simple(sim, api.token)
    accepted = client.restful(
        path.lstrip("/"),
        method="PATCH",
        data=json.dumps({"allOrNone": False, "records": records(200, "C200")}),
    )
    assert len(accepted) == 200 and all(r["created"] for r in accepted)
    with pytest.raises(SalesforceMalformedRequest) as refused_again:
        client.restful(
            path.lstrip("/"),
            method="PATCH",
            data=json.dumps({"allOrNone": False, "records": records(201, "C201")}),
        )
    assert refused_again.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_the_org_fills_in_what_a_real_org_derives_and_refuses_writing_it(
    sim: SalesforceSimulator, api: Api
) -> None:
    """A price book entry takes its product's name and code, one per product and price book;
    a product consumed takes its product from its entry: Product2Id is read-only there, and
    a lookup written by the parent's external id obeys the same rules as the plain field."""
    (book,) = sim.find("Pricebook2", "IsStandard", True)
    product = api.call(
        "POST", "/sobjects/Product2", json={"Name": "Sight Glass SG-1", "ProductCode": "SG-1"}
    ).json()["id"]
    entry = {"Pricebook2Id": book["Id"], "Product2Id": product, "UnitPrice": 31.5}
    created = api.call("POST", "/sobjects/PricebookEntry", json=entry | {"IsActive": True})
    assert created.status_code == 201
    held = sim.get("PricebookEntry", created.json()["id"])
    assert held is not None and (held["Name"], held["ProductCode"]) == ("Sight Glass SG-1", "SG-1")
    twice = api.call("POST", "/sobjects/PricebookEntry", json=entry)
    assert twice.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    for body in ({"Name": "Renamed"}, {"Product2Id": product}):
        refused = api.call("PATCH", f"/sobjects/PricebookEntry/{created.json()['id']}", json=body)
        assert refused.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    order = api.call(
        "PATCH", "/sobjects/WorkOrder/Fieldbridge_Id__c/FB-WO-PC-1", json={"Subject": "Parts"}
    ).json()["id"]
    consumed = api.call(
        "PATCH",
        "/sobjects/ProductConsumed/Fieldbridge_Id__c/FB-WO-PC-1:FD-16",
        json={
            "WorkOrder": {"Fieldbridge_Id__c": "FB-WO-PC-1"},
            "PricebookEntry": {"Fieldbridge_Id__c": "FD-16"},
            "QuantityConsumed": 1,
        },
    )
    assert consumed.status_code == 201
    (drier,) = sim.find("Product2", "ProductCode", "FD-16")
    record = sim.get("ProductConsumed", consumed.json()["id"])
    assert record is not None and (record["WorkOrderId"], record["Product2Id"]) == (
        order,
        drier["Id"],
    )
    path = f"/sobjects/ProductConsumed/{consumed.json()['id']}"
    moved = api.call("PATCH", path, json={"PricebookEntryId": created.json()["id"]})
    assert moved.status_code == 204
    assert sim.get("ProductConsumed", consumed.json()["id"])["Product2Id"] == product  # type: ignore[index]
    for body, field in (
        ({"Product2Id": drier["Id"]}, "Product2Id"),
        ({"Product2": {"Id": drier["Id"]}}, "Product2Id"),
        ({"WorkOrder": {"Fieldbridge_Id__c": "FB-WO-PC-1"}}, "WorkOrderId"),
    ):
        refused = api.call("PATCH", path, json=body)
        assert refused.status_code == 400
        assert refused.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert refused.json()[0]["fields"] == [field]


# --- limits, ledger, faults --------------------------------------------------------------


def test_every_api_call_counts_and_says_so(fresh: Callable[..., SalesforceSimulator]) -> None:
    sim = fresh(seed=4, customers=10, api_limit=5)
    api = Api(sim)
    password_grant(sim)
    seen = []
    for path in ("/limits", "/sobjects", "/query?q=SELECT+Id+FROM+Account", "/limits"):
        response = api.call("GET", path)
        seen.append(response.headers["Sforce-Limit-Info"])
    assert seen == ["api-usage=1/5", "api-usage=2/5", "api-usage=3/5", "api-usage=4/5"]
    assert response.json()["DailyApiRequests"] == {"Max": 5, "Remaining": 1}
    bad = api.call("GET", "/query", params={"q": "SELECT Nope FROM Account"})
    assert bad.headers["Sforce-Limit-Info"] == "api-usage=5/5", "errors count too"
    over = api.call("GET", "/limits")
    assert over.status_code == 403
    assert over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    sim.set_api_usage(used=0, limit=100)
    client = simple(sim, api.token)
    client.query("SELECT Id FROM Account")
    assert client.api_usage["api-usage"].used == 1 and client.api_usage["api-usage"].total == 100


def test_ledger_records_every_write_received(fresh: Callable[..., SalesforceSimulator]) -> None:
    sim = fresh(seed=6)
    api = Api(sim)
    api.call("GET", "/limits")
    created = api.call("PATCH", "/sobjects/Account/Fieldbridge_Id__c/FB-L-1", json={"Name": "L"})
    api.call("PATCH", f"/sobjects/Account/{created.json()['id']}", json={"Phone": "9"})
    api.call("POST", "/sobjects/Account", json={"Nope": 1})
    api.call(
        "PATCH",
        "/composite/sobjects/Account/Fieldbridge_Id__c",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Fieldbridge_Id__c": "FB-L-1", "Name": "L2"},
                {"attributes": {"type": "Account"}, "Fieldbridge_Id__c": "FB-L-2"},
            ]
        },
    )
    ledger = sim.ledger
    assert [(e["method"], e["status"]) for e in ledger] == [
        ("PATCH", 201),
        ("PATCH", 204),
        ("POST", 400),
        ("PATCH", 200),
    ]
    first = ledger[0]
    assert first["object"] == "Account" and first["external_id_field"] == "Fieldbridge_Id__c"
    assert first["external_id"] == "FB-L-1" and first["body"] == {"Name": "L"}
    assert first["id"] == created.json()["id"] and first["fault"] is None
    assert ledger[1]["id"] == created.json()["id"]
    assert [r["success"] for r in ledger[3]["result"]] == [True, False]
    over_http = http_session(sim).get(f"{sim.login_url}/__ledger").json()
    assert over_http == ledger
    effective = sim.writes("Account")
    assert [(w["external_id"], w["created"]) for w in effective] == [
        ("FB-L-1", True),
        (None, None),
        ("FB-L-1", False),
    ]


def _statuses(sim: SalesforceSimulator, count: int) -> list[int]:
    api = Api(sim)
    return [
        api.call(
            "PATCH", f"/sobjects/Account/Fieldbridge_Id__c/FB-F-{i}", json={"Name": f"Fault {i}"}
        ).status_code
        for i in range(count)
    ]


def test_seeded_faults_are_reproducible_and_faulted_writes_have_no_effect(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    plan = {"rate": 0.5, "seed": 7, "retry_after_s": 3}
    one, two = fresh(seed=1, faults=plan), fresh(seed=1, faults=plan)
    first, second = _statuses(one, 30), _statuses(two, 30)
    assert first == second
    assert {201} < set(first) and set(first) <= {201, 503, 403, 400, 401}
    assert len(set(first) - {201}) >= 3, "several kinds dealt"
    for sim in (one, two):
        faulted = [e for e in sim.ledger if e["fault"] is not None]
        assert faulted and all(
            sim.find("Account", "Fieldbridge_Id__c", e["external_id"]) == [] for e in faulted
        )
        assert {e["status"] for e in faulted} == set(first) - {201}
    assert [f["kind"] for f in one.fault_log] == [f["kind"] for f in two.fault_log]

    three = fresh(seed=1)
    three.set_faults(rate=0.5, seed=8)
    assert _statuses(three, 30) != first

    http = http_session(one)
    assert (
        http.post(
            f"{one.login_url}/__faults",
            json={"rate": 1.0, "kinds": ["503", "REQUEST_LIMIT_EXCEEDED"], "seed": 1},
        ).status_code
        == 200
    )
    assert password_grant(one).status_code == 200, "the token endpoint is never faulted"
    api = Api(one)
    kinds = {}
    for _ in range(12):
        response = api.call("GET", "/limits")
        kinds[response.status_code] = response
    assert kinds[503].json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert kinds[403].json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert kinds[403].headers["Retry-After"] == "3"
    assert http.get(f"{one.login_url}/__ledger").status_code == 200, "controls never faulted"
    assert http.post(f"{one.login_url}/__faults", json={"rate": 0}).json()["rate"] == 0
    assert api.call("GET", "/limits").status_code == 200


def test_a_hang_does_not_block_other_calls_nor_shutdown(
    fresh: Callable[..., SalesforceSimulator],
) -> None:
    sim = fresh(seed=2, customers=10)
    api = Api(sim)
    sim.set_faults(rate=1.0, kinds=["hang"], hang_s=30)
    outcome: dict[str, Any] = {}

    def hung_call() -> None:
        try:
            outcome["status"] = Api(sim, api.token).call("GET", "/limits", timeout=20).status_code
        except requests.RequestException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=hung_call)
    worker.start()
    deadline = time.monotonic() + 5
    while not sim.fault_log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.fault_log and sim.fault_log[0]["kind"] == "hang"
    sim.clear_faults()
    started = time.monotonic()
    assert api.call("GET", "/sobjects").status_code == 200
    assert time.monotonic() - started < 2, "answered while another call hangs"
    assert worker.is_alive(), "the hung call is still waiting"
    started = time.monotonic()
    sim.stop()
    worker.join(timeout=10)
    assert time.monotonic() - started < 5, "stopping does not wait for the hang"
    assert not worker.is_alive()


def test_latency_delays_but_answers(fresh: Callable[..., SalesforceSimulator]) -> None:
    sim = fresh(seed=2, faults={"rate": 1.0, "kinds": ["latency"], "latency_ms": 300})
    api = Api(sim)
    started = time.monotonic()
    response = api.call(
        "PATCH", "/sobjects/Account/Fieldbridge_Id__c/FB-SLOW", json={"Name": "Slow"}
    )
    assert response.status_code == 201 and time.monotonic() - started >= 0.3
    assert sim.find("Account", "Fieldbridge_Id__c", "FB-SLOW")


# --- Bulk API 2.0 ------------------------------------------------------------------------


def test_bulk_query_job_pages_csv_by_locator(sim: SalesforceSimulator, api: Api) -> None:
    soql = "SELECT Id, Name, Account.Name, InstallDate FROM Asset ORDER BY SystemModstamp, Id"
    created = api.call("POST", "/jobs/query", json={"operation": "query", "query": soql})
    assert created.status_code == 200
    job = created.json()
    assert job["id"].startswith("750") and job["state"] == "UploadComplete"
    assert job["object"] == "Asset" and job["contentType"] == "CSV"
    assert api.call("GET", f"/jobs/query/{job['id']}").json()["state"] == "JobComplete"
    ids, locator, pages = [], "", 0
    while locator != "null":
        params = {"maxRecords": 250, **({"locator": locator} if locator else {})}
        page = api.call("GET", f"/jobs/query/{job['id']}/results", params=params)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(page.text)))
        assert rows[0] == ["Id", "Name", "Account.Name", "InstallDate"]
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        ids += [r[0] for r in rows[1:]]
        locator = page.headers["Sforce-Locator"]
        pages += 1
    rest = api.pages(soql.replace(", Account.Name", ""))
    assert ids == [r["Id"] for p in rest for r in p["records"]]
    assert pages == 3  # 600 assets, 250 a page
    client = simple(sim, api.token)
    csv_pages = list(client.bulk2.Asset.query(soql, max_records=400, wait=0.05))
    assert [len(list(csv.reader(io.StringIO(p)))) - 1 for p in csv_pages] == [400, 200]
    bad = api.call(
        "POST", "/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Asset"}
    )
    assert bad.status_code == 400 and "INVALID_FIELD" in bad.json()[0]["message"]


def test_bulk_ingest_upsert_reports_each_row(fresh: Callable[..., SalesforceSimulator]) -> None:
    sim = fresh(seed=12)
    api = Api(sim)
    client = simple(sim, api.token)
    records = [
        {"Fieldbridge_Id__c": f"FB-BULK-{i}", "Name": f"Bulk {i}", "BillingLatitude": "50.5"}
        for i in range(450)
    ]
    records.append({"Fieldbridge_Id__c": "FB-BULK-bad", "Name": "Bad", "BillingLatitude": "north"})
    records.append({"Fieldbridge_Id__c": "FB-BULK-noname", "Name": "", "BillingLatitude": "1"})
    [result] = client.bulk2.Account.upsert(
        records=records, external_id_field="Fieldbridge_Id__c", wait=0.05
    )
    assert result["numberRecordsProcessed"] == 452 and result["numberRecordsFailed"] == 2
    failed = list(
        csv.DictReader(io.StringIO(client.bulk2.Account.get_failed_records(result["job_id"])))
    )
    errors = {row["Fieldbridge_Id__c"]: row["sf__Error"] for row in failed}
    assert errors["FB-BULK-bad"].startswith(
        "INVALID_TYPE_ON_FIELD_IN_RECORD:Billing Latitude: value not of required type: north"
    )
    assert errors["FB-BULK-noname"].startswith("REQUIRED_FIELD_MISSING:")
    ok = list(
        csv.DictReader(io.StringIO(client.bulk2.Account.get_successful_records(result["job_id"])))
    )
    assert len(ok) == 450 and all(row["sf__Created"] == "true" for row in ok)
    assert sim.count("Account") == 450
    again = client.bulk2.Account.upsert(
        records=[{"Fieldbridge_Id__c": "FB-BULK-1", "Name": "Renamed"}],
        external_id_field="Fieldbridge_Id__c",
        wait=0.05,
    )
    assert again[0]["numberRecordsFailed"] == 0
    assert sim.find("Account", "Fieldbridge_Id__c", "FB-BULK-1")[0]["Name"] == "Renamed"
    writes = sim.writes("Account")
    assert len(writes) == 451 and writes[-1]["created"] is False
    assert [e["method"] for e in sim.ledger][:3] == ["POST", "PUT", "PATCH"]

    job = api.call("POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    assert job["state"] == "Open"
    upload = api.call(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data="Name,Colour__c\nX,blue\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = api.call("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.status_code == 200
    info = api.call("GET", f"/jobs/ingest/{job['id']}").json()
    assert info["state"] == "Failed" and "Colour__c" in info["errorMessage"]
    assert sim.count("Account") == 450, "a job with an unknown column writes nothing"


# --- the seeded data ---------------------------------------------------------------------


def test_seeded_data_is_deterministic_batched_and_malformed_on_purpose() -> None:
    sim_a = SalesforceSimulator(seed=9, customers=1000, assets=1500, work_orders=200)
    sim_b = SalesforceSimulator(seed=9, customers=1000, assets=1500, work_orders=200)
    soql = "SELECT Id, Name, BillingCity, BillingLatitude, SystemModstamp FROM Account ORDER BY Id"
    rows_a = sim_a.org.query(soql, False, 2000, "62.0")["records"]
    assert rows_a == sim_b.org.query(soql, False, 2000, "62.0")["records"]
    prefixes = {"Account": "001", "Contact": "003", "Asset": "02i", "WorkOrder": "0WO"}
    for obj, prefix in prefixes.items():
        ids = [
            r["Id"]
            for r in sim_a.org.query(f"SELECT Id FROM {obj}", False, 2000, "62.0")["records"]
        ]
        assert ids and all(ID18.match(i) and i.startswith(prefix) for i in ids)
    stamps: dict[str, int] = {}
    for row in rows_a:
        stamps[row["SystemModstamp"]] = stamps.get(row["SystemModstamp"], 0) + 1
    assert max(stamps.values()) >= 150 and len(stamps) < 20, "stamped in batches of 200"
    reasons = sim_a.malformed_reasons()
    assert {reason for _, reason in reasons.values()} == {
        "missing_coordinates",
        "latitude_out_of_range",
        "invalid_email",
        "account_not_found",
        "end_before_start",
    }
    assert sim_a.malformed_ids() == sim_b.malformed_ids() == set(reasons)
    for record_id, (obj, reason) in reasons.items():
        record = sim_a.get(obj, record_id)
        assert record is not None
        if reason == "missing_coordinates":
            assert record["BillingLatitude"] is None
        elif reason == "latitude_out_of_range":
            assert abs(record["BillingLatitude"]) > 90
        elif reason == "invalid_email":
            assert "@" not in record["Email"]
        elif reason == "account_not_found":
            assert sim_a.get("Account", record["AccountId"]) is None
        else:
            assert record["EndDate"] < record["StartDate"]
    good = [r for r in rows_a if r["Id"] not in reasons]
    assert all(-90 <= r["BillingLatitude"] <= 90 for r in good)


def test_touch_stamps_one_bulk_change(sim: SalesforceSimulator, api: Api) -> None:
    newest = api.query("SELECT SystemModstamp FROM Asset ORDER BY SystemModstamp DESC LIMIT 1")
    touched = sim.touch("Asset", 250)
    assert len(touched.ids) == 250
    assert touched.stamp >= newest.json()["records"][0]["SystemModstamp"]
    pages = api.pages(f"SELECT Id FROM Asset WHERE SystemModstamp = {touched.stamp}")
    assert {r["Id"] for p in pages for r in p["records"]} >= set(touched.ids)
    berlin = sim.find("Account", "BillingCity", "berlin")[0]["Id"]
    chosen = sim.touch("Account", [berlin], {"Phone": "+49 30 000"})
    assert chosen.ids == [berlin]
    assert sim.get("Account", berlin)["Phone"] == "+49 30 000"  # type: ignore[index]


# --- the command line --------------------------------------------------------------------


def test_sandbox_up_prints_the_settings_and_serves_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    proc = subprocess.Popen(
        [
            FIELDBRIDGE,
            "sandbox",
            "up",
            "--customers",
            "30",
            "--assets",
            "40",
            "--seed",
            "3",
            "--workdir",
            str(tmp_path / "sf"),
            "--workers",
            "7",
            "--hr-workdir",
            str(tmp_path / "hr"),
            "--sap-customers",
            "12",
            "--sap-workdir",
            str(tmp_path / "sap"),
            "--finance-workdir",
            str(tmp_path / "finance"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        settings: dict[str, str] = {}
        assert proc.stdout is not None
        while len(settings) < 15:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            name, _, value = line.strip().partition("=")
            settings[name] = value
        sf_env = {k: v for k, v in settings.items() if k.startswith("FIELDBRIDGE_SALESFORCE_")}
        assert set(sf_env) == {  # the JWT bearer flow, as a user would paste it
            f"FIELDBRIDGE_SALESFORCE_{n}"
            for n in ("LOGIN_URL", "CLIENT_ID", "USERNAME", "PRIVATE_KEY_FILE", "CA_BUNDLE")
        }
        assert list(settings)[:5] == list(sf_env), "the Salesforce settings come first"
        assert Path(settings["FIELDBRIDGE_SALESFORCE_PRIVATE_KEY_FILE"]).is_absolute()
        given = {k.removeprefix("FIELDBRIDGE_SALESFORCE_").lower(): v for k, v in sf_env.items()}
        with SalesforceConnector(SalesforceSettings(**given, api_version="62.0")) as sf:
            accounts = [r for page in sf.query_pages("SELECT Id FROM Account") for r in page]
        assert len(accounts) == 30

        hr = {k: v for k, v in settings.items() if k.startswith("FIELDBRIDGE_HR_")}
        assert set(hr) == {f"FIELDBRIDGE_HR_{n}" for n in ("URL", "TOKEN", "CA_BUNDLE")}
        assert Path(hr["FIELDBRIDGE_HR_CA_BUNDLE"]).is_absolute()
        assert hr["FIELDBRIDGE_HR_URL"] != settings["FIELDBRIDGE_SALESFORCE_LOGIN_URL"]
        given = {k.removeprefix("FIELDBRIDGE_HR_").lower(): v for k, v in hr.items()}
        with HRConnector(HRSettings(**given)) as feed:
            certifications = [r for page in feed.certification_pages() for r in page]
        assert len(certifications) == 7 * 3

        sap = {k: v for k, v in settings.items() if k.startswith("FIELDBRIDGE_SAP_")}
        assert set(sap) == {
            f"FIELDBRIDGE_SAP_{n}" for n in ("WSDL_DIR", "URL", "USERNAME", "PASSWORD", "CA_BUNDLE")
        }
        given = {k.removeprefix("FIELDBRIDGE_SAP_").lower(): v for k, v in sap.items()}
        with SAPConnector(SAPSettings(**given)) as erp:
            customers = [r for page in erp.customer_pages() for r in page]
        assert len(customers) == 12

        webhook = {k: v for k, v in settings.items() if k.startswith("FIELDBRIDGE_WEBHOOK_")}
        assert webhook == {
            "FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE": "true",
            "FIELDBRIDGE_WEBHOOK_CA_BUNDLE": str(tmp_path / "finance" / "ca.pem"),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
