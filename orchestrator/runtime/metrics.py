"""Prometheus metrics read from the store at scrape time (``GET /metrics``): they say the same
whichever process is scraped, since the store is what all processes share.

- ``fieldbridge_outbox_rows{destination,state}``: the outbox's depth, by destination and state;
- ``fieldbridge_outbox_oldest_pending_age_seconds{destination}``: how long the oldest pending
  row has waited (0 when none waits);
- ``fieldbridge_outbox_delivered_total{destination}``: rows delivered so far (a counter: rows
  are never deleted);
- ``fieldbridge_outbox_dead_letters{destination}``: dead letters waiting for a person;
- ``fieldbridge_sync_lag_seconds{system,stream}``: how far a stream's cursor is behind now (the
  source's change stamp of the last record committed);
- ``fieldbridge_sync_last_run_age_seconds{system,stream}``: how long since the stream last ran;
- ``fieldbridge_quarantined_records{system,entity}``: inbound records waiting in quarantine;
- ``fieldbridge_schedule_runs{status}``: schedule runs by status (queued, running, done,
  failed; zeros included);
- ``fieldbridge_schedule_runs_abandoned``: runs ``running`` whose lease ran out (their process
  died; a worker takes them over: more than 0 for long means no worker does);
- ``fieldbridge_schedule_runs_taken_over``: runs that another process took over (so far);
- ``fieldbridge_task_seconds{task}``: how long this process's tasks took (a histogram: relay
  rounds in the embedded mode, deliver tasks on a worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from orchestrator.outbox.admin import tally
from orchestrator.planning import leases
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.status import held_in_quarantine

__all__ = ["TASK_SECONDS", "StoreCollector", "registry_for"]

CURSORS = models.table_of(models.SyncCursor)
RUNS = models.table_of(models.ScheduleRun)
RUN_STATUSES = ("queued", "running", "done", "failed")

TASK_SECONDS = Histogram(
    "fieldbridge_task_seconds",
    "How long this process's tasks took",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class StoreCollector(Collector):
    """The store's state as metrics, read in one read-only unit of work per scrape."""

    def __init__(self, new_uow: Callable[[], UnitOfWork], clock: Callable[[], datetime] = utcnow):
        self.new_uow, self.clock = new_uow, clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        rows = GaugeMetricFamily(
            "fieldbridge_outbox_rows", "Outbox rows by destination and state",
            labels=["destination", "state"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "fieldbridge_outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbox row has waited", labels=["destination"],
        )  # fmt: skip
        delivered = CounterMetricFamily(
            "fieldbridge_outbox_delivered", "Outbox rows delivered", labels=["destination"]
        )
        dead = GaugeMetricFamily(
            "fieldbridge_outbox_dead_letters", "Dead letters waiting for a person",
            labels=["destination"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "fieldbridge_sync_lag_seconds", "How far a stream's cursor is behind now",
            labels=["system", "stream"],
        )  # fmt: skip
        last_run = GaugeMetricFamily(
            "fieldbridge_sync_last_run_age_seconds", "How long since the stream last ran",
            labels=["system", "stream"],
        )  # fmt: skip
        held = GaugeMetricFamily(
            "fieldbridge_quarantined_records", "Inbound records waiting in quarantine",
            labels=["system", "entity"],
        )  # fmt: skip
        runs = GaugeMetricFamily(
            "fieldbridge_schedule_runs", "Schedule runs by status", labels=["status"]
        )
        abandoned = GaugeMetricFamily(
            "fieldbridge_schedule_runs_abandoned",
            "Running schedule runs whose lease ran out (their process died)",
        )
        taken_over = GaugeMetricFamily(
            "fieldbridge_schedule_runs_taken_over",
            "Schedule runs another process took over when the first died",
        )
        with self.new_uow() as uow:
            connection = uow.connection()
            counted = tally(connection)
            for destination, by_state in sorted(counted.by_destination.items()):
                for state, count in by_state.items():
                    rows.add_metric([destination, state], count)
                delivered.add_metric([destination], by_state["delivered"])
                dead.add_metric([destination], by_state["dead"])
                since = counted.oldest_pending.get(destination)
                age = 0.0 if since is None else max(0.0, (now - since).total_seconds())
                oldest.add_metric([destination], age)
            cursor = CURSORS.c
            for system, entity, stamp, ran in connection.execute(
                select(cursor.system, cursor.entity, cursor.cursor_stamp, cursor.last_run_at)
            ):
                if stamp is not None:
                    lag.add_metric([system, entity], max(0.0, (now - stamp).total_seconds()))
                if ran is not None:
                    last_run.add_metric([system, entity], max(0.0, (now - ran).total_seconds()))
            for (system, entity), count in held_in_quarantine(connection).items():
                held.add_metric([system, entity], count)
            run = RUNS.c
            by_status = dict.fromkeys(RUN_STATUSES, 0)
            by_status |= dict(
                connection.execute(select(run.status, func.count()).group_by(run.status)).all()
            )
            for status, count in by_status.items():
                runs.add_metric([status], count)
            lapsed = select(func.count()).where(leases.abandoned(now))
            abandoned.add_metric([], connection.execute(lapsed).scalar_one())
            taken_over.add_metric(
                [], connection.execute(select(func.count()).where(run.attempts > 1)).scalar_one()
            )
        yield from (rows, oldest, delivered, dead, lag, last_run, held, runs, abandoned, taken_over)


def registry_for(new_uow: Callable[[], UnitOfWork]) -> CollectorRegistry:
    """A registry with the store's metrics, this process's task times and the usual process
    and platform metrics."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(new_uow))
    registry.register(_Tasks())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class _Tasks(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from TASK_SECONDS.collect()
