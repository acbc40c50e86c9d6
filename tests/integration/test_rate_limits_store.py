"""Rate-limit counts kept in the store (``orchestrator.access.rate_limits``): what several
server processes share when there is no Redis."""

from __future__ import annotations

import threading

from limits import RateLimitItemPerMinute
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select

from orchestrator.access.rate_limits import StoreWindows, purge_expired
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import make_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_holds_its_limit_then_moves_on(container: Container) -> None:
    clock = Clock()
    limiter = MovingWindowRateLimiter(StoreWindows(container.engine, clock))
    three = RateLimitItemPerMinute(3)
    first_at = clock.now
    answers = []
    for _ in range(4):
        answers.append(limiter.hit(three, "status", "198.51.100.7"))
        clock.now += 10
    assert answers == [True, True, True, False]
    assert limiter.hit(three, "status", "203.0.113.9")  # another client counts on its own
    reset, remaining = limiter.get_window_stats(three, "status", "198.51.100.7")
    assert (reset, remaining) == (first_at + 60, 0)

    clock.now = first_at + 60.5  # the first hit has left the window: one more fits
    assert limiter.hit(three, "status", "198.51.100.7")
    assert not limiter.hit(three, "status", "198.51.100.7")


def test_processes_sharing_the_store_share_the_count(container: Container) -> None:
    """Eight engines (as eight processes would have) hit one limit of five at once: exactly
    five pass, however the attempts interleave."""
    five = RateLimitItemPerMinute(5)
    url = container.settings.database_url
    engines = [make_engine(url) for _ in range(8)]
    passed: list[bool] = []
    start = threading.Barrier(len(engines))

    def client(engine: object) -> None:
        limiter = MovingWindowRateLimiter(StoreWindows(engine))  # type: ignore[arg-type]
        start.wait()
        for _ in range(3):
            passed.append(limiter.hit(five, "service-requests", "192.0.2.1"))

    threads = [threading.Thread(target=client, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert passed.count(True) == 5
    assert len(passed) == 24


def test_purge_drops_only_spent_counts(container: Container) -> None:
    clock = Clock()
    limiter = MovingWindowRateLimiter(StoreWindows(container.engine, clock))
    item = RateLimitItemPerMinute(10)
    limiter.hit(item, "status", "a")
    clock.now += 61
    limiter.hit(item, "status", "b")
    assert purge_expired(container.engine, 60, clock) == 1
    with container.engine.connect() as conn:
        keys = conn.execute(select(models.RateLimitHit.key)).scalars().all()
        count = conn.execute(select(func.count()).select_from(models.RateLimitHit)).scalar()
    assert count == 1
    assert ["b" in key for key in keys] == [True]
