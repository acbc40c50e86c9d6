"""Workday answers in the connectors' error vocabulary.

- a transport failure (timeout, connection refused or cut) or an HTTP 5xx without a SOAP
  Fault: ``Retryable``; a certificate that does not verify: ``Permanent``;
- HTTP 401/403, or a Fault whose code is ``Client.authenticationError`` (Workday's answer to
  a UsernameToken it refuses, with HTTP 500): ``AuthExpired``, naming the settings to check;
- a Fault carrying ``Validation_Fault`` (the request is wrong: a reference that names
  nothing, a value out of range): ``Permanent``, with each ``Validation_Error`` message;
- a Fault carrying ``Processing_Fault`` (Workday could not process it now): ``Retryable``;
- any other Fault: ``Permanent`` for a ``Client`` code, ``Retryable`` for a ``Server`` one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from connectors import errors as shared
from connectors.errors import AuthExpired, ConnectorError, Permanent, Retryable
from connectors.workday.settings import ENV_PREFIX

__all__ = ["PROCESSING", "SYSTEM", "VALIDATION", "from_fault", "from_requests", "from_status"]

SYSTEM = "workday"
VALIDATION = "Validation_Fault"
PROCESSING = "Processing_Fault"
CREDENTIALS = f"{ENV_PREFIX}USERNAME and {ENV_PREFIX}PASSWORD"


def refused(status: int | None, why: str, body: Any = None) -> AuthExpired:
    """The credentials were refused (or the user may not use the service)."""
    return AuthExpired(
        SYSTEM, f"{why}; check {CREDENTIALS} (user@tenant)", status, "AUTH_REFUSED", body
    )


def from_status(status: int | None, content: Any) -> ConnectorError:
    """An HTTP answer that carried no SOAP envelope zeep could read."""
    if status in (401, 403):
        return refused(status, f"Workday refused the request (HTTP {status})", content)
    return shared.without_envelope(SYSTEM, status, content)


def from_requests(exc: requests.RequestException) -> ConnectorError:
    """Translate a transport failure: timeouts and connection errors may pass; a certificate
    that does not verify will not."""
    return shared.from_requests(SYSTEM, exc, ca_hint=f"is {ENV_PREFIX}CA_BUNDLE Workday's CA?")


def from_fault(
    message: str | None, code: str | None, kind: str | None, notes: Iterable[str] = ()
) -> ConnectorError:
    """A SOAP Fault: ``kind`` is the local name of its detail's element (``Validation_Fault``,
    ``Processing_Fault``, or None), ``notes`` the messages it carries."""
    text = (message or "").strip() or "SOAP Fault without a faultstring"
    extra = [n for n in notes if n and n != text]
    full = f"{text} ({'; '.join(extra)})" if extra else text
    faultcode = (code or "").split(":")[-1]
    if "authenticationError" in faultcode:
        return refused(None, f"Workday refused the credentials: {full}")
    if kind == VALIDATION:
        return Permanent(SYSTEM, full, None, VALIDATION)
    if kind == PROCESSING:
        return Retryable(SYSTEM, full, None, PROCESSING)
    cls: type[ConnectorError] = Retryable if faultcode.startswith("Server") else Permanent
    return cls(SYSTEM, full, None, faultcode or "SOAP_FAULT")
