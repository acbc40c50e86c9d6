"""The connectors' error vocabulary, Salesforce's answers in it, and the shared retry policy."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.errors import (
    AuthExpired,
    ConnectorError,
    Permanent,
    RateLimited,
    Retryable,
    classify_http,
    parse_retry_after,
)
from connectors.retry import retrying
from connectors.salesforce.errors import (
    from_record_errors,
    from_requests,
    from_salesforce,
    from_token_answer,
)
from connectors.salesforce.quota import QuotaExhausted

URL = "https://org.example.test/services/data/v61.0/query/"

# -- the classifier ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, None, AuthExpired),
        (401, "INVALID_SESSION_ID", AuthExpired),
        (429, None, RateLimited),
        (403, "REQUEST_LIMIT_EXCEEDED", RateLimited),
        (403, "INSUFFICIENT_ACCESS", Permanent),
        (500, None, Retryable),
        (502, None, Retryable),
        (503, "SERVER_UNAVAILABLE", Retryable),
        (408, None, Retryable),
        (400, "UNABLE_TO_LOCK_ROW", Retryable),
        (400, "MALFORMED_QUERY", Permanent),
        (404, "NOT_FOUND", Permanent),
        (None, "UNABLE_TO_LOCK_ROW", Retryable),
        (None, "REQUIRED_FIELD_MISSING", Permanent),
    ],
)
def test_classify_http(status: int | None, code: str | None, expected: type) -> None:
    exc = classify_http(
        "x",
        status,
        code=code,
        message="m",
        auth_codes={"INVALID_SESSION_ID"},
        rate_limit_codes={"REQUEST_LIMIT_EXCEEDED"},
        retryable_codes={"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"},
    )
    assert type(exc) is expected
    assert (exc.status, exc.code, exc.message, exc.system) == (status, code, "m", "x")


def test_classifier_without_remote_codes_goes_by_status_alone() -> None:
    assert type(classify_http("hr", 400, code="UNABLE_TO_LOCK_ROW")) is Permanent
    assert type(classify_http("hr", 403, code="REQUEST_LIMIT_EXCEEDED")) is Permanent


@given(
    status=st.one_of(st.none(), st.integers(100, 599)),
    code=st.one_of(st.none(), st.text(max_size=20)),
    retry_after=st.one_of(st.none(), st.text(max_size=30)),
)
def test_classifier_always_answers_one_of_four(
    status: int | None, code: str | None, retry_after: str | None
) -> None:
    exc = classify_http("x", status, code=code, retry_after=retry_after)
    assert type(exc) in {AuthExpired, RateLimited, Retryable, Permanent}
    assert exc.retry_after_s is None or exc.retry_after_s >= 0


def test_error_keeps_the_remote_answer_for_a_dead_letter() -> None:
    exc = Permanent(
        "salesforce",
        "Required fields are missing: [Name]",
        400,
        "REQUIRED_FIELD_MISSING",
        fields=["Name"],
    )
    assert str(exc) == (
        "salesforce 400 REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields: Name)"
    )
    assert exc.as_dict() == {
        "kind": "Permanent",
        "system": "salesforce",
        "status": 400,
        "code": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Name]",
        "fields": ["Name"],
        "retry_after_s": None,
    }
    long = Permanent("x", "m", 500, body="<html>" + "x" * 10_000)
    assert isinstance(long.body, str) and len(long.body) < 2100


# -- Retry-After ---------------------------------------------------------------------------


def test_retry_after_seconds_and_dates() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    for junk in (None, "", "soon", "-5", "inf", "nan", "1e9"):
        assert parse_retry_after(junk) is None


# -- Salesforce answers in the vocabulary --------------------------------------------------


def sf_body(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return [item]


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (
            SalesforceExpiredSession(
                URL, 401, "query", sf_body("INVALID_SESSION_ID", "Session expired or invalid")
            ),
            AuthExpired,
            "INVALID_SESSION_ID",
        ),
        (
            SalesforceRefusedRequest(
                URL,
                403,
                "query",
                sf_body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            ),
            RateLimited,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            SalesforceRefusedRequest(
                URL,
                403,
                "Account",
                sf_body("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object"),
            ),
            Permanent,
            "INSUFFICIENT_ACCESS_OR_READONLY",
        ),
        (
            SalesforceMalformedRequest(
                URL,
                400,
                "query",
                sf_body(
                    "MALFORMED_QUERY",
                    "unexpected token: 'FORM'",
                ),
            ),
            Permanent,
            "MALFORMED_QUERY",
        ),
        (
            SalesforceMalformedRequest(
                URL,
                400,
                "Account",
                sf_body(
                    "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", []
                ),
            ),
            Retryable,
            "UNABLE_TO_LOCK_ROW",
        ),
        (
            SalesforceResourceNotFound(
                URL, 404, "Acount", sf_body("NOT_FOUND", "The requested resource does not exist")
            ),
            Permanent,
            "NOT_FOUND",
        ),
        (
            SalesforceGeneralError(
                URL, 500, "query", sf_body("UNKNOWN_EXCEPTION", "An unexpected error occurred.")
            ),
            Retryable,
            "UNKNOWN_EXCEPTION",
        ),
        (
            SalesforceGeneralError(URL, 503, "query", "<html>Service Unavailable</html>"),
            Retryable,
            None,
        ),
        (
            SalesforceGeneralError(URL, 429, "query", ""),
            RateLimited,
            None,
        ),
    ],
)
def test_simple_salesforce_exceptions_translate(
    exc: SalesforceError, expected: type, code: str | None
) -> None:
    translated = from_salesforce(exc)
    assert type(translated) is expected
    assert translated.code == code
    assert translated.system == "salesforce"
    assert translated.status == exc.status
    if isinstance(translated.body, list):
        assert translated.message == translated.body[0]["message"]


def test_validation_error_carries_fields() -> None:
    exc = SalesforceMalformedRequest(
        URL,
        400,
        "Account",
        sf_body("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]),
    )
    translated = from_salesforce(exc)
    assert isinstance(translated, Permanent)
    assert translated.fields == ("Name",)
    assert translated.message == "Required fields are missing: [Name]"


def test_several_matches_of_an_external_id_are_permanent() -> None:
    matches = [
        "/services/data/v61.0/sobjects/Account/001000000000001AAA",
        "/services/data/v61.0/sobjects/Account/001000000000002AAA",
    ]
    translated = from_salesforce(SalesforceMoreThanOneRecord(URL, 300, "Account", matches))
    assert isinstance(translated, Permanent)
    assert translated.code == "MULTIPLE_CHOICES"
    assert translated.status == 300
    assert "2 records" in translated.message
    assert translated.body == matches


def test_rate_limited_carries_retry_after() -> None:
    translated = from_salesforce(
        SalesforceRefusedRequest(
            URL, 403, "query", sf_body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn")
        ),
        retry_after="30",
    )
    assert isinstance(translated, RateLimited)
    assert translated.retry_after_s == 30.0


def test_record_errors_of_a_collection() -> None:
    lock = from_record_errors(
        [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain access", "fields": []}]
    )
    assert isinstance(lock, Retryable) and lock.status is None
    bad = from_record_errors(
        [{"statusCode": "INVALID_EMAIL_ADDRESS", "message": "Email: invalid", "fields": ["Email"]}]
    )
    assert isinstance(bad, Permanent)
    assert (bad.code, bad.fields) == ("INVALID_EMAIL_ADDRESS", ("Email",))


def test_transport_failures() -> None:
    assert isinstance(from_requests(requests.ConnectTimeout("slow")), Retryable)
    assert isinstance(from_requests(requests.ReadTimeout("slow")), Retryable)
    assert isinstance(from_requests(requests.ConnectionError("reset")), Retryable)
    assert isinstance(from_requests(requests.exceptions.InvalidJSONError("<html>")), Retryable)
    assert isinstance(from_requests(requests.exceptions.InvalidURL("no")), Permanent)


def token_answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    ("status", "body", "expected", "code", "text"),
    [
        (
            400,
            b'{"error":"invalid_grant","error_description":"authentication failure"}',
            AuthExpired,
            "invalid_grant",
            "authentication failure",
        ),
        (
            400,
            b'{"error":"invalid_client_id","error_description":"client identifier invalid"}',
            AuthExpired,
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            400,
            b'{"error":"invalid_grant","error_description":"user hasn\'t approved this consumer"}',
            AuthExpired,
            "invalid_grant",
            "approved this consumer",
        ),
        (
            400,
            b'{"error":"unsupported_grant_type","error_description":"grant type not supported"}',
            Permanent,
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (404, b"<html>Not Found</html>", Permanent, None, "HTTP 404"),
        (503, b"<html>down</html>", Retryable, None, "HTTP 503"),
    ],
)
def test_login_refusals(
    status: int, body: bytes, expected: type, code: str | None, text: str
) -> None:
    exc = from_token_answer(token_answer(status, body))
    assert type(exc) is expected
    assert exc.code == code
    assert text in exc.message


def test_login_rate_limited() -> None:
    exc = from_token_answer(token_answer(429, b"{}", {"Retry-After": "12"}))
    assert isinstance(exc, RateLimited) and exc.retry_after_s == 12.0


def test_quota_exhausted_is_rate_limited() -> None:
    assert issubclass(QuotaExhausted, RateLimited)
    assert issubclass(RateLimited, ConnectorError)


# -- the retry policy ----------------------------------------------------------------------


def failing(*outcomes: BaseException | str) -> tuple[Callable[[], str], list[int]]:
    """A function that raises or returns the outcomes in turn; and its call count."""
    calls = [0]
    it: Iterator[BaseException | str] = iter(outcomes)

    def fn() -> str:
        calls[0] += 1
        outcome = next(it)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fn, calls


def policy(sleeps: list[float], **over: Any) -> Any:
    args: dict[str, Any] = {
        "system": "x",
        "max_attempts": 5,
        "max_total_s": 120.0,
        "backoff_base_s": 0.5,
        "backoff_max_s": 8.0,
        "sleep": sleeps.append,
    }
    return retrying(**args | over)


def test_retryable_is_retried_with_jittered_exponential_backoff() -> None:
    sleeps: list[float] = []
    fn, calls = failing(*[Retryable("x", "503")] * 4, "ok")
    assert policy(sleeps)(fn) == "ok"
    assert calls[0] == 5
    # full jitter: the n-th wait lies in [0, min(max, base * 2**(n-1))]
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= min(8.0, 0.5 * 2 ** (attempt - 1))


def test_retry_after_is_honoured_never_less() -> None:
    sleeps: list[float] = []
    fn, calls = failing(
        RateLimited("x", "slow down", 429, retry_after_s=7.0),
        RateLimited("x", "slow down", 429, retry_after_s=2.5),
        Retryable("x", "503", 503, retry_after_s=4.0),
        "ok",
    )
    assert policy(sleeps)(fn) == "ok"
    assert calls[0] == 4
    assert sleeps == [7.0, 2.5, 4.0]  # each above the backoff's ceiling (0.5, 1, 2) there


def test_rate_limited_without_retry_after_backs_off() -> None:
    sleeps: list[float] = []
    fn, _ = failing(RateLimited("x", "limit", 403, "REQUEST_LIMIT_EXCEEDED"), "ok")
    assert policy(sleeps)(fn) == "ok"
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


def test_attempts_are_capped_and_the_last_error_raised() -> None:
    sleeps: list[float] = []
    last = Retryable("x", "still down", 503)
    fn, calls = failing(Retryable("x", "down", 503), Retryable("x", "down", 503), last, "ok")
    with pytest.raises(Retryable) as raised:
        policy(sleeps, max_attempts=3)(fn)
    assert raised.value is last
    assert calls[0] == 3 and len(sleeps) == 2


def test_total_time_is_capped_before_a_long_wait() -> None:
    sleeps: list[float] = []
    fn, calls = failing(RateLimited("x", "come back in an hour", 429, retry_after_s=3600.0), "ok")
    with pytest.raises(RateLimited) as raised:
        policy(sleeps, max_total_s=60.0)(fn)
    assert raised.value.retry_after_s == 3600.0
    assert calls[0] == 1 and sleeps == []


def test_total_time_counts_elapsed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    def fn() -> str:
        clock[0] += 25.0  # each attempt takes 25 s (a read timeout)
        raise Retryable("x", "read timeout")

    with pytest.raises(Retryable):
        retrying(
            system="x",
            max_attempts=10,
            max_total_s=60.0,
            backoff_base_s=0.01,
            backoff_max_s=0.01,
            sleep=sleep,
        )(fn)
    assert 50.0 <= clock[0] - 1000.0 <= 76.0


@pytest.mark.parametrize(
    "exc",
    [
        Permanent("x", "Required fields are missing", 400, "REQUIRED_FIELD_MISSING"),
        AuthExpired("x", "Session expired or invalid", 401, "INVALID_SESSION_ID"),
        QuotaExhausted("x", "our share is used"),
        ValueError("a bug"),
    ],
)
def test_never_retried(exc: BaseException) -> None:
    sleeps: list[float] = []
    fn, calls = failing(exc, "ok")
    with pytest.raises(type(exc)):
        policy(sleeps, never_retry=(QuotaExhausted,))(fn)
    assert calls[0] == 1 and sleeps == []


def test_each_retry_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    fn, _ = failing(
        Retryable("sap", "down", 502), RateLimited("sap", "slow", 429, retry_after_s=3), "ok"
    )
    with caplog.at_level(logging.WARNING, logger="connectors.retry"):
        policy(sleeps, system="sap")(fn)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("sap: attempt 1 of 5 failed (sap 502: down)")
    assert messages[1] == "sap: attempt 2 of 5 failed (sap 429: slow); retrying in 3.00 s"


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError):
        retrying(system="x", max_attempts=0, max_total_s=1)
