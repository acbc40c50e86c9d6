"""Webhook receivers' answers in the connectors' error vocabulary.

A receiver answers 2xx (delivered), 429 (``RateLimited``, with its ``Retry-After``), 408, 425
or 5xx (``Retryable``), and anything else is ``Permanent`` with its answer, 401 and 403
included: a receiver refusing our signature has the wrong secret, which no retry and no new
login fixes. Redirects are not followed (``redirected``).
"""

from __future__ import annotations

import requests

from connectors import errors as shared
from connectors.errors import ConnectorError, Permanent, classify_http
from connectors.webhooks.settings import ENV_PREFIX

__all__ = ["MAX_MESSAGE_CHARS", "SYSTEM", "from_answer", "from_requests", "redirected"]

SYSTEM = "webhook"
MAX_MESSAGE_CHARS = 500
TOO_EARLY = "TOO_EARLY"


def from_answer(status: int, text: str, *, retry_after: str | None = None) -> ConnectorError:
    """The exception for a receiver's non-2xx answer with this status and body text."""
    said = " ".join(text.split())
    if len(said) > MAX_MESSAGE_CHARS:
        said = said[:MAX_MESSAGE_CHARS] + "..."
    message = f"the receiver answered HTTP {status}{f': {said}' if said else ''}"
    if status in (401, 403):  # not a session of ours that could be renewed
        return Permanent(SYSTEM, message, status, body=text)
    return classify_http(
        SYSTEM,
        status,
        code=TOO_EARLY if status == 425 else None,
        message=message,
        body=text,
        retry_after=retry_after,
        retryable_codes=(TOO_EARLY,),
    )


def redirected(status: int, location: str | None) -> Permanent:
    """A 3xx: redirects are never followed (the subscription's URL must be the endpoint)."""
    where = f" to {location}" if location else " (no Location)"
    return Permanent(
        SYSTEM,
        f"the receiver redirected{where}; redirects are not followed: "
        "update the subscription's URL",
        status,
        "REDIRECT",
        location,
    )


def from_requests(exc: requests.RequestException) -> ConnectorError:
    """Translate a transport failure: timeouts and connection errors may pass; a certificate
    that does not verify will not."""
    return shared.from_requests(
        SYSTEM, exc, ca_hint=f"does {ENV_PREFIX}CA_BUNDLE hold the receiver's CA?"
    )
