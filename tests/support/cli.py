"""The command line as a user runs it: the installed ``fieldbridge``, its environment, a free
port to serve on, and waiting for what a process does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

FIELDBRIDGE = str(Path(sys.executable).with_name("fieldbridge"))
START_S = 90
"""How long ``serve`` may take to answer: with ``--workers`` it spawns processes that each
import the application afresh, which on a machine busy with the suite takes a while."""


def cli_env(database_url: str, tmp_path: Path, **variables: str) -> dict[str, str]:
    """A command's environment: this process's without any ``FIELDBRIDGE_*``, then this test's
    store, attachments and secret key file, one server process (PostgreSQL's default is one a
    CPU, each importing the application: tests/e2e/test_serve_workers.py is about several),
    then ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    return env | {
        "FIELDBRIDGE_DATABASE_URL": database_url,
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(tmp_path / "att"),
        "FIELDBRIDGE_SECRET_KEY_FILE": str(tmp_path / "key"),
        "FIELDBRIDGE_WORKERS": "1",
        **variables,
    }


def run(
    env: dict[str, str], *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``fieldbridge *args``, its output captured as text; one that runs past ``timeout_s``
    fails the test."""
    return subprocess.run(
        [FIELDBRIDGE, *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: Callable[[], bool], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


@dataclass(frozen=True)
class Server:
    """A running ``fieldbridge serve``: its process, its base URL and its log."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def logged(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[Server]:
    """``fieldbridge serve`` on a free port with ``env`` (and further ``args``), once
    ``/health`` answers; stopped (SIGTERM, then SIGKILL) at the end if it still runs."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [FIELDBRIDGE, "serve", "--port", str(port), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: _answers(server.base + "/health"), START_S, f"serve did not start: {log}")
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
