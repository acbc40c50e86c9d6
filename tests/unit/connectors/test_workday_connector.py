"""The Workday connector against recorded-style answers (``responses``), never the network.
Answers are made by zeep from the project's WSDL (the simulator's renderer), never written by
hand; every request the connector builds is held against Workday's own WSDL in libxml2's
strict validation (skipped, saying why, when ``../shared/wsdl/workday`` is absent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from lxml import etree
from pydantic import ValidationError

from connectors.errors import AuthExpired, Permanent, Retryable
from connectors.workday import MAX_PAGE_SIZE, WorkdaySettings
from sandbox.workday.workers import Workers
from tests.support.sap import body_of
from tests.support.workday import (
    BASE,
    ENDPOINT,
    OUR_WSDL,
    REAL_WSDL,
    WSSE,
    assert_valid,
    connector,
    real_wsdl,
    service,
    settings,
)

AS_OF = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
WD = "{urn:com.workday/bsvc}"


def workers(count: int) -> list[dict[str, Any]]:
    register = Workers(seed=5)
    register.seed(count, count // 2)
    return list(register.as_of(None).values())


def answer(page_workers: list[dict[str, Any]], page: int, pages: int, total: int) -> bytes:
    return service().answer(
        version="v26.1",
        Response_Results={"Total_Results": total, "Total_Pages": pages, "Page": page},
        Response_Data={"Worker": page_workers},
    )


def add(mocked: responses.RequestsMock, body: bytes, status: int = 200, **kw: Any) -> None:
    mocked.add(
        responses.POST,
        kw.get("url", ENDPOINT),
        body=body,
        status=status,
        content_type=kw.get("content_type", "text/xml; charset=utf-8"),
    )


def request_of(call: Any) -> bytes:
    """A request the connector sent, as it went."""
    body = call.request.body
    assert isinstance(body, bytes)
    return body


def sent(call: Any) -> Any:
    """The body element of a request the connector sent."""
    return body_of(request_of(call))


# -- settings -----------------------------------------------------------------------------


def test_settings_need_https_and_name_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="FIELDBRIDGE_WORKDAY_URL must be an https://"):
        settings(url="http://wd2-impl-services1.workday.example/ccx/service/acme")
    with pytest.raises(ValidationError) as caught:
        WorkdaySettings.from_variables({})
    assert "FIELDBRIDGE_WORKDAY_URL and FIELDBRIDGE_WORKDAY_USERNAME and " in str(caught.value)
    assert "FIELDBRIDGE_WORKDAY_PASSWORD" in str(caught.value)
    with pytest.raises(ValidationError, match=r"must look like v26\.1"):
        settings(version="26")


def test_the_url_and_version_make_the_endpoint() -> None:
    given = WorkdaySettings.from_variables(
        {
            "FIELDBRIDGE_WORKDAY_URL": BASE + "/",
            "FIELDBRIDGE_WORKDAY_USERNAME": "ISU@acme",
            "FIELDBRIDGE_WORKDAY_PASSWORD": "pw",
        }
    )
    assert given.version == "v26.1"
    assert given.endpoint == ENDPOINT
    assert settings(version="v43.0").endpoint == BASE + "/Human_Resources/v43.0"


# -- requests -----------------------------------------------------------------------------


@responses.activate
def test_a_read_pages_with_one_as_of_moment_and_a_signed_request() -> None:
    everyone = workers(7)
    for page, chunk in enumerate((everyone[:3], everyone[3:6], everyone[6:]), start=1):
        add(responses.mock, answer(chunk, page, 3, 7))
    wd = connector()
    pages = list(wd.worker_pages(as_of=AS_OF, page_size=3))

    assert [len(p) for p in pages] == [3, 3, 1] and wd.api_calls == 3
    assert [p.page for p in pages] == [1, 2, 3] and pages[0].total_results == 7
    ids = [w["Worker_Data"]["Worker_ID"] for p in pages for w in p]
    assert ids == [w["Worker_Data"]["Worker_ID"] for w in everyone]
    for number, call in enumerate(responses.calls, start=1):
        assert call.request.url == ENDPOINT  # the URL replaces the WSDL's bare address
        envelope = etree.fromstring(request_of(call))
        token = envelope.find(f".//{{{WSSE}}}UsernameToken")
        assert token is not None
        assert token.findtext(f"{{{WSSE}}}Username") == "ISU_fieldbridge@acme_tenant"
        password = token.find(f"{{{WSSE}}}Password")
        assert password is not None and password.text == "s3cret-pass"
        assert password.get("Type", "").endswith("#PasswordText")
        body = sent(call)
        assert body.get(f"{WD}version") == "v26.1"
        assert body.findtext(f"{WD}Response_Filter/{WD}Page") == str(number)
        assert body.findtext(f"{WD}Response_Filter/{WD}Count") == "3"
        stamp = body.findtext(f"{WD}Response_Filter/{WD}As_Of_Entry_DateTime")
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == AS_OF
        assert body.find(f"{WD}Request_Criteria") is None  # a full read
        assert body.findtext(f"{WD}Response_Group/{WD}Include_Qualifications") == "true"


@responses.activate
def test_an_incremental_read_asks_for_the_transaction_log_range() -> None:
    add(responses.mock, answer(workers(2), 1, 1, 2), url=BASE + "/Human_Resources/v40.1")
    since = AS_OF - timedelta(hours=6, minutes=5)
    list(connector(version="v40.1").worker_pages(since, as_of=AS_OF))
    (call,) = responses.calls
    assert call.request.url == BASE + "/Human_Resources/v40.1"
    body = sent(call)
    assert body.get(f"{WD}version") == "v40.1"
    dates = body.find(f"{WD}Request_Criteria/{WD}Transaction_Log_Criteria_Data/"
                      f"{WD}Transaction_Date_Range_Data")  # fmt: skip
    assert dates is not None
    start = datetime.fromisoformat(dates.findtext(f"{WD}Updated_From").replace("Z", "+00:00"))
    end = datetime.fromisoformat(dates.findtext(f"{WD}Updated_Through").replace("Z", "+00:00"))
    assert (start, end) == (since, AS_OF)
    assert body.findtext(f"{WD}Response_Filter/{WD}Count") == str(MAX_PAGE_SIZE)


def test_bad_arguments_are_refused_before_any_call() -> None:
    wd = connector()
    with pytest.raises(ValueError, match="page_size"):
        next(wd.worker_pages(page_size=1000))
    with pytest.raises(ValueError, match="time-zone aware"):
        next(wd.worker_pages(datetime(2026, 12, 1)))
    with pytest.raises(ValueError, match="after"):
        next(wd.worker_pages(AS_OF, AS_OF - timedelta(days=1)))
    assert wd.api_calls == 0


@real_wsdl
@responses.activate
def test_every_request_fits_workdays_own_wsdl() -> None:
    add(responses.mock, answer(workers(1), 1, 1, 1))
    add(responses.mock, answer(workers(1), 1, 1, 1))
    add(responses.mock, answer(workers(1), 1, 1, 1))
    wd = connector()
    list(wd.worker_pages(as_of=AS_OF))
    list(wd.worker_pages(AS_OF - timedelta(days=1), as_of=AS_OF, page_size=50))
    list(wd.worker_pages(as_of=AS_OF, organizations=["SUP_FIELD_NORTH", "SUP_FIELD_SOUTH"]))
    assert len(responses.calls) == 3
    for call in responses.calls:
        assert_valid(request_of(call))
        assert_valid(request_of(call), OUR_WSDL)


@real_wsdl
def test_the_connector_reads_through_workdays_own_wsdl() -> None:
    """Pointing WSDL_DIR at Workday's own WSDL reads the same workers as the compact one."""
    everyone = workers(4)
    read = []
    for wsdl_dir in (OUR_WSDL.parent, REAL_WSDL.parent):
        with responses.RequestsMock() as mocked:
            add(mocked, answer(everyone, 1, 1, 4))
            wd = connector(wsdl_dir=wsdl_dir)
            read.append([w for p in wd.worker_pages(as_of=AS_OF) for w in p])
    assert read[0] == read[1] and len(read[0]) == 4


# -- failures -----------------------------------------------------------------------------


@responses.activate
def test_a_validation_fault_is_permanent_and_not_retried() -> None:
    text = "Invalid ID value. 'X' is not a valid ID value for type = 'Organization_Reference_ID'"
    add(responses.mock, service().fault("Client.validationError", text, "validation"), 500)
    wd = connector()
    with pytest.raises(Permanent) as caught:
        list(wd.worker_pages(as_of=AS_OF, organizations=["X"]))
    assert caught.value.code == "Validation_Fault" and text in caught.value.message
    assert wd.api_calls == 1


@responses.activate
def test_processing_faults_and_5xx_are_retried() -> None:
    text = "The task submitted is not authorized at this time"
    add(responses.mock, service().fault("Server.processingError", text, "processing"), 500)
    add(responses.mock, b"502 Bad Gateway", 502, content_type="text/plain")
    responses.mock.add(responses.POST, ENDPOINT, body=requests.ConnectionError("reset"))
    add(responses.mock, answer(workers(2), 1, 1, 2))
    sleeps: list[float] = []
    wd = connector(sleeps)
    (page,) = list(wd.worker_pages(as_of=AS_OF))
    assert len(page) == 2 and wd.api_calls == 4 and len(sleeps) == 3


@responses.activate
def test_processing_faults_give_up_after_max_attempts() -> None:
    fault = service().fault("Server.processingError", "busy", "processing")
    for _ in range(4):
        add(responses.mock, fault, 500)
    wd = connector()
    with pytest.raises(Retryable) as caught:
        list(wd.worker_pages(as_of=AS_OF))
    assert caught.value.code == "Processing_Fault" and wd.api_calls == 4


@responses.activate
def test_refused_credentials_are_auth_expired_naming_the_settings() -> None:
    refusal = service().fault("Client.authenticationError", "invalid username or password")
    add(responses.mock, refusal, 500)
    wd = connector()
    with pytest.raises(AuthExpired) as caught:
        list(wd.worker_pages(as_of=AS_OF))
    assert "FIELDBRIDGE_WORKDAY_USERNAME and FIELDBRIDGE_WORKDAY_PASSWORD" in str(caught.value)
    assert wd.api_calls == 1


@responses.activate
def test_a_page_answered_for_another_page_is_permanent() -> None:
    add(responses.mock, answer(workers(1), 1, 2, 2))
    add(responses.mock, answer(workers(1), 1, 2, 2))
    with pytest.raises(Permanent, match="asked for page 2"):
        list(connector().worker_pages(as_of=AS_OF, page_size=1))
