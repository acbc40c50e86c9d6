"""Background work in the embedded mode: one thread takes jobs in the order given.

A schedule run is CPU work for up to minutes (its solver spreads over a process pool of
its own), so it runs here, beside the API's requests, never in one. In the production
mode the same functions run as Celery tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("fieldbridge.runner")


class Runner:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldbridge-runner")

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._pool.submit(job, *args, **kwargs)
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self) -> None:
        """Finish the job under way; drop the ones not started (they stay queued in the store
        and run at the next start)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("background job failed", exc_info=exc)
