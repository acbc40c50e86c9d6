"""Receiving fieldbridge's webhooks: the helper we ship to subscribers.

It depends on the standard library and ``standardwebhooks`` only (nothing else of
fieldbridge's), so a subscriber may copy this one file.

    receiver = WebhookReceiver(secret, MemorySeenIds())
    try:
        event = receiver.verify(request.headers, request.body)   # the parsed JSON object
    except Replayed:
        return 200   # received before: answer 2xx so that the sender stops, do nothing again
    except WebhookRefused as exc:
        return 400, exc.reason

A delivery follows the Standard Webhooks spec (https://www.standardwebhooks.com): headers
``webhook-id`` (the idempotency key: the same on every retry), ``webhook-timestamp`` (unix
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
several separated by spaces while a secret is rotated). The check runs in this order: the
headers are present and well formed, a signature matches (``BadSignature``), the timestamp
is within ``tolerance_s`` of now either way (``StaleTimestamp``), the body is a JSON object
(``BadPayload``), and only then is the id remembered (``Replayed`` when it was seen before):
a forged or stale request never uses up an id.

``SeenIds.remember`` must be atomic (two concurrent deliveries of one id: one is new). Keep
ids at least ``2 * tolerance_s``: an id forgotten sooner could be replayed while its
timestamp is still accepted. ``MemorySeenIds`` serves one process; several processes need a
shared store (e.g. a unique key in the subscriber's database, or Redis ``SET NX EX``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

__all__ = [
    "BadPayload",
    "BadSignature",
    "MemorySeenIds",
    "Replayed",
    "SeenIds",
    "StaleTimestamp",
    "WebhookReceiver",
    "WebhookRefused",
    "new_secret",
]

SECRET_PREFIX = "whsec_"  # nosec B105  # Standard Webhooks' secret prefix, not a secret
MAX_ID_CHARS = 256
_TIMESTAMP = re.compile(r"\d{1,11}")  # unix seconds up to the year 5138 (datetime: 9999)


class WebhookRefused(Exception):
    """The delivery is refused; ``reason`` says why (safe to answer the sender)."""

    def __init__(self, reason: str, webhook_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.webhook_id = webhook_id


class BadSignature(WebhookRefused):
    """A header is missing or malformed, or no ``v1`` signature matches the secret."""


class StaleTimestamp(WebhookRefused):
    """Signed, but ``webhook-timestamp`` is further than the tolerance from now."""


class BadPayload(WebhookRefused):
    """Signed and timely, but the body is not a JSON object."""


class Replayed(WebhookRefused):
    """Signed and timely, but this ``webhook-id`` was received before: answer 2xx and do
    nothing again. ``payload`` is the parsed body."""

    def __init__(self, reason: str, webhook_id: str, payload: dict[str, Any]) -> None:
        super().__init__(reason, webhook_id)
        self.payload = payload


class SeenIds(Protocol):
    """Where received webhook ids are kept."""

    def remember(self, webhook_id: str) -> bool:
        """Atomically: True (and the id is now kept) if it was not kept yet, else False."""
        ...


class MemorySeenIds:
    """``SeenIds`` in this process's memory, thread-safe. At most ``max_size`` ids (the
    oldest forgotten first; None: no bound) and each for ``ttl_s`` seconds (None: until
    evicted); ``now`` is a monotonic clock, injectable for tests."""

    def __init__(
        self,
        max_size: int | None = 100_000,
        ttl_s: float | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError("max_size must be at least 1 (or None)")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError("ttl_s must be positive (or None)")
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._now = now
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when, oldest first
        self._lock = threading.Lock()

    def remember(self, webhook_id: str) -> bool:
        with self._lock:
            now = self._now()
            if self.ttl_s is not None:
                while self._seen and next(iter(self._seen.values())) <= now - self.ttl_s:
                    self._seen.popitem(last=False)
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = now
            if self.max_size is not None and len(self._seen) > self.max_size:
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


def new_secret(nbytes: int = 32) -> str:
    """A new random signing secret, ``whsec_<base64>`` (``nbytes`` random bytes, 24-64)."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a secret has 24 to 64 bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def signer(secret: str) -> Webhook:
    """The ``standardwebhooks`` signer for ``secret`` (``whsec_<base64>``); ``ValueError``
    for a secret that is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    raw = secret[len(SECRET_PREFIX) :]
    try:
        base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        return Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError) as exc:
        raise ValueError(f"the webhook secret is not {SECRET_PREFIX}<base64>: {exc}") from None


class WebhookReceiver:
    """Verifies deliveries signed with ``secret``; ``seen`` keeps the ids received."""

    def __init__(
        self,
        secret: str,
        seen: SeenIds,
        tolerance_s: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        if tolerance_s <= 0:
            raise ValueError("tolerance_s must be positive")
        self._webhook = signer(secret)
        self.seen = seen
        self.tolerance_s = tolerance_s
        self._now = now

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The delivery's JSON object, once it is authentic, timely and new; else one of
        ``BadSignature``, ``StaleTimestamp``, ``BadPayload``, ``Replayed``. Header names are
        matched in any case."""
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        webhook_id = lower.get("webhook-id", "").strip()
        stamp = lower.get("webhook-timestamp", "").strip()
        signatures = lower.get("webhook-signature", "").strip()
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", stamp),
                ("webhook-signature", signatures),
            )
            if not value
        ]
        if missing:
            raise BadSignature(f"missing header {', '.join(missing)}", webhook_id or None)
        if len(webhook_id) > MAX_ID_CHARS:
            raise BadSignature(f"webhook-id is longer than {MAX_ID_CHARS} characters")
        if not _TIMESTAMP.fullmatch(stamp):
            raise BadSignature("webhook-timestamp is not unix seconds", webhook_id)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadSignature("the body is not UTF-8", webhook_id) from None
        moment = datetime.fromtimestamp(int(stamp), UTC)
        expected = _signature_bytes(self._webhook.sign(webhook_id, moment, text))
        if not any(hmac.compare_digest(expected, given) for given in _v1_signatures(signatures)):
            raise BadSignature("no v1 signature matches", webhook_id)
        skew = int(stamp) - self._now()
        if abs(skew) > self.tolerance_s:
            when = "old" if skew < 0 else "far in the future"
            raise StaleTimestamp(
                f"webhook-timestamp is {abs(skew):.0f} s {when} (tolerance {self.tolerance_s} s)",
                webhook_id,
            )
        try:
            payload = json.loads(text)
        except ValueError:
            raise BadPayload("the body is not JSON", webhook_id) from None
        if not isinstance(payload, dict):
            raise BadPayload("the body is not a JSON object", webhook_id)
        if not self.seen.remember(webhook_id):
            raise Replayed("this webhook-id was received before", webhook_id, payload)
        return payload


def _signature_bytes(versioned: str) -> bytes:
    return base64.b64decode(versioned.partition(",")[2])


def _v1_signatures(header: str) -> list[bytes]:
    """The ``v1`` signatures of a ``webhook-signature`` header (malformed ones skipped)."""
    found = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return found
