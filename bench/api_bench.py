"""Concurrent reads and idempotent creates against a running fieldbridge server.

Usage::

    .venv/bin/python bench/api_bench.py [--backends sqlite,postgresql] [--duration 10]
        [--concurrency 32] [--clients 2] [--json results.json]
        [--phases reads,creates,replays] [--warmup 2] [--windows 3] [--paced-duration 5]

(``make bench`` runs it with the defaults: about two minutes.)

For each backend the script builds a throwaway deployment and measures it over HTTP:

* a temp dir with a SQLite file, or a throwaway PostgreSQL database ``fb_bench_<random>`` on
  ``postgresql+psycopg://postgres@127.0.0.1:5432`` (dropped ``WITH (FORCE)`` afterwards;
  PostgreSQL is skipped, and the output says so, when nothing answers on that port);
* ``fieldbridge migrate``, ``fieldbridge token create --role admin --subject bench`` and
  ``fieldbridge serve --no-access-log`` as subprocesses: ONE server process (uvicorn);
* reference data and ~200 work orders seeded through the HTTP API.

Then three phases, each a closed loop of ``--concurrency`` keep-alive connections (aiohttp)
split over ``--clients`` load-generator processes (the generator needs CPU on the same
machine, so by default two processes share the work and their samples are merged):

``reads``    GET /api/v1/work-orders/{id}, ids drawn at random from the seeded orders.
``creates``  POST /api/v1/work-orders, each with a fresh ``Idempotency-Key``.
``replays``  the creates again, same key and same body: each must answer the first
             response's status and body byte for byte, with ``idempotent-replayed: true``;
             anything else counts as an error.

Method. Each phase runs ``--warmup`` seconds (not measured), then ``--duration`` seconds cut
into ``--windows`` equal windows (by completion time of each request). ``requests/s`` is the
MEDIAN over the windows of the successful responses per second (the machine is noisy);
``p50``/``p99`` are over ALL latency samples of the measured windows together (errors
included). ``errors`` counts every non-2xx answer, failed replay check, transport error and
timeout (no answer within 10 s, or still none 3 s after the phase ended) during the whole
phase, warm-up included. ``server CPU`` is the server process's CPU time over the measured
windows (100% = one core; one Python process is held to about one core by the GIL).
``steal`` is the share of the machine's CPU time the hypervisor gave to other virtual
machines over the same windows: on a shared host, a run with much of it measures the
neighbours as much as fieldbridge.

Floors (per the issue, one server process on a 2-core machine): reads >= 1,000 requests/s
and idempotent creates >= 300 requests/s, each with p99 < 50 ms. Replays are retried
idempotent creates and are held to the creates floor.

A closed loop at saturation measures queueing as much as service: with N connections the
mean latency is N / throughput (Little's law), so 32 connections at exactly 300 creates/s
mean ~107 ms whatever the server does. So when a phase's throughput reaches its floor rate,
the phase is run once more OPEN-LOOP at exactly that rate for ``--paced-duration`` seconds
(requests start on a fixed schedule, at most ``--concurrency`` in flight; latency counts
from the scheduled start, so waiting for a free connection is included), and its p99 is the
one held to the floor ("p99 @ floor"). Below the floor rate that run is skipped (shown as
"-") and the closed-loop p99 is shown against the floor instead. A phase meets its floor
only with zero errors in every run.

The exit code is 0 even when a floor is missed (this is a benchmark, not a test); a miss is
printed as MISSED. ``--json PATH`` writes one flat object whose keys carry their unit, e.g.
``sqlite_reads_per_s``, ``sqlite_reads_p50_ms``, ``sqlite_reads_p99_ms``,
``sqlite_reads_p99_at_floor_rate_ms``, ``sqlite_reads_errors``, ``sqlite_reads_floor_met``,
``postgresql_creates_per_s``, ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stores import (
    PG_HOST,
    PG_PORT,
    parse_backends,
    parser_for,
    postgres_answers,
    postgres_database,
)

PHASES = ("reads", "creates", "replays")
REPLAYED = "idempotent-replayed"
REQUEST_TIMEOUT_S = 10  # an answer slower than this counts as an error (TimeoutError)
GRACE_S = 3  # after a phase, requests still in flight this long are cancelled (errors)
BUSY_WARNING = 0.2  # warn when other processes keep this share of the CPUs busy

# wide enough for the table when the output is piped or captured, as by ``make bench``
console = Console(width=None if sys.stdout.isatty() else 170)


@dataclass(frozen=True)
class Floor:
    per_s: float
    p99_ms: float


FLOORS = {
    "reads": Floor(1000, 50),
    "creates": Floor(300, 50),
    "replays": Floor(300, 50),
}


# --- the server under test ---------------------------------------------------------------------


def fieldbridge_cmd() -> list[str]:
    """The ``fieldbridge`` console script next to this interpreter (else the same via -c)."""
    script = Path(sys.executable).parent / "fieldbridge"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.serve import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-4:])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def running_server(database_url: str, workdir: Path) -> Iterator[Server]:
    env = {
        **os.environ,
        "FIELDBRIDGE_DATABASE_URL": database_url,
        "FIELDBRIDGE_SECRET_KEY": secrets.token_hex(32),
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(workdir / "attachments"),
    }
    cli = fieldbridge_cmd()
    _run([*cli, "migrate"], env, workdir)
    out = _run([*cli, "token", "create", "--role", "admin", "--subject", "bench"], env, workdir)
    token = out.strip().splitlines()[-1].strip()
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_wait_healthy(base, process, log))
        yield Server(base, token, process, log)
    except Exception:
        _stop(process)
        tail = log.read_text(errors="replace")[-3000:]
        console.print(f"[red]server log (tail)[/red]:\n{tail}", markup=False, highlight=False)
        raise
    finally:
        _stop(process)


async def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{base}/health") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health within 30 s:\n{log.read_text()}")


@dataclass(frozen=True)
class Seeded:
    order_ids: list[int]
    create_body: dict[str, Any]


async def seed(base: str, token: str, orders: int) -> Seeded:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, headers=headers) as session:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(path, json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"seeding {path}: {resp.status} {await resp.text()}")
                out: dict[str, Any] = await resp.json()
                return out

        division = await post("/api/v1/divisions", {"code": "BENCH", "name": "Bench division"})
        customer = await post("/api/v1/customers", {"name": "Bench Customer GmbH"})
        site = await post(
            "/api/v1/sites",
            {
                "customer_id": customer["id"],
                "name": "Bench site",
                "address": "1 Benchstrasse, Berlin",
                "latitude": 52.52,
                "longitude": 13.40,
                "time_zone": "Europe/Berlin",
            },
        )
        body = {"customer_id": customer["id"], "site_id": site["id"]}
        body["division_id"] = division["id"]
        ids = []
        for index in range(orders):  # one at a time: seeding is not what is measured
            out = await post("/api/v1/work-orders", {"summary": f"Seeded order {index}", **body})
            ids.append(int(out["id"]))
    return Seeded(ids, body)


# --- the load generator (runs in --clients processes) ------------------------------------------


@dataclass
class ClientResult:
    done_at: list[float] = field(default_factory=list)  # wall clock, seconds
    latency_ms: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    created: list[tuple[str, bytes, int, str]] = field(default_factory=list)


def client_process(spec: dict[str, Any], barrier: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us and the server
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        result = asyncio.run(_client(spec, barrier))
        # plain containers only: the parent cannot unpickle classes of a spawned __mp_main__
        results.put(
            {
                "done_at": result.done_at,
                "latency_ms": result.latency_ms,
                "ok": result.ok,
                "errors": dict(result.errors),
                "created": result.created,
            }
        )
    except BaseException as exc:
        results.put(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        raise


async def _client(spec: dict[str, Any], barrier: Any) -> ClientResult:
    phase: str = spec["phase"]
    rng = random.Random(spec["seed"])
    auth = {"Authorization": f"Bearer {spec['token']}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    result = ClientResult()
    replays: list[tuple[str, bytes, int, str]] = spec.get("replays", [])
    next_replay = 0
    connector = aiohttp.TCPConnector(limit=spec["workers"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(spec["base"], connector=connector, timeout=timeout) as session:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 60)
        start = time.time()
        measure_from = start + spec["warmup"]
        stop_at = measure_from + spec["duration"]

        async def one(scheduled: float | None = None) -> None:
            nonlocal next_replay
            t0 = time.perf_counter() if scheduled is None else scheduled
            ok, reason = False, ""
            try:
                if phase == "reads":
                    ident = rng.choice(spec["order_ids"])
                    async with session.get(f"/api/v1/work-orders/{ident}", headers=auth) as resp:
                        await resp.read()
                        ok = resp.status == 200
                        reason = f"HTTP {resp.status}"
                elif phase == "creates":
                    key = f"bench-{uuid.uuid4().hex}"
                    payload = json.dumps({"summary": f"bench {key}", **spec["body"]}).encode()
                    headers = {**json_headers, "Idempotency-Key": key}
                    async with session.post(
                        "/api/v1/work-orders", data=payload, headers=headers
                    ) as resp:
                        body = await resp.read()
                        ok = resp.status == 201
                        reason = f"HTTP {resp.status}"
                    if ok:
                        digest = hashlib.sha256(body).hexdigest()
                        result.created.append((key, payload, resp.status, digest))
                else:
                    key, payload, status, digest = replays[next_replay % len(replays)]
                    next_replay += 1
                    headers = {**json_headers, "Idempotency-Key": key}
                    async with session.post(
                        "/api/v1/work-orders", data=payload, headers=headers
                    ) as resp:
                        body = await resp.read()
                        reason = f"HTTP {resp.status}"
                        if resp.status != status:
                            reason = f"replay answered {resp.status}, first was {status}"
                        elif resp.headers.get(REPLAYED) != "true":
                            reason = f"replay without {REPLAYED}: true"
                        elif hashlib.sha256(body).hexdigest() != digest:
                            reason = "replay body differs from the first response"
                        else:
                            ok = True
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = type(exc).__name__
            done = time.time()
            if not ok:
                result.errors[reason] += 1
            if done >= measure_from and done < stop_at:
                result.done_at.append(done)
                result.latency_ms.append((time.perf_counter() - t0) * 1000)
                result.ok.append(ok)

        async def worker() -> None:
            while time.time() < stop_at:
                await one()

        tasks = []
        rate = spec["rate"]
        if rate is None:  # closed loop: each connection sends its next request on an answer
            tasks = [asyncio.create_task(worker()) for _ in range(spec["workers"])]
        else:  # open loop: a request every 1/rate s; the connector caps those in flight
            clock0, wall0 = time.perf_counter(), time.time()
            sent = 0
            while wall0 + sent / rate < stop_at:
                due = clock0 + sent / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(one(due)))
                sent += 1
        _, stuck = await asyncio.wait(tasks, timeout=max(0.0, stop_at - time.time()) + GRACE_S)
        for task in stuck:  # a request still unanswered GRACE_S after the phase ended
            task.cancel()
            result.errors[f"no answer within {GRACE_S:.0f} s of the phase's end"] += 1
        await asyncio.gather(*stuck, return_exceptions=True)
    return result


# --- running a phase and summarising it --------------------------------------------------------


@dataclass
class PhaseResult:
    backend: str
    phase: str
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    window_per_s: list[float]
    server_cpu: float | None
    steal: float | None  # share of the machine's CPU time the hypervisor took meanwhile
    error_kinds: Counter[str]
    created: list[tuple[str, bytes, int, str]]
    paced_p99_ms: float | None = None  # open loop at the floor rate, when it was reached

    @property
    def floor(self) -> Floor:
        return FLOORS[self.phase]

    @property
    def misses(self) -> list[str]:
        out = []
        if self.per_s < self.floor.per_s:
            out.append(f"< {self.floor.per_s:,.0f}/s")
        p99 = self.p99_ms if self.paced_p99_ms is None else self.paced_p99_ms
        if not p99 < self.floor.p99_ms:
            at = "" if self.paced_p99_ms is None else " at the floor rate"
            out.append(f"p99 >= {self.floor.p99_ms:.0f} ms{at}")
        if self.errors:
            out.append("errors")
        return out


def skipped_phase(backend: str, phase: str, why: str) -> PhaseResult:
    nan = float("nan")
    return PhaseResult(backend, phase, 0.0, nan, nan, 1, [], None, None, Counter({why: 1}), [])


def _cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far by kind (/proc/stat: user ... idle iowait ... steal)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None


def _steal(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time between two ``_cpu_ticks`` that other virtual machines took."""
    if before is None or after is None or len(before) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(1, sum(spent))


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run_phase(
    backend: str,
    phase: str,
    server: Server,
    seeded: Seeded,
    args: argparse.Namespace,
    replays: list[tuple[str, bytes, int, str]],
    *,
    rate: float | None = None,
) -> PhaseResult:
    """One run of a phase: closed loop (``rate`` None) or open loop at ``rate`` requests/s."""
    duration = args.duration if rate is None else args.paced_duration
    windows = args.windows if rate is None else 1
    ctx = mp.get_context("spawn")
    clients = max(1, min(args.clients, args.concurrency))
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    processes = []
    for client in range(clients):
        spec = {
            "phase": phase,
            "base": server.base,
            "token": server.token,
            "workers": args.concurrency // clients + (client < args.concurrency % clients),
            "warmup": args.warmup,
            "duration": duration,
            "rate": None if rate is None else rate / clients,
            "order_ids": seeded.order_ids,
            "body": seeded.create_body,
            "replays": replays[client::clients] or replays,
            "seed": args.seed * 1000 + client,
        }
        process = ctx.Process(target=client_process, args=(spec, barrier, queue), daemon=True)
        process.start()
        processes.append(process)
    try:
        barrier.wait(timeout=60)
        start = time.time()
        measure_from = start + args.warmup
        time.sleep(max(0.0, measure_from - time.time()))
        cpu0, ticks0 = _cpu_seconds(server.process.pid), _cpu_ticks()
        time.sleep(max(0.0, measure_from + duration - time.time()))
        cpu1, ticks1 = _cpu_seconds(server.process.pid), _cpu_ticks()
        parts: list[ClientResult] = []
        for _ in processes:
            got = queue.get(timeout=duration + args.warmup + 120)
            if isinstance(got, BaseException):
                raise RuntimeError(f"a load-generator process failed: {got!r}")
            parts.append(
                ClientResult(
                    got["done_at"],
                    got["latency_ms"],
                    got["ok"],
                    Counter(got["errors"]),
                    got["created"],
                )
            )
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    width = duration / windows
    counts = [0] * windows
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    created: list[tuple[str, bytes, int, str]] = []
    for part in parts:
        errors += part.errors
        created += part.created
        latencies += part.latency_ms
        for done, ok in zip(part.done_at, part.ok, strict=True):
            if ok:
                counts[min(windows - 1, int((done - measure_from) // width))] += 1
    window_per_s = [c / width for c in counts]
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / duration
    return PhaseResult(
        backend=backend,
        phase=phase,
        per_s=statistics.median(window_per_s),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        errors=sum(errors.values()),
        window_per_s=window_per_s,
        server_cpu=cpu,
        steal=_steal(ticks0, ticks1),
        error_kinds=errors,
        created=created,
    )


def machine_busy(seconds: float = 1.0) -> float | None:
    """The share of all CPUs in use over ``seconds`` (before our server runs: other work)."""

    def snapshot() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def bench_backend(backend: str, database_url: str, args: argparse.Namespace) -> list[PhaseResult]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fb_bench_{backend}_"))
    try:
        busy = machine_busy()
        args.busy[backend] = busy
        if busy is not None and busy > BUSY_WARNING:
            console.print(
                f"[yellow]the machine is already {busy:.0%} busy with other work before the "
                f"{backend} run: expect lower numbers than on a quiet machine[/yellow]"
            )
        if backend == "sqlite":
            database_url = f"sqlite:///{workdir / 'bench.db'}"
        console.print(f"[bold]{backend}[/bold]: migrating, issuing a token, starting the server")
        with running_server(database_url, workdir) as server:
            seeded = asyncio.run(seed(server.base, server.token, args.orders))
            console.print(
                f"  server pid {server.process.pid} on {server.base}; "
                f"seeded {len(seeded.order_ids)} work orders"
            )
            results: list[PhaseResult] = []
            created: list[tuple[str, bytes, int, str]] = []
            for phase in args.phases:
                if phase == "replays" and not created:
                    console.print("  [red]replays skipped: no create succeeded[/red]")
                    results.append(skipped_phase(backend, phase, "skipped: no create succeeded"))
                    continue
                result = run_phase(backend, phase, server, seeded, args, created)
                created = created or result.created
                results.append(result)
                console.print(
                    f"  {phase:8} {result.per_s:8,.0f}/s  p50 {result.p50_ms:6.1f} ms  "
                    f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
                )
                floor = FLOORS[phase]
                if args.paced_duration > 0 and result.per_s >= floor.per_s:
                    paced = run_phase(
                        backend, phase, server, seeded, args, created, rate=floor.per_s
                    )
                    result.paced_p99_ms = paced.p99_ms
                    result.errors += paced.errors
                    result.error_kinds += Counter(
                        {f"at the floor rate: {k}": n for k, n in paced.error_kinds.items()}
                    )
                    console.print(
                        f"  {phase:8} open loop at {floor.per_s:,.0f}/s: "
                        f"p99 {paced.p99_ms:6.1f} ms  errors {paced.errors}"
                    )
            if server.process.poll() is not None:
                console.print(f"[red]the server died:[/red]\n{server.log.read_text()[-2000:]}")
            return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- output -------------------------------------------------------------------------------------


def print_table(results: list[PhaseResult], args: argparse.Namespace) -> None:
    table = Table(
        title=(
            f"fieldbridge API, one server process: {args.concurrency} connections over "
            f"{args.clients} client process(es), {args.windows} x "
            f"{args.duration / args.windows:.1f} s windows per phase"
        )
    )
    for name, justify in (
        ("backend", "left"),
        ("phase", "left"),
        ("requests/s", "right"),
        ("windows req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("p99 @ floor", "right"),
        ("errors", "right"),
        ("server CPU", "right"),
        ("steal", "right"),
        ("floor", "left"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for result in results:
        misses = result.misses
        verdict = (
            "[green]met[/green]"
            if not misses
            else f"[bold red]MISSED[/bold red] ({', '.join(misses)})"
        )
        table.add_row(
            result.backend,
            result.phase,
            f"{result.per_s:,.0f}",
            " / ".join(f"{w:,.0f}" for w in result.window_per_s),
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            "-" if result.paced_p99_ms is None else f"{result.paced_p99_ms:.1f}",
            f"[bold red]{result.errors}[/bold red]" if result.errors else "0",
            "-" if result.server_cpu is None else f"{result.server_cpu:.0%}",
            "-" if result.steal is None else f"{result.steal:.0%}",
            f">={result.floor.per_s:,.0f}/s, p99<{result.floor.p99_ms:.0f}",
            verdict,
        )
    console.print(table)
    for result in results:
        if result.errors:
            kinds = ", ".join(f"{k}: {n}" for k, n in result.error_kinds.most_common(5))
            console.print(f"[red]{result.backend} {result.phase} errors[/red]: {kinds}")
    missed = [r for r in results if r.misses]
    if missed:
        names = ", ".join(f"{r.backend} {r.phase}" for r in missed)
        console.print(f"[bold red]MISSED[/bold red] floor: {names}")
    elif results:
        console.print("[green]every floor met[/green]")


def flat_json(
    results: list[PhaseResult], args: argparse.Namespace, skipped: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "windows": args.windows,
        "concurrency_connections": args.concurrency,
        "client_processes": args.clients,
    }
    for name in skipped:
        out[f"{name}_skipped"] = True
    for name, busy in args.busy.items():
        if busy is not None:
            out[f"{name}_machine_busy_before_pct"] = round(busy * 100, 1)
    for result in results:
        prefix = f"{result.backend}_{result.phase}"
        out[f"{prefix}_per_s"] = round(result.per_s, 1)
        out[f"{prefix}_p50_ms"] = None if math.isnan(result.p50_ms) else round(result.p50_ms, 2)
        out[f"{prefix}_p99_ms"] = None if math.isnan(result.p99_ms) else round(result.p99_ms, 2)
        if result.paced_p99_ms is not None and not math.isnan(result.paced_p99_ms):
            out[f"{prefix}_p99_at_floor_rate_ms"] = round(result.paced_p99_ms, 2)
        out[f"{prefix}_errors"] = result.errors
        if result.server_cpu is not None:
            out[f"{prefix}_server_cpu_pct"] = round(result.server_cpu * 100, 1)
        if result.steal is not None:
            out[f"{prefix}_steal_pct"] = round(result.steal * 100, 1)
        out[f"{prefix}_floor_met"] = not result.misses
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per phase")
    parser.add_argument("--windows", type=int, default=3, help="windows per phase (median)")
    parser.add_argument(
        "--paced-duration",
        type=float,
        default=5,
        help="seconds of the open-loop run at the floor rate (0: never)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections in flight")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--orders", type=int, default=200, help="work orders to seed")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated (replays need creates)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the read ids")
    args = parser.parse_args(argv)
    parse_backends(parser, args)
    args.busy = {}  # backend -> share of the CPUs other work used just before its run
    args.phases = [p for p in PHASES if p in {q.strip() for q in args.phases.split(",")}]
    if not args.phases:
        parser.error(f"--phases: some of {', '.join(PHASES)}")
    if args.duration <= 0 or args.windows < 1 or args.concurrency < 1 or args.clients < 1:
        parser.error("--duration, --windows, --concurrency and --clients must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[PhaseResult] = []
    skipped: list[str] = []
    try:
        for backend in args.backends:
            if backend == "postgresql":
                if not postgres_answers():
                    console.print(
                        f"[yellow]postgresql skipped: nothing answers on {PG_HOST}:{PG_PORT}"
                        "[/yellow]"
                    )
                    skipped.append(backend)
                    continue
                with postgres_database() as url:
                    results += bench_backend(backend, url, args)
            else:
                results += bench_backend(backend, "", args)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the server was stopped[/yellow]")
        if not results:
            return 130
    print_table(results, args)
    for backend, busy in args.busy.items():
        if busy is not None and busy > BUSY_WARNING:
            console.print(
                f"[yellow]note: other work kept the machine {busy:.0%} busy just before the "
                f"{backend} run[/yellow]"
            )
    if skipped:
        console.print(f"[yellow]skipped: {', '.join(skipped)} (not reachable)[/yellow]")
    if args.json:
        args.json.write_text(json.dumps(flat_json(results, args, skipped), indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
