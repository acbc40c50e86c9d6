"""Concurrent reads and idempotent creates against a running fieldbridge server, held to a
bare FastAPI endpoint measured in the same run.

Usage::

    .venv/bin/python bench/api_bench.py [--backends sqlite,postgresql] [--duration 10]
        [--concurrency 32] [--clients 2] [--json results.json]
        [--phases reads,creates,replays] [--warmup 2] [--windows 3] [--paced-duration 5]
        [--profile DIR]

(``make bench`` runs it with the defaults: about four minutes.)

First the bare baseline (``bench/bare.py``): FastAPI inserting one row into a SQLite file
(WAL, ``synchronous=NORMAL``, as fieldbridge's store) and answering a small JSON body, no
application logic, served as ``fieldbridge serve`` serves (``uvicorn.run``, one process, the
same loop and HTTP implementations, no access log, the collector tuned the same way), a
closed loop of ``POST /rows`` measured as the phases are. It runs again after the last
backend: this machine's speed swings about twofold from hour to hour, so the baseline of the
run (``bare_per_s``) is the median of the two, and both are shown.

For each backend the script builds a throwaway deployment and measures it over HTTP:

* a temp dir with a SQLite file, or a throwaway PostgreSQL database ``fb_bench_<random>`` on
  ``postgresql+psycopg://postgres@127.0.0.1:5432`` (dropped ``WITH (FORCE)`` afterwards;
  PostgreSQL is skipped, and the output says so, when nothing answers on that port);
* ``fieldbridge migrate``, ``fieldbridge token create --role admin --subject bench`` and
  ``fieldbridge serve --no-access-log --workers 1`` as subprocesses: ONE server process
  (uvicorn);
* reference data and ~200 work orders seeded through the HTTP API.

On PostgreSQL the phases then run again against ``fieldbridge serve --workers 2`` (uvicorn's
worker mode: a supervisor and two worker processes) on a second throwaway database, seeded
the same way ("postgresql x2"; its JSON keys ``postgresql_workers2_...``).

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
phase, warm-up included. ``server CPU`` is the CPU time of the server's processes (its
workers and their supervisor) over the measured windows (100% = one core; one Python
process is held to about one core by the GIL).
``steal`` is the share of the machine's CPU time the hypervisor gave to other virtual
machines over the same windows: on a shared host, a run with much of it measures the
neighbours as much as fieldbridge.

Floors (issue 24; ratios measured in the same run, since the machine's speed swings):

* SQLite, one server process: reads >= 0.9 x ``bare_per_s``, creates >= 0.45 x
  ``bare_per_s``; replays are retried idempotent creates and are held to the creates floor;
* PostgreSQL: two workers give >= 1.5 x one worker's requests/s, in each phase (the one
  worker's runs are the reference: no floor of their own beyond no error in the closed loop;
  their open loop is shown only);
* both: p99 < 20 ms in the open loop at 1,000 reads/s and at 300 creates (and replays)/s.

A phase meets its floor only with zero errors in every run (on PostgreSQL, in the one
worker's closed loop too). In absolute terms the issue aims, on a quiet hour, for 3,000
reads/s and 1,500 creates/s on SQLite: printed under the table, held to nothing.

A closed loop at saturation measures queueing as much as service: with N connections the
mean latency is N / throughput (Little's law), so 32 connections at exactly 300 creates/s
mean ~107 ms whatever the server does. So each phase runs once more OPEN-LOOP at its fixed
rate (1,000 reads/s, 300 creates or replays/s) for ``--paced-duration`` seconds (requests
start on a fixed schedule, at most ``--concurrency`` in flight; latency counts from the
scheduled start, so waiting for a free connection is included), and its p99 is the one held
to the floor ("p99 @ rate"). A server slower than the rate falls behind: the backlog shows
in that p99, and requests still unanswered 3 s after the run count as errors. With
``--paced-duration 0`` that run is skipped (shown as "-") and the closed-loop p99 is held
to the floor instead.

``--profile DIR`` runs the server under cProfile (``bench/profiled.py``), on only while
each phase's closed-loop run goes on: ``DIR/<backend>/<phase>.prof`` (one-process servers
only: PostgreSQL's two workers run unprofiled; open with ``pstats`` or
snakeviz), and printed under each phase the statements and CPU a request and the top
functions by own and by cumulative time, in µs a request. The profiler slows the server
(about twofold): its figures are for finding where the time goes, not for the table.

The exit code is 0 even when a floor is missed (this is a benchmark, not a test); a miss is
printed as MISSED, with the ratio. ``--json PATH`` writes one flat object whose keys carry
their unit, e.g. ``bare_per_s``, ``bare_p50_ms``, ``bare_p99_ms`` (the medians of the two
bare runs; each also as ``bare_first_per_s``, ``bare_last_per_s``, ...),
``sqlite_reads_per_s``, ``sqlite_reads_p50_ms``, ``sqlite_reads_p99_ms``,
``sqlite_reads_p99_at_floor_rate_ms`` (the open loop's), ``sqlite_reads_errors``,
``sqlite_reads_to_bare_ratio``, ``sqlite_reads_floor_met``, ``postgresql_creates_per_s``
(one worker), ``postgresql_workers2_creates_per_s``,
``postgresql_creates_workers2_to_workers1_ratio``, ``postgresql_creates_floor_met`` (the
floor of PostgreSQL's creates: the two workers' ratio and p99), ...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import shutil
import statistics
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import profiled
from bench.bare import running_bare, send_insert
from bench.load import (
    Client,
    Load,
    Send,
    Server,
    close_report,
    console,
    machine_busy,
    rounded_ms,
    run_backends,
    run_figures,
    run_load,
    running_server,
    say_outcome,
    usage_figures,
    warn_if_busy,
)
from bench.stores import parse_backends, parse_phases, parser_for, postgres_database

PHASES = ("reads", "creates", "replays")
REPLAYED = "idempotent-replayed"


@dataclass(frozen=True)
class Floor:
    """A phase's floor (the module's Floors): on SQLite, requests/s at least ``bare_ratio`` x
    the bare baseline's; with every backend, p99 under ``P99_MS`` in the open loop at
    ``rate`` requests/s. ``aim_per_s``: SQLite's requests/s on a quiet hour, shown only."""

    bare_ratio: float
    rate: float
    aim_per_s: float | None = None


FLOORS = {
    "reads": Floor(0.9, 1000, aim_per_s=3000),
    "creates": Floor(0.45, 300, aim_per_s=1500),
    "replays": Floor(0.45, 300),  # retried creates: the creates' floor
}
P99_MS = 20.0
WORKERS = 2  # PostgreSQL's second server: this many workers ...
WORKERS_RATIO = 1.5  # ... give at least this many times one worker's requests/s


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


# --- the requests of each phase (sent from the load generator's processes) ----------------------


def _headers(client: Client, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.spec['token']}", **more}


async def send_read(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    ident = client.rng.choice(client.spec["order_ids"])
    async with session.get(f"/api/v1/work-orders/{ident}", headers=_headers(client)) as resp:
        await resp.read()
        return resp.status == 200, f"HTTP {resp.status}"


async def send_create(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """A create with a fresh ``Idempotency-Key``; kept (key, body, status, answer's digest)
    for the replays."""
    key = f"bench-{uuid.uuid4().hex}"
    payload = json.dumps({"summary": f"bench {key}", **client.spec["body"]}).encode()
    headers = _headers(client, **{"Content-Type": "application/json", "Idempotency-Key": key})
    async with session.post("/api/v1/work-orders", data=payload, headers=headers) as resp:
        body = await resp.read()
    if resp.status != 201:
        return False, f"HTTP {resp.status}"
    client.kept.append((key, payload, resp.status, hashlib.sha256(body).hexdigest()))
    return True, ""


async def send_replay(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """A create sent again, same key and body: the first answer, byte for byte, replayed."""
    replays: list[tuple[str, bytes, int, str]] = client.spec["replays"]
    index = client.state.get("next", 0)
    client.state["next"] = index + 1
    key, payload, status, digest = replays[index % len(replays)]
    headers = _headers(client, **{"Content-Type": "application/json", "Idempotency-Key": key})
    async with session.post("/api/v1/work-orders", data=payload, headers=headers) as resp:
        body = await resp.read()
    if resp.status != status:
        return False, f"replay answered {resp.status}, first was {status}"
    if resp.headers.get(REPLAYED) != "true":
        return False, f"replay without {REPLAYED}: true"
    if hashlib.sha256(body).hexdigest() != digest:
        return False, "replay body differs from the first response"
    return True, ""


SENDS: dict[str, Send] = {"reads": send_read, "creates": send_create, "replays": send_replay}


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
    paced_p99_ms: float | None = None  # open loop at the floor's rate (None: not run)
    paced_errors: int = 0  # of ``errors``, the open loop's
    workers: int = 1  # the server's
    # set by ``judge``, once the run's references are known:
    ratio: float | None = None  # requests/s to the reference's (bare, or one worker's)
    floor_text: str = ""
    misses: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, backend: str, phase: str, load: Load, workers: int = 1) -> PhaseResult:
        """What ``load`` measured, as a phase's result."""
        return cls(
            backend=backend,
            phase=phase,
            per_s=load.per_s,
            p50_ms=load.ms(50),
            p99_ms=load.ms(99),
            errors=sum(load.errors.values()),
            window_per_s=load.window_per_s,
            server_cpu=load.server_cpu,
            steal=load.steal,
            error_kinds=load.errors,
            created=load.kept,
            workers=workers,
        )

    @property
    def server(self) -> str:
        """What served it: ``sqlite``, ``postgresql x2`` (workers), ``bare``."""
        return self.backend if self.workers == 1 else f"{self.backend} x{self.workers}"

    @property
    def key(self) -> str:
        """The JSON keys' prefix: ``sqlite_reads``, ``postgresql_workers2_reads``, ..."""
        workers = "" if self.workers == 1 else f"_workers{self.workers}"
        return f"{self.backend}{workers}_{self.phase}"


def skipped_phase(backend: str, phase: str, why: str, workers: int = 1) -> PhaseResult:
    nan = float("nan")
    return PhaseResult(
        backend, phase, 0.0, nan, nan, 1, [], None, None, Counter({why: 1}), [], workers=workers
    )


def run_phase(
    backend: str,
    phase: str,
    server: Server,
    seeded: Seeded,
    args: argparse.Namespace,
    replays: list[tuple[str, bytes, int, str]],
    *,
    rate: float | None = None,
    workers: int = 1,
) -> PhaseResult:
    """One run of a phase: closed loop (``rate`` None) or open loop at ``rate`` requests/s,
    against ``server`` (of ``workers`` workers)."""
    clients = max(1, min(args.clients, args.concurrency))
    specs = [
        {
            "token": server.token,
            "order_ids": seeded.order_ids,
            "body": seeded.create_body,
            "replays": replays[client::clients] or replays,
        }
        for client in range(clients)
    ]
    load = run_load(
        server,
        SENDS[phase],
        specs,
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration if rate is None else args.paced_duration,
        windows=args.windows if rate is None else 1,
        rate=rate,
        seed=args.seed,
    )
    return PhaseResult.of(backend, phase, load, workers)


def bench_backend(backend: str, url: str | None, args: argparse.Namespace) -> list[PhaseResult]:
    """The phases against one server process; on PostgreSQL then against ``WORKERS``
    workers, on a database of their own."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fb_bench_{backend}_"))
    try:
        busy = machine_busy()
        args.busy[backend] = busy
        warn_if_busy(busy, backend)
        if backend == "sqlite":
            return bench_server(backend, f"sqlite:///{workdir / 'bench.db'}", workdir, args)
        results = bench_server(backend, url or "", workdir / "workers1", args)
        with postgres_database() as second:
            results += bench_server(backend, second, workdir / f"workers{WORKERS}", args, WORKERS)
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def bench_server(
    backend: str, database_url: str, workdir: Path, args: argparse.Namespace, workers: int = 1
) -> list[PhaseResult]:
    """``fieldbridge serve --workers N`` on the database, seeded; then each phase in a closed
    loop, and again in an open loop at its floor's rate."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = backend if workers == 1 else f"{backend} x{workers}"
    console.print(
        f"[bold]{name}[/bold]: migrating, issuing a token, starting the server "
        f"({workers} worker{'s' if workers > 1 else ''})"
    )
    label = backend if workers == 1 else f"{backend}_workers{workers}"
    # one process only: the profiler's signals reach the process they are sent to
    profile = None if args.profile is None or workers > 1 else args.profile / label
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with running_server(database_url, workdir, workers=workers, profile=profile) as server:
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
                why = "skipped: no create succeeded"
                results.append(skipped_phase(backend, phase, why, workers))
                continue
            with profiled.phase(server.process.pid, profile, phase):
                result = run_phase(backend, phase, server, seeded, args, created, workers=workers)
            if profile is not None:
                profiled.report(profile, phase, console.print)
            created = created or result.created
            results.append(result)
            console.print(
                f"  {phase:8} {result.per_s:8,.0f}/s  p50 {result.p50_ms:6.1f} ms  "
                f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
            )
            rate = FLOORS[phase].rate
            if args.paced_duration > 0:
                paced = run_phase(
                    backend, phase, server, seeded, args, created, rate=rate, workers=workers
                )
                result.paced_p99_ms = paced.p99_ms
                result.paced_errors = paced.errors
                result.errors += paced.errors
                result.error_kinds += Counter(
                    {f"at {rate:,.0f}/s: {k}": n for k, n in paced.error_kinds.items()}
                )
                console.print(
                    f"  {phase:8} open loop at {rate:,.0f}/s: "
                    f"p99 {paced.p99_ms:6.1f} ms  errors {paced.errors}"
                )
        if server.process.poll() is not None:
            console.print(f"[red]the server died:[/red]\n{server.log.read_text()[-2000:]}")
        return results


# --- output -------------------------------------------------------------------------------------


def judge(results: list[PhaseResult], bare_per_s: float | None) -> None:
    """Each result's ratio to its reference and the floors it missed (the module's Floors):
    SQLite against the bare baseline, PostgreSQL's workers against its one worker (whose runs
    are the reference, held only to no error in the closed loop: its open loop, at a rate it
    may not reach, is shown only)."""
    one_worker = {(r.backend, r.phase): r for r in results if r.workers == 1}
    for result in results:
        floor = FLOORS.get(result.phase)
        result.misses = ["errors"] if result.errors else []
        if floor is None:  # the bare baseline
            result.floor_text = "the baseline"
            continue
        if result.backend == "sqlite":
            reference, least = bare_per_s, floor.bare_ratio
            result.floor_text = f">={least:g}x bare"
        elif result.workers > 1:
            base = one_worker.get((result.backend, result.phase))
            reference, least = (None if base is None else base.per_s), WORKERS_RATIO
            result.floor_text = f">={least:g}x 1 worker"
            if base is not None and base.errors > base.paced_errors:
                result.misses.append("errors with 1 worker")
        else:
            result.floor_text = f"reference for x{WORKERS}"
            result.misses = ["errors"] if result.errors > result.paced_errors else []
            continue
        result.floor_text += f", p99<{P99_MS:.0f} @{floor.rate:,.0f}/s"
        if reference:
            result.ratio = result.per_s / reference
            if result.ratio < least:
                result.misses.append(f"{result.ratio:.2f}x")
        else:
            result.misses.append("no reference")
        p99 = result.p99_ms if result.paced_p99_ms is None else result.paced_p99_ms
        if not p99 < P99_MS:
            at = " closed loop" if result.paced_p99_ms is None else ""
            result.misses.append(f"p99{at}")


def bare_median(bare: list[PhaseResult]) -> PhaseResult | None:
    """The bare baseline of the run: the median of its runs (first and last) figure by
    figure, or None when it did not run."""
    if not bare:
        return None
    errors = sum(r.errors for r in bare)
    return PhaseResult(
        "bare",
        "median",
        statistics.median(r.per_s for r in bare),
        statistics.median(r.p50_ms for r in bare),
        statistics.median(r.p99_ms for r in bare),
        errors,
        [],
        None,
        None,
        sum((r.error_kinds for r in bare), Counter()),
        [],
    )


def print_table(results: list[PhaseResult], args: argparse.Namespace) -> None:
    table = Table(
        title=(
            f"fieldbridge API against a bare FastAPI endpoint: {args.concurrency} connections "
            f"over {args.clients} client process(es), {args.windows} x "
            f"{args.duration / args.windows:.1f} s windows per phase; one server process, "
            f"xN: N workers"
        )
    )
    for name, justify in (
        ("server", "left"),
        ("phase", "left"),
        ("requests/s", "right"),
        ("windows req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("p99 @ rate", "right"),
        ("errors", "right"),
        ("server CPU", "right"),
        ("steal", "right"),
        ("ratio", "right"),
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
        if result.backend == "bare" or (result.backend != "sqlite" and result.workers == 1):
            verdict = "-" if not misses else verdict  # a reference, no floor of its own
        table.add_row(
            result.server,
            result.phase,
            f"{result.per_s:,.0f}",
            " / ".join(f"{w:,.0f}" for w in result.window_per_s),
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            "-" if result.paced_p99_ms is None else f"{result.paced_p99_ms:.1f}",
            f"[bold red]{result.errors}[/bold red]" if result.errors else "0",
            "-" if result.server_cpu is None else f"{result.server_cpu:.0%}",
            "-" if result.steal is None else f"{result.steal:.0%}",
            "-" if result.ratio is None else f"{result.ratio:.2f}",
            result.floor_text,
            verdict,
        )
    console.print(table)
    bare = bare_median([r for r in results if r.backend == "bare"])
    if bare is not None:
        runs = " and ".join(f"{r.per_s:,.0f}/s ({r.phase})" for r in results if r.backend == "bare")
        console.print(f"bare baseline: {bare.per_s:,.0f}/s, the median of {runs}")
    for result in results:
        aim = FLOORS[result.phase].aim_per_s if result.backend == "sqlite" else None
        if aim is not None:
            reached = "reached" if result.per_s >= aim else "not reached"
            console.print(
                f"aim (shown only): sqlite {result.phase} {aim:,.0f}/s on a quiet hour: "
                f"{result.per_s:,.0f}/s, {reached}"
            )
    say_outcome([(f"{r.server} {r.phase}", r.error_kinds, r.misses) for r in results])


def flat_json(
    results: list[PhaseResult], args: argparse.Namespace, skipped: list[str]
) -> dict[str, Any]:
    out = run_figures(args, skipped)
    bare = bare_median([r for r in results if r.backend == "bare"])
    if bare is not None:
        out["bare_per_s"] = round(bare.per_s, 1)
        out["bare_p50_ms"] = rounded_ms(bare.p50_ms)
        out["bare_p99_ms"] = rounded_ms(bare.p99_ms)
        out["bare_errors"] = bare.errors
    for result in results:
        prefix = result.key  # sqlite_reads, postgresql_workers2_reads, bare_first, ...
        out[f"{prefix}_per_s"] = round(result.per_s, 1)
        out[f"{prefix}_p50_ms"] = rounded_ms(result.p50_ms)
        out[f"{prefix}_p99_ms"] = rounded_ms(result.p99_ms)
        if result.paced_p99_ms is not None and not math.isnan(result.paced_p99_ms):
            out[f"{prefix}_p99_at_floor_rate_ms"] = round(result.paced_p99_ms, 2)
        out[f"{prefix}_errors"] = result.errors
        out |= usage_figures(prefix, result.server_cpu, result.steal)
        if result.backend == "sqlite":
            if result.ratio is not None:
                out[f"{prefix}_to_bare_ratio"] = round(result.ratio, 3)
            out[f"{prefix}_floor_met"] = not result.misses
        elif result.backend != "bare" and result.workers > 1:  # the backend's floor
            own = f"{result.backend}_{result.phase}"
            if result.ratio is not None:
                out[f"{own}_workers{result.workers}_to_workers1_ratio"] = round(result.ratio, 3)
            out[f"{own}_floor_met"] = not result.misses
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
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the server under cProfile: DIR/<backend>/<phase>.prof, top functions shown",
    )
    args = parser.parse_args(argv)
    parse_backends(parser, args)
    args.busy = {}  # backend -> share of the CPUs other work used just before its run
    parse_phases(parser, args, PHASES)
    if args.duration <= 0 or args.windows < 1 or args.concurrency < 1 or args.clients < 1:
        parser.error("--duration, --windows, --concurrency and --clients must be positive")
    return args


def bench_bare(args: argparse.Namespace, when: str) -> PhaseResult:
    """The bare baseline (``bench/bare.py``) measured as the phases are: ``when`` is
    ``first`` or ``last``."""
    workdir = Path(tempfile.mkdtemp(prefix="fb_bench_bare_"))
    try:
        with running_bare(workdir) as server:
            clients = max(1, min(args.clients, args.concurrency))
            load = run_load(
                server,
                send_insert,
                [{} for _ in range(clients)],
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
                windows=args.windows,
                seed=args.seed,
            )
        result = PhaseResult.of("bare", when, load)
        console.print(
            f"[bold]bare[/bold] ({when}): {result.per_s:8,.0f}/s  p50 {result.p50_ms:6.1f} ms  "
            f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
        )
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """The bare baseline, each backend (``run_backends``), the bare baseline again; then the
    verdicts, the table and ``--json``. The exit code: 0, or 130 when Ctrl-C came before any
    backend's result."""
    args = parse_args(argv)
    try:
        bare = [bench_bare(args, "first")]
    except KeyboardInterrupt:
        return 130
    results, skipped, interrupted = run_backends(
        args.backends, lambda backend, url: bench_backend(backend, url, args)
    )
    if interrupted and not results:
        return 130
    if not interrupted:
        try:
            bare.append(bench_bare(args, "last"))
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: the bare baseline measured once[/yellow]")
    everything = bare[:1] + results + bare[1:]
    median = bare_median(bare)
    judge(everything, None if median is None else median.per_s)
    print_table(everything, args)
    close_report(args.busy, skipped, args.json, lambda: flat_json(everything, args, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
