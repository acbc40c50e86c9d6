"""The embedded mode's background: two threads in the process that serves the API.

- Schedule runs: one thread takes them in the order given. A run is CPU work for up to
  minutes (its solver spreads over a process pool of its own), so it runs here, beside the
  API's requests, never in one. At start a run a stopped process left ``running`` fails,
  saying so, and the runs still ``queued`` are taken up (``planning.runs.recover``).
- The outbox relay (``FIELDBRIDGE_OUTBOX_RELAY``, on by default): a round delivers what is
  due, at once after a commit that made rows due and else every
  ``FIELDBRIDGE_OUTBOX_RELAY_EVERY_S``; when the outbox's alerts change (dead letters, a
  pending row older than ``FIELDBRIDGE_OUTBOX_ALERT_AGE_S``) they are logged.

A server of several processes (``fieldbridge serve --workers N``) keeps both threads in its
supervising process, once: its workers' background is a ``Forwarder``, which sends each
wake-up (a run to take, rows due) as a datagram to the supervisor's ``WakeListener`` on a
Unix socket in a directory only this user can open.

The production mode (``orchestrator.runtime.tasks``) runs the same functions as Celery tasks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
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
        self._wake = threading.Event()  # set by a commit that made outbox rows due, and by stop
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
        """The relay looks now, not at its next round."""
        self._wake.set()

    def stop(self) -> None:
        """The relay stops after its round; the run under way finishes, the ones not started
        stay queued in the store (and run at the next start); the solver's process pool
        ends."""
        self._stop.set()
        self._wake.set()
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
            self._wake.wait(self.settings.outbox_relay_every_s)
            self._wake.clear()
            if self._stop.is_set():
                return


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("background job failed", exc_info=exc)


RUN, OUTBOX, STOP = b"run ", b"outbox", b"stop"
WAKE_VARIABLE = "FIELDBRIDGE_SERVER_WAKE"
"""Set by ``fieldbridge serve --workers N`` for its workers: where their wake-ups go."""


class WakeListener:
    """The supervisor's end: a thread that hands each worker's wake-up to ``background``."""

    def __init__(self, background: EmbeddedBackground) -> None:
        self._background = background
        self._directory = tempfile.mkdtemp(prefix="fieldbridge-wake-")  # mode 0700
        self.address = os.path.join(self._directory, "wake")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self.address)
        self._thread = threading.Thread(target=self._listen, name="wake-listener", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while True:
            message = self._socket.recv(64)
            if message == STOP:
                return
            if message == OUTBOX:
                self._background.outbox_written()
            elif message.startswith(RUN) and message[len(RUN) :].isdigit():
                self._background.submit_run(int(message[len(RUN) :]))
            else:
                log.warning("wake-up not understood, ignored: %r", message)

    def close(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as own:
            own.sendto(STOP, self.address)
        self._thread.join()
        self._socket.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class Forwarder:
    """A worker's background (``fieldbridge serve --workers N``): what the embedded mode does
    runs in the supervisor, so a run to take and rows due are sent to it."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def start(self) -> None:
        """Nothing to take up: the supervisor did, once, before any worker started."""

    def submit_run(self, run_id: int) -> None:
        try:
            self._socket.sendto(RUN + str(run_id).encode(), self._address)
        except OSError:  # the run stays queued in the store, and the next start takes it
            log.exception("schedule run %s: the server's runner could not be told", run_id)

    def outbox_written(self) -> None:
        # a full queue of wake-ups, or none listening: the relay looks anyway, soon
        with contextlib.suppress(OSError):
            self._socket.sendto(OUTBOX, socket.MSG_DONTWAIT, self._address)

    def stop(self) -> None:
        self._socket.close()
