"""The finance receiver's check of a delivery, written from the Standard Webhooks spec
(https://www.standardwebhooks.com) with the standard library alone.

It is deliberately not fieldbridge's own helper (``connectors.webhooks.receiver``, which
subscribers may use): a simulator of someone else's receiver that shared our code could not
catch a mistake our sender and our helper made alike. This one reads the spec on its own.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature``: one or more ``v1,<base64>`` separated by spaces, each the HMAC-SHA256,
keyed with the secret's bytes (``whsec_<base64>``), of ``"{id}.{timestamp}.{body}"``. The
checks run in this order, so that a forged or stale request never uses up an id: headers
present (``BadSignature``), a signature matches (``BadSignature``), the timestamp within the
tolerance of now either way (``StaleTimestamp``), the body a JSON object (``BadPayload``),
the id not received before (``Replayed``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

PREFIX = "whsec_"
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Refused(Exception):
    """A delivery the receiver turns away (400), with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadSignature(Refused):
    """Headers missing or malformed, or no signature matches."""


class StaleTimestamp(Refused):
    """Signed too long ago, or too far in the future."""


class BadPayload(Refused):
    """Authentic, but the body is not a JSON object."""


class Replayed(Refused):
    """Authentic and new in form, but its id was received before (answered 200, no effect)."""


class Verifier:
    """Checks deliveries signed with ``secret``; remembers every id it accepted."""

    def __init__(self, secret: str, tolerance_s: int = 300) -> None:
        self.key = base64.b64decode(secret.removeprefix(PREFIX))
        self.tolerance_s = tolerance_s
        self.seen: set[str] = set()

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The delivery's JSON object; ``Refused`` (one of its kinds) otherwise."""
        lower = {name.lower(): value.strip() for name, value in headers.items()}
        webhook_id, stamp, signatures = (lower.get(name, "") for name in HEADERS)
        missing = [name for name in HEADERS if not lower.get(name)]
        if missing:
            raise BadSignature(f"missing header {', '.join(missing)}")
        if not stamp.isdigit():
            raise BadSignature("webhook-timestamp is not unix seconds")
        signed = f"{webhook_id}.{stamp}.".encode() + body
        expected = hmac.new(self.key, signed, hashlib.sha256).digest()
        if not any(hmac.compare_digest(expected, given) for given in _v1(signatures)):
            raise BadSignature("no v1 signature matches")
        skew = int(stamp) - time.time()
        if abs(skew) > self.tolerance_s:
            raise StaleTimestamp(f"webhook-timestamp is {abs(skew):.0f} s off")
        try:
            payload = json.loads(body)
        except ValueError:
            raise BadPayload("the body is not JSON") from None
        if not isinstance(payload, dict):
            raise BadPayload("the body is not a JSON object")
        if webhook_id in self.seen:
            raise Replayed("this webhook-id was received before")
        self.seen.add(webhook_id)
        return payload


def _v1(header: str) -> list[bytes]:
    found = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version == "v1":
            try:
                found.append(base64.b64decode(value, validate=True))
            except binascii.Error:
                continue
    return found
