"""What every connector does the same around its own protocol: a ``PinnedSession`` (the
settings' timeout and CA bundle always applied), the shared retry policy built from the
settings (``connectors.retry``), ``api_calls``, ``close`` and the context manager.

A subclass names its ``system`` (and the errors its policy must never retry, if any), and
runs each call as ``self._policy.copy()(attempt, ...)``, counting every attempt in
``api_calls``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar, Generic, Self, TypeVar

from connectors.http import PinnedSession
from connectors.retry import retrying
from connectors.settings import ConnectorSettings

__all__ = ["Connector"]

SettingsT = TypeVar("SettingsT", bound=ConnectorSettings)


class Connector(Generic[SettingsT]):
    """One remote system, read through ``session`` with ``settings``.

    ``api_calls`` counts requests sent (every attempt, retries included).
    """

    system: ClassVar[str]
    never_retry: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(
        self,
        settings: SettingsT,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_total_s: float | None = None,
    ) -> None:
        """No I/O here. ``max_total_s`` caps one call with its retries (default:
        ``TIMEOUT_S`` times ``MAX_ATTEMPTS``); ``sleep`` is for tests."""
        self.settings = settings
        self.session = PinnedSession(timeout_s=settings.timeout_s, ca_bundle=settings.ca_bundle)
        self.api_calls = 0
        self._policy = retrying(
            system=self.system,
            max_attempts=settings.max_attempts,
            max_total_s=(
                settings.timeout_s * settings.max_attempts if max_total_s is None else max_total_s
            ),
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            sleep=sleep,
            never_retry=self.never_retry,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
