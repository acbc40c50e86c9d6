"""The HR connector: the certifications feed, page by page, in the connectors' vocabulary.

Every request goes through one path (``_call``): one ``GET`` on a ``PinnedSession``
(timeout and CA bundle always applied) with the bearer token, the answer or the transport
failure translated (``connectors.hr.errors``), and the shared retry policy around it. Each
attempt is one request, counted in ``api_calls``.

The feed is ordered by (``updated_at``, ``id``) and paged by an opaque cursor that encodes the
last record returned, so a page fetched again after a failure neither skips nor repeats
records, and records changed during a read come again later with their new ``updated_at``.

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import requests

from connectors.base import Connector
from connectors.errors import Permanent, Retryable
from connectors.hr.errors import SYSTEM, from_answer, from_requests
from connectors.hr.settings import HRSettings

__all__ = ["MAX_PAGE_SIZE", "HRConnector"]

MAX_PAGE_SIZE = 1000
CERTIFICATIONS = "/v1/certifications"


class HRConnector(Connector[HRSettings]):
    """The HR system's REST API. Raises only the connectors' vocabulary
    (``connectors.errors``); ``ValueError`` for a bad argument.

    ``api_calls`` counts requests sent (every attempt, retries included).
    """

    system = SYSTEM

    # -- reading --------------------------------------------------------------------------

    def certification_pages(
        self, updated_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """The certifications changed at or after ``updated_since`` (all, when None), page by
        page in feed order (``updated_at``, ``id``), following ``next_cursor`` (empty pages
        skipped); each page fetch is retried on its own. Records are as the HR system sends
        them (nothing checked but that each is a JSON object): malformed ones included.

        ``updated_since`` must carry its time zone; keep the largest ``updated_at`` read as
        the next ``updated_since`` (inclusive: records stamped in that second come again).
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        params: dict[str, str] = {"limit": str(page_size)}
        if updated_since is not None:
            if updated_since.tzinfo is None or updated_since.utcoffset() is None:
                raise ValueError("updated_since must be time-zone aware")
            params["updated_since"] = updated_since.isoformat()
        cursor: str | None = None
        while True:
            query = params if cursor is None else params | {"cursor": cursor}
            items, following = self._call(query)
            if items:
                yield items
            if following is None:
                return
            if following == cursor:
                raise Permanent(SYSTEM, "the feed answered the same cursor again", 200)
            cursor = following

    # -- the one path every call takes ----------------------------------------------------

    def _call(self, params: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        result: tuple[list[dict[str, Any]], str | None] = self._policy.copy()(self._page, params)
        return result

    def _page(self, params: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        self.api_calls += 1
        try:
            response = self.session.get(
                self.settings.base_url + CERTIFICATIONS,
                params=dict(params),
                headers={
                    "Authorization": f"Bearer {self.settings.bearer()}",
                    "Accept": "application/json",
                },
                timeout=self.settings.timeout_s,
            )
        except requests.RequestException as exc:
            raise from_requests(exc) from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 300:
            raise from_answer(
                response.status_code, body, retry_after=response.headers.get("Retry-After")
            )
        if isinstance(body, str):  # a 2xx cut short or not JSON: fetch the page again
            raise Retryable(SYSTEM, "the answer was not JSON", response.status_code, "INVALID_JSON")
        items = body.get("items") if isinstance(body, Mapping) else None
        following = body.get("next_cursor") if isinstance(body, Mapping) else None
        if (
            not isinstance(items, list)
            or not all(isinstance(i, dict) for i in items)
            or not (following is None or (isinstance(following, str) and following))
        ):
            raise Permanent(
                SYSTEM,
                "the answer is not a page ({items: [objects], next_cursor: string | null})",
                response.status_code,
                body=body,
            )
        return items, following
