"""The production mode: Celery on Redis wakes and spreads the work; the database stays the
guarantee.

``FIELDBRIDGE_BROKER_URL`` set, ``fieldbridge worker`` runs a Celery worker and ``fieldbridge
beat`` the periodic jobs: the outbox sweep; lease and key expiry; preventive maintenance's
generation daily; each stream's sync at the
interval ``FIELDBRIDGE_SYNC_SCHEDULE`` gives its system and its reconciliation every
``FIELDBRIDGE_RECONCILE_EVERY_S`` (a Redis lock per stream keeps a sync single-flight, and a
reconciliation off a stream being synced). A schedule run is a task that fans the day's parts
out as tasks and gathers them. Closing an order sends ``fieldbridge.outbox.deliver`` once its
transaction has committed (never before: a rollback must not announce anything); a worker
that takes it drains the outbox. The outbox's database lease stays the delivery guarantee:
Celery only says "look now".

Settings chosen on purpose, and the recovery bound each gives:

- ``task_acks_late`` with ``task_reject_on_worker_lost``: a message is acknowledged when its
  task has finished; a worker killed mid-task (SIGKILL, the OOM killer) leaves it
  unacknowledged and it runs again elsewhere (at least once). Every task is idempotent (the
  outbox's leases and the remotes' keys; a sync's cursor), so the repeat is harmless.
- ``visibility_timeout`` (``FIELDBRIDGE_TASK_VISIBILITY_TIMEOUT_S``, 900 s): Redis hands an
  unacknowledged message to another worker after this long: the bound on how long a task
  lost with its worker waits. It must exceed the longest task; a relay drain is bounded by
  its batch and the connectors' timeouts, far below it.
- ``worker_prefetch_multiplier`` 1: a worker reserves one message beyond those it runs, so a
  dead worker strands at most that many until the visibility timeout.
- broker socket timeouts (5 s), a health check every 10 s and retried connections: a worker
  notices a dead or restarted broker within seconds and reconnects.
- A worker that stops consuming after a broker restart is a known Celery failure, and a
  sweeper sent through the broker would reach only such workers: so every worker also runs
  a thread that claims due outbox rows straight from the database every
  ``FIELDBRIDGE_OUTBOX_RELAY_EVERY_S``. Delivery never depends on the broker; the broker
  only makes it prompt.
- A schedule run is held by a lease in the store (``FIELDBRIDGE_PLAN_LEASE_S``, renewed as
  it runs; ``planning.runs.execute``), not by its message: the same database loop sends again a
  run whose lease ran out (its worker died mid-plan) or that stayed queued a lease's length
  (its message lost), and the worker that takes it plans afresh (``RunSweep``). Bound: about
  1.5 leases plus the loop's period. A part not back a lease after its deadline is sent once
  more (``PartTasks``), so a run never waits the visibility timeout for a dead worker's part.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery, signals
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.schedules import crontab
from prometheus_client import start_http_server

from orchestrator.access import idempotency
from orchestrator.domain.errors import SetupError
from orchestrator.maintenance.generate import generate
from orchestrator.outbox import admin
from orchestrator.outbox.relay import Relay
from orchestrator.planning import leases, runs
from orchestrator.runtime import logs
from orchestrator.runtime.metrics import TASK_SECONDS
from orchestrator.runtime.settings import Settings
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.reconcile import reconcile
from orchestrator.sync.systems import NAMES, SyncSystem, run_system
from scheduler import auto, wire

__all__ = [
    "DELIVER",
    "EXPIRE",
    "PART",
    "PLAN",
    "PM",
    "RECONCILE",
    "SWEEP_EVERY_S",
    "SYNC",
    "CeleryBackground",
    "PartTasks",
    "RunSweep",
    "WorkerContext",
    "app",
    "configure",
    "expire",
    "plan_part",
    "plan_run",
    "pm_generate",
    "reconcile_stream",
    "run_worker",
    "send_schedule_run",
    "start_relay_loop",
    "sync_stream",
]

log = logging.getLogger("fieldbridge.tasks")
DELIVER = "fieldbridge.outbox.deliver"
SYNC = "fieldbridge.sync.run"
PLAN = "fieldbridge.plan.run"
PART = "fieldbridge.plan.part"
RECONCILE = "fieldbridge.sync.reconcile"
EXPIRE = "fieldbridge.maintenance.expire"
PM = "fieldbridge.pm.generate"
PM_AT = crontab(minute=15, hour=1)
"""Preventive maintenance's daily run: 01:15 UTC."""
EXPIRE_EVERY_S = 300.0
SWEEP_EVERY_S = 30.0

app = Celery("fieldbridge")


def configure(settings: Settings) -> Celery:
    """The Celery app for ``settings`` (its broker, the reliability settings above, and
    beat's schedule)."""
    app.conf.update(
        broker_url=settings.broker_url,
        # only a plan's parts keep a result (for the run that gathers them), an hour at most
        result_backend=settings.broker_url,
        result_expires=3600,
        task_ignore_result=True,
        # JSON only, both ways: a message or a result in another format (a pickle) is
        # refused unread; a plan's parts are JSON too (``scheduler.wire``)
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="fieldbridge",
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.task_visibility_timeout_s,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
            "health_check_interval": 10,
            "retry_on_timeout": True,
        },
        worker_hijack_root_logger=False,
        beat_schedule=schedule(settings),
    )
    return app


def schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat's jobs: the outbox sweep; lease and key expiry; preventive maintenance daily
    (``PM_AT``); each stream of each system in
    ``sync_schedule`` at its interval; each stream's reconciliation every
    ``reconcile_every_s``."""
    jobs: dict[str, dict[str, Any]] = {
        "outbox-sweep": {"task": DELIVER, "schedule": SWEEP_EVERY_S},
        "expiry": {"task": EXPIRE, "schedule": EXPIRE_EVERY_S},
        "pm-generate": {"task": PM, "schedule": PM_AT},
    }
    for system, every_s in settings.sync_schedule.items():
        for stream in NAMES.get(system, ()):
            args = (system, stream)
            jobs[f"sync-{system}-{stream}"] = {"task": SYNC, "schedule": every_s, "args": args}
            jobs[f"reconcile-{system}-{stream}"] = {
                "task": RECONCILE,
                "schedule": settings.reconcile_every_s,
                "args": args,
            }
    return jobs


@dataclass(frozen=True)
class WorkerContext:
    """What a worker's tasks use, made once by the composition root (``fieldbridge worker``
    hands it to ``run_worker``)."""

    settings: Settings
    new_uow: Callable[..., UnitOfWork]
    relay: Relay
    sync_system: Callable[[str], SyncSystem]


_context: list[WorkerContext] = []


def _worker() -> WorkerContext:
    """This worker process's context (``run_worker`` installed it)."""
    if not _context:
        raise RuntimeError("no worker context: tasks run in `fieldbridge worker` (run_worker)")
    return _context[0]


@app.task(name=DELIVER, acks_late=True, reject_on_worker_lost=True)
def deliver() -> dict[str, int]:
    """Deliver what is due now (the outbox's leases keep two workers off the same rows)."""
    with TASK_SECONDS.labels(DELIVER).time():
        done = _worker().relay.drain()
    return {"claimed": done.claimed, "delivered": done.delivered, "dead": done.dead}


@app.task(name=EXPIRE, acks_late=True, reject_on_worker_lost=True)
def expire() -> dict[str, int]:
    """Lease and key expiry: outbox leases whose relay died let go, idempotency keys past
    their time deleted."""
    worker = _worker()
    with worker.new_uow() as uow:
        let_go = admin.expire_leases(uow)
    with worker.new_uow() as uow:
        keys = idempotency.purge_expired(uow, worker.settings.idempotency_ttl_hours)
    return {"leases": let_go, "idempotency_keys": keys}


@app.task(name=PM, acks_late=True, reject_on_worker_lost=True)
def pm_generate() -> dict[str, int]:
    """The orders the maintenance plans owe today (UTC), each occurrence once however many
    workers run it (``orchestrator.maintenance.generate``)."""
    with TASK_SECONDS.labels(PM).time(), _worker().new_uow() as uow:
        done = generate(uow, datetime.now(UTC).date())
    return {"plans": done.plans, "made": done.made, "taken": done.taken}


@contextlib.contextmanager
def single_flight(name: str, hold_s: float) -> Iterator[bool]:
    """Whether this task may run now: a Redis lock per stream (redis-py's ``Lock``), so two
    workers never run one stream's sync at once; held at most ``hold_s``."""
    client = redis.Redis.from_url(str(app.conf.broker_url))
    lock = client.lock(f"fieldbridge:lock:{name}", timeout=hold_s, blocking=False)
    got = bool(lock.acquire(blocking=False))
    try:
        yield got
    finally:
        if got:
            with contextlib.suppress(redis.exceptions.LockError):  # it ran out: nothing held
                lock.release()
        client.close()


@app.task(name=SYNC, acks_late=True, reject_on_worker_lost=True)
def sync_stream(system: str, stream: str) -> dict[str, Any]:
    """One run of one stream, unless a run of it is in flight elsewhere (then skipped). A
    system not configured on this worker is skipped, saying why."""
    worker = _worker()
    settings = worker.settings
    with single_flight(f"sync:{system}:{stream}", settings.task_visibility_timeout_s) as mine:
        if not mine:
            log.info("sync %s %s: a run is in flight elsewhere; skipped", system, stream)
            return {"skipped": "in flight"}
        try:
            with TASK_SECONDS.labels(f"{SYNC}.{system}.{stream}").time():
                (result,) = run_system(
                    worker.new_uow,
                    worker.sync_system(system),
                    [stream],
                    lookback_s=settings.sync_lookback_s,
                )
        except SetupError as exc:
            log.warning("sync %s %s not run: %s", system, stream, exc)
            return {"skipped": str(exc)}
    return {"read": result.read, "written": result.written, "quarantined": result.quarantined}


@app.task(name=RECONCILE, acks_late=True, reject_on_worker_lost=True)
def reconcile_stream(system: str, stream: str) -> dict[str, Any]:
    """One reconciliation of one stream, never beside a sync of it (the same lock)."""
    worker = _worker()
    hold_s = worker.settings.task_visibility_timeout_s
    with single_flight(f"sync:{system}:{stream}", hold_s) as mine:
        if not mine:
            return {"skipped": "in flight"}
        try:
            found = worker.sync_system(system)
            connector = found.connect()
        except SetupError as exc:
            log.warning("reconcile %s %s not run: %s", system, stream, exc)
            return {"skipped": str(exc)}
        with connector as source, TASK_SECONDS.labels(f"{RECONCILE}.{system}.{stream}").time():
            report = reconcile(
                worker.new_uow, source, found.streams[stream], bulk_threshold=found.bulk_threshold
            )
    return {"tombstoned": report.tombstoned, "missing_here": report.missing_here}


@app.task(name=PART, ignore_result=False, acks_late=True, reject_on_worker_lost=True)
def plan_part(race: object) -> Any:
    """One part of a day raced by one engine (``scheduler.auto``'s unit of work). Its
    arguments and its routes cross the broker as JSON (``scheduler.wire``): a message that
    is not a race is refused (``wire.Refused``), nothing in it run."""
    arguments = wire.load_race(race)
    with TASK_SECONDS.labels(PART).time():
        return wire.dump_routes(auto.race(*arguments))


class PartTasks(Executor):
    """The day's parts as tasks over the workers, gathered by the run that waits for them
    (``scheduler.auto.solve`` submits ``race(engine, part, share_s, deadline, threads)`` for
    each part and engine).

    A part not back ``grace_s`` after its deadline (its worker died with it, or Redis
    restarted with its message or its result) is sent once more with a share of its own;
    one not back from that either gives no answer (``None``, as an engine that refuses), and
    the run takes the other engine's race of that part. Parts are pure computation: one run
    twice costs time, nothing else."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.sent = 0  # tasks sent, those sent once more included
        self._waiters = ThreadPoolExecutor(16, thread_name_prefix="plan-part")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not auto.race or kwargs:
            raise ValueError("only scheduler.auto's parts go out as tasks")
        engine, part, share_s, deadline, threads = args
        sent = plan_part.apply_async((wire.dump_race(*args),))
        self.sent += 1

        def gather() -> Any:
            wait_s = max(0.0, deadline - time.time()) + self.grace_s
            with contextlib.suppress(CeleryTimeout):
                return wire.load_routes(sent.get(timeout=wait_s, disable_sync_subtasks=False))
            log.warning("schedule: a part (%s, %d jobs) was not back %.0f s after its deadline "
                        "(its worker lost?); sending it once more", engine, len(part.jobs),
                        self.grace_s)  # fmt: skip
            again = (engine, part, share_s, time.time() + share_s, threads)
            resent = plan_part.apply_async((wire.dump_race(*again),))
            self.sent += 1
            with contextlib.suppress(CeleryTimeout):
                answer = resent.get(timeout=share_s + self.grace_s, disable_sync_subtasks=False)
                return wire.load_routes(answer)
            log.error("schedule: a part (%s, %d jobs) did not come back twice; the run goes on "
                      "without this engine's answer for it", engine, len(part.jobs))  # fmt: skip
            return None

        return self._waiters.submit(gather)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._waiters.shutdown(wait=wait, cancel_futures=cancel_futures)


@app.task(name=PLAN, acks_late=True, reject_on_worker_lost=True)
def plan_run(run_id: int) -> None:
    """A queued schedule run, its parts fanned out as tasks and gathered here (a worker that
    runs it needs a free slot more, or another worker, for the parts: concurrency >= 2)."""
    worker = _worker()
    settings = worker.settings
    parts = PartTasks(grace_s=settings.plan_lease_s)
    try:
        with TASK_SECONDS.labels(PLAN).time():
            runs.execute(worker.new_uow, run_id, window_min=settings.appointment_window_min,
                               executor=parts, workers=settings.plan_parts_at_once,
                               lease_s=settings.plan_lease_s)  # fmt: skip
    finally:
        parts.shutdown(wait=False)


def send_schedule_run(run_id: int) -> None:
    """Hand a queued run to a worker. A broker that does not answer loses nothing: the run
    stays ``queued`` in the store, and the workers' database loop sends it again once it has
    waited a lease's length (``RunSweep``)."""
    try:
        plan_run.apply_async((run_id,), retry=False)
    except Exception as exc:
        log.warning("schedule run %s: could not send it to a worker (%s); the workers' "
                    "database loop will", run_id, exc)  # fmt: skip


class RunSweep:
    """The workers' look for schedule runs nobody runs (``planning.leases.orphaned``: queued a
    lease's length without a taker, or running with a lease run out), each sent to a worker
    again; at most every half lease, and a run at most once a lease by this process. The
    worker that takes it runs it (or takes it over) under a lease of its own, so two sends
    of a run never make two plans."""

    def __init__(self) -> None:
        self._next = 0.0
        self._sent: dict[int, float] = {}

    def __call__(self) -> list[int]:
        """The runs sent again this time."""
        now = time.monotonic()
        if now < self._next:
            return []
        worker = _worker()
        lease_s = worker.settings.plan_lease_s
        self._next = now + lease_s / 2
        with worker.new_uow(read_only=True) as uow:
            found = leases.orphaned(uow, queued_for_s=lease_s)
        self._sent = {k: at for k, at in self._sent.items() if at > now - lease_s}
        sent = []
        for run_id in found:
            if run_id in self._sent:
                continue
            log.warning("schedule run %s: nobody runs it (its task or its worker lost); "
                        "sending it to a worker again", run_id)  # fmt: skip
            plan_run.apply_async((run_id,), retry=False)
            self._sent[run_id] = now
            sent.append(run_id)
        return sent


WAKE_GAP_S = 0.1
"""At most one wake per this many seconds: the rows of the closes in between go to the
remotes in the same claim (one Salesforce call for them all), not one task and one call
each; the gap is all it adds to a delivery's latency."""


class _Waker:
    """Sends the deliver task from a thread of its own, so that no request waits on the
    broker (a dead one costs its connection timeouts); wakes that come while one is being sent,
    or within ``WAKE_GAP_S`` after, make one more send, not one each."""

    def __init__(self) -> None:
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def __call__(self) -> None:
        self._due.set()
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-wake", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            try:
                deliver.apply_async(retry=False)
            except Exception as exc:  # the broker is down: the database loop will find the rows
                log.warning("outbox: could not wake a worker (%s); the database loop delivers", exc)
            time.sleep(WAKE_GAP_S)


def start_relay_loop(every_s: float, stop: threading.Event) -> threading.Thread:
    """The worker's own loop: claim due rows straight from the database every ``every_s``,
    whatever the broker does; and send again the schedule runs nobody runs (``RunSweep``)."""

    sweep = RunSweep()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                _worker().relay.drain()
            except Exception:
                log.exception("outbox: the database loop's round failed; trying again")
            try:
                sweep()
            except Exception:
                log.exception("schedule runs: the database loop's look failed; trying again")

    thread = threading.Thread(target=loop, name="outbox-db-loop", daemon=True)
    thread.start()
    return thread


_stop = threading.Event()
_signalled = threading.Event()
_loop: list[threading.Thread] = []


_bound: dict[str, Any] = {}


@signals.task_prerun.connect
def _on_task_start(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _bound[task_id] = logs.task_id.set(task_id)


@signals.task_postrun.connect
def _on_task_end(task_id: str | None = None, **_: Any) -> None:
    token = _bound.pop(task_id or "", None)
    if token is not None:
        logs.task_id.reset(token)


@signals.worker_init.connect
def _on_worker_init(**_: Any) -> None:
    if not _loop:  # once per process, whatever becomes of the consumer
        settings = _worker().settings
        _loop.append(start_relay_loop(settings.outbox_relay_every_s, _stop))
        if settings.worker_metrics_port is not None:  # this process's task times and more
            start_http_server(settings.worker_metrics_port, addr="127.0.0.1")


@signals.worker_shutting_down.connect
def _on_shutting_down(**_: Any) -> None:
    _signalled.set()  # asked to stop (TERM, INT, QUIT): not a crash


def run_worker(context: WorkerContext, argv: list[str], *, restart_after_s: float = 2.0) -> None:
    """Run the Celery worker until it is asked to stop, its tasks using ``context``. A
    consumer that dies of its own (a broker restart can kill it with an "unrecoverable"
    error, a known Celery failure) is started again, while this process's database loop goes
    on delivering."""
    configure(context.settings)
    _context[:] = [context]
    try:
        while True:
            with contextlib.suppress(SystemExit):
                app.worker_main(argv)
            if _signalled.is_set():
                return
            log.error("the Celery worker stopped unasked; starting it again in %.0f s (the "
                      "database loop delivers meanwhile)", restart_after_s)  # fmt: skip
            time.sleep(restart_after_s)
    finally:
        _stop.set()


class CeleryBackground:
    """The production mode's background, for the process that serves the API: a schedule run
    is sent to a worker, and a worker is woken after each commit that made outbox rows due
    (at most every ``WAKE_GAP_S``). The workers take over the runs nobody runs (``RunSweep``),
    whatever became of the API, so starting takes nothing up."""

    def __init__(self, settings: Settings) -> None:
        configure(settings)
        self._wake = _Waker()

    def start(self) -> None:
        """Nothing to take up: the workers' database loop finds what nobody runs."""

    def submit_run(self, run_id: int) -> None:
        send_schedule_run(run_id)

    def outbox_written(self) -> None:
        self._wake()

    def stop(self) -> None:
        """Nothing held here: runs and deliveries are the workers'."""
