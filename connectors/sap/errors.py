"""SAP answers in the connectors' error vocabulary.

- a transport failure (timeout, connection refused or cut) or an HTTP 5xx without a SOAP
  Fault: ``Retryable``; a certificate that does not verify: ``Permanent``;
- HTTP 401/403: ``AuthExpired``, naming the settings that hold the credentials (the
  communication user's password or certificate was refused; a retry cannot fix it);
- a SOAP Fault: ``Permanent`` with its faultstring (and the notes of its Log), unless its text
  says the trouble is passing (temporarily unavailable, try again, a lock held by someone):
  then ``Retryable``;
- an answer whose ``Log`` carries an error (severity 3): ``Permanent`` with the log's notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import requests

from connectors import errors as shared
from connectors.errors import AuthExpired, ConnectorError, Permanent, Retryable
from connectors.sap.settings import ENV_PREFIX

__all__ = [
    "SYSTEM",
    "TEMPORARY",
    "from_fault",
    "from_log",
    "from_requests",
    "from_status",
    "refused",
]

SYSTEM = "sap"
ERROR_SEVERITY = "3"  # LogItemSeverityCode: 1 information, 2 warning, 3 error
TEMPORARY = re.compile(
    r"temporar|try again|retry later|locked|lock(ed)? by|is being (processed|edited)|"
    r"enqueue|currently (un)?available|service unavailable",
    re.IGNORECASE,
)


def refused(status: int, credentials: str, body: Any = None) -> AuthExpired:
    """HTTP 401/403: the credentials were refused, or the user may not use the service."""
    if status == 403:
        why = "the communication user may not use this service (HTTP 403)"
        hint = f"check the communication arrangement for the user in {credentials}"
    else:
        why = "SAP refused the credentials (HTTP 401)"
        hint = f"check {credentials}"
    return AuthExpired(SYSTEM, f"{why}; {hint}", status, "AUTH_REFUSED", body)


def from_status(status: int | None, content: Any) -> ConnectorError:
    """An HTTP answer that carried no SOAP envelope zeep could read."""
    return shared.without_envelope(SYSTEM, status, content)


def from_requests(exc: requests.RequestException) -> ConnectorError:
    """Translate a transport failure: timeouts and connection errors may pass; a certificate
    that does not verify will not."""
    return shared.from_requests(SYSTEM, exc, ca_hint=f"is {ENV_PREFIX}CA_BUNDLE SAP's CA?")


def from_fault(message: str | None, code: str | None, notes: Iterable[str] = ()) -> ConnectorError:
    """A SOAP Fault: its faultstring, with the notes of its detail's Log."""
    text = (message or "").strip() or "SOAP Fault without a faultstring"
    extra = [n for n in notes if n and n != text]
    full = f"{text} ({'; '.join(extra)})" if extra else text
    cls: type[ConnectorError] = Retryable if TEMPORARY.search(full) else Permanent
    return cls(SYSTEM, full, None, code or "SOAP_FAULT")


def from_log(notes: list[str]) -> Permanent:
    """An answer whose Log reports errors."""
    text = "; ".join(notes) if notes else "the answer's Log reports an error"
    return Permanent(SYSTEM, text, 200, "LOG_ERROR")
