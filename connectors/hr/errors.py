"""HR answers in the connectors' error vocabulary.

The HR system answers errors as ``{"error": "<code>", "message": "..."}``. Its token is
static (issued by the HR administrator): a 401 is ``AuthExpired`` whose message says so and
names the setting to change, never something a retry or a new login could fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connectors import errors as shared
from connectors.errors import AuthExpired, ConnectorError, classify_http
from connectors.hr.settings import ENV_PREFIX

__all__ = ["SYSTEM", "from_answer", "from_requests"]

SYSTEM = "hr"


def from_answer(
    status: int | None, content: Any, *, retry_after: str | None = None
) -> ConnectorError:
    """The exception for an HTTP answer with this status and (parsed or raw) body."""
    code, message = _error_of(content)
    if status == 401:
        why = "the token expired" if code == "token_expired" else "the token was refused"
        return AuthExpired(
            SYSTEM,
            f"{why}{f' ({message})' if message else ''}; a static token cannot be renewed: "
            f"set a new {ENV_PREFIX}TOKEN",
            status,
            code,
            content,
        )
    return classify_http(
        SYSTEM, status, code=code, message=message, body=content, retry_after=retry_after
    )


def from_requests(exc: requests.RequestException) -> ConnectorError:
    """Translate a transport failure: timeouts and connection errors may pass; a certificate
    that does not verify will not."""
    return shared.from_requests(
        SYSTEM, exc, ca_hint=f"is {ENV_PREFIX}CA_BUNDLE the HR system's CA?"
    )


def _error_of(content: Any) -> tuple[str | None, str]:
    """(code, message) of an HR error body."""
    if isinstance(content, Mapping):
        code = content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return (str(code) if code is not None else None, str(message))
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if isinstance(content, str):
        return None, content.strip()[:500]
    return None, ""
