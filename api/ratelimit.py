"""Per-client rate limits (moving window) with the ``limits`` library.

Storage is in-process for a server of one process; several share the count in the store
(``orchestrator.access.rate_limits``) or in Redis (``FIELDBRIDGE_RATE_LIMIT_STORAGE``,
``Settings.rate_limits_for``). A client is its peer address, or what a trusted proxy says in
``X-Forwarded-For`` (``FIELDBRIDGE_TRUSTED_PROXIES``; none by default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine

from api.deps import client_of, rate_limited_already
from api.problems import ApiProblem
from orchestrator.access.rate_limits import StoreWindows
from orchestrator.runtime.settings import Settings

WINDOW_S = 60
"""Every limit is so many requests a minute: counts older than this are spent."""


class RateLimits:
    def __init__(self, settings: Settings, engine: Engine, workers: int = 1) -> None:
        """Limits for a server of ``workers`` processes on the store behind ``engine``
        (``ValueError`` when the settings would count in each process while there are
        several)."""
        where = settings.rate_limits_for(workers)
        storage = StoreWindows(engine) if where == "store" else storage_from_string(where)
        self._limiter = MovingWindowRateLimiter(storage)
        self._items = {
            "status": RateLimitItemPerMinute(settings.status_rate_per_min),
            "service-requests": RateLimitItemPerMinute(settings.service_request_rate_per_min),
        }

    def hit(self, name: str, client: str) -> None:
        item = self._items[name]
        if not self._limiter.hit(item, name, client):
            reset, _remaining = self._limiter.get_window_stats(item, name, client)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise ApiProblem(
                429,
                f"more than {item.amount} requests a minute from this client",
                headers={"Retry-After": str(retry_after)},
                retry_after_s=retry_after,
            )


LIMITED: dict[Callable[..., Any], str] = {}
"""Each ``limited`` dependency's limit, for the OpenAPI document (``api.openapi``), as
``api.deps.ADMITTED`` keeps each role check's."""


def limited(name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that counts the request against the limit ``name``, unless ``api.gate``
    counted it already (a request with a body, before reading it)."""

    async def dependency(request: Request) -> None:
        if not rate_limited_already(request.scope):
            limits: RateLimits = request.app.state.rate_limits
            limits.hit(name, client_of(request.scope))

    LIMITED[dependency] = name
    return dependency
