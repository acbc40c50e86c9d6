"""The HTTP harness the API benchmarks share (``api_bench.py``, ``field_bench.py``): a server
under test and load sent to it from processes of their own.

The server: ``running_server(url, workdir)`` runs ``fieldbridge migrate``, ``fieldbridge
token create --role admin`` and ``fieldbridge serve --no-access-log`` as subprocesses on the
database ``url`` (``workers=N``: ``--workers N``; by default the server's own count: one
process on SQLite, one a CPU on PostgreSQL), with a fresh secret key, and stops it gracefully
afterwards (its log's tail printed when it failed). ``serving(cmd, env, workdir)`` does the
same for any server that takes ``--host`` and ``--port`` and answers ``GET /health``
(``bench/bare.py``).

The load: ``run_load(server, send, specs, ...)`` starts one spawned process per spec (the
generator needs CPU on the same machine, so two processes usually share the work), each
with its share of ``concurrency`` keep-alive connections (aiohttp; uvloop where installed).
A client calls ``send(session, client)`` for each request: a module-level coroutine function
of the benchmark that sends one request and says whether it succeeded, and if not why
(``client.spec`` holds its spec, ``client.rng`` a seeded generator, ``client.state`` is its
own across requests, ``client.kept`` goes back to the parent). Closed loop (``rate`` None):
each connection sends its next request when the last one is answered. Open loop at
``rate`` requests/s: requests start on a fixed schedule, at most ``concurrency`` in flight,
and a request's latency counts from its scheduled start, so a wait for a free connection
counts.

Method: ``warmup`` seconds (not measured), then ``duration`` seconds cut into ``windows``
equal windows by each request's completion time. ``Load.per_s`` is the median over the
windows of the successful requests per second (the machine is noisy); percentiles are over
all latency samples of the measured windows together (errors included); ``errors`` counts
every failed request, transport error and timeout (no answer within ``REQUEST_TIMEOUT_S``, or
still none ``GRACE_S`` after the run ended) of the whole run, warm-up included. The CPU
time of the server's processes (its workers and their supervisor; 100% = one core) and the
hypervisor's steal (the share of the machine's CPU time other virtual machines took) are
taken over the measured windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from rich.console import Console

from bench.profiled import ENV as PROFILE_ENV
from bench.stores import backend_url, unreachable

REQUEST_TIMEOUT_S = 10  # an answer slower than this counts as an error (TimeoutError)
GRACE_S = 3  # after a run, requests still in flight this long are cancelled (errors)
BUSY_WARNING = 0.2  # warn when other processes keep this share of the CPUs busy

# wide enough for the table when the output is piped or captured, as by ``make bench``
console = Console(width=None if sys.stdout.isatty() else 170)


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
    token: str  # an admin's
    process: subprocess.Popen[bytes]
    log: Path
    secret_key: str  # the server's: tokens issued in the store with it are good there


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-4:])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (its workers' too)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        for pid in reversed(process_tree(process.pid)):  # the workers first, then the process
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def running_server(
    database_url: str, workdir: Path, *, workers: int | None = None, profile: Path | None = None
) -> Iterator[Server]:
    """``fieldbridge serve`` on ``database_url`` (migrated, an admin token issued), with
    ``--workers N`` when ``workers`` is given (None: the server's own default). With a
    ``profile`` directory, under ``bench/profiled.py`` (cProfile, turned on per phase by
    ``bench.profiled.phase``)."""
    secret_key = secrets.token_hex(32)
    env = {
        **os.environ,
        "FIELDBRIDGE_DATABASE_URL": database_url,
        "FIELDBRIDGE_SECRET_KEY": secret_key,
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(workdir / "attachments"),
    }
    cli = fieldbridge_cmd()
    _run([*cli, "migrate"], env, workdir)
    out = _run([*cli, "token", "create", "--role", "admin", "--subject", "bench"], env, workdir)
    token = out.strip().splitlines()[-1].strip()
    serve = [*cli, "serve", "--no-access-log"]
    if profile is not None:
        env[PROFILE_ENV] = str(profile)
        serve = [sys.executable, str(Path(__file__).with_name("profiled.py")), *serve[1:]]
    if workers is not None:
        serve += ["--workers", str(workers)]
    with serving(serve, env, workdir) as (base, process, log):
        yield Server(base, token, process, log, secret_key)


@contextlib.contextmanager
def serving(
    cmd: list[str], env: dict[str, str], workdir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``cmd --host 127.0.0.1 --port <a free one>`` as a subprocess (its output to
    ``workdir/server.log``) once it answers ``GET /health`` with 200: its base URL, the
    process and the log. Stopped gracefully afterwards (SIGINT), its log's tail printed when
    it failed."""
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_wait_healthy(base, process, log))
        yield base, process, log
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


# --- the load generator (runs in one process per spec) -----------------------------------------


@dataclass
class Client:
    """What a benchmark's ``send`` is handed in its load-generator process."""

    spec: dict[str, Any]
    rng: random.Random
    state: dict[str, Any] = field(default_factory=dict)  # the send function's own
    kept: list[Any] = field(default_factory=list)  # plain values, handed back to the parent


Send = Callable[[aiohttp.ClientSession, Client], Awaitable[tuple[bool, str]]]
"""One request: ``(True, "")`` when it succeeded, else ``(False, why)``."""


@dataclass
class ClientResult:
    done_at: list[float] = field(default_factory=list)  # wall clock, seconds
    latency_ms: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    kept: list[Any] = field(default_factory=list)


def client_process(send: Send, spec: dict[str, Any], barrier: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us and the server
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        result = asyncio.run(_client(send, spec, barrier))
        # plain containers only: the parent cannot unpickle classes of a spawned __mp_main__
        results.put(
            {
                "done_at": result.done_at,
                "latency_ms": result.latency_ms,
                "ok": result.ok,
                "errors": dict(result.errors),
                "kept": result.kept,
            }
        )
    except BaseException as exc:
        results.put(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        raise


async def _client(send: Send, spec: dict[str, Any], barrier: Any) -> ClientResult:
    client = Client(spec, random.Random(spec["seed"]))
    result = ClientResult(kept=client.kept)
    connector = aiohttp.TCPConnector(limit=spec["workers"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(spec["base"], connector=connector, timeout=timeout) as session:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 60)
        start = time.time()
        measure_from = start + spec["warmup"]
        stop_at = measure_from + spec["duration"]

        async def one(scheduled: float | None = None) -> None:
            t0 = time.perf_counter() if scheduled is None else scheduled
            ok, reason = False, ""
            try:
                ok, reason = await send(session, client)
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
        for task in stuck:  # a request still unanswered GRACE_S after the run ended
            task.cancel()
            result.errors[f"no answer within {GRACE_S:.0f} s of the run's end"] += 1
        await asyncio.gather(*stuck, return_exceptions=True)
    return result


# --- running a load and summarising it ---------------------------------------------------------


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


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat``'s fields after the command's name (state, ppid, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (a server's workers), parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree = [root]
    for pid in tree:  # grows as it goes: breadth first
        tree += children.get(pid, [])
    return tree


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time of ``pid`` and its descendants so far (a server's supervisor and its
    workers; a descendant that ended counts in its parent's children's time)."""
    total = 0
    for each in process_tree(pid):
        fields = _stat(each)
        if fields is None:
            if each == pid:
                return None
            continue  # ended meanwhile
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Load:
    """What one run of a load measured (see the module for the method)."""

    window_per_s: list[float]
    latency_ms: list[float]
    errors: Counter[str]
    kept: list[Any]
    server_cpu: float | None
    steal: float | None

    @property
    def per_s(self) -> float:
        return statistics.median(self.window_per_s) if self.window_per_s else 0.0

    def ms(self, percent: float) -> float:
        return percentile(self.latency_ms, percent)


def run_load(
    server: Server,
    send: Send,
    specs: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    windows: int,
    rate: float | None = None,
    seed: int = 1,
) -> Load:
    """One run of ``send``: closed loop (``rate`` None) or open loop at ``rate`` requests/s,
    from one process per spec (each spec the process's own values, for ``client.spec``)."""
    ctx = mp.get_context("spawn")
    clients = len(specs)
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    processes = []
    for index, own in enumerate(specs):
        spec = {
            **own,
            "base": server.base,
            "workers": concurrency // clients + (index < concurrency % clients),
            "warmup": warmup,
            "duration": duration,
            "rate": None if rate is None else rate / clients,
            "seed": seed * 1000 + index,
        }
        process = ctx.Process(target=client_process, args=(send, spec, barrier, queue), daemon=True)
        process.start()
        processes.append(process)
    try:
        barrier.wait(timeout=60)
        measure_from = time.time() + warmup
        time.sleep(max(0.0, measure_from - time.time()))
        cpu0, ticks0 = _cpu_seconds(server.process.pid), _cpu_ticks()
        time.sleep(max(0.0, measure_from + duration - time.time()))
        cpu1, ticks1 = _cpu_seconds(server.process.pid), _cpu_ticks()
        parts: list[ClientResult] = []
        for _ in processes:
            got = queue.get(timeout=duration + warmup + 120)
            if isinstance(got, BaseException):
                raise RuntimeError(f"a load-generator process failed: {got!r}")
            parts.append(
                ClientResult(
                    got["done_at"],
                    got["latency_ms"],
                    got["ok"],
                    Counter(got["errors"]),
                    got["kept"],
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
    kept: list[Any] = []
    for part in parts:
        errors += part.errors
        kept += part.kept
        latencies += part.latency_ms
        for done, ok in zip(part.done_at, part.ok, strict=True):
            if ok:
                counts[min(windows - 1, int((done - measure_from) // width))] += 1
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / duration
    return Load(
        window_per_s=[c / width for c in counts],
        latency_ms=latencies,
        errors=errors,
        kept=kept,
        server_cpu=cpu,
        steal=_steal(ticks0, ticks1),
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


def warn_if_busy(busy: float | None, backend: str) -> None:
    """Say so when other work kept the machine busy just before a backend's run."""
    if busy is not None and busy > BUSY_WARNING:
        console.print(
            f"[yellow]the machine is already {busy:.0%} busy with other work before the "
            f"{backend} run: expect lower numbers than on a quiet machine[/yellow]"
        )


def note_busy(busy: dict[str, float | None]) -> None:
    """Under the table: each backend whose run other work kept the machine busy before."""
    for backend, share in busy.items():
        if share is not None and share > BUSY_WARNING:
            console.print(
                f"[yellow]note: other work kept the machine {share:.0%} busy just before the "
                f"{backend} run[/yellow]"
            )


Result = TypeVar("Result")


def run_backends(
    backends: list[str], bench: Callable[[str, str | None], list[Result]]
) -> tuple[list[Result], list[str], bool]:
    """``bench(backend, url)`` for each backend in turn (``url`` None for SQLite: the
    benchmark makes its file; else a throwaway PostgreSQL database): what they gave, the
    backends skipped (not reachable here, said so), and whether Ctrl-C cut the runs short."""
    results: list[Result] = []
    skipped: list[str] = []
    try:
        for backend in backends:
            why = unreachable(backend)
            if why:
                console.print(f"[yellow]{why}[/yellow]")
                skipped.append(backend)
                continue
            with backend_url(backend) as url:
                results += bench(backend, url)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the server was stopped[/yellow]")
        return results, skipped, True
    return results, skipped, False


def close_report(
    busy: dict[str, float | None],
    skipped: list[str],
    json_path: Path | None,
    flat: Callable[[], dict[str, Any]],
) -> None:
    """After the table: the busy machine noted, the backends skipped, and ``--json``'s file
    (``flat()``, one flat object) written."""
    note_busy(busy)
    if skipped:
        console.print(f"[yellow]skipped: {', '.join(skipped)} (not reachable)[/yellow]")
    if json_path:
        json_path.write_text(json.dumps(flat(), indent=2) + "\n")
        console.print(f"wrote {json_path}")


def say_outcome(runs: Sequence[tuple[str, Counter[str], list[str]]]) -> None:
    """Under the table, for ``runs`` (what ran, its errors by kind, the floors it missed):
    each run's five most common errors, then the runs that missed a floor, or that none did."""
    for name, errors, _ in runs:
        if errors:
            kinds = ", ".join(f"{k}: {n}" for k, n in errors.most_common(5))
            console.print(f"[red]{name} errors[/red]: {kinds}")
    missed = [name for name, _, misses in runs if misses]
    if missed:
        console.print(f"[bold red]MISSED[/bold red] floor: {', '.join(missed)}")
    elif runs:
        console.print("[green]every floor met[/green]")


def run_figures(args: Any, skipped: list[str]) -> dict[str, Any]:
    """What every load benchmark's JSON starts with: how its phases ran, the backends it
    skipped, and how busy other work kept the machine before each backend (``args.busy``)."""
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
    return out


def rounded_ms(value: float) -> float | None:
    """A latency for the JSON: None when there was none to measure."""
    return None if math.isnan(value) else round(value, 2)


def usage_figures(prefix: str, server_cpu: float | None, steal: float | None) -> dict[str, Any]:
    """A run's server CPU and steal for the JSON, in percent, where they were measured."""
    out: dict[str, Any] = {}
    if server_cpu is not None:
        out[f"{prefix}_server_cpu_pct"] = round(server_cpu * 100, 1)
    if steal is not None:
        out[f"{prefix}_steal_pct"] = round(steal * 100, 1)
    return out


def run_main(
    args: Any,
    bench: Callable[[str, str | None], list[Result]],
    table: Callable[[list[Result]], None],
    flat: Callable[[list[Result], list[str]], dict[str, Any]],
) -> int:
    """A load benchmark from its parsed arguments: ``bench`` on each backend of
    ``args.backends`` (``run_backends``), ``table`` of what they gave, then ``close_report``
    with ``flat`` (the results, the backends skipped) for ``args.json``. The exit code: 0,
    or 130 when Ctrl-C came before any result."""
    results, skipped, interrupted = run_backends(args.backends, bench)
    if interrupted and not results:
        return 130
    table(results)
    close_report(args.busy, skipped, args.json, lambda: flat(results, skipped))
    return 0
