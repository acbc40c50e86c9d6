"""``fieldbridge serve --workers 2``: two processes behind one port act as one server.

Which worker answers is the kernel's choice, so the test makes it: it stops one worker
(SIGSTOP) while the other is asked, then swaps them. Every request opens a connection of its
own, so a stopped worker's idle keep-alive cannot hold one back.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support.cli import Server, cli_env, run, serving, wait_for

STATUS_LIMIT = 3


def _workers(server: Server) -> list[int]:
    """The worker processes of the server: its children that uvicorn spawned."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@contextmanager
def only(worker: int, workers: list[int]) -> Iterator[None]:
    """While the block runs, ``worker`` is the only one that takes a connection (kept short:
    uvicorn replaces a worker that misses its health checks for 5 s)."""
    others = [w for w in workers if w != worker]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


# Several workers are PostgreSQL's default (one a CPU); what they share is kept in the store the
# same way on SQLite (tests/integration/test_rate_limits_store.py runs both).
@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_workers_share_rate_limits_keys_and_the_background(
    database_url: str, tmp_path: Path
) -> None:
    env = cli_env(
        database_url,
        tmp_path,
        FIELDBRIDGE_STATUS_RATE_PER_MIN=str(STATUS_LIMIT),
        FIELDBRIDGE_OUTBOX_RELAY="false",
    )
    token = run(env, "token", "create", "--role", "admin", "--subject", "t").stdout.split()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    with serving(env, tmp_path, "--workers", "2", "--no-access-log") as server:
        wait_for(
            lambda: server.logged().count("Application startup complete") == 2,
            30,
            "two workers did not start",
        )
        first, second = workers = _workers(server)
        assert len(workers) == 2

        def status() -> httpx.Response:
            return httpx.get(f"{server.base}/status/NO-SUCH-CODE", timeout=10)

        # The status page's limit is counted once for the server, not once per worker.
        with only(first, workers):
            answers = [status().status_code for _ in range(STATUS_LIMIT - 1)]
        with only(second, workers):
            answers += [status().status_code for _ in range(2)]
            refused = status()
        assert answers == [404] * STATUS_LIMIT + [429]
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1

        # An Idempotency-Key claimed through one worker holds in the other.
        key = {"Idempotency-Key": "division-north-1"}
        body = {"code": "NORTH", "name": "North"}
        url = f"{server.base}/api/v1/divisions"
        with only(first, workers):
            created = httpx.post(url, json=body, headers=auth | key, timeout=10)
        with only(second, workers):
            replayed = httpx.post(url, json=body, headers=auth | key, timeout=10)
            other = httpx.post(url, json=body | {"name": "Nord"}, headers=auth | key, timeout=10)
        assert created.status_code == 201, created.text
        assert replayed.status_code == 201
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.content == created.content
        assert other.status_code == 422
        listed = httpx.get(url, headers=auth, timeout=10).json()["items"]
        assert [d["code"] for d in listed] == ["NORTH"]

        # A schedule run asked of either worker is run by the server's one runner.
        asked = []
        for worker in workers:
            with only(worker, workers):
                day = dt.date(2027, 3, 1 + len(asked)).isoformat()
                answer = httpx.post(
                    f"{server.base}/api/v1/schedule/runs", json={"date": day}, headers=auth
                )
            assert answer.status_code == 202, answer.text
            asked.append(server.base + answer.headers["Location"])

        def finished() -> bool:
            runs = [httpx.get(url, headers=auth, timeout=10).json() for url in asked]
            return all(r["status"] == "done" for r in runs)

        wait_for(finished, 60, "the runs asked of the workers were not run")

    assert server.process.returncode == 0, server.logged()[-2000:]


def test_several_workers_refuse_to_count_limits_in_each_process(tmp_path: Path) -> None:
    env = cli_env(
        f"sqlite:///{tmp_path / 'fb.db'}", tmp_path, FIELDBRIDGE_RATE_LIMIT_STORAGE="memory://"
    )
    assert run(env, "migrate").returncode == 0
    out = run(env, "serve", "--workers", "2", timeout_s=30)
    assert out.returncode != 0
    assert "FIELDBRIDGE_RATE_LIMIT_STORAGE=memory://" in out.stderr
    assert "2 workers" in out.stderr
