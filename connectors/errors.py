"""The one error vocabulary every connector speaks.

A connector turns whatever its remote answered (an HTTP status, a remote error code, a
timeout) into one of four exceptions, so that the sync engine and the outbox relay decide
without knowing which system they talk to:

- ``Retryable``: try the same call again soon (timeouts, connection errors, 5xx, a record
  lock held by someone else).
- ``RateLimited``: the remote asks us to slow down; ``retry_after_s`` says for how long when
  the remote said so.
- ``AuthExpired``: no valid session could be had (the token expired and could not be
  renewed, or the credentials were refused). The records are not at fault.
- ``Permanent``: the remote refused this request and will refuse it again; ``code``,
  ``message`` and ``fields`` carry its answer for a dead letter.

``classify_http`` is the pure rule from an HTTP answer to one of them; each connector passes
its own remote error codes. ``from_requests`` is the rule for a transport failure.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Collection, Sequence
from typing import Any

import requests

__all__ = [
    "AuthExpired",
    "ConnectorError",
    "Permanent",
    "RateLimited",
    "Retryable",
    "classify_http",
    "from_requests",
    "parse_retry_after",
]

MAX_BODY_CHARS = 2000
_DELTA_SECONDS = re.compile(r"\d{1,9}(\.\d+)?")


class ConnectorError(Exception):
    """A remote system's answer (or silence), in the connectors' vocabulary."""

    def __init__(
        self,
        system: str,
        message: str,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
        *,
        fields: Sequence[str] = (),
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.message = message
        self.status = status
        self.code = code
        self.body = _bounded(body)
        self.fields = tuple(fields)
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        what = " ".join(str(part) for part in (self.status, self.code) if part is not None)
        where = f"{self.system} {what}" if what else self.system
        fields = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{where}: {self.message}{fields}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(system={self.system!r}, message={self.message!r}, "
            f"status={self.status!r}, code={self.code!r})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The remote's answer as plain data, e.g. for a dead letter."""
        return {
            "kind": type(self).__name__,
            "system": self.system,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "fields": list(self.fields),
            "retry_after_s": self.retry_after_s,
        }


class Retryable(ConnectorError):
    """A passing fault: the same call may succeed if repeated."""


class RateLimited(ConnectorError):
    """The remote asks us to slow down; ``retry_after_s`` when it said for how long."""


class AuthExpired(ConnectorError):
    """No valid session: the token expired and could not be renewed, or login was refused."""


class Permanent(ConnectorError):
    """The remote refused this request and will refuse it again as it is."""


def classify_http(
    system: str,
    status: int | None,
    *,
    code: str | None = None,
    message: str = "",
    fields: Sequence[str] = (),
    body: Any = None,
    retry_after: str | None = None,
    auth_codes: Collection[str] = (),
    rate_limit_codes: Collection[str] = (),
    retryable_codes: Collection[str] = (),
) -> ConnectorError:
    """The exception for one failed answer; pure, raises nothing.

    ``status`` is None for an error reported inside a successful answer (a per-record error
    of a batch). The remote's own codes win over the status: a 400 ``UNABLE_TO_LOCK_ROW`` is
    retryable, a 403 ``REQUEST_LIMIT_EXCEEDED`` is rate limiting.
    """
    args: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": body,
        "fields": fields,
        "retry_after_s": parse_retry_after(retry_after),
    }
    text = message or (f"HTTP {status}" if status is not None else "error")
    cls: type[ConnectorError]
    if code in auth_codes or status == 401:
        cls = AuthExpired
    elif code in rate_limit_codes or status == 429:
        cls = RateLimited
    elif code in retryable_codes or (status is not None and (status >= 500 or status == 408)):
        cls = Retryable
    else:
        cls = Permanent
    return cls(system, text, **args)


def without_envelope(system: str, status: int | None, content: Any) -> ConnectorError:
    """A SOAP service's HTTP answer that carried no envelope to read: a 200 cut short may
    pass; any other as its status says (``classify_http``)."""
    if status == 200:
        return Retryable(system, "the answer was not XML (cut short?)", status, "INVALID_XML")
    return classify_http(
        system, status, message=f"HTTP {status} without a SOAP answer", body=content
    )


def from_requests(
    system: str, exc: requests.RequestException, *, ca_hint: str | None = None
) -> ConnectorError:
    """The exception for a transport failure; pure, raises nothing. Timeouts and connection
    errors may pass (``Retryable``), anything else will not (``Permanent``). With ``ca_hint``
    (which setting should hold whose CA), a certificate that does not verify will not pass
    either: ``Permanent``, with the hint."""
    if ca_hint is not None and isinstance(exc, requests.exceptions.SSLError):
        return Permanent(system, f"TLS failed: {exc} ({ca_hint})")
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return Retryable(system, f"{type(exc).__name__}: {exc}")
    return Permanent(system, f"{type(exc).__name__}: {exc}")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date); None if absent."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _bounded(body: Any) -> Any:
    """Keep a text body short enough for a log line or a dead letter."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
        return body[:MAX_BODY_CHARS] + "..."
    return body
