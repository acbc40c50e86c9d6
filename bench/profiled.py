"""The server under cProfile, for ``api_bench.py --profile DIR``: where a request's time goes.

``python bench/profiled.py serve ...`` is ``fieldbridge serve ...`` (``bench.load.running_server``
starts it so when given a profile directory), with the cProfile profiler off until the
benchmark turns it on for a phase (``phase``): SIGUSR1 resets the counts and turns it on,
SIGUSR2 turns it off and writes ``DIR/<name>.prof`` (pstats) and ``DIR/<name>.json``: the
requests the application answered, the SQL statements it sent (every engine's, counted at
``before_cursor_execute``) and the process's CPU seconds, all over the profiled span.
``report`` prints the top functions by own time and by cumulative time, and statements per
request.

What it sees: only the main thread, the event loop, where a request runs (on SQLite its unit
of work too; on PostgreSQL the statements run over asyncpg in greenlets, whose switches
cProfile books to whichever frame resumes). Work in the threadpool (``def`` routes, the WAL
checkpoint) is not in the profile. cProfile costs time per Python call, so requests/s under
it are lower than without it, and calls that are many and small are overstated beside C
calls: compare the shares within a profile, and the figures only between runs without it.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV = "FIELDBRIDGE_BENCH_PROFILE_DIR"
NAME_FILE = "phase"  # in DIR: the name the next SIGUSR2 writes its files under
TOP = 25


def serve_profiled(argv: list[str]) -> None:
    """``fieldbridge`` with ``argv``, under a profiler that the signals turn on and off."""
    from sqlalchemy import Engine, event

    import api.app
    from cli.main import app as cli

    out = Path(os.environ[ENV])
    profiler = cProfile.Profile()
    counts = {"requests": 0, "statements": 0}
    cpu_at_start = [0.0]
    make_app = api.app.create_app

    def counted_app(*args: Any, **kwargs: Any) -> Any:  # the application, its requests counted
        inner = make_app(*args, **kwargs)

        async def application(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                counts["requests"] += 1
            await inner(scope, receive, send)

        return application

    api.app.create_app = counted_app  # serve_cmd imports it when it runs

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(*_: Any) -> None:
        counts["statements"] += 1

    def start(*_: Any) -> None:
        profiler.clear()
        counts.update(requests=0, statements=0)
        cpu_at_start[0] = time.process_time()
        profiler.enable()

    def stop(*_: Any) -> None:
        profiler.disable()
        name = (out / NAME_FILE).read_text().strip()
        profiler.dump_stats(out / f"{name}.prof")
        figures = {**counts, "cpu_s": round(time.process_time() - cpu_at_start[0], 3)}
        (out / f"{name}.json").write_text(json.dumps(figures))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    cli(argv, prog_name="fieldbridge")


@contextmanager
def phase(pid: int, out: Path | None, name: str) -> Iterator[None]:
    """Profile the server ``pid`` (started by ``serve_profiled``) while the block runs; its
    files are ``out/<name>.prof`` and ``out/<name>.json`` when the block has ended. Nothing
    when ``out`` is None (not profiling)."""
    if out is None:
        yield
        return
    (out / NAME_FILE).write_text(name)
    figures = out / f"{name}.json"
    figures.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not figures.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def report(out: Path, name: str, print_: Any = print) -> dict[str, Any]:
    """Print the profile ``out/<name>``: its figures, then the top functions by own time and
    by cumulative time. Its figures (requests, statements, CPU seconds)."""
    figures: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    requests = max(1, figures["requests"])
    print_(
        f"profile {out / name}.prof: {figures['requests']:,} requests, "
        f"{figures['statements'] / requests:.2f} statements and "
        f"{figures['cpu_s'] / requests * 1e6:,.0f} µs CPU a request (under the profiler)"
    )
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(str(out / f"{name}.prof"))
        stats.sort_stats(order)
        width = stats.total_tt or 1e-9  # type: ignore[attr-defined]
        print_(f"  top {TOP} by {order} (µs a request; share of the profiled time)")
        for func in stats.fcn_list[:TOP]:  # type: ignore[attr-defined]
            calls, _, own, cumulative, _ = stats.stats[func]  # type: ignore[attr-defined]
            shown = own if order == "tottime" else cumulative
            filename, line, function = func
            where = f"{filename}:{line}({function})" if line else function
            print_(
                f"  {shown / requests * 1e6:8.1f} {shown / width:6.1%} "
                f"{calls / requests:6.1f}x  {where[-110:]}"
            )
    return figures


if __name__ == "__main__":
    serve_profiled(sys.argv[1:])
