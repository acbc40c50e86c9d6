"""``fieldbridge serve`` stopped with SIGTERM (as a service manager stops it) leaves no process
behind: the planning pool's worker processes, its forkserver and multiprocessing's resource
tracker end with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support.cli import cli_env, serving, wait_for
from tests.support.http import Api, Mover, World
from tests.support.planning import DAY, triaged

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` now, with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = _command(child)
                frontier.append(child)
    return found


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def test_sigterm_after_a_schedule_run_leaves_no_process_behind(
    api: Api, world: World, move: Mover, database_url: str, tmp_path: Path
) -> None:
    triaged(api, world, move, 4)  # a day the pool plans: PyVRP and VROOM race on it
    env = cli_env(database_url, tmp_path, FIELDBRIDGE_SECRET_KEY=api.container.secret_key,
                  FIELDBRIDGE_OUTBOX_RELAY="false")  # fmt: skip
    family: dict[int, str] = {}
    with serving(env, tmp_path, "--no-access-log") as server:
        try:
            auth = {"Authorization": f"Bearer {world.dispatcher}"}
            body = {"date": DAY, "time_limit_s": 1}
            asked = httpx.post(f"{server.base}/api/v1/schedule/runs", json=body, headers=auth)
            location = server.base + asked.headers["location"]
            done = ("done", "failed")
            wait_for(lambda: httpx.get(location, headers=auth).json()["status"] in done, 60,
                     "the run did not finish")  # fmt: skip
            assert httpx.get(location, headers=auth).json()["status"] == "done"
            family = descendants(server.process.pid)
            assert family, "the run planned on the pool: its processes are the server's"
            server.process.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then ends by the signal it was sent (-15)
            assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in server.logged()
            deadline = time.monotonic() + 10
            while (left := {pid: cmd for pid, cmd in family.items() if alive(pid)}) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.1)
            assert left == {}, f"still running after serve stopped: {left}"
        finally:
            for pid in family:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
