"""Salesforce answers in the connectors' error vocabulary.

REST errors come as ``[{"message", "errorCode", "fields"}]``; per-record errors of an sObject
Collections call as ``{"statusCode", "message", "fields"}``; the OAuth token endpoint answers
``{"error", "error_description"}``. Every simple-salesforce and requests exception is
translated here, keeping the remote's code, message and fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError, SalesforceMoreThanOneRecord

from connectors import errors as shared
from connectors.errors import AuthExpired, ConnectorError, Permanent, Retryable, classify_http

__all__ = [
    "SYSTEM",
    "from_answer",
    "from_record_errors",
    "from_requests",
    "from_salesforce",
    "from_token_answer",
]

SYSTEM = "salesforce"

AUTH_CODES = frozenset({"INVALID_SESSION_ID"})
RATE_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})

# Token endpoint errors that mean "these credentials are refused": no record is at fault,
# and no retry helps until someone fixes the connected app, the user or the key.
_REFUSED_CREDENTIALS = frozenset(
    {"invalid_grant", "invalid_client", "invalid_client_id", "inactive_user", "inactive_org"}
)


def from_answer(
    status: int | None, content: Any, *, retry_after: str | None = None
) -> ConnectorError:
    """The exception for a REST answer with this status and (parsed or raw) body."""
    if status == 300:
        count = len(content) if isinstance(content, list) else "several"
        return Permanent(
            SYSTEM,
            f"the external id matches {count} records",
            status,
            "MULTIPLE_CHOICES",
            content,
        )
    code, message, fields = _first_error(content)
    return classify_http(
        SYSTEM,
        status,
        code=code,
        message=message,
        fields=fields,
        body=content,
        retry_after=retry_after,
        auth_codes=AUTH_CODES,
        rate_limit_codes=RATE_LIMIT_CODES,
        retryable_codes=RETRYABLE_CODES,
    )


def from_salesforce(exc: SalesforceError, *, retry_after: str | None = None) -> ConnectorError:
    """Translate a simple-salesforce exception (its status and the body it kept)."""
    status = 300 if isinstance(exc, SalesforceMoreThanOneRecord) else exc.status
    return from_answer(status, exc.content, retry_after=retry_after)


def from_requests(exc: requests.RequestException) -> ConnectorError:
    """Translate a transport failure: timeouts and connection errors (a certificate that
    does not verify among them) may pass, and so may an answer that was not JSON."""
    if isinstance(exc, requests.exceptions.InvalidJSONError):
        return Retryable(SYSTEM, f"the answer was not JSON: {exc}", code="INVALID_JSON")
    return shared.from_requests(SYSTEM, exc)


def from_record_errors(errors: Any) -> ConnectorError:
    """The exception a failed record of a collection stands for (not raised)."""
    code, message, fields = _first_error(errors)
    return classify_http(
        SYSTEM,
        None,
        code=code,
        message=message,
        fields=fields,
        body=errors,
        auth_codes=AUTH_CODES,
        rate_limit_codes=RATE_LIMIT_CODES,
        retryable_codes=RETRYABLE_CODES,
    )


def from_token_answer(response: requests.Response) -> ConnectorError:
    """The exception for a failed login at ``/services/oauth2/token``."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, Mapping) else None
    description = body.get("error_description") if isinstance(body, Mapping) else None
    message = f"login refused: {description or error or f'HTTP {status}'}"
    retry_after = response.headers.get("Retry-After")
    code = str(error) if error is not None else None
    if status == 429 or status >= 500:
        return classify_http(
            SYSTEM, status, code=code, message=message, body=body, retry_after=retry_after
        )
    if code in _REFUSED_CREDENTIALS or status == 401:
        return AuthExpired(SYSTEM, message, status, code, body)
    return Permanent(SYSTEM, message, status, code, body)


def _first_error(content: Any) -> tuple[str | None, str, tuple[str, ...]]:
    """(code, message, fields) of the first error in a Salesforce error body."""
    item: Any = content
    if isinstance(content, list) and content:
        item = content[0]
    if isinstance(item, Mapping):
        code = item.get("errorCode") or item.get("statusCode") or item.get("error")
        message = item.get("message") or item.get("error_description") or ""
        fields = item.get("fields") or ()
        return (
            str(code) if code is not None else None,
            str(message),
            tuple(str(f) for f in fields) if isinstance(fields, list | tuple) else (),
        )
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if isinstance(content, str):
        return None, content.strip()[:500], ()
    return None, "", ()
