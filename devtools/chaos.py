"""``fieldbridge chaos``: the production mode under fire, end to end, with a verdict.

It starts its own ``redis-server`` on a free port (nothing kept on disk), the simulators
(Salesforce, SAP, a finance receiver) failing ``--fault-rate`` of their calls, a store
(PostgreSQL at 127.0.0.1:5432 in a throwaway database; SQLite when PostgreSQL does not answer,
saying so), ``fieldbridge serve`` and two ``fieldbridge worker`` processes on that Redis. It
closes ``--orders`` completed work orders through the API (each close owes a WorkOrder
update, an SAP billing request and a finance webhook); with ``--kill-worker`` one worker is
killed with SIGKILL while deliveries are going out, with ``--restart-redis`` Redis is stopped
and started again (the messages queued in it are lost with it). Then it waits for the outbox
to drain and reads the simulators' ledgers: each order must have reached each remote exactly
once (one effective WorkOrder update: repeats carry the same content; one billing request per
message UUID; one finance delivery per webhook id).

The summary is one JSON object on standard output: ``orders``, ``effective_updates``,
``effective_billing``, ``effective_finance``, ``lost``, ``duplicates``,
``sends_per_delivery``, ``seconds``, ``recovery_seconds`` (from the last disruption to a
drained outbox), ``store``. The exit code is 1 on any loss or duplicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess  # nosec B404  # the chaos run starts our own processes, with fixed argument lists and no shell
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from devtools.world import World, world
from orchestrator.access import tokens
from orchestrator.outbox.admin import tally
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.migrate import upgrade
from orchestrator.work_orders.commands import new_tracking_code
from sandbox.finance import FinanceSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator

__all__ = ["ChaosOptions", "run_chaos"]

FIELDBRIDGE = str(Path(sys.executable).with_name("fieldbridge"))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
OUTBOX = models.table_of(models.OutboxMessage)
err = Console(stderr=True)
SF_FAULTS = ["503", "REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW"]


@dataclass(frozen=True)
class ChaosOptions:
    orders: int = 200
    fault_rate: float = 0.3
    seed: int = 1
    kill_worker: bool = True
    restart_redis: bool = True
    workdir: Path | None = None
    timeout_s: float = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: Callable[[], bool], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError(why)
        time.sleep(0.1)


class Redis:
    """A ``redis-server`` of our own on a free port, keeping nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = _free_port(), workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(  # nosec B603, B607  # redis-server from the developer's PATH (the chaos run's documented need), fixed arguments, no shell
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait(self._answers, 20, "redis-server did not start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def _store(workdir: Path, log: Callable[[str], None]) -> Iterator[tuple[str, str]]:
    """A migrated store: a throwaway PostgreSQL database, else a SQLite file; and its kind."""
    try:
        import psycopg

        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                                autocommit=True, connect_timeout=2)  # fmt: skip
    except Exception:
        log("PostgreSQL is not answering on 127.0.0.1:5432: the store is SQLite")
        url = f"sqlite:///{workdir / 'chaos.db'}"
        upgrade(url)
        yield url, "sqlite"
        return
    name = f"fb_chaos_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    try:
        upgrade(url)
        yield url, "postgresql"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                             autocommit=True) as admin:  # fmt: skip
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _completed_orders(container: Container, buyers: list[str], count: int) -> list[tuple[int, int]]:
    """``n`` completed orders of SAP customers (made once), as a field day leaves them:
    (id, version)."""
    out = []
    with container.new_uow() as uow:
        known = {
            customer.external_id: customer
            for customer in uow.session.scalars(
                select(models.Customer).where(models.Customer.source_system == "sap")
            )
        }
        customers = []
        for buyer in buyers:
            customer = known.get(buyer) or models.Customer(
                name=f"Customer {buyer}", source_system="sap", external_id=buyer
            )
            uow.session.add(customer)
            customers.append(customer)
        uow.session.flush()
        now = utcnow()
        for number in range(count):
            customer = customers[number % len(customers)]
            wo = models.WorkOrder(
                tracking_code=new_tracking_code(), status="completed", priority=3,
                summary=f"Boiler service {number}", customer_id=customer.id,
                visits=1, first_checked_in_at=now - timedelta(minutes=80),
                completed_at=now - timedelta(minutes=5), status_changed_at=now,
            )  # fmt: skip
            uow.session.add(wo)
            uow.session.flush()
            out.append((wo.id, wo.version))
        uow.commit()
    return out


def _ready(log_file: Path) -> Callable[[], bool]:
    return lambda: b"ready" in log_file.read_bytes()


def _counts(container: Container) -> dict[str, int]:
    """The outbox's rows by state (the states it has)."""
    with container.new_uow() as uow:
        return {k: n for k, n in tally(uow.connection()).by_state.items() if n}


@dataclass
class ProductionWorld:
    """What ``production_world`` started: the store (``container``, ``kind``), the simulators
    (``sims``), Redis, the API (``base``, a supervisor's ``session``) and the worker processes,
    with ``close`` to close orders through the API and ``counts`` for the outbox's states."""

    container: Container
    kind: str
    sims: World
    redis: Redis | None
    processes: dict[str, subprocess.Popen[bytes]]
    base: str
    session: Any
    workdir: Path

    def close(self, order: tuple[int, int]) -> int:
        ident, version = order
        answer = self.session.post(f"{self.base}/api/v1/work-orders/{ident}/transitions",
                                   json={"to": "closed"}, headers={"If-Match": f'"{version}"'},
                                   timeout=30)  # fmt: skip
        return int(answer.status_code)

    def counts(self) -> dict[str, int]:
        return _counts(self.container)

    def buyers(self) -> list[str]:
        """The SAP simulator's customers (the buyers an order can be billed to)."""
        assert self.sims.sap is not None  # nosec B101  # the world started every simulator; this narrows the type
        return [r["InternalID"] for r in self.sims.sap.records()]

    def orders(self, count: int) -> list[tuple[int, int]]:
        """``n`` completed orders of the SAP simulator's customers, ready to close."""
        return _completed_orders(self.container, self.buyers(), count)


TUNING = {
    "FIELDBRIDGE_SAP_TIMEOUT_S": "2",
    "FIELDBRIDGE_WEBHOOK_TIMEOUT_S": "2",
    "FIELDBRIDGE_OUTBOX_RELAY_EVERY_S": "1",
    "FIELDBRIDGE_OUTBOX_LEASE_S": "5",
    "FIELDBRIDGE_OUTBOX_BACKOFF_BASE_S": "0.1",
    "FIELDBRIDGE_OUTBOX_BACKOFF_MAX_S": "2",
    "FIELDBRIDGE_OUTBOX_MAX_ATTEMPTS": "100",
    "FIELDBRIDGE_SYNC_SCHEDULE": "{}",
}
"""What the run's processes are told beyond where things are: short timeouts, leases and
backoffs (a fault costs a second, not a minute), attempts enough to outlast the faults, and
no scheduled syncs."""


def _subscribed(container: Container, finance: Any, secret: str) -> str:
    """A finance subscription to the receiver, and a supervisor's token."""
    with container.new_uow() as uow:
        uow.session.add(models.WebhookSubscription(
            url=finance.endpoint, secret=finance.secret, active=True, created_by="chaos"
        ))  # fmt: skip
        uow.commit()
    with container.new_uow() as uow:
        return tokens.issue(uow, secret, role="supervisor", subject="chaos").token


@contextlib.contextmanager
def _processes(
    workdir: Path, env: dict[str, str], workers: int
) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
    """``fieldbridge serve`` and ``workers`` ``fieldbridge worker`` processes with ``env``,
    once each answers (the API's base URL, the processes by name); stopped at the end."""
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, *args: str) -> None:
        out = (workdir / f"{name}.log").open("ab")
        processes[name] = subprocess.Popen([FIELDBRIDGE, *args], env=env, stdout=out,  # nosec B603  # our own fieldbridge executable, the chaos run's own arguments, no shell
                                           stderr=subprocess.STDOUT)  # fmt: skip

    try:
        api_port = _free_port()
        spawn("api", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--no-access-log")
        for number in range(1, workers + 1):
            spawn(f"worker{number}", "worker", "--concurrency", "2", "--hostname", f"w{number}@%h")
        base = f"http://127.0.0.1:{api_port}"
        _wait(lambda: _answers(f"{base}/health"), 60,
              f"the API did not come up (see {workdir / 'api.log'})")  # fmt: skip
        for name in processes:
            if name.startswith("worker"):
                _wait(_ready(workdir / f"{name}.log"), 60, f"{name} did not start")
        yield base, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def production_world(
    *,
    orders_hint: int,
    seed: int,
    fault_rate: float,
    workdir: Path | None,
    workers: int = 2,
    broker: bool = True,
    extra_env: dict[str, str] | None = None,
    log: Callable[[str], None] = err.print,
) -> Iterator[ProductionWorld]:
    """Redis of its own (``broker``; else the embedded relay in ``serve``), the store, the
    simulators failing ``fault_rate`` of their calls, ``fieldbridge serve`` and ``workers``
    ``fieldbridge worker`` processes, a finance subscription and a supervisor's token."""
    import requests

    with contextlib.ExitStack() as stack:
        workdir = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        redis = None
        if broker:
            redis = Redis(workdir)
            redis.start()
            stack.callback(redis.stop)
        url, kind = stack.enter_context(_store(workdir, log))
        sims = stack.enter_context(world(
            salesforce=SalesforceSimulator(seed=seed),
            sap=SAPSimulator(seed=seed, stocks=0, malformed=0.0, customers=min(orders_hint, 2000)),
            finance=FinanceSimulator(seed=seed),
        ))  # fmt: skip
        if fault_rate:
            sims.set_faults(fault_rate, seed, retry_after_s=0.2, salesforce_kinds=SF_FAULTS)
        secret = secrets.token_hex(32)
        settings = Settings(database_url=url, secret_key=secret,
                            broker_url=redis.url if redis else None,
                            attachments_dir=workdir / "attachments",
                            secret_key_file=workdir / "secret_key")  # fmt: skip
        container = stack.enter_context(bootstrap(settings, systems=sims.systems()))
        assert sims.finance is not None and sims.salesforce is not None  # nosec B101  # the world started every simulator; this narrows the type
        token = _subscribed(container, sims.finance, secret)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
        env |= sims.variables() | TUNING | {
            "FIELDBRIDGE_DATABASE_URL": url,
            "FIELDBRIDGE_SECRET_KEY": secret,
            "FIELDBRIDGE_SECRET_KEY_FILE": str(workdir / "secret_key"),
            "FIELDBRIDGE_ATTACHMENTS_DIR": str(workdir / "attachments"),
            "FIELDBRIDGE_SALESFORCE_API_VERSION": sims.salesforce.api_version,
        }  # fmt: skip
        env |= ({"FIELDBRIDGE_BROKER_URL": redis.url} if redis else {}) | (extra_env or {})
        base, processes = stack.enter_context(_processes(workdir, env, workers if redis else 0))
        session = stack.enter_context(requests.Session())
        session.headers["Authorization"] = f"Bearer {token}"
        log(f"{'production' if redis else 'embedded'} mode: store {kind}, "
            f"{'redis ' + redis.url + ', ' if redis else ''}work in {workdir}")  # fmt: skip
        yield ProductionWorld(container, kind, sims, redis, processes, base, session, workdir)


def run_chaos(options: ChaosOptions, log: Callable[[str], None] = err.print) -> dict[str, Any]:
    """The run (see the module); its summary."""
    started = time.monotonic()
    with production_world(orders_hint=options.orders, seed=options.seed,
                          fault_rate=options.fault_rate, workdir=options.workdir,
                          log=log) as production:  # fmt: skip
        orders = production.orders(options.orders)
        log(f"chaos: {options.orders} orders, fault rate {options.fault_rate:.0%}")
        disrupted_at = _close_under_fire(production, orders, options, log)
        expected = 3 * len(orders)
        try:
            _wait(lambda: production.counts().get("delivered", 0) >= expected,
                  options.timeout_s, "the outbox did not drain")  # fmt: skip
        except TimeoutError:
            log(f"chaos: the outbox did not drain in {options.timeout_s:.0f} s: "
                f"{production.counts()}")  # fmt: skip
        drained = time.monotonic()
        return _verdict(production, len(orders)) | {
            "seconds": round(drained - started, 1),
            "recovery_seconds": round(drained - disrupted_at, 1),
            "store": production.kind,
            "outbox": production.counts(),
        }
    raise AssertionError("unreachable")


def _close_under_fire(
    production: ProductionWorld,
    orders: list[tuple[int, int]],
    options: ChaosOptions,
    log: Callable[[str], None],
) -> float:
    """Close the orders through the API, eight at a time: a worker killed once the first
    half's deliveries go out, Redis stopped while a quarter more are closed and started
    again; when the last disruption ended (``time.monotonic()``). A refused close is an
    error."""
    redis, processes = production.redis, production.processes
    assert redis is not None  # nosec B101  # a production run always has a broker, so its Redis; this narrows the type
    disrupted_at = time.monotonic()
    half = len(orders) // 2
    quarter = half + max(1, half // 4)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(production.close, orders[:half]))
        if options.kill_worker:  # while the first half's deliveries go out
            _wait(lambda: production.counts().get("delivered", 0) > 0, 60, "nothing delivered")
            os.kill(processes["worker1"].pid, signal.SIGKILL)
            processes["worker1"].wait(timeout=10)
            disrupted_at = time.monotonic()
            log("chaos: worker1 killed with SIGKILL")
        if options.restart_redis:
            redis.stop()
            time.sleep(1.0)
            statuses += list(pool.map(production.close, orders[half:quarter]))
            redis.start()
            disrupted_at = time.monotonic()
            log("chaos: redis restarted (its queued messages lost)")
            statuses += list(pool.map(production.close, orders[quarter:]))
        else:
            statuses += list(pool.map(production.close, orders[half:]))
    refused = [status for status in statuses if status != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} closes refused (e.g. {refused[0]})")
    return disrupted_at


def _verdict(production: ProductionWorld, orders: int) -> dict[str, Any]:
    """What the simulators' ledgers say of the outbox's rows: each effective once, or lost,
    or twice; and how often each delivery was sent."""
    sf, sap, finance = production.sims.salesforce, production.sims.sap, production.sims.finance
    assert sf is not None and sap is not None and finance is not None  # nosec B101  # the world started every simulator; this narrows the type
    with production.container.new_uow() as uow:
        rows = list(uow.connection().execute(select(OUTBOX.c.key, OUTBOX.c.payload)))
    jobs = {payload["key"] for key, payload in rows if key.startswith("crm.work_order_completed")}
    uuids = {payload["message_uuid"] for key, payload in rows if key.startswith("erp.")}
    hooks = {key for key, _ in rows if key.startswith("finance.")}
    bodies: dict[str, set[str]] = {}
    for write in sf.writes("WorkOrder"):
        bodies.setdefault(str(write["external_id"]), set()).add(
            json.dumps(write["body"], sort_keys=True)
        )
    billed = Counter(q["MessageUUID"] for q in sap.invoice_requests())
    received = Counter(d["webhook_id"] for d in finance.deliveries())
    lost = len(jobs - set(bodies)) + len(uuids - set(billed)) + len(hooks - set(received))
    duplicates = (sum(n - 1 for n in billed.values()) + sum(n - 1 for n in received.values())
                  + sum(len(b) - 1 for b in bodies.values()))  # fmt: skip
    sends = (  # each delivery as often as it was sent (a Collections call sends many)
        sum(len((e["body"] or {}).get("records") or ()) for e in sf.ledger
            if "/composite/sobjects" in e["path"] and e.get("object") == "WorkOrder")
        + sum(1 for e in sap.ledger() if e.get("operation") == "MaintainBundle")
        + len(finance.ledger)
    )  # fmt: skip
    return {
        "orders": orders,
        "effective_updates": sum(1 for k in jobs if len(bodies.get(k, ())) == 1),
        "effective_billing": sum(1 for u in uuids if billed.get(u) == 1),
        "effective_finance": sum(1 for h in hooks if received.get(h) == 1),
        "lost": lost,
        "duplicates": duplicates,
        "sends_per_delivery": round(sends / max(1, 3 * orders), 3),
    }
