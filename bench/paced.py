"""An open-loop load generator in a process of its own: POSTs sent on a fixed schedule.

A benchmark that runs simulators in its own process must not also send its load from there:
the two share one GIL, and the generator then falls behind the rate it was asked for. So
``paced_posts`` runs the requests in a spawned process (asyncio and aiohttp, keep-alive
connections): request ``i`` starts at ``i / rate`` seconds, at most ``concurrency`` in
flight; its latency counts from its scheduled start, so a wait for a free connection counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Paced:
    """What came back: each request's status (0: no answer) and latency, and the seconds
    from the first scheduled start to the last answer."""

    statuses: list[int]
    latency_ms: list[float]
    seconds: float

    @property
    def per_s(self) -> float:
        return len(self.statuses) / self.seconds if self.seconds else 0.0


def paced_posts(
    base: str,
    headers: dict[str, str],
    requests: Sequence[tuple[str, Any, dict[str, str]]],
    rate: float,
    concurrency: int = 64,
) -> Paced:
    """POST each ``(path, json body, extra headers)`` to ``base`` at ``rate`` a second."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_run, base, headers, list(requests), rate, concurrency).result()


def _run(*args: Any) -> Paced:
    """``_send(*args)`` on uvloop where it is installed."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(_send(*args))
    return asyncio.run(_send(*args))


async def _send(
    base: str,
    headers: dict[str, str],
    requests: list[tuple[str, Any, dict[str, str]]],
    rate: float,
    concurrency: int,
) -> Paced:
    statuses = [0] * len(requests)
    latency_ms = [0.0] * len(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=timeout
    ) as session:

        async def one(index: int, due: float) -> None:
            path, body, extra = requests[index]
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.post(path, json=body, headers=extra) as answer:
                    await answer.read()
                    statuses[index] = answer.status
            latency_ms[index] = (time.perf_counter() - due) * 1000

        start = time.perf_counter() + 0.2
        tasks = []
        for index in range(len(requests)):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
    return Paced(statuses, latency_ms, time.perf_counter() - start)
