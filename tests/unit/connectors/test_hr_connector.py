"""The HR connector against recorded-style answers (``responses``), never the network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import ValidationError

from connectors.errors import AuthExpired, Permanent, RateLimited, Retryable
from connectors.hr import HRConnector, HRSettings

URL = "https://hr.example.test"
FEED = URL + "/v1/certifications"
TOKEN = "hr_static_token"


def settings(**over: Any) -> HRSettings:
    values: dict[str, Any] = {"url": URL, "token": TOKEN, "timeout_s": 7.5, "max_attempts": 4}
    return HRSettings(**values | over)


def connector(sleeps: list[float] | None = None, **over: Any) -> HRConnector:
    return HRConnector(settings(**over), sleep=(sleeps if sleeps is not None else []).append)


def cert(number: int, stamp: str = "2026-11-30T08:00:00Z") -> dict[str, Any]:
    worker = f"W{number:06d}"
    return {
        "id": f"{worker}|GAS-SAFE",
        "worker_id": worker,
        "code": "GAS-SAFE",
        "name": "Gas Safe Register",
        "issuer": "Gas Safe Register",
        "number": f"GS-{number}",
        "issued_on": "2026-01-01",
        "expires_on": "2027-01-01",
        "status": "active",
        "updated_at": stamp,
    }


def query_of(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def read_all(hr: HRConnector, **kw: Any) -> list[list[dict[str, Any]]]:
    return list(hr.certification_pages(**kw))


# -- settings ------------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("ca")
    monkeypatch.setenv("FIELDBRIDGE_HR_URL", URL + "/")
    monkeypatch.setenv("FIELDBRIDGE_HR_TOKEN", TOKEN)
    monkeypatch.setenv("FIELDBRIDGE_HR_CA_BUNDLE", str(bundle))
    settings = HRSettings()
    assert (settings.url, settings.bearer(), settings.ca_bundle) == (URL, TOKEN, bundle)
    assert (settings.timeout_s, settings.max_attempts) == (30.0, 5)
    monkeypatch.setenv("FIELDBRIDGE_HR_TIMEOUT_S", "12")
    monkeypatch.setenv("FIELDBRIDGE_HR_MAX_ATTEMPTS", "2")
    assert (HRSettings().timeout_s, HRSettings().max_attempts) == (12.0, 2)


def test_the_token_stays_out_of_repr() -> None:
    assert TOKEN not in repr(settings()) and TOKEN not in str(settings())


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({}, "FIELDBRIDGE_HR_URL and FIELDBRIDGE_HR_TOKEN"),
        ({"url": URL}, "needs FIELDBRIDGE_HR_TOKEN"),
        ({"url": URL, "token": "  "}, "needs FIELDBRIDGE_HR_TOKEN"),
        ({"token": TOKEN}, "needs FIELDBRIDGE_HR_URL"),
        ({"url": "http://hr.example.test", "token": TOKEN}, "https://"),
        ({"url": URL, "token": TOKEN, "ca_bundle": "/nonexistent/ca.pem"}, "no CA bundle"),
        ({"url": URL, "token": TOKEN, "max_attempts": 0}, "max_attempts"),
        ({"url": URL, "token": TOKEN, "timeout_s": 0}, "timeout_s"),
    ],
)
def test_settings_say_what_is_missing(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HRSettings(**values)
    assert says in str(raised.value)


# -- paging --------------------------------------------------------------------------------


def test_pages_follow_next_cursor_with_the_token_and_the_timeout(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(FEED, json={"items": [cert(1), cert(2)], "next_cursor": "c1"})
    mocked.get(FEED, json={"items": [], "next_cursor": "c2"})  # an empty page is skipped
    mocked.get(FEED, json={"items": [cert(3)], "next_cursor": None})
    since = datetime(2026, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    hr = connector()
    pages = read_all(hr, updated_since=since, page_size=2)
    assert [[r["id"] for r in page] for page in pages] == [
        ["W000001|GAS-SAFE", "W000002|GAS-SAFE"],
        ["W000003|GAS-SAFE"],
    ]
    queries = [query_of(c) for c in mocked.calls]
    assert [q.get("cursor") for q in queries] == [None, "c1", "c2"]
    assert all(q["limit"] == "2" for q in queries)
    assert all(q["updated_since"] == "2026-11-30T09:00:00+01:00" for q in queries)
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in mocked.calls)
    assert all(c.request.req_kwargs["timeout"] == 7.5 for c in mocked.calls)
    assert hr.api_calls == 3


def test_without_updated_since_the_whole_feed_is_read(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": None})
    assert read_all(connector()) == [[cert(1)]]
    assert query_of(mocked.calls[0]) == {"limit": "500"}


def test_arguments_are_checked_before_any_call(mocked: responses.RequestsMock) -> None:
    hr = connector()
    with pytest.raises(ValueError, match="time-zone aware"):
        read_all(hr, updated_since=datetime(2026, 11, 30, 8, 0))
    for size in (0, 1001):
        with pytest.raises(ValueError, match="page_size"):
            read_all(hr, page_size=size)
    assert hr.api_calls == 0 and not mocked.calls


def test_a_page_retried_after_a_failure_asks_for_the_same_cursor(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": "c1"})
    mocked.get(FEED, status=503, json={"error": "unavailable", "message": "try later"})
    mocked.get(FEED, body=requests.ConnectionError("connection reset"))
    mocked.get(FEED, json={"items": [cert(2)], "next_cursor": None})
    sleeps: list[float] = []
    hr = connector(sleeps)
    pages = read_all(hr, updated_since=datetime(2026, 1, 1, tzinfo=UTC))
    assert [r["id"] for page in pages for r in page] == ["W000001|GAS-SAFE", "W000002|GAS-SAFE"]
    assert [query_of(c).get("cursor") for c in mocked.calls] == [None, "c1", "c1", "c1"]
    assert hr.api_calls == 4 and len(sleeps) == 2


def test_a_feed_that_repeats_its_cursor_is_refused(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": "c1"})
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": "c1"})
    with pytest.raises(Permanent, match="same cursor"):
        read_all(connector())


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {"items": {"id": "x"}, "next_cursor": None},
        {"items": ["W000001|GAS-SAFE"], "next_cursor": None},
        {"items": [], "next_cursor": 7},
        [],
    ],
)
def test_an_answer_that_is_not_a_page_is_permanent(
    mocked: responses.RequestsMock, body: Any
) -> None:
    mocked.get(FEED, json=body)
    with pytest.raises(Permanent, match="not a page") as raised:
        read_all(connector())
    assert raised.value.body == body


def test_an_answer_cut_short_is_fetched_again(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, body='{"items": [{"id": "W0', content_type="application/json")
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": None})
    sleeps: list[float] = []
    hr = connector(sleeps)
    assert read_all(hr) == [[cert(1)]]
    assert hr.api_calls == 2 and len(sleeps) == 1


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retryable_and_attempts_capped(
    mocked: responses.RequestsMock, status: int
) -> None:
    mocked.get(FEED, status=status, json={"error": "internal_error", "message": "boom"})
    sleeps: list[float] = []
    hr = connector(sleeps, max_attempts=3)
    with pytest.raises(Retryable, match="boom") as raised:
        read_all(hr)
    assert (raised.value.status, raised.value.code, raised.value.system) == (
        status,
        "internal_error",
        "hr",
    )
    assert hr.api_calls == 3 and len(mocked.calls) == 3 and len(sleeps) == 2


def test_timeouts_and_connection_errors_are_retried(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, body=requests.ReadTimeout("read timed out"))
    mocked.get(FEED, body=requests.ConnectTimeout("connect timed out"))
    mocked.get(FEED, body=requests.ConnectionError("refused"))
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": None})
    sleeps: list[float] = []
    hr = connector(sleeps)
    assert read_all(hr) == [[cert(1)]]
    assert hr.api_calls == 4 and len(sleeps) == 3


def test_a_timeout_every_time_ends_retryable(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, body=requests.ReadTimeout("read timed out"))
    hr = connector(max_attempts=2)
    with pytest.raises(Retryable, match="ReadTimeout"):
        read_all(hr)
    assert hr.api_calls == 2


def test_a_certificate_that_does_not_verify_is_not_retried(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(FEED, body=requests.exceptions.SSLError("certificate verify failed"))
    hr = connector()
    with pytest.raises(Permanent, match="FIELDBRIDGE_HR_CA_BUNDLE"):
        read_all(hr)
    assert hr.api_calls == 1


def test_retry_after_is_honoured(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, status=429, headers={"Retry-After": "7"}, json={"error": "rate_limited"})
    mocked.get(FEED, status=503, headers={"Retry-After": "3"}, body="unavailable")
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": None})
    sleeps: list[float] = []
    hr = connector(sleeps)
    assert read_all(hr) == [[cert(1)]]
    assert sleeps == [7.0, 3.0] and hr.api_calls == 3


def test_rate_limited_to_the_end_keeps_retry_after(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, status=429, headers={"Retry-After": "2"}, json={"error": "rate_limited"})
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as raised:
        read_all(connector(sleeps, max_attempts=2))
    assert (raised.value.status, raised.value.retry_after_s) == (429, 2.0)
    assert sleeps == [2.0]


def test_a_long_retry_after_ends_the_call_now(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, status=429, headers={"Retry-After": "3600"}, json={"error": "rate_limited"})
    sleeps: list[float] = []
    hr = connector(sleeps)  # the default cap is TIMEOUT_S x MAX_ATTEMPTS = 30 s
    with pytest.raises(RateLimited) as raised:
        read_all(hr)
    assert raised.value.retry_after_s == 3600.0 and sleeps == [] and hr.api_calls == 1


@pytest.mark.parametrize(
    ("code", "says"), [("token_expired", "the token expired"), ("invalid_token", "refused")]
)
def test_401_is_auth_expired_and_names_the_setting(
    mocked: responses.RequestsMock, code: str, says: str
) -> None:
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": "c1"})
    mocked.get(FEED, status=401, json={"error": code, "message": "no"})
    sleeps: list[float] = []
    hr = connector(sleeps)
    pages = hr.certification_pages()
    assert next(pages) == [cert(1)]
    with pytest.raises(AuthExpired) as raised:
        next(pages)
    err = raised.value
    assert (err.status, err.code) == (401, code)
    assert says in err.message and "cannot be renewed" in err.message
    assert "FIELDBRIDGE_HR_TOKEN" in str(err)
    assert TOKEN not in str(err)
    assert hr.api_calls == 2 and sleeps == [], "never retried"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_cursor", "message": "the cursor is not one this feed handed out"}),
        (403, {"error": "forbidden", "message": "the token may not read certifications"}),
        (404, {"error": "not_found", "message": "No such resource."}),
        (422, "plain text refusal"),
    ],
)
def test_other_4xx_are_permanent_with_the_remote_body(
    mocked: responses.RequestsMock, status: int, body: Any
) -> None:
    if isinstance(body, str):
        mocked.get(FEED, status=status, body=body)
    else:
        mocked.get(FEED, status=status, json=body)
    sleeps: list[float] = []
    hr = connector(sleeps)
    with pytest.raises(Permanent) as raised:
        read_all(hr)
    err = raised.value
    assert err.status == status and err.body == body
    if isinstance(body, dict):
        assert (err.code, err.message) == (body["error"], body["message"])
    else:
        assert err.message == body
    assert hr.api_calls == 1 and sleeps == []


# -- the session ---------------------------------------------------------------------------


def test_ca_bundle_wins_over_the_environment(
    mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ours, theirs = tmp_path / "ours.pem", tmp_path / "theirs.pem"
    ours.write_text("ours")
    theirs.write_text("theirs")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(theirs))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(theirs))
    hr = connector(ca_bundle=ours)
    assert hr.session.merge_environment_settings(FEED, {}, None, None, None)["verify"] == str(ours)
    mocked.get(FEED, json={"items": [], "next_cursor": None})
    assert read_all(hr) == []
    assert [c.request.req_kwargs["verify"] for c in mocked.calls] == [str(ours)]


def test_closing_closes_the_session(mocked: responses.RequestsMock) -> None:
    mocked.get(FEED, json={"items": [cert(1)], "next_cursor": None})
    with connector() as hr:
        assert read_all(hr) == [[cert(1)]]
    assert hr.api_calls == 1
