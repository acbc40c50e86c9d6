"""Salesforce answering the connector's unit tests through ``responses`` (never the network):
the org's login and instance, a connector on the password flow that retries without sleeping
(each wait is appended to ``sleeps``), a token, errors as Salesforce writes them, the Bulk API
2.0's jobs and results, and the recorded query pages and describes in ``tests/fixtures``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import responses
from responses import matchers

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce.bulk import parse_csv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
LOGIN = "https://login.example.test"
TOKEN_URL = LOGIN + "/services/oauth2/token"
INSTANCE = "https://acme.my.example.test"
BASE = INSTANCE + "/services/data/v61.0"
NOW = 1_800_000_000.0


def password_settings(**over: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": LOGIN,
        "client_id": "3MVG9-client",
        "client_secret": "s3cret",
        "username": "integration@acme.example",
        "password": "pw+token",
        "timeout_s": 7.5,
        "max_attempts": 4,
    }
    return SalesforceSettings(**values | over)


def connector(sleeps: list[float] | None = None, **over: Any) -> SalesforceConnector:
    return SalesforceConnector(
        password_settings(**over),
        sleep=(sleeps if sleeps is not None else []).append,
        clock=lambda: NOW,
    )


def token_ok(mocked: responses.RequestsMock, token: str = "00D!first") -> None:
    mocked.post(
        TOKEN_URL, json={"access_token": token, "instance_url": INSTANCE, "token_type": "Bearer"}
    )


def sf_error(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


def calls_to(mocked: responses.RequestsMock, url_part: str) -> list[Any]:
    return [c for c in mocked.calls if url_part in str(c.request.url)]


# -- the Bulk API 2.0 ----------------------------------------------------------------------

JOB = "7508d00000Q1b2cAAB"
JOBS = BASE + "/jobs/query"
RESULTS = f"{JOBS}/{JOB}/results"


def field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "relationshipName": None, "referenceTo": []} | extra


def lookup(name: str, relationship: str, target: str) -> dict[str, Any]:
    return field(name, "reference", relationshipName=relationship, referenceTo=[target])


DESCRIBES: dict[str, dict[str, Any]] = {
    "Asset": {
        "name": "Asset",
        "fields": [
            field("Id", "id"),
            field("IsDeleted", "boolean"),
            field("Name", "string"),
            field("Quantity", "double"),
            field("Price", "currency"),
            field("Discount__c", "percent"),
            field("Visits__c", "int"),
            field("InstallDate", "date"),
            field("LastModifiedDate", "datetime"),
            lookup("Product2Id", "Product2", "Product2"),
            lookup("RecordTypeId", "RecordType", "RecordType"),
            lookup("AccountId", "Account", "Account"),
        ],
    },
    "Product2": {
        "name": "Product2",
        "fields": [field("Id", "id"), field("Name", "string"), field("IsActive", "boolean")],
    },
    "RecordType": {"name": "RecordType", "fields": [field("DeveloperName", "string")]},
    "Account": {
        "name": "Account",
        "fields": [
            field("Name", "string"),
            lookup("OwnerId", "Owner", "User"),
            field("NumberOfEmployees", "int"),
        ],
    },
    "User": {"name": "User", "fields": [field("Email", "email")]},
}


def describes(mocked: responses.RequestsMock, *names: str) -> None:
    for name in names:
        mocked.get(f"{BASE}/sobjects/{name}/describe", json=DESCRIBES[name])


def job(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": JOB,
        "operation": "query",
        "object": "Asset",
        "state": state,
        "contentType": "CSV",
        "apiVersion": 61.0,
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    } | extra


def results(
    mocked: responses.RequestsMock,
    text: str,
    *,
    locator: str | None,
    following: str,
    count: int | None = None,
    status: int = 200,
) -> None:
    params = {"maxRecords": "50000"} | ({"locator": locator} if locator else {})
    record_count = count if count is not None else len(parse_csv(text)[1])
    mocked.get(
        RESULTS,
        match=[matchers.query_param_matcher(params)],
        body=text,
        status=status,
        content_type="text/csv",
        headers={"Sforce-Locator": following, "Sforce-NumberOfRecords": str(record_count)},
    )
