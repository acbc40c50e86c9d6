"""The SAP connector against recorded-style answers (``responses``), never the network. The
answers are made by zeep from the project's WSDL (faults by the simulator's renderer, which
uses zeep for the detail), never written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from lxml import etree
from pydantic import ValidationError

from connectors.errors import AuthExpired, Permanent, Retryable
from connectors.sap import SAPConnector, SAPSettings
from connectors.sap.settings import DEFAULT_WSDL_DIR
from sandbox.sap.app import SoapService
from tests.support.sap_answers import URL, add_xml_at, connector, sent_to

ENDPOINT = URL + "/sap/bc/srt/scs/sap/querycustomerin1"
WSDL = DEFAULT_WSDL_DIR / "QueryCustomerIn.wsdl"
STAMP = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def soap() -> SoapService:
    return SoapService(WSDL)


def operation(soap: SoapService) -> Any:
    return soap.binding._operations["FindByElements"]


def customer(number: int, stamp: datetime = STAMP) -> dict[str, Any]:
    return {
        "UUID": f"00163e8c-7f04-1eea-b0ca-{number:012d}",
        "InternalID": str(1000100 + number),
        "SystemAdministrativeData": {
            "CreationDateTime": stamp - timedelta(days=400),
            "LastChangeDateTime": stamp,
        },
        "CategoryCode": "2",
        "CustomerIndicator": True,
        "LifeCycleStatusCode": "2",
        "Organisation": {"FirstLineName": f"Customer {number} Ltd"},
        "AddressInformation": [
            {
                "Address": {
                    "EmailURI": f"accounts@customer{number}.co.uk",
                    "PostalAddress": {
                        "CountryCode": "GB",
                        "CityName": "Leeds",
                        "StreetPostalCode": "LS1 4AB",
                        "StreetName": "Park Row",
                        "HouseID": str(number),
                    },
                    "Telephone": [{"FormattedNumberDescription": "+44 113 496 0000"}],
                }
            }
        ],
    }


def answer(soap: SoapService, customers: list[dict[str, Any]], more: bool, **extra: Any) -> bytes:
    processing: dict[str, Any] = {
        "ReturnedQueryHitsNumberValue": len(customers),
        "MoreHitsAvailableIndicator": more,
    }
    if customers:
        processing["LastReturnedObjectID"] = customers[-1]["InternalID"]
    message = operation(soap).output.serialize(
        Customer=customers, ProcessingConditions=processing, **extra
    )
    return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


def add_xml(mocked: responses.RequestsMock, body: bytes, status: int = 200) -> None:
    add_xml_at(ENDPOINT, mocked, body, status)


def sent(soap: SoapService, call: Any) -> Any:
    """A request the connector sent, read back by zeep."""
    return sent_to(operation(soap), call)


# -- settings ------------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("ca")
    monkeypatch.setenv("FIELDBRIDGE_SAP_URL", URL + "/")
    monkeypatch.setenv("FIELDBRIDGE_SAP_USERNAME", "_FIELDBRIDGE")
    monkeypatch.setenv("FIELDBRIDGE_SAP_PASSWORD", "secret")
    monkeypatch.setenv("FIELDBRIDGE_SAP_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("FIELDBRIDGE_SAP_TIMEOUT_S", "12")
    settings = SAPSettings()
    assert settings.base_url == URL
    assert settings.wsdl_dir == DEFAULT_WSDL_DIR
    assert settings.basic_auth() == ("_FIELDBRIDGE", "secret")
    assert (settings.timeout_s, settings.max_attempts, settings.ca_bundle) == (12.0, 5, bundle)


def test_settings_defaults_and_refusals(tmp_path: Path) -> None:
    assert SAPSettings(url=URL, username="u", password="p").timeout_s == 30.0
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SAP_USERNAME"):
        SAPSettings(url=URL)
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SAP_URL"):
        SAPSettings(username="u", password="p")
    with pytest.raises(ValidationError, match="https"):
        SAPSettings(url="http://plain.example", username="u", password="p")
    with pytest.raises(ValidationError, match="WSDL_DIR"):
        SAPSettings(url=URL, username="u", password="p", wsdl_dir=tmp_path / "nowhere")
    pem = tmp_path / "client.pem"
    pem.write_text("cert and key")
    by_cert = SAPSettings(url=URL, client_cert=pem)
    assert by_cert.basic_auth() is None
    sap = SAPConnector(by_cert)
    assert sap.session.cert == str(pem) and sap.session.auth is None


def test_arguments_checked() -> None:
    sap = connector()
    with pytest.raises(ValueError, match="page_size"):
        next(sap.customer_pages(page_size=0))
    with pytest.raises(ValueError, match="time-zone aware"):
        next(sap.customer_pages(datetime(2026, 11, 30)))


# -- paging --------------------------------------------------------------------------------


def test_pages_follow_last_returned_object_id(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    first, second = [customer(n) for n in range(1, 4)], [customer(n) for n in range(4, 6)]
    add_xml(mocked, answer(soap, first, more=True))
    add_xml(mocked, answer(soap, second, more=False))
    sap = connector()
    since = datetime(2026, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    pages = list(sap.customer_pages(since, page_size=3))

    assert [[c["InternalID"] for c in page] for page in pages] == [
        ["1000101", "1000102", "1000103"],
        ["1000104", "1000105"],
    ]
    assert pages[0][0] == customer(1)  # plain data, as the message has it
    stamp = pages[0][0]["SystemAdministrativeData"]["LastChangeDateTime"]
    assert stamp == STAMP and stamp.tzinfo == UTC
    assert sap.api_calls == 2
    one, two = (sent(soap, c) for c in mocked.calls)
    assert b"2026-11-30T08:00:00Z" in mocked.calls[0].request.body
    assert one.CustomerSelectionByElements.SelectionByLastChangeSinceDateTime == STAMP
    assert one.ProcessingConditions.QueryHitsMaximumNumberValue == 3
    assert one.ProcessingConditions.QueryHitsUnlimitedIndicator is False
    assert one.ProcessingConditions.LastReturnedObjectID is None
    assert two.ProcessingConditions.LastReturnedObjectID._value_1 == "1000103"
    request = mocked.calls[0].request
    assert (
        request.headers["SOAPAction"].strip('"').endswith("QueryCustomerIn/FindByElementsRequest")
    )
    assert request.headers["Authorization"].startswith("Basic ")


def test_everything_when_no_since_and_no_hits(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    add_xml(mocked, answer(soap, [], more=False))
    sap = connector()
    assert list(sap.customer_pages()) == []
    assert sent(soap, mocked.calls[0]).CustomerSelectionByElements is None


def test_stuck_paging_is_permanent(mocked: responses.RequestsMock, soap: SoapService) -> None:
    add_xml(mocked, answer(soap, [customer(1)], more=True))
    add_xml(mocked, answer(soap, [customer(1)], more=True))
    with pytest.raises(Permanent, match="does not move on"):
        list(connector().customer_pages())


# -- errors --------------------------------------------------------------------------------


def test_server_errors_are_retried(mocked: responses.RequestsMock, soap: SoapService) -> None:
    mocked.add(
        responses.POST, ENDPOINT, body="<html>500</html>", status=500, content_type="text/html"
    )
    mocked.add(responses.POST, ENDPOINT, body="", status=503)
    add_xml(mocked, answer(soap, [customer(1)], more=False))
    sleeps: list[float] = []
    sap = connector(sleeps)
    assert [c["InternalID"] for p in sap.customer_pages() for c in p] == ["1000101"]
    assert sap.api_calls == 3 and len(sleeps) == 2


def test_server_errors_give_up_retryable(mocked: responses.RequestsMock) -> None:
    mocked.add(
        responses.POST, ENDPOINT, body="<html>503</html>", status=503, content_type="text/html"
    )
    sap = connector()
    with pytest.raises(Retryable) as caught:
        list(sap.customer_pages())
    assert caught.value.status == 503
    assert sap.api_calls == 4  # MAX_ATTEMPTS


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_refused(mocked: responses.RequestsMock, status: int) -> None:
    mocked.add(
        responses.POST,
        ENDPOINT,
        body="<html><body>Logon failed</body></html>",
        status=status,
        content_type="text/html",
    )
    sap = connector()
    with pytest.raises(AuthExpired) as caught:
        list(sap.customer_pages())
    assert caught.value.status == status
    assert "FIELDBRIDGE_SAP_USERNAME and FIELDBRIDGE_SAP_PASSWORD" in str(caught.value)
    assert sap.api_calls == 1


def test_soap_fault_is_permanent_with_its_faultstring(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    text = "Customer selection is not valid: enter a selection"
    add_xml(mocked, soap.fault("Client", text, ["Select by InternalID or change date"]), 500)
    sap = connector()
    with pytest.raises(Permanent) as caught:
        list(sap.customer_pages())
    assert text in caught.value.message
    assert "Select by InternalID or change date" in caught.value.message
    assert sap.api_calls == 1


@pytest.mark.parametrize(
    "text",
    [
        "The system is temporarily unavailable; try again later",
        "Business partner 1000101 is locked by user MILLER",
    ],
)
def test_passing_soap_faults_are_retried(
    mocked: responses.RequestsMock, soap: SoapService, text: str
) -> None:
    add_xml(mocked, soap.fault("Server", text), 500)
    add_xml(mocked, answer(soap, [customer(1)], more=False))
    sap = connector()
    assert len([c for p in sap.customer_pages() for c in p]) == 1
    assert sap.api_calls == 2


def test_log_errors_are_permanent(mocked: responses.RequestsMock, soap: SoapService) -> None:
    log = {
        "MaximumLogItemSeverityCode": "3",
        "Item": [
            {"SeverityCode": "2", "Note": "a warning"},
            {"SeverityCode": "3", "Note": "Maximum number of hits exceeded"},
        ],
    }
    add_xml(mocked, answer(soap, [], more=False, Log=log))
    with pytest.raises(Permanent) as caught:
        list(connector().customer_pages())
    assert caught.value.message == "Maximum number of hits exceeded"
    assert caught.value.code == "LOG_ERROR"


def test_warnings_in_the_log_pass(mocked: responses.RequestsMock, soap: SoapService) -> None:
    log = {"MaximumLogItemSeverityCode": "2", "Item": [{"SeverityCode": "2", "Note": "w"}]}
    add_xml(mocked, answer(soap, [customer(1)], more=False, Log=log))
    assert len(list(connector().customer_pages())) == 1


def test_timeout_is_applied_and_retryable(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    mocked.add(responses.POST, ENDPOINT, body=requests.exceptions.ReadTimeout("read timed out"))
    add_xml(mocked, answer(soap, [customer(1)], more=False))
    sap = connector(timeout_s=4.5)
    assert len(list(sap.customer_pages())) == 1
    assert all(c.request.req_kwargs["timeout"] == 4.5 for c in mocked.calls)


def test_connection_errors_give_up_retryable(mocked: responses.RequestsMock) -> None:
    mocked.add(responses.POST, ENDPOINT, body=requests.ConnectionError("refused"))
    sap = connector(max_attempts=2)
    with pytest.raises(Retryable, match="refused"):
        list(sap.customer_pages())
    assert sap.api_calls == 2


def test_an_answer_cut_short_is_retried(mocked: responses.RequestsMock, soap: SoapService) -> None:
    add_xml(mocked, answer(soap, [customer(1)], more=False)[:120])
    add_xml(mocked, answer(soap, [customer(1)], more=False))
    sap = connector()
    assert len(list(sap.customer_pages())) == 1
    assert sap.api_calls == 2


def test_an_answer_that_does_not_fit_the_wsdl_is_permanent(
    mocked: responses.RequestsMock, soap: SoapService
) -> None:
    body = answer(soap, [customer(1)], more=False).replace(
        b"<InternalID>", b"<Unknown>X</Unknown><InternalID>"
    )
    add_xml(mocked, body)
    with pytest.raises(Permanent, match="does not fit"):
        list(connector().customer_pages())


def test_missing_wsdl_is_permanent(tmp_path: Path) -> None:
    sap = connector(wsdl_dir=tmp_path)
    with pytest.raises(Permanent, match=r"no QueryCustomerIn\.wsdl"):
        list(sap.customer_pages())


def test_wsdl_address_is_replaced_by_url(mocked: responses.RequestsMock, soap: SoapService) -> None:
    add_xml(mocked, answer(soap, [], more=False))
    sap = connector()
    list(sap.customer_pages())
    assert mocked.calls[0].request.url == ENDPOINT
