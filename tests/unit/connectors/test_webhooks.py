"""Webhooks: the receiver helper, and the connector against ``responses`` (never the network)."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.errors import Permanent, RateLimited, Retryable
from connectors.webhooks import (
    BadPayload,
    BadSignature,
    MemorySeenIds,
    Replayed,
    StaleTimestamp,
    WebhookConnector,
    WebhookReceiver,
    WebhookSettings,
    check_url,
    new_secret,
)
from connectors.webhooks.client import encode_body
from connectors.webhooks.receiver import signer
from connectors.webhooks.urls import Resolver, resolve

SECRET = new_secret()
NOW = 1_800_000_000
URL = "https://93.184.216.34/hooks/billing"  # a public literal: no DNS lookup
EVENT = {"type": "finance.billing_trigger", "work_order": "WO-1", "amount": "120.50"}


def receiver(seen: MemorySeenIds | None = None, now: float = NOW) -> WebhookReceiver:
    return WebhookReceiver(SECRET, seen if seen is not None else MemorySeenIds(), now=lambda: now)


def signed(
    webhook_id: str = "bt-1", stamp: int = NOW, body: bytes | None = None, secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    body = encode_body(EVENT) if body is None else body
    signature = signer(secret).sign(webhook_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
    return headers, body


def connector(
    sleeps: list[float] | None = None, resolver: Resolver = resolve, **over: Any
) -> WebhookConnector:
    values: dict[str, Any] = {"max_attempts": 4} | over
    return WebhookConnector(
        WebhookSettings(**values),
        sleep=(sleeps if sleeps is not None else []).append,
        resolver=resolver,
    )


# -- the receiver helper --------------------------------------------------------------------


def test_a_good_delivery_is_accepted() -> None:
    headers, body = signed()
    assert receiver().verify(headers, body) == EVENT


def test_header_names_in_any_case() -> None:
    headers, body = signed()
    mixed = {k.upper() if i % 2 else k.title(): v for i, (k, v) in enumerate(headers.items())}
    assert receiver().verify(mixed, body) == EVENT


def test_rotated_secret_any_v1_signature_matches() -> None:
    headers, body = signed()
    other, _ = signed(secret=new_secret())
    headers["webhook-signature"] = (
        f"v1a,xyz {other['webhook-signature']} {headers['webhook-signature']}"
    )
    assert receiver().verify(headers, body) == EVENT


@pytest.mark.parametrize(
    "spoil",
    [
        lambda h, b: (
            h | {"webhook-signature": signed(secret=new_secret())[0]["webhook-signature"]},
            b,
        ),
        lambda h, b: (h, b.replace(b"120.50", b"999.99")),
        lambda h, b: (h | {"webhook-id": "bt-2"}, b),
        lambda h, b: (h | {"webhook-timestamp": str(NOW + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: (h | {"webhook-signature": "v1,not base64!"}, b),
        lambda h, b: (h | {"webhook-timestamp": "soon"}, b),
        lambda h, b: (h | {"webhook-timestamp": "9" * 12}, b),
        lambda h, b: (h, b"\xff" + b),
    ],
    ids=[
        "other-secret",
        "body",
        "id",
        "timestamp",
        "missing",
        "garbage",
        "bad-stamp",
        "huge-stamp",
        "not-utf8",
    ],
)
def test_bad_signature_refused_and_id_not_remembered(spoil: Any) -> None:
    seen = MemorySeenIds()
    headers, body = spoil(*signed())
    with pytest.raises(BadSignature):
        receiver(seen).verify(headers, body)
    assert len(seen) == 0
    good_headers, good_body = signed()
    assert receiver(seen).verify(good_headers, good_body) == EVENT  # the id is still free


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_stale_timestamp_refused_past_and_future(offset: int) -> None:
    seen = MemorySeenIds()
    headers, body = signed(stamp=NOW + offset)
    with pytest.raises(StaleTimestamp) as caught:
        receiver(seen).verify(headers, body)
    assert "tolerance 300 s" in caught.value.reason
    assert len(seen) == 0


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_within_tolerance_accepted(offset: int) -> None:
    headers, body = signed(stamp=NOW + offset)
    assert receiver().verify(headers, body) == EVENT


def test_replayed_id_refused() -> None:
    rx = receiver()
    headers, body = signed()
    rx.verify(headers, body)
    again, _ = signed(stamp=NOW + 5)  # re-signed retry: same id
    with pytest.raises(Replayed) as caught:
        rx.verify(again, body)
    assert caught.value.webhook_id == "bt-1"
    assert caught.value.payload == EVENT


def test_signed_body_that_is_not_an_object() -> None:
    seen = MemorySeenIds()
    headers, body = signed(body=b"[1,2]")
    with pytest.raises(BadPayload):
        receiver(seen).verify(headers, body)
    assert len(seen) == 0


def test_seen_ids_bounded_by_size_and_ttl() -> None:
    clock = [0.0]
    seen = MemorySeenIds(max_size=2, ttl_s=10, now=lambda: clock[0])
    assert seen.remember("a") and seen.remember("b") and not seen.remember("a")
    assert seen.remember("c") and seen.remember("a")  # "a", the oldest, was evicted
    clock[0] = 11
    assert seen.remember("c")  # expired


def test_secrets() -> None:
    assert SECRET.startswith("whsec_") and new_secret() != SECRET
    with pytest.raises(ValueError):
        WebhookReceiver("not-a-secret", MemorySeenIds())
    with pytest.raises(ValueError):
        WebhookReceiver("whsec_", MemorySeenIds())


# -- the connector --------------------------------------------------------------------------


def verified(call: Any, rx: WebhookReceiver) -> dict[str, Any]:
    body = call.request.body
    return rx.verify(dict(call.request.headers), body if isinstance(body, bytes) else body.encode())


def test_delivered_with_verifiable_headers(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=204)
    with connector() as wh:
        result = wh.deliver(URL, SECRET, "bt-1", EVENT, timestamp=NOW)
    assert (result.status, result.attempts, wh.api_calls) == (204, 1, 1)
    request = mocked.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == "bt-1"
    assert request.headers["webhook-timestamp"] == str(NOW)
    assert request.body == json.dumps(EVENT, separators=(",", ":"), sort_keys=True).encode()
    assert verified(mocked.calls[0], receiver()) == EVENT


def test_503_retried_with_same_id_and_body(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=503, body="down")
    mocked.post(URL, status=503, body="down")
    mocked.post(URL, status=200, body="ok")
    sleeps: list[float] = []
    with connector(sleeps) as wh:
        result = wh.deliver(URL, SECRET, "bt-7", EVENT)
    assert (result.status, result.attempts, result.body, wh.api_calls) == (200, 3, "ok", 3)
    assert len(sleeps) == 2
    assert {c.request.headers["webhook-id"] for c in mocked.calls} == {"bt-7"}
    assert len({c.request.body for c in mocked.calls}) == 1
    rx = WebhookReceiver(SECRET, MemorySeenIds())  # the real clock: each attempt is fresh
    assert verified(mocked.calls[-1], rx) == EVENT


def test_429_retry_after_honoured(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=429, headers={"Retry-After": "7"})
    mocked.post(URL, status=204)
    sleeps: list[float] = []
    with connector(sleeps) as wh:
        assert wh.deliver(URL, SECRET, "bt-1", EVENT).attempts == 2
    assert sleeps and sleeps[0] >= 7


def test_rate_limited_after_last_attempt(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=429, headers={"Retry-After": "1"})
    with connector(max_attempts=2) as wh, pytest.raises(RateLimited) as caught:
        wh.deliver(URL, SECRET, "bt-1", EVENT)
    assert caught.value.retry_after_s == 1 and wh.api_calls == 2


@pytest.mark.parametrize("status", [408, 425, 500, 502])
def test_passing_statuses_retryable(mocked: responses.RequestsMock, status: int) -> None:
    mocked.post(URL, status=status)
    with connector(max_attempts=2) as wh, pytest.raises(Retryable):
        wh.deliver(URL, SECRET, "bt-1", EVENT)
    assert wh.api_calls == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_permanent_with_body(mocked: responses.RequestsMock, status: int) -> None:
    mocked.post(URL, status=status, json={"error": "BadSignature", "message": "x" * 3000})
    with connector() as wh, pytest.raises(Permanent) as caught:
        wh.deliver(URL, SECRET, "bt-1", EVENT)
    assert wh.api_calls == 1
    assert caught.value.status == status
    assert "BadSignature" in caught.value.message and len(caught.value.message) < 600


def test_redirect_not_followed(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=302, headers={"Location": "https://evil.example/x"})
    mocked.post("https://evil.example/x", status=204)
    with connector() as wh, pytest.raises(Permanent) as caught:
        wh.deliver(URL, SECRET, "bt-1", EVENT)
    assert "https://evil.example/x" in str(caught.value)
    assert len(mocked.calls) == 1 and wh.api_calls == 1


def test_connection_error_retryable(mocked: responses.RequestsMock) -> None:
    with connector(max_attempts=3) as wh, pytest.raises(Retryable):
        wh.deliver("https://93.184.216.35/none", SECRET, "bt-1", EVENT)  # not registered
    assert wh.api_calls == 3


def test_deliver_refuses_private_urls_at_delivery(mocked: responses.RequestsMock) -> None:
    mocked.post("https://127.0.0.1/hook", status=204)
    with connector() as wh, pytest.raises(Permanent) as caught:
        wh.deliver("https://127.0.0.1/hook", SECRET, "bt-1", EVENT)
    assert caught.value.code == "URL_REFUSED" and wh.api_calls == 0
    with connector(allow_private=True) as wh:
        assert wh.deliver("https://127.0.0.1/hook", SECRET, "bt-1", EVENT).status == 204


def test_a_host_that_rebinds_to_a_private_address_is_refused_at_that_attempt(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post("https://hooks.example.com/billing", status=503)
    answers = iter([["93.184.216.34"], ["10.0.0.7"]])  # public, then our own network

    def rebinding(host: str, port: int) -> list[Any]:
        assert (host, port) == ("hooks.example.com", 443)
        return [ipaddress.ip_address(a) for a in next(answers)]

    with connector(resolver=rebinding) as wh, pytest.raises(Permanent) as caught:
        wh.deliver("https://hooks.example.com/billing", SECRET, "bt-1", EVENT)
    assert caught.value.code == "URL_REFUSED" and "10.0.0.7" in str(caught.value)
    assert wh.api_calls == 1, "the second attempt was refused before anything was sent"


def test_bad_arguments() -> None:
    with connector() as wh:
        with pytest.raises(ValueError):
            wh.deliver(URL, "secret", "bt-1", EVENT)
        with pytest.raises(ValueError):
            wh.deliver(URL, SECRET, " ", EVENT)
        with pytest.raises(ValueError, match="not JSON"):
            wh.deliver(URL, SECRET, "bt-1", {"amount": object()})
        assert wh.api_calls == 0


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (WebhookSettings().timeout_s, WebhookSettings().max_attempts) == (10.0, 5)
    assert WebhookSettings().allow_private is False and WebhookSettings().ca_bundle is None
    monkeypatch.setenv("FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("FIELDBRIDGE_WEBHOOK_MAX_ATTEMPTS", "8")
    assert WebhookSettings().allow_private is True and WebhookSettings().max_attempts == 8


# -- check_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://93.184.216.34/x", "http and https"),
        ("https://203.0.113.10/x", "private"),  # TEST-NET-3
        ("https:///path", "no host"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://224.0.0.1/x", "multicast"),
        ("https://localhost:8443/x", "loopback"),
    ],
)
def test_check_url_refuses(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_url(url, allow_private=False)


def test_check_url_accepts_public_and_allowed_private() -> None:
    assert check_url(" https://93.184.216.34:8443/x ", allow_private=False) == (
        "https://93.184.216.34:8443/x"
    )
    assert check_url("http://[2606:4700::1111]/x", allow_private=False)
    for url in ("https://127.0.0.1/x", "https://localhost/x", "http://10.0.0.1:8080/x"):
        assert check_url(url, allow_private=True) == url
    with pytest.raises(ValueError, match="http and https"):
        check_url("file:///etc/passwd", allow_private=True)
