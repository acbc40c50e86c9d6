"""The Salesforce connector against recorded-style answers (``responses``), never the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from responses import matchers

from connectors.errors import AuthExpired, Permanent, RateLimited, Retryable
from connectors.salesforce import (
    QuotaExhausted,
    SalesforceConnector,
    SalesforceSettings,
    UpsertResult,
)
from connectors.salesforce.auth import JWT_BEARER_GRANT
from tests.support.salesforce_answers import (
    BASE,
    INSTANCE,
    LOGIN,
    NOW,
    TOKEN_URL,
    calls_to,
    connector,
    password_settings,
    sf_error,
    token_ok,
)

WO_ID = "0WO8d00000A1b2cAAA"  # a work order raised in Salesforce


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "server.key"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


# -- settings ------------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    monkeypatch.setenv("FIELDBRIDGE_SALESFORCE_LOGIN_URL", LOGIN + "/")
    monkeypatch.setenv("FIELDBRIDGE_SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("FIELDBRIDGE_SALESFORCE_USERNAME", "u@example.test")
    monkeypatch.setenv("FIELDBRIDGE_SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("FIELDBRIDGE_SALESFORCE_QUOTA_SHARE", "0.25")
    settings = SalesforceSettings()
    assert settings.auth_mode == "jwt"
    assert settings.login_url == LOGIN
    assert (
        settings.api_version,
        settings.quota_share,
        settings.timeout_s,
        settings.max_attempts,
    ) == ("61.0", 0.25, 30.0, 5)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(password_settings()) + repr(
        SalesforceSettings(instance_url=INSTANCE, session_id="00D!given")
    )
    assert "pw+token" not in text and "s3cret" not in text and "00D!given" not in text


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({}, "no Salesforce credentials"),
        (
            {"password": "pw", "client_id": "c", "username": "u"},
            "FIELDBRIDGE_SALESFORCE_CLIENT_SECRET",
        ),
        (
            {"password": "pw"},
            "FIELDBRIDGE_SALESFORCE_CLIENT_ID, FIELDBRIDGE_SALESFORCE_"
            "CLIENT_SECRET, FIELDBRIDGE_SALESFORCE_USERNAME",
        ),
        ({"session_id": "00D!x"}, "FIELDBRIDGE_SALESFORCE_INSTANCE_URL"),
        ({"instance_url": INSTANCE}, "FIELDBRIDGE_SALESFORCE_SESSION_ID"),
        ({"instance_url": "http://acme.example.test", "session_id": "x"}, "https://"),
        ({"instance_url": INSTANCE, "session_id": "x", "api_version": "v61"}, "api_version"),
        ({"instance_url": INSTANCE, "session_id": "x", "quota_share": 1.5}, "quota_share"),
        (
            {"instance_url": INSTANCE, "session_id": "x", "ca_bundle": "/nonexistent/ca.pem"},
            "no CA bundle",
        ),
    ],
)
def test_settings_say_what_is_missing(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SalesforceSettings(**values)
    assert says in str(raised.value)


def test_settings_jwt_needs_username_and_a_real_key(key_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SALESFORCE_USERNAME"):
        SalesforceSettings(client_id="c", private_key_file=key_file)
    with pytest.raises(ValidationError, match="not both"):
        SalesforceSettings(client_id="c", username="u", private_key_file=key_file, password="p")
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    with pytest.raises(ValidationError, match="not an unencrypted PEM private key"):
        SalesforceSettings(client_id="c", username="u", private_key_file=junk)


# -- login ---------------------------------------------------------------------------------


def test_jwt_bearer_assertion(
    mocked: responses.RequestsMock, key_file: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    token_ok(mocked)
    mocked.get(BASE + "/sobjects/Account/describe", json={"name": "Account", "fields": []})
    settings = SalesforceSettings(
        login_url=LOGIN,
        client_id="3MVG9-client",
        username="u@acme.example",
        private_key_file=key_file,
    )
    sf = SalesforceConnector(settings, clock=lambda: NOW)
    assert sf.describe("Account")["name"] == "Account"

    form = parse_qs(mocked.calls[0].request.body)
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    assertion = form["assertion"][0]
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    claims = jwt.decode(
        assertion,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience=LOGIN,
        options={"verify_exp": False},  # signed at the fixed test clock
    )
    assert claims == {
        "iss": "3MVG9-client",
        "sub": "u@acme.example",
        "aud": LOGIN,
        "exp": int(NOW) + 180,
    }
    assert "client_secret" not in form and "password" not in form
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer 00D!first"


def test_password_flow_form(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(BASE + "/limits/", json={})
    connector().limits()
    form = parse_qs(mocked.calls[0].request.body)
    assert form == {
        "grant_type": ["password"],
        "client_id": ["3MVG9-client"],
        "client_secret": ["s3cret"],
        "username": ["integration@acme.example"],
        "password": ["pw+token"],
    }
    assert mocked.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_refused_login_raises_with_the_remote_description(mocked: responses.RequestsMock) -> None:
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "authentication failure"},
    )
    sleeps: list[float] = []
    with pytest.raises(AuthExpired, match="authentication failure") as raised:
        connector(sleeps).limits()
    assert raised.value.code == "invalid_grant"
    assert len(mocked.calls) == 1 and sleeps == []


def test_login_outage_is_retried(mocked: responses.RequestsMock) -> None:
    mocked.post(TOKEN_URL, status=503, body="<html>maintenance</html>")
    token_ok(mocked)
    mocked.get(BASE + "/limits/", json={"DailyApiRequests": {"Max": 100, "Remaining": 90}})
    sleeps: list[float] = []
    sf = connector(sleeps)
    sf.limits()
    assert len(calls_to(mocked, TOKEN_URL)) == 2 and len(sleeps) == 1
    assert (sf.quota.used, sf.quota.max) == (10, 100)


def test_a_given_session_is_used_as_it_is(mocked: responses.RequestsMock) -> None:
    mocked.get(BASE + "/limits/", json={})
    mocked.get(
        BASE + "/limits/",
        status=401,
        json=sf_error("INVALID_SESSION_ID", "Session expired or invalid"),
    )
    sf = SalesforceConnector(SalesforceSettings(instance_url=INSTANCE, session_id="00D!given"))
    sf.limits()
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer 00D!given"
    with pytest.raises(AuthExpired, match="Session expired"):
        sf.limits()
    assert len(mocked.calls) == 2  # no login attempted


def test_a_record_is_read_by_its_id_without_its_attributes(mocked: responses.RequestsMock) -> None:
    account = {"attributes": {"type": "Account"}, "Id": "001A", "Name": "Acme"}
    mocked.get(BASE + "/sobjects/Account/001A", json=account)
    sf = SalesforceConnector(SalesforceSettings(instance_url=INSTANCE, session_id="00D!given"))
    assert sf.record("Account", "001A") == {"Id": "001A", "Name": "Acme"}
    with pytest.raises(ValueError, match="Account; DROP"):
        sf.record("Account; DROP", "001A")
    assert len(mocked.calls) == 1


# -- session renewal -----------------------------------------------------------------------


def test_expired_session_is_renewed_once_and_the_call_repeated(
    mocked: responses.RequestsMock,
) -> None:
    token_ok(mocked, "00D!first")
    token_ok(mocked, "00D!second")
    mocked.get(
        BASE + "/sobjects/Account/describe",
        status=401,
        json=sf_error("INVALID_SESSION_ID", "Session expired or invalid"),
    )
    mocked.get(BASE + "/sobjects/Account/describe", json={"name": "Account"})
    sf = connector()
    assert sf.describe("Account") == {"name": "Account"}
    describes = calls_to(mocked, "/describe")
    assert [c.request.headers["Authorization"] for c in describes] == [
        "Bearer 00D!first",
        "Bearer 00D!second",
    ]
    assert len(calls_to(mocked, TOKEN_URL)) == 2
    assert sf.api_calls == 2


def test_a_second_expiry_raises_auth_expired(mocked: responses.RequestsMock) -> None:
    token_ok(mocked, "00D!first")
    token_ok(mocked, "00D!second")
    token_ok(mocked, "00D!third")
    expired = sf_error("INVALID_SESSION_ID", "Session expired or invalid")
    mocked.get(BASE + "/sobjects/Account/describe", status=401, json=expired)
    sleeps: list[float] = []
    with pytest.raises(AuthExpired) as raised:
        connector(sleeps).describe("Account")
    assert raised.value.code == "INVALID_SESSION_ID"
    assert len(calls_to(mocked, TOKEN_URL)) == 2  # the first login, one renewal
    assert len(calls_to(mocked, "/describe")) == 2
    assert sleeps == []


# -- paging --------------------------------------------------------------------------------


def test_query_pages_follow_next_records_url(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    soql = "SELECT Id, Name, Account.Name FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z"
    batch = matchers.header_matcher({"Sforce-Query-Options": "batchSize=500"})
    mocked.get(
        BASE + "/query/",
        match=[matchers.query_param_matcher({"q": soql}), batch],
        json={
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": "/services/data/v61.0/query/01gD0000002HU6KIAW-500",
            "records": [
                {
                    "attributes": {"type": "Contact", "url": "/x/1"},
                    "Id": "003A",
                    "Name": "Ada",
                    "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
                },
                {
                    "attributes": {"type": "Contact", "url": "/x/2"},
                    "Id": "003B",
                    "Name": "Bo",
                    "Account": None,
                },
            ],
        },
    )
    mocked.get(
        BASE + "/query/01gD0000002HU6KIAW-500",
        match=[batch],
        json={
            "totalSize": 3,
            "done": True,
            "records": [
                {"attributes": {"type": "Contact"}, "Id": "003C", "Name": "Cy", "Account": None}
            ],
        },
    )
    sf = connector()
    pages = list(sf.query_pages(soql, batch_size=500))
    assert pages == [
        [
            {"Id": "003A", "Name": "Ada", "Account": {"Name": "Acme"}},
            {"Id": "003B", "Name": "Bo", "Account": None},
        ],
        [{"Id": "003C", "Name": "Cy", "Account": None}],
    ]
    assert sf.api_calls == 2


def test_query_all_and_page_retries(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(
        BASE + "/queryAll/",
        json={
            "done": False,
            "nextRecordsUrl": "/services/data/v61.0/query/01g-2000",
            "records": [{"Id": "1", "IsDeleted": True}],
        },
    )
    mocked.get(BASE + "/query/01g-2000", body=requests.ConnectionError("reset by peer"))
    mocked.get(BASE + "/query/01g-2000", json={"done": True, "records": [{"Id": "2"}]})
    sleeps: list[float] = []
    pages = list(connector(sleeps).query_pages("SELECT Id FROM Account", include_deleted=True))
    assert pages == [[{"Id": "1", "IsDeleted": True}], [{"Id": "2"}]]
    assert len(sleeps) == 1
    assert mocked.calls[1].request.headers["Sforce-Query-Options"] == "batchSize=2000"


def test_batch_size_in_salesforce_range() -> None:
    with pytest.raises(ValueError):
        next(connector().query_pages("SELECT Id FROM Account", batch_size=100))


# -- errors and retries through the connector ----------------------------------------------


def test_retry_after_is_honoured(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(BASE + "/limits/", status=429, headers={"Retry-After": "7"}, body="")
    mocked.get(
        BASE + "/limits/",
        status=403,
        headers={"Retry-After": "2"},
        json=sf_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    )
    mocked.get(BASE + "/limits/", status=503, headers={"Retry-After": "3"}, body="unavailable")
    mocked.get(BASE + "/limits/", json={})
    sleeps: list[float] = []
    sf = connector(sleeps)
    assert sf.limits() == {}
    assert sleeps == [7.0, 2.0, 3.0]
    assert sf.api_calls == 4


def test_attempts_are_capped(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(
        BASE + "/limits/",
        status=500,
        json=sf_error("UNKNOWN_EXCEPTION", "An unexpected error occurred."),
    )
    sleeps: list[float] = []
    with pytest.raises(Retryable, match="An unexpected error occurred") as raised:
        connector(sleeps, max_attempts=3).limits()
    assert raised.value.code == "UNKNOWN_EXCEPTION"
    assert len(calls_to(mocked, "/limits/")) == 3 and len(sleeps) == 2


def test_a_long_retry_after_ends_the_call_now(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(BASE + "/limits/", status=429, headers={"Retry-After": "3600"}, body="")
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as raised:
        connector(sleeps).limits()  # the default cap is TIMEOUT_S x MAX_ATTEMPTS = 30 s
    assert raised.value.retry_after_s == 3600.0 and sleeps == []


def test_permanent_is_not_retried(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(
        BASE + "/query/", status=400, json=sf_error("MALFORMED_QUERY", "unexpected token: 'FORM'")
    )
    sleeps: list[float] = []
    with pytest.raises(Permanent) as raised:
        list(connector(sleeps).query_pages("SELECT Id FORM Account"))
    assert (raised.value.status, raised.value.code) == (400, "MALFORMED_QUERY")
    assert raised.value.message == "unexpected token: 'FORM'"
    assert len(calls_to(mocked, "/query/")) == 1 and sleeps == []


def test_record_lock_and_timeouts_are_retried(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    url = BASE + "/sobjects/Account/Ext_Id__c/A-1"
    mocked.patch(url, status=400, json=sf_error("UNABLE_TO_LOCK_ROW", "unable to obtain access"))
    mocked.patch(url, body=requests.ReadTimeout("read timed out"))
    mocked.patch(
        url, status=200, json={"id": "001A", "success": True, "errors": [], "created": False}
    )
    sleeps: list[float] = []
    result = connector(sleeps).upsert("Account", "Ext_Id__c", "A-1", {"Name": "Acme"})
    assert result == UpsertResult(id="001A", created=False)
    assert len(sleeps) == 2


# -- upserts -------------------------------------------------------------------------------


def test_upsert_created_by_external_id(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.patch(
        BASE + "/sobjects/Account/Ext_Id__c/SAP%2F4711%20A",
        status=201,
        json={"id": "001N", "success": True, "errors": [], "created": True},
    )
    sf = connector()
    record = {"Name": "Acme", "Ext_Id__c": "SAP/4711 A", "attributes": {"type": "Account"}}
    result = sf.upsert("Account", "Ext_Id__c", "SAP/4711 A", record)
    assert result == UpsertResult(id="001N", created=True)
    call = calls_to(mocked, "/sobjects/Account/")[0]
    assert json.loads(call.request.body) == {"Name": "Acme"}
    assert unquote(call.request.url.rsplit("/", 1)[1]) == "SAP/4711 A"


def test_upsert_updated_without_body(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.patch(BASE + "/sobjects/Account/Ext_Id__c/A-1", status=204)
    assert connector().upsert("Account", "Ext_Id__c", "A-1", {}) == UpsertResult(None, False)


def test_upsert_matching_several_records_is_permanent(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.patch(
        BASE + "/sobjects/Account/Ext_Id__c/A-1",
        status=300,
        json=[
            "/services/data/v61.0/sobjects/Account/001000000000001AAA",
            "/services/data/v61.0/sobjects/Account/001000000000002AAA",
        ],
    )
    sleeps: list[float] = []
    with pytest.raises(Permanent) as raised:
        connector(sleeps).upsert("Account", "Ext_Id__c", "A-1", {"Name": "x"})
    assert raised.value.code == "MULTIPLE_CHOICES" and sleeps == []


def test_names_are_checked_before_they_reach_a_url() -> None:
    sf = connector()
    with pytest.raises(ValueError):
        sf.upsert("Account/../../x", "Ext_Id__c", "1", {})
    with pytest.raises(ValueError):
        sf.upsert_many("Account", "Ext Id", [{}])
    with pytest.raises(ValueError):
        sf.update("WorkOrder", "0WO8d0/../../x", {})
    with pytest.raises(ValueError):
        sf.update("Work Order", WO_ID, {})


# -- updates by record id ------------------------------------------------------------------


def test_update_by_record_id_sends_the_body_without_its_id(
    mocked: responses.RequestsMock,
) -> None:
    token_ok(mocked)
    mocked.patch(BASE + f"/sobjects/WorkOrder/{WO_ID}", status=204)
    sf = connector()
    record = {
        "attributes": {"type": "WorkOrder"},
        "Id": WO_ID,
        "Fieldbridge_Id__c": "WO-1",
        "Status": "Completed",
    }
    assert sf.update("WorkOrder", WO_ID, record) == UpsertResult(id=WO_ID, created=False)
    call = calls_to(mocked, "/sobjects/WorkOrder/")[0]
    assert call.request.method == "PATCH"
    assert json.loads(call.request.body) == {"Fieldbridge_Id__c": "WO-1", "Status": "Completed"}
    assert sf.api_calls == 1


def test_update_refuses_a_body_naming_another_record() -> None:
    with pytest.raises(ValueError, match="is not"):
        connector().update("WorkOrder", WO_ID, {"Id": "0WO8d00000A1b2dAAA", "Status": "New"})


def test_update_takes_the_one_path_retry_renewal_and_errors(
    mocked: responses.RequestsMock,
) -> None:
    token_ok(mocked, "00D!first")
    token_ok(mocked, "00D!second")
    url = BASE + f"/sobjects/WorkOrder/{WO_ID}"
    mocked.patch(url, status=503, body="unavailable")
    mocked.patch(url, status=401, json=sf_error("INVALID_SESSION_ID", "Session expired"))
    mocked.patch(url, status=204)
    sleeps: list[float] = []
    sf = connector(sleeps)
    assert sf.update("WorkOrder", WO_ID, {"Status": "Completed"}).id == WO_ID
    assert len(sleeps) == 1 and len(calls_to(mocked, TOKEN_URL)) == 2
    assert [c.request.headers["Authorization"] for c in calls_to(mocked, "/WorkOrder/")] == [
        "Bearer 00D!first",
        "Bearer 00D!first",
        "Bearer 00D!second",
    ]
    assert sf.api_calls == 3

    mocked.patch(
        url,
        status=400,
        json=sf_error(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: WorkOrderNumber.",
            ["WorkOrderNumber"],
        ),
    )
    with pytest.raises(Permanent) as refused:
        sf.update("WorkOrder", WO_ID, {"WorkOrderNumber": "1"})
    assert (refused.value.status, refused.value.code) == (400, "INVALID_FIELD_FOR_INSERT_UPDATE")
    assert refused.value.fields == ("WorkOrderNumber",) and len(sleeps) == 1


def collection_answer(request: Any) -> tuple[int, dict[str, str], str]:
    records = json.loads(request.body)["records"]
    results = []
    for record in records:
        if record["Ext_Id__c"] == "C-7":
            results.append(
                {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "INVALID_EMAIL_ADDRESS",
                            "message": "Email: invalid email address",
                            "fields": ["Email"],
                        }
                    ],
                }
            )
        elif record["Ext_Id__c"] == "C-250":
            results.append(
                {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "UNABLE_TO_LOCK_ROW",
                            "message": "unable to obtain exclusive access to this record",
                            "fields": [],
                        }
                    ],
                }
            )
        else:
            number = int(record["Ext_Id__c"][2:])
            results.append(
                {
                    "id": f"003{number:05d}",
                    "success": True,
                    "errors": [],
                    "created": number % 2 == 0,
                }
            )
    return 200, {"Sforce-Limit-Info": "api-usage=10/15000"}, json.dumps(results)


def test_upsert_many_in_collections_of_200(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    url = BASE + "/composite/sobjects/Contact/Ext_Id__c"
    mocked.add(responses.PATCH, url, status=503, body="unavailable")  # the first batch, once
    mocked.add_callback(responses.PATCH, url, callback=collection_answer)
    records = [{"Ext_Id__c": f"C-{i}", "LastName": f"N{i}"} for i in range(450)]
    sleeps: list[float] = []
    sf = connector(sleeps)
    results = sf.upsert_many("Contact", "Ext_Id__c", records)

    bodies = [json.loads(c.request.body) for c in calls_to(mocked, "/composite/")]
    assert [len(b["records"]) for b in bodies] == [200, 200, 200, 50]  # one batch repeated
    assert all(b["allOrNone"] is False for b in bodies)
    assert bodies[1]["records"][0] == {
        "attributes": {"type": "Contact"},
        "Ext_Id__c": "C-0",
        "LastName": "N0",
    }
    assert len(results) == 450 and len(sleeps) == 1
    assert results[0] == UpsertResult(id="00300000", created=True)
    assert results[1] == UpsertResult(id="00300001", created=False)
    bad = results[7]
    assert not bad.success and isinstance(bad.error, Permanent)
    assert (bad.error.code, bad.error.fields) == ("INVALID_EMAIL_ADDRESS", ("Email",))
    assert bad.errors[0]["message"] == "Email: invalid email address"
    locked = results[250]
    assert not locked.success and isinstance(locked.error, Retryable)
    assert sum(r.success for r in results) == 448
    assert sf.api_calls == 4


def test_upsert_many_whole_batch_refused(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.patch(
        BASE + "/composite/sobjects/Contact/Nope__c",
        status=400,
        json=sf_error("INVALID_FIELD", "No such column 'Nope__c' on entity 'Contact'"),
    )
    sleeps: list[float] = []
    with pytest.raises(Permanent, match="No such column"):
        connector(sleeps).upsert_many("Contact", "Nope__c", [{"Nope__c": "1"}])
    assert sleeps == []


def test_upsert_many_of_nothing_calls_nothing(mocked: responses.RequestsMock) -> None:
    assert connector().upsert_many("Contact", "Ext_Id__c", []) == []
    assert len(mocked.calls) == 0


# -- the quota guard -----------------------------------------------------------------------


def test_quota_guard_stops_before_the_share_is_passed(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    for used in (48, 49, 50):
        mocked.get(
            BASE + "/sobjects/Account/describe",
            json={"name": "Account"},
            headers={"Sforce-Limit-Info": f"api-usage={used}/100"},
        )
    sleeps: list[float] = []
    sf = connector(sleeps, quota_share=0.5)
    sf.describe("Account")  # usage unknown before: allowed; now 48/100
    sf.describe("Account")  # 49 + 1 <= 50: allowed
    sf.describe("Account")  # 50 <= 50 after the call
    with pytest.raises(QuotaExhausted, match="50/100") as raised:
        sf.describe("Account")
    assert isinstance(raised.value, RateLimited) and raised.value.retry_after_s is None
    assert len(calls_to(mocked, "/describe")) == 3  # nothing sent for the refused call
    assert sleeps == [] and sf.api_calls == 3
    assert sf.api_usage == (50, 100)


def test_quota_guard_stops_a_query_between_pages(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(
        BASE + "/query/",
        headers={"Sforce-Limit-Info": "api-usage=7500/15000"},
        json={
            "done": False,
            "nextRecordsUrl": "/services/data/v61.0/query/01g-2000",
            "records": [{"Id": "1"}],
        },
    )
    pages = connector(quota_share=0.5).query_pages("SELECT Id FROM Account")
    assert next(pages) == [{"Id": "1"}]
    with pytest.raises(QuotaExhausted):
        next(pages)
    assert len(calls_to(mocked, "/query/")) == 1


# -- transport: timeout and CA bundle ------------------------------------------------------


def test_every_call_has_the_timeout(mocked: responses.RequestsMock) -> None:
    token_ok(mocked)
    mocked.get(BASE + "/limits/", json={})
    mocked.get(BASE + "/sobjects/Account/describe", json={})
    mocked.patch(BASE + "/sobjects/Account/Ext_Id__c/1", status=204)
    mocked.patch(BASE + f"/sobjects/WorkOrder/{WO_ID}", status=204)
    mocked.patch(BASE + "/composite/sobjects/Account/Ext_Id__c", json=[{"success": True}])
    mocked.get(BASE + "/query/", json={"done": True, "records": []})
    sf = connector(timeout_s=7.5)
    sf.limits()
    sf.describe("Account")
    sf.upsert("Account", "Ext_Id__c", "1", {})
    sf.update("WorkOrder", WO_ID, {"Status": "Completed"})
    sf.upsert_many("Account", "Ext_Id__c", [{"Ext_Id__c": "1"}])
    assert list(sf.query_pages("SELECT Id FROM Account")) == []
    assert len(mocked.calls) == 7
    assert all(c.request.req_kwargs["timeout"] == 7.5 for c in mocked.calls)


def test_ca_bundle_wins_over_the_environment(
    mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ours, theirs = tmp_path / "ours.pem", tmp_path / "theirs.pem"
    ours.write_text("ours")
    theirs.write_text("theirs")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(theirs))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(theirs))

    plain = requests.Session()  # requests issue #3829: the environment beats session.verify
    plain.verify = str(ours)
    assert plain.merge_environment_settings(INSTANCE, {}, None, None, None)["verify"] == str(theirs)

    sf = connector(ca_bundle=ours)
    for url in (INSTANCE, TOKEN_URL):
        assert sf.session.merge_environment_settings(url, {}, None, None, None)["verify"] == str(
            ours
        )
    token_ok(mocked)
    mocked.get(BASE + "/limits/", json={})
    sf.limits()
    assert [c.request.req_kwargs["verify"] for c in mocked.calls] == [str(ours), str(ours)]


def test_without_a_bundle_the_environment_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    sf = connector()
    merged = sf.session.merge_environment_settings(INSTANCE, {}, None, None, None)
    assert merged["verify"] == "/etc/ssl/corporate.pem"
