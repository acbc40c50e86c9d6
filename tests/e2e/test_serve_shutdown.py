"""``fieldbridge serve`` stopped with SIGTERM (as a service manager stops it) leaves no process
behind: the planning pool's worker processes, its forkserver and multiprocessing's resource
tracker end with it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support.cli import FIELDBRIDGE, free_port
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    env |= {
        "FIELDBRIDGE_DATABASE_URL": database_url,
        "FIELDBRIDGE_SECRET_KEY": api.container.secret_key,
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "FIELDBRIDGE_OUTBOX_RELAY": "false",
    }
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [FIELDBRIDGE, "serve", "--port", str(port), "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
            auth = {"Authorization": f"Bearer {world.dispatcher}"}
            body = {"date": DAY, "time_limit_s": 1}
            location = http.post("/api/v1/schedule/runs", json=body, headers=auth).headers[
                "location"
            ]
            while (run := http.get(location, headers=auth).json())["status"] not in (
                "done",
                "failed",
            ):
                assert time.monotonic() < deadline + 60, run
                time.sleep(0.1)
        assert run["status"] == "done", run
        family = descendants(server.pid)
        assert family, "the run planned on the pool: its processes are the server's"
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends by the signal it was sent (-15)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
        deadline = time.monotonic() + 10
        while (left := {pid: cmd for pid, cmd in family.items() if alive(pid)}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert left == {}, f"still running after serve stopped: {left}"
    finally:
        if server.poll() is None:
            server.kill()
        for pid in descendants(server.pid):
            os.kill(pid, signal.SIGKILL)
