"""The Salesforce connector against the simulator: real HTTPS, real login flows, real faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.errors import AuthExpired
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from sandbox.salesforce import SalesforceSimulator


@pytest.fixture(scope="module")
def org() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=11, customers=2500, assets=0, contacts=0) as sim:
        yield sim


def settings(org: SalesforceSimulator, flow: str, **extra: object) -> SalesforceSettings:
    values = {
        k.removeprefix("FIELDBRIDGE_SALESFORCE_").lower(): v for k, v in org.env(flow).items()
    }
    return SalesforceSettings(**{**values, "api_version": "62.0", **extra})  # type: ignore[arg-type]


@pytest.mark.parametrize("flow", ["jwt", "password"])
def test_each_login_flow_reads_every_account_page_by_page(
    org: SalesforceSimulator, flow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")  # ours must win
    with SalesforceConnector(settings(org, flow)) as sf:
        pages = list(sf.query_pages("SELECT Id, Name FROM Account ORDER BY Id", batch_size=1000))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert len({r["Id"] for p in pages for r in p}) == 2500 == org.count("Account")


def test_thirty_percent_faults_are_retried_and_nothing_is_lost(org: SalesforceSimulator) -> None:
    org.set_faults(rate=0.3, kinds=["503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"], seed=5)
    try:
        with SalesforceConnector(settings(org, "jwt", max_attempts=12), sleep=lambda s: None) as sf:
            ids = [
                r["Id"] for p in sf.query_pages("SELECT Id FROM Account", batch_size=200) for r in p
            ]
            calls = sf.api_calls
    finally:
        org.clear_faults()
    assert len(set(ids)) == len(ids) == 2500
    assert calls > 13  # 13 pages, and the faults answered on the way


def test_an_expired_session_is_renewed_without_the_caller_noticing(
    org: SalesforceSimulator,
) -> None:
    with SalesforceConnector(settings(org, "jwt")) as sf:
        before = sf.limits()
        org.expire_sessions()
        after = sf.limits()
    assert before.keys() == after.keys()


def test_upserts_by_external_id_land_once_and_repeat_without_a_second_record(
    org: SalesforceSimulator,
) -> None:
    records = [{"Fieldbridge_Id__c": f"FB-{n}", "Name": f"Upserted {n}"} for n in range(450)]
    with SalesforceConnector(settings(org, "password")) as sf:
        first = sf.upsert_many("Account", "Fieldbridge_Id__c", records)
        again = sf.upsert_many("Account", "Fieldbridge_Id__c", records)
        calls = sf.api_calls
    assert [r.created for r in first] == [True] * 450
    assert [r.created for r in again] == [False] * 450
    assert calls == 6  # 200 a call: 3 calls each time
    assert org.count("Account") == 2500 + 450


def test_wrong_credentials_are_an_auth_error_naming_the_remote_answer(
    org: SalesforceSimulator,
) -> None:
    wrong = settings(org, "password", password="not-it")
    with pytest.raises(AuthExpired) as caught, SalesforceConnector(wrong) as sf:
        sf.limits()
    assert "authentication failure" in str(caught.value)
