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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from orchestrator import auth, models
from orchestrator.bootstrap import Container, bootstrap
from orchestrator.console import err, error, stop
from orchestrator.db import utcnow
from orchestrator.handlers.outbox import tally
from orchestrator.handlers.work_orders import new_tracking_code
from orchestrator.migrate import upgrade
from orchestrator.settings import Settings

__all__ = ["ChaosOptions", "chaos_cmd", "run_chaos"]

FIELDBRIDGE = str(Path(sys.executable).with_name("fieldbridge"))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
OUTBOX = models.table_of(models.OutboxMessage)


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait(self._answers, 20, "redis-server did not start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def _store(workdir: Path) -> Iterator[tuple[str, str]]:
    """A migrated store: a throwaway PostgreSQL database, else a SQLite file; and its kind."""
    try:
        import psycopg

        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                                autocommit=True, connect_timeout=2)  # fmt: skip
    except Exception:
        err.print("PostgreSQL is not answering on 127.0.0.1:5432: the store is SQLite")
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


def _completed_orders(container: Container, buyers: list[str], n: int) -> list[tuple[int, int]]:
    """``n`` completed orders of SAP customers (made once), as a field day leaves them:
    (id, version)."""
    out = []
    with container.uow() as uow:
        known = {
            c.external_id: c
            for c in uow.session.scalars(
                select(models.Customer).where(models.Customer.source_system == "sap")
            )
        }
        customers = []
        for buyer in buyers:
            c = known.get(buyer) or models.Customer(
                name=f"Customer {buyer}", source_system="sap", external_id=buyer
            )
            uow.session.add(c)
            customers.append(c)
        uow.session.flush()
        now = utcnow()
        for i in range(n):
            wo = models.WorkOrder(
                tracking_code=new_tracking_code(), status="completed", priority=3,
                summary=f"Boiler service {i}", customer_id=customers[i % len(customers)].id,
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
    with container.uow() as uow:
        return {k: n for k, n in tally(uow.connection()).by_state.items() if n}


@dataclass
class World:
    """What ``production_world`` started: the store (``container``, ``kind``), the simulators,
    Redis, the API (``base``, ``token``) and the worker processes, with ``close`` to close
    orders through the API and ``counts`` for the outbox's states."""

    container: Container
    kind: str
    sf: Any
    sap: Any
    finance: Any
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

    def orders(self, n: int) -> list[tuple[int, int]]:
        """``n`` completed orders of the SAP simulator's customers, ready to close."""
        buyers = [r["InternalID"] for r in self.sap.records()]
        return _completed_orders(self.container, buyers, n)


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
) -> Iterator[World]:
    """Redis of its own (``broker``; else the embedded relay in ``serve``), the store, the
    simulators failing ``fault_rate`` of their calls, ``fieldbridge serve`` and ``workers``
    ``fieldbridge worker`` processes, a finance subscription and a supervisor's token."""
    from sandbox.finance import FinanceSimulator
    from sandbox.salesforce import SalesforceSimulator
    from sandbox.sap import SAPSimulator

    with contextlib.ExitStack() as stack:
        workdir = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        redis = None
        if broker:
            redis = Redis(workdir)
            redis.start()
            stack.callback(redis.stop)
        url, kind = stack.enter_context(_store(workdir))
        sf = stack.enter_context(SalesforceSimulator(seed=seed))
        sap = stack.enter_context(SAPSimulator(seed=seed, stocks=0, malformed=0.0,
                                               customers=min(orders_hint, 2000)))  # fmt: skip
        finance = stack.enter_context(FinanceSimulator(seed=seed))
        if fault_rate:
            sf_kinds = ["503", "REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW"]
            sf.set_faults(rate=fault_rate, seed=seed, retry_after_s=0.2, kinds=sf_kinds)
            sap.set_faults(rate=fault_rate, kinds=["500", "fault", "lost"], seed=seed)
            finance.set_faults(rate=fault_rate, kinds=["503", "429", "lost"], retry_after_s=0.2,
                               seed=seed)  # fmt: skip
        secret = secrets.token_hex(32)
        settings = Settings(database_url=url, secret_key=secret,
                            broker_url=redis.url if redis else None,
                            attachments_dir=workdir / "attachments",
                            secret_key_file=workdir / "secret_key")  # fmt: skip
        container = bootstrap(settings)
        stack.callback(container.dispose)
        with container.uow() as uow:
            uow.session.add(models.WebhookSubscription(
                url=finance.endpoint, secret=finance.secret, active=True, created_by="chaos"
            ))  # fmt: skip
            uow.commit()
        with container.uow() as uow:
            token = auth.issue(uow, secret, role="supervisor", subject="chaos").token
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
        env |= (
            sf.env("password")
            | sap.env()
            | finance.env()
            | {
                "FIELDBRIDGE_DATABASE_URL": url,
                "FIELDBRIDGE_SECRET_KEY": secret,
                "FIELDBRIDGE_SECRET_KEY_FILE": str(workdir / "secret_key"),
                "FIELDBRIDGE_ATTACHMENTS_DIR": str(workdir / "attachments"),
                "FIELDBRIDGE_SALESFORCE_API_VERSION": sf.api_version,
                "FIELDBRIDGE_SAP_TIMEOUT_S": "2",
                "FIELDBRIDGE_WEBHOOK_TIMEOUT_S": "2",
                "FIELDBRIDGE_OUTBOX_RELAY_EVERY_S": "1",
                "FIELDBRIDGE_OUTBOX_LEASE_S": "5",
                "FIELDBRIDGE_OUTBOX_BACKOFF_BASE_S": "0.1",
                "FIELDBRIDGE_OUTBOX_BACKOFF_MAX_S": "2",
                "FIELDBRIDGE_OUTBOX_MAX_ATTEMPTS": "100",
                "FIELDBRIDGE_SYNC_SCHEDULE": "{}",
            }
            | ({"FIELDBRIDGE_BROKER_URL": redis.url} if redis else {})
            | (extra_env or {})
        )
        processes: dict[str, subprocess.Popen[bytes]] = {}

        def spawn(name: str, *args: str) -> None:
            out = (workdir / f"{name}.log").open("ab")
            processes[name] = subprocess.Popen([FIELDBRIDGE, *args], env=env, stdout=out,
                                               stderr=subprocess.STDOUT)  # fmt: skip

        def stop_all() -> None:
            for p in processes.values():
                if p.poll() is None:
                    p.terminate()
            for p in processes.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=20)

        stack.callback(stop_all)
        api_port = _free_port()
        spawn("api", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--no-access-log")
        for n in range(1, workers + 1 if redis else 1):
            spawn(f"worker{n}", "worker", "--concurrency", "2", "--hostname", f"w{n}@%h")
        import requests

        base = f"http://127.0.0.1:{api_port}"

        def api_up() -> bool:
            try:
                return requests.get(f"{base}/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        _wait(api_up, 60, f"the API did not come up (see {workdir / 'api.log'})")
        for name in processes:
            if name.startswith("worker"):
                _wait(_ready(workdir / f"{name}.log"), 60, f"{name} did not start")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        stack.callback(session.close)
        log(f"{'production' if redis else 'embedded'} mode: store {kind}, "
            f"{'redis ' + redis.url + ', ' if redis else ''}work in {workdir}")  # fmt: skip
        yield World(container, kind, sf, sap, finance, redis, processes, base, session, workdir)


def run_chaos(options: ChaosOptions, log: Callable[[str], None] = err.print) -> dict[str, Any]:
    """The run (see the module); its summary."""
    started = time.monotonic()
    with production_world(orders_hint=options.orders, seed=options.seed,
                          fault_rate=options.fault_rate, workdir=options.workdir,
                          log=log) as world:  # fmt: skip
        container, sf, sap, finance, redis = (
            world.container,
            world.sf,
            world.sap,
            world.finance,
            world.redis,
        )
        assert redis is not None
        orders = world.orders(options.orders)
        log(f"chaos: {options.orders} orders, fault rate {options.fault_rate:.0%}")
        close = world.close
        processes = world.processes
        kind = world.kind
        disrupted_at = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            half = len(orders) // 2
            statuses = list(pool.map(close, orders[:half]))
            if options.kill_worker:  # while the first half's deliveries go out
                _wait(lambda: _counts(container).get("delivered", 0) > 0, 60, "nothing delivered")
                os.kill(processes["worker1"].pid, signal.SIGKILL)
                processes["worker1"].wait(timeout=10)
                disrupted_at = time.monotonic()
                log("chaos: worker1 killed with SIGKILL")
            if options.restart_redis:
                redis.stop()
                time.sleep(1.0)
                statuses += list(pool.map(close, orders[half : half + max(1, half // 4)]))
                redis.start()
                disrupted_at = time.monotonic()
                log("chaos: redis restarted (its queued messages lost)")
                statuses += list(pool.map(close, orders[half + max(1, half // 4) :]))
            else:
                statuses += list(pool.map(close, orders[half:]))
        refused = [s for s in statuses if s != 200]
        if refused:
            raise RuntimeError(f"{len(refused)} closes refused (e.g. {refused[0]})")
        expected = 3 * len(orders)
        try:
            _wait(lambda: _counts(container).get("delivered", 0) >= expected,
                  options.timeout_s, "the outbox did not drain")  # fmt: skip
        except TimeoutError:
            log(f"chaos: the outbox did not drain in {options.timeout_s:.0f} s: "
                f"{_counts(container)}")  # fmt: skip
        drained = time.monotonic()
        with container.uow() as uow:
            rows = list(uow.connection().execute(select(OUTBOX.c.key, OUTBOX.c.payload,
                                                        OUTBOX.c.state)))  # fmt: skip
        jobs = {p["key"] for k, p, _ in rows if k.startswith("crm.work_order_completed")}
        uuids = {p["message_uuid"] for k, p, _ in rows if k.startswith("erp.")}
        hooks = {k for k, _, _ in rows if k.startswith("finance.")}
        bodies: dict[str, set[str]] = {}
        for w in sf.writes("WorkOrder"):
            bodies.setdefault(str(w["external_id"]), set()).add(
                json.dumps(w["body"], sort_keys=True)
            )
        billed = Counter(q["MessageUUID"] for q in sap.invoice_requests())
        received = Counter(d["webhook_id"] for d in finance.deliveries())
        effective_updates = sum(1 for k in jobs if len(bodies.get(k, ())) == 1)
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
            "orders": len(orders),
            "effective_updates": effective_updates,
            "effective_billing": sum(1 for u in uuids if billed.get(u) == 1),
            "effective_finance": sum(1 for h in hooks if received.get(h) == 1),
            "lost": lost,
            "duplicates": duplicates,
            "sends_per_delivery": round(sends / max(1, expected), 3),
            "seconds": round(drained - started, 1),
            "recovery_seconds": round(drained - disrupted_at, 1),
            "store": kind,
            "outbox": _counts(container),
        }
    raise AssertionError("unreachable")


def chaos_cmd(
    orders: Annotated[int, typer.Option(help="work orders to close", min=1, max=100_000)] = 1000,
    fault_rate: Annotated[
        float, typer.Option(help="share of the simulators' calls that fail", min=0, max=0.9)
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="the simulators' seed")] = 1,
    kill_worker: Annotated[bool, typer.Option(help="SIGKILL one worker mid-batch")] = True,
    restart_redis: Annotated[bool, typer.Option(help="restart Redis once mid-run")] = True,
    workdir: Annotated[Path | None, typer.Option(help="keep the logs here")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the outbox")] = 600.0,
) -> None:
    """Close ORDERS orders on the production mode while the simulators fail, a worker dies
    and Redis restarts; print a JSON summary; exit 1 on any loss or duplicate."""
    options = ChaosOptions(orders, fault_rate, seed, kill_worker, restart_redis, workdir, timeout)
    try:
        summary = run_chaos(options)
    except (TimeoutError, RuntimeError, FileNotFoundError) as exc:
        raise stop(f"chaos: {exc}") from None
    print(json.dumps(summary, indent=2))
    if summary["lost"] or summary["duplicates"]:
        error(f"chaos: {summary['lost']} lost, {summary['duplicates']} duplicates")
        raise typer.Exit(code=1)
    err.print(f"[green]chaos: OK[/green]: {summary['orders']} orders, nothing lost, nothing twice")
