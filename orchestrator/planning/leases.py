"""A schedule run is held by a lease in its row (``lease_owner``, ``lease_until``,
``attempts``), not by the process or message that runs it: a process that dies mid-plan leaves
a run whose lease runs out, and the next ``execute`` of it takes it over from the start; the
process that lost it stops at its next write (``LeaseLost``), so two never store a plan for
one run."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update

from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork

log = logging.getLogger("orchestrator.scheduling")
_RUNS = models.table_of(models.ScheduleRun)


def abandoned(now: datetime) -> ColumnElement[bool]:
    """The runs ``running`` whose lease has run out by ``now``: the process that ran them
    died (a worker takes them over)."""
    runs = _RUNS.c
    return (runs.status == "running") & (runs.lease_until.is_(None) | (runs.lease_until < now))


def orphaned(uow: UnitOfWork, *, queued_for_s: float, now: datetime | None = None) -> list[int]:
    """Runs nobody is running: ``queued`` for longer than ``queued_for_s`` (the task that was
    to run them is lost: a broker restarted with it), or ``abandoned``. Oldest first."""
    now = now or utcnow()
    runs = _RUNS.c
    waiting = (runs.status == "queued") & (runs.created_at < now - timedelta(seconds=queued_for_s))
    found = uow.connection().execute(
        select(runs.id).where(waiting | abandoned(now)).order_by(runs.id)
    )
    return [int(ident) for ident in found.scalars()]


class LeaseLost(Exception):
    """Another process took the run over: this one's lease ran out unrenewed."""


@dataclass(frozen=True)
class Lease:
    """This process's hold on a run. Every write to the run goes through ``update``, which
    refuses (``LeaseLost``) once another process holds it; ``renewed`` keeps the hold alive
    while the run works (a third of the lease at a time)."""

    new_uow: Callable[[], UnitOfWork]
    run_id: int
    owner: str
    seconds: float

    def take(self) -> models.ScheduleRun | None:
        """The run, now this process's to run: when ``queued``, or ``running`` with its lease
        run out (its process died: taken over, from the start). None when it is neither."""
        with self.new_uow() as uow:
            run = uow.session.get(models.ScheduleRun, self.run_id, with_for_update=True)
            now = utcnow()
            if run is None or run.status not in ("queued", "running"):
                return None
            if run.status == "running":
                if run.lease_until is not None and run.lease_until >= now:
                    return None  # its process is alive and renewing
                log.warning("schedule run %s: %s stopped renewing its lease (%s); taken over "
                            "by %s, from the start", run.id, run.lease_owner, run.lease_until,
                            self.owner)  # fmt: skip
            run.status, run.phase, run.started_at, run.progress = "running", "building", now, 0.0
            run.attempts += 1
            run.lease_owner, run.lease_until = self.owner, now + timedelta(seconds=self.seconds)
            uow.commit()
            return run

    def update(self, **values: Any) -> None:
        with self.new_uow() as uow:
            run = uow.session.get(models.ScheduleRun, self.run_id, with_for_update=True)
            if run is None or run.lease_owner != self.owner or run.status != "running":
                raise LeaseLost(f"schedule run {self.run_id}: no longer held by {self.owner}")
            for name, value in values.items():
                setattr(run, name, value)
            uow.commit()

    @contextlib.contextmanager
    def renewed(self) -> Iterator[None]:
        stop = threading.Event()

        def renew() -> None:
            runs = _RUNS.c
            mine = (
                (runs.id == self.run_id)
                & (runs.lease_owner == self.owner)
                & (runs.status == "running")
            )
            while not stop.wait(self.seconds / 3):
                until = utcnow() + timedelta(seconds=self.seconds)
                try:
                    with self.new_uow() as uow:
                        done = uow.connection().execute(
                            update(_RUNS).where(mine).values(lease_until=until)
                        )
                        uow.commit()
                except Exception:  # the store is away: try again; the lease may run out
                    log.exception("schedule run %s: renewing the lease failed", self.run_id)
                    continue
                if not done.rowcount:
                    return  # finished, or taken over: ``update`` says which

        thread = threading.Thread(target=renew, name=f"run-{self.run_id}-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
