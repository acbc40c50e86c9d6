"""The embedded mode's background: two threads in the process that serves the API.

- Schedule runs: one thread takes them in the order given. A run is CPU work for up to
  minutes (its solver spreads over a process pool of its own), so it runs here, beside the
  API's requests, never in one. At start a run a stopped process left ``running`` fails,
  saying so, and the runs still ``queued`` are taken up (``planning.runs.recover``).
- The outbox relay (``FIELDBRIDGE_OUTBOX_RELAY``, on by default): a round every
  ``FIELDBRIDGE_OUTBOX_RELAY_EVERY_S`` delivers what is due; when the outbox's alerts change
  (dead letters, a pending row older than ``FIELDBRIDGE_OUTBOX_ALERT_AGE_S``) they are logged.

The production mode (``orchestrator.runtime.tasks``) runs the same functions as Celery tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from orchestrator.outbox import admin
from orchestrator.outbox.relay import Relay
from orchestrator.planning import runs
from orchestrator.runtime.metrics import TASK_SECONDS
from orchestrator.runtime.settings import Settings
from orchestrator.store.uow import UnitOfWork
from scheduler import auto

log = logging.getLogger("fieldbridge.runner")
outbox_log = logging.getLogger("fieldbridge.outbox")


class EmbeddedBackground:
    def __init__(
        self,
        settings: Settings,
        new_uow: Callable[..., UnitOfWork],
        make_relay: Callable[[], Relay],
    ) -> None:
        self.settings, self.new_uow, self.make_relay = settings, new_uow, make_relay
        self._runs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldbridge-runner")
        self._stop = threading.Event()
        self._relay: threading.Thread | None = None

    def start(self) -> None:
        for run_id in runs.recover(self.new_uow):
            self.submit_run(run_id)
        if self.settings.outbox_relay:
            relay = self.make_relay()
            self._relay = threading.Thread(
                target=self._deliver, args=(relay,), name="outbox-relay", daemon=True
            )
            self._relay.start()

    def submit_run(self, run_id: int) -> None:
        future = self._runs.submit(
            runs.execute,
            self.new_uow,
            run_id,
            window_min=self.settings.appointment_window_min,
            lease_s=self.settings.plan_lease_s,
        )
        future.add_done_callback(_log_failure)

    def outbox_written(self) -> None:
        """Nothing to do: the relay looks every round."""

    def stop(self) -> None:
        """The relay stops after its round; the run under way finishes, the ones not started
        stay queued in the store (and run at the next start); the solver's process pool
        ends."""
        self._stop.set()
        if self._relay is not None:
            self._relay.join()
        self._runs.shutdown(wait=True, cancel_futures=True)
        auto.shutdown()  # the solver's pool: its processes end with this one

    def _deliver(self, relay: Relay) -> None:
        shown: list[str] = []
        while True:
            try:
                with TASK_SECONDS.labels("outbox.relay_round").time():
                    relay.drain()
                with self.new_uow(read_only=True) as uow:
                    now = admin.alerts(uow, self.settings.outbox_alert_age_s)
                if now != shown:
                    for reason in now:
                        outbox_log.error("outbox alert: %s", reason)
                    shown = now
            except Exception:  # the store or a remote is away: the next round tries again
                outbox_log.exception("outbox: the relay's round failed; trying again")
            if self._stop.wait(self.settings.outbox_relay_every_s):
                return


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("background job failed", exc_info=exc)
