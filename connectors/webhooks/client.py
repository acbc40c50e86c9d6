"""Delivering webhooks: one signed ``POST`` per attempt, in the connectors' vocabulary.

Every delivery goes through one path (``_call``): the receiver's host looked up once per
attempt and checked (``checked_address``: a name that resolved to a public address when the
subscription was made may resolve to our own network now), one ``POST`` on a
``PinnedSession`` (timeout and CA bundle always applied, redirects never followed) to the
address that lookup approved (the request still names the host: its ``Host`` header, TLS's
server name and the certificate's check; a second lookup, which a rebinding DNS could answer
with a private address, is never made), the answer or the transport failure translated
(``connectors.webhooks.errors``), and the shared retry policy around it. Each attempt is one
request, counted in ``api_calls``. Behind an HTTP proxy (``HTTPS_PROXY``) the proxy connects
and looks the name up itself.

Every attempt of a delivery sends the same ``webhook-id`` (the receiver's idempotency key)
and the same body. Without an explicit ``timestamp``, each attempt is signed afresh with the
time it is sent: the attempts of one call may span up to ``TIMEOUT_S`` x ``MAX_ATTEMPTS``
(with ``Retry-After`` waits), which the settings allow to exceed the receivers' five-minute
tolerance, and a retry signed with the first attempt's time would then be refused for good
as stale. Re-signing costs nothing in safety: replays are caught by the id, not the time.

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.base import Connector
from connectors.errors import Permanent, Retryable
from connectors.webhooks.errors import SYSTEM, from_answer, from_requests, redirected
from connectors.webhooks.receiver import MAX_ID_CHARS, signer
from connectors.webhooks.settings import WebhookSettings
from connectors.webhooks.urls import Resolver, UnresolvedHost, checked_address, resolve

__all__ = ["MAX_ANSWER_BYTES", "DeliveryResult", "WebhookConnector", "encode_body"]

MAX_ANSWER_BYTES = 64 * 1024  # what is read of a receiver's answer


@dataclass(frozen=True)
class DeliveryResult:
    """A delivered webhook: the receiver's 2xx ``status``, the ``attempts`` it took (this
    call's) and the start of the receiver's answer ``body``."""

    status: int
    attempts: int
    body: str


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The body sent for ``payload``: compact JSON, sorted keys, UTF-8."""
    return json.dumps(
        payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class _ToCheckedAddress(HTTPAdapter):
    """Connects the request it sends to ``address`` (set for one request at a time: the
    connector is not thread-safe, and follows no redirect) instead of looking its host up
    again; TLS still sends and checks the host's name."""

    def __init__(self) -> None:
        super().__init__()
        self.address: str | None = None

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if self.address is not None:
            host = host_params["host"]
            host_params["host"] = self.address
            if host_params["scheme"] == "https":
                pool_kwargs["server_hostname"] = pool_kwargs["assert_hostname"] = host
        return host_params, pool_kwargs


class WebhookConnector(Connector[WebhookSettings]):
    """Delivers Standard Webhooks to subscribers' URLs. Raises only the connectors'
    vocabulary (``connectors.errors``); ``ValueError`` for a bad argument.

    ``api_calls`` counts requests sent (every attempt, retries included). ``resolver`` looks
    a receiver's host up (the system's resolver by default; tests give their own).
    """

    system = SYSTEM

    def __init__(
        self, settings: WebhookSettings, *, resolver: Resolver = resolve, **options: Any
    ) -> None:
        super().__init__(settings, **options)
        self.resolver = resolver
        self._adapter = _ToCheckedAddress()
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)

    def deliver(
        self,
        url: str,
        secret: str,
        webhook_id: str,
        payload: Mapping[str, Any],
        *,
        timestamp: int | None = None,
    ) -> DeliveryResult:
        """``POST`` ``payload`` to ``url``, signed with ``secret`` (``whsec_<base64>``), as
        the webhook ``webhook_id`` (stable across retries and calls: the receiver dedupes by
        it), retrying passing failures. ``timestamp`` (unix seconds) signs every attempt
        alike; by default each attempt is signed with the time it is sent.

        ``Permanent`` for a URL refused by ``check_url``, a redirect, or a 4xx other than
        408, 425 and 429 (with the receiver's answer); ``Retryable`` or ``RateLimited`` once
        the attempts are spent."""
        webhook_id = webhook_id.strip()
        if not webhook_id or len(webhook_id) > MAX_ID_CHARS or not webhook_id.isprintable():
            raise ValueError(f"webhook_id must be 1 to {MAX_ID_CHARS} printable characters")
        if timestamp is not None and timestamp < 0:
            raise ValueError("timestamp must be unix seconds")
        sign = signer(secret)  # ValueError for a secret that is not whsec_<base64>
        try:
            body = encode_body(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the payload is not JSON: {exc}") from None
        attempts = 0

        def attempt() -> tuple[int, str]:
            nonlocal attempts
            attempts += 1
            stamp = int(time.time()) if timestamp is None else timestamp
            signature = sign.sign(webhook_id, datetime.fromtimestamp(stamp, UTC), body.decode())
            return self._post(
                url,
                body,
                {
                    "Content-Type": "application/json",
                    "webhook-id": webhook_id,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": signature,
                },
            )

        status, answer = self._call(attempt)
        return DeliveryResult(status, attempts, answer)

    # -- the one path every call takes ----------------------------------------------------

    def _call(self, attempt: Callable[[], tuple[int, str]]) -> tuple[int, str]:
        result: tuple[int, str] = self._policy.copy()(attempt)
        return result

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        try:
            address = checked_address(
                url, allow_private=self.settings.allow_private, resolver=self.resolver
            )
        except UnresolvedHost as exc:
            raise Retryable(SYSTEM, str(exc), code="UNRESOLVED_HOST") from exc
        except ValueError as exc:
            raise Permanent(SYSTEM, f"refused URL: {exc}", code="URL_REFUSED") from exc
        target = url.strip()
        self._adapter.address = str(address)
        self.api_calls += 1
        try:
            response = self.session.post(
                target,
                data=body,
                headers={**headers, "Host": urlsplit(target).netloc.rpartition("@")[2]},
                timeout=self.settings.timeout_s,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise from_requests(exc) from exc
        finally:
            self._adapter.address = None
        with response:
            text = _read_answer(response)
        status = response.status_code
        if 200 <= status < 300:
            return status, text
        if 300 <= status < 400:
            raise redirected(status, response.headers.get("Location"))
        raise from_answer(status, text, retry_after=response.headers.get("Retry-After"))


def _read_answer(response: requests.Response) -> str:
    """The start of the answer (``MAX_ANSWER_BYTES``), as text; what arrived if it breaks off
    (the status is what counts)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ANSWER_BYTES:
                break
    except requests.RequestException:
        pass
    return b"".join(chunks)[:MAX_ANSWER_BYTES].decode(response.encoding or "utf-8", "replace")
