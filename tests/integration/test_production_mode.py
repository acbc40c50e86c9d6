"""The production mode: Celery workers (``fieldbridge worker``) on Redis deliver the outbox,
woken by a task sent only after the closing transaction commits; and a worker whose broker is
gone still delivers, from its own database loop. Needs Redis on 127.0.0.1:6379 for the woken
path (said and skipped where it does not answer)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.runtime import tasks
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.store import models
from sandbox.sap import SAPSimulator
from scheduler import wire
from tests.support.cli import FIELDBRIDGE, free_port, wait_for
from tests.support.crafted import CreatesAFile, crafted
from tests.support.databases import make_settings
from tests.support.lifecycle_world import BASE_DAY, World, order_in
from tests.support.outbox import OUTBOX, closed_orders

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


# One Redis database for the module in this test process (its Celery app keeps its first
# broker's connections, as it would in production, where it is configured once); a database of
# its own for each pytest-xdist worker (gw0, gw1, ...), so that one's flush spares the other's.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
BROKER = f"redis://127.0.0.1:6379/{1 + int(_WORKER) % 15 if _WORKER.isdigit() else 1}"
needs_redis = pytest.mark.skipif(
    not redis_answers(), reason="Redis is not answering on 127.0.0.1:6379 (.ci/run starts it)"
)


@pytest.fixture
def sap() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=6, customers=20, stocks=0, malformed=0.0) as simulator:
        yield simulator


def delivered(container: Container) -> int:
    with container.new_uow() as uow:
        found = uow.connection().execute(select(func.count()).where(OUTBOX.c.state == "delivered"))
        return int(found.scalar_one())


def worker(env: dict[str, str], log: Path, concurrency: int = 2) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FIELDBRIDGE, "worker", "--concurrency", str(concurrency), "--loglevel", "INFO"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def worker_env(
    database_url: str, tmp_path: Path, sap: SAPSimulator, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    return (
        env
        | sap.env()
        | {
            "FIELDBRIDGE_DATABASE_URL": database_url,
            "FIELDBRIDGE_SECRET_KEY_FILE": str(tmp_path / "key"),
            "FIELDBRIDGE_OUTBOX_ROUTES": '{"erp.billing_request": "sap"}',
        }
        | extra
    )


def test_the_reliability_settings_are_set_on_purpose(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, broker_url="redis://127.0.0.1:1/0",
                             task_visibility_timeout_s=600)  # fmt: skip
    conf = tasks.configure(settings).conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 600
    assert conf.broker_transport_options["socket_timeout"] == 5.0
    assert conf.beat_schedule["outbox-sweep"]["task"] == tasks.DELIVER
    # JSON only, both ways: a pickle on the broker is refused unread
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert list(conf.accept_content) == list(conf.result_accept_content) == ["json"]


class Told:
    """A background mode that only counts what it is told (a fake of the port)."""

    def __init__(self, container: Container) -> None:
        self.woken = 0

    def start(self) -> None: ...

    def submit_run(self, run_id: int) -> None: ...

    def outbox_written(self) -> None:
        self.woken += 1

    def stop(self) -> None: ...


def test_wake_is_sent_only_after_the_commit(
    database_url: str, tmp_path: Path, sap: SAPSimulator
) -> None:
    with bootstrap(make_settings(database_url, tmp_path), background=Told) as container:
        told = container.background
        assert isinstance(told, Told)
        buyers = [r["InternalID"] for r in sap.records()][:2]
        closed_orders(container, buyers)  # one commit: woken once
        assert told.woken == 1
        with container.new_uow() as uow:  # rows written, then rolled back: nobody is woken
            uow.outbox_written()
            uow.rollback()
        assert told.woken == 1


@needs_redis
def test_a_worker_woken_through_redis_delivers_after_the_commit(
    container: Container, database_url: str, tmp_path: Path, sap: SAPSimulator
) -> None:
    import redis

    broker = BROKER
    redis.Redis.from_url(broker).flushdb()
    log = tmp_path / "worker.log"
    # the database loop is slowed right down: what is delivered promptly was woken
    metrics_port = free_port()
    env = worker_env(database_url, tmp_path, sap, FIELDBRIDGE_BROKER_URL=broker,
                     FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="600",
                     FIELDBRIDGE_WORKER_METRICS_PORT=str(metrics_port))  # fmt: skip
    process = worker(env, log)
    production = bootstrap(make_settings(database_url, tmp_path, broker_url=broker))
    try:
        wait_for(lambda: b"ready" in log.read_bytes(), 60, f"the worker did not start: {log}")
        closed_orders(production, [r["InternalID"] for r in sap.records()][:5])
        wait_for(lambda: delivered(container) == 5, 30, log.read_text()[-2000:])
        exposed = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert f'fieldbridge_task_seconds_count{{task="{tasks.DELIVER}"}}' in exposed
    finally:
        production.dispose()
        process.terminate()
        process.wait(timeout=30)
    assert len(sap.invoice_requests()) == 5


def test_a_worker_without_its_broker_still_delivers_from_the_database(
    container: Container, database_url: str, tmp_path: Path, sap: SAPSimulator
) -> None:
    closed_orders(container, [r["InternalID"] for r in sap.records()][:4])
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = worker_env(database_url, tmp_path, sap, FIELDBRIDGE_BROKER_URL=dead_broker,
                     FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="0.2")  # fmt: skip
    log = tmp_path / "worker.log"
    process = worker(env, log)
    try:
        wait_for(lambda: delivered(container) == 4, 60, log.read_text()[-2000:])
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert len(sap.invoice_requests()) == 4


def test_beat_schedules_the_sweep_and_each_streams_sync_and_reconciliation(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, broker_url="redis://127.0.0.1:1/0",
                             sync_schedule={"sap": 600}, reconcile_every_s=3600)  # fmt: skip
    jobs = tasks.schedule(settings)
    assert jobs["outbox-sweep"]["task"] == tasks.DELIVER
    assert jobs["expiry"]["task"] == tasks.EXPIRE
    assert jobs["pm-generate"] == {"task": tasks.PM, "schedule": tasks.PM_AT}  # daily
    assert {k for k in jobs if k.startswith(("sync-", "reconcile-"))} == {
        "sync-sap-customers", "sync-sap-assets", "reconcile-sap-customers", "reconcile-sap-assets"
    }  # fmt: skip
    assert jobs["sync-sap-assets"] == {
        "task": tasks.SYNC,
        "schedule": 600,
        "args": ("sap", "assets"),
    }
    assert jobs["reconcile-sap-customers"]["schedule"] == 3600


@needs_redis
def test_a_stream_syncs_on_one_worker_at_a_time(
    container: Container, database_url: str, tmp_path: Path, sap: SAPSimulator
) -> None:
    import redis

    broker = BROKER
    client = redis.Redis.from_url(broker)
    client.flushdb()
    log = tmp_path / "worker.log"
    env = worker_env(database_url, tmp_path, sap, FIELDBRIDGE_BROKER_URL=broker,
                     FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="600")  # fmt: skip
    process = worker(env, log)
    customers = models.table_of(models.Customer)

    def stored() -> int:
        with container.new_uow() as uow:
            return int(
                uow.connection().execute(select(func.count()).select_from(customers)).scalar_one()
            )

    try:
        wait_for(lambda: b"ready" in log.read_bytes(), 60, f"the worker did not start: {log}")
        tasks.configure(make_settings(database_url, tmp_path, broker_url=broker))
        held = client.lock("fieldbridge:lock:sync:sap:customers", timeout=60)
        assert held.acquire(blocking=False)  # another worker's run in flight
        tasks.sync_stream.delay("sap", "customers")
        wait_for(lambda: b"in flight elsewhere; skipped" in log.read_bytes(), 30, log.read_text())
        assert stored() == 0
        held.release()
        tasks.sync_stream.delay("sap", "customers")
        wait_for(lambda: stored() == sap.count(), 30, log.read_text()[-2000:])
    finally:
        process.terminate()
        process.wait(timeout=30)


def day_to_plan(container: Container, world: World, count: int) -> list[int]:
    """``count`` triaged orders at a plant next to the technicians' homes (Berlin)."""
    ids = [order_in(container, world, "triaged") for _ in range(count)]
    sites = models.table_of(models.Site)
    with container.new_uow() as uow:
        uow.connection().execute(sites.update().values(latitude=52.51, longitude=13.39))
        uow.commit()
    return ids


def ask_for_run(container: Container, time_limit_s: float) -> int:
    """A queued run of the day (nothing sent to a worker yet)."""
    from orchestrator.planning import runs as scheduling

    with container.new_uow() as uow:
        asked = scheduling.RequestScheduleRun(
            BASE_DAY.date(), Actor("dora", Role.DISPATCHER), time_limit_s=time_limit_s
        )
        return int(scheduling.request_run(uow, asked)["id"])


def stored_run(container: Container, run_id: int) -> models.ScheduleRun:
    with container.new_uow() as uow:
        found = uow.session.get(models.ScheduleRun, run_id)
        assert found is not None
        return found


def finished(container: Container, run_id: int) -> bool:
    return stored_run(container, run_id).status in ("done", "failed")


def assert_done(container: Container, run_id: int, *, attempts: int, scheduled: int) -> None:
    done = stored_run(container, run_id)
    assert (done.status, done.attempts) == ("done", attempts), done.error
    assert done.summary is not None and done.summary["outcomes"] == {"scheduled": scheduled}


class Workers:
    """``fieldbridge worker`` processes started by name, each with a log of its own, and the
    production mode's API side (``production``: a container with the broker, the tasks
    configured); every process stopped at the end."""

    def __init__(self, database_url: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.env, self.tmp_path = env, tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []
        broker = env["FIELDBRIDGE_BROKER_URL"]
        self.production = bootstrap(make_settings(database_url, tmp_path, broker_url=broker))
        tasks.configure(self.production.settings)

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def start(self, name: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        process = worker(self.env, self.log(name), concurrency)
        self.processes.append(process)
        wait_for(lambda: b"ready" in self.log(name).read_bytes(), 60,
                 f"the worker did not start: {self.log(name).read_text()[-2000:]}")  # fmt: skip
        return process

    def wait(self, what: Callable[[], bool], name: str) -> None:
        wait_for(what, 90, self.log(name).read_text()[-3000:])

    def close(self) -> None:
        self.production.dispose()
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def solving(planning: Workers, container: Container, watched: str) -> int:
    """A run of the day sent to the workers, once it is solving (4 s); its id."""
    run_id = ask_for_run(container, time_limit_s=4)
    planning.production.submit_run(run_id)
    planning.wait(lambda: stored_run(container, run_id).phase == "solving", watched)
    return run_id


@pytest.fixture
def planning(
    database_url: str, tmp_path: Path, sap: SAPSimulator, request: pytest.FixtureRequest
) -> Iterator[Workers]:
    """Workers on this test process's Redis database (flushed), with the settings the test's
    ``worker_env`` marker gives."""
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    marker = request.node.get_closest_marker("worker_env")
    extra: dict[str, Any] = marker.kwargs if marker else {}
    env = worker_env(database_url, tmp_path, sap, FIELDBRIDGE_BROKER_URL=BROKER, **extra)
    cluster = Workers(database_url, tmp_path, env)
    try:
        yield cluster
    finally:
        cluster.close()


@needs_redis
@pytest.mark.worker_env(FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="600")
def test_a_schedule_run_fans_its_parts_out_over_the_workers(
    container: Container, world: World, planning: Workers
) -> None:
    ids = day_to_plan(container, world, 4)
    planning.start("worker")
    run_id = ask_for_run(container, time_limit_s=2)
    planning.production.submit_run(run_id)  # a task, not this process's runner
    planning.wait(lambda: finished(container, run_id), "worker")
    assert_done(container, run_id, attempts=1, scheduled=len(ids))
    worked = planning.log("worker").read_text()
    assert worked.count(f"Task {tasks.PLAN}[") >= 1
    assert worked.count(f"Task {tasks.PART}[") >= 2, "each engine's race of the part, a task"


def test_an_api_restart_in_the_production_mode_leaves_the_workers_runs_alone(
    container: Container, world: World, database_url: str, tmp_path: Path
) -> None:
    """The embedded mode's start-up fails the runs its own stopped process left running; in
    the production mode those are the workers', alive or taken over by lease."""
    day_to_plan(container, world, 1)
    run_id = ask_for_run(container, time_limit_s=1)
    with container.new_uow() as uow:
        run = uow.session.get(models.ScheduleRun, run_id)
        assert run is not None
        run.status, run.phase, run.attempts = "running", "solving", 1
        uow.commit()
    production = bootstrap(make_settings(database_url, tmp_path, broker_url=BROKER))
    try:
        production.background.start()
    finally:
        production.dispose()
    left = stored_run(container, run_id)
    assert (left.status, left.error) == ("running", None)


@needs_redis
@pytest.mark.worker_env(FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="0.5", FIELDBRIDGE_PLAN_LEASE_S="1")
def test_a_run_whose_task_was_lost_is_sent_again_from_the_database(
    container: Container, world: World, planning: Workers
) -> None:
    """A queued run nobody took for a lease's length (its message lost with a restarted
    Redis, or never sent: the API could not reach the broker): a worker's database loop
    sends it again."""
    ids = day_to_plan(container, world, 2)
    run_id = ask_for_run(container, time_limit_s=1)  # and nothing sent
    planning.start("worker")
    planning.wait(lambda: finished(container, run_id), "worker")
    assert_done(container, run_id, attempts=1, scheduled=len(ids))
    assert f"schedule run {run_id}: nobody runs it" in planning.log("worker").read_text()


@needs_redis
@pytest.mark.worker_env(FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="0.5", FIELDBRIDGE_PLAN_LEASE_S="2")
def test_a_worker_killed_mid_plan_leaves_the_run_to_another_worker(
    container: Container, world: World, planning: Workers
) -> None:
    ids = day_to_plan(container, world, 4)
    first = planning.start("first")
    run_id = solving(planning, container, "first")
    first.kill()  # SIGKILL, mid-plan: the run, its parts and its lease die with it
    first.wait(timeout=30)
    assert stored_run(container, run_id).status == "running"
    second = planning.start("second")
    planning.wait(lambda: finished(container, run_id), "second")
    assert_done(container, run_id, attempts=2, scheduled=len(ids))
    owner = stored_run(container, run_id).lease_owner
    assert owner is not None and f":{second.pid}:" in owner
    assert f"schedule run {run_id}: nobody runs it" in planning.log("second").read_text()


@needs_redis
@pytest.mark.worker_env(FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="600", FIELDBRIDGE_PLAN_LEASE_S="2")
def test_a_part_lost_with_its_worker_is_sent_once_more(
    container: Container, world: World, planning: Workers
) -> None:
    ids = day_to_plan(container, world, 4)
    planning.start("planner", concurrency=1)  # holds the run and takes none of its parts
    run_id = solving(planning, container, "planner")
    parts = planning.start("parts")
    planning.wait(lambda: f"Task {tasks.PART}[".encode() in planning.log("parts").read_bytes(),
                  "parts")  # fmt: skip
    parts.kill()  # with the part it was racing
    parts.wait(timeout=30)
    planning.start("spare")
    planning.wait(lambda: finished(container, run_id), "planner")
    assert_done(container, run_id, attempts=1, scheduled=len(ids))
    assert "sending it once more" in planning.log("planner").read_text()
    assert f"Task {tasks.PART}[" in planning.log("spare").read_text()


@needs_redis
@pytest.mark.worker_env(FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="600")
def test_a_worker_refuses_crafted_parts_without_unpickling_them(
    planning: Workers, tmp_path: Path
) -> None:
    """Whoever can write to the broker cannot run code on the workers: a part's message is
    JSON checked as a race (a pickle inside it is refused as not one), and a message in
    pickle's format is refused by Celery before it is read."""
    path = tmp_path / "owned"
    planning.start("worker")
    inside = tasks.plan_part.apply_async((crafted(path),))
    assert inside.get(timeout=60, propagate=False) is not None
    assert inside.state == "FAILURE"
    assert isinstance(inside.result, wire.Refused), inside.result
    assert "not a part's race in JSON" in str(inside.result)
    tasks.plan_part.apply_async((CreatesAFile(path),), serializer="pickle")
    planning.wait(lambda: b"untrusted content" in planning.log("worker").read_bytes(), "worker")
    assert not path.exists(), "a message was unpickled: its code ran on the worker"
