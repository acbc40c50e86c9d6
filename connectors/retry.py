"""The one retry policy every connector uses (tenacity underneath).

- retries ``Retryable`` and ``RateLimited``; ``Permanent`` and ``AuthExpired`` (and whatever
  the caller lists in ``never_retry``) go straight to the caller;
- waits with full-jitter exponential backoff (``backoff_base_s`` doubling up to
  ``backoff_max_s``), but never less than a ``Retry-After`` the remote gave;
- stops after ``max_attempts`` attempts, or before a wait that would end past
  ``max_total_s`` from the first attempt (a remote asking for an hour ends the call now,
  with its ``retry_after_s``, instead of holding the worker);
- re-raises the last error itself (never tenacity's ``RetryError``);
- logs every retry at WARNING; ``sleep`` is injectable so tests never wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from connectors.errors import RateLimited, Retryable

__all__ = ["WaitBackoffOrRetryAfter", "backoff_s", "retrying"]

log = logging.getLogger("connectors.retry")


class WaitBackoffOrRetryAfter(wait_base):
    """Jittered exponential backoff, raised to the remote's ``Retry-After`` when it gave one."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self._backoff = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        asked = getattr(exc, "retry_after_s", None)
        return backoff if asked is None else max(backoff, float(asked))


def backoff_s(
    attempt: int, error: BaseException, *, base_s: float = 0.5, max_s: float = 30.0
) -> float:
    """The wait before attempt ``attempt + 1`` after ``error``, by the same policy as
    ``retrying``: for a retry kept in a store (an outbox row's next attempt) rather than slept
    through by a worker."""
    if attempt < 1:
        raise ValueError("attempt must be at least 1")
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(error), error, error.__traceback__))
    return float(WaitBackoffOrRetryAfter(base_s, max_s)(state))


def retrying(
    *,
    system: str,
    max_attempts: int,
    max_total_s: float,
    backoff_base_s: float = 0.5,
    backoff_max_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    never_retry: tuple[type[BaseException], ...] = (),
) -> Retrying:
    """A policy to call with the function to run: ``retrying(...)(fn, *args)``."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def should_retry(exc: BaseException) -> bool:
        return isinstance(exc, Retryable | RateLimited) and not isinstance(exc, never_retry)

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.2f s",
            system,
            state.attempt_number,
            max_attempts,
            exc,
            state.upcoming_sleep,
        )

    return Retrying(
        retry=retry_if_exception(should_retry),
        wait=WaitBackoffOrRetryAfter(backoff_base_s, backoff_max_s),
        stop=stop_after_attempt(max_attempts) | stop_before_delay(max_total_s),
        sleep=sleep,
        before_sleep=log_retry,
        reraise=True,
    )
