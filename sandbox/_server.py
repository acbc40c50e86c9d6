"""What every simulator needs to be served: a throwaway CA and a server certificate for
loopback, and an ASGI app run by uvicorn over HTTPS on 127.0.0.1 in a background thread.

    server = LoopbackServer("HR simulator")
    port = server.listen(0)                 # bound now, so the app may know its own URL
    ca, pem = write_tls_files(workdir)      # ca.pem (to trust) and server.pem (key and chain)
    server.run(make_app(server.state), pem) # returns once uvicorn answers
    ...
    server.stop()                           # hung calls end at once, keep-alives are cut

``ServerState.hang`` is the ``hang`` fault: no answer for a while, but never past a stop.
``LoopbackSimulator`` is what every simulator does the same around it: its workdir, start,
stop, the context manager and where it listens (``url``).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import trustme
import uvicorn

__all__ = ["LoopbackServer", "LoopbackSimulator", "ServerState", "write_tls_files"]


@dataclass
class ServerState:
    """Shared by a running server and its app: whether it is stopping, calls hanging now."""

    stopping: bool = False
    hanging: int = 0

    async def hang(self, seconds: float) -> None:
        """No answer for ``seconds``; ends at once when the server stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self.hanging += 1
        try:
            while not self.stopping:
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, 0.05))
        finally:
            self.hanging -= 1


def write_tls_files(
    workdir: Path, organization: str = "fieldbridge sandbox CA"
) -> tuple[Path, Path]:
    """A new throwaway CA (``workdir/ca.pem``) and a certificate it signs for 127.0.0.1 and
    localhost, with its private key (``workdir/server.pem``, mode 0600): (ca, server)."""
    ca = trustme.CA(organization_name=organization)
    ca_path, server_path = workdir / "ca.pem", workdir / "server.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_path))
    server_path.chmod(0o600)
    return ca_path, server_path


class LoopbackServer:
    """One ASGI app over HTTPS on ``127.0.0.1``, served by uvicorn in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = ServerState()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    def listen(self, port: int = 0) -> int:
        """Bind ``127.0.0.1:port`` (0: a free one) and start a new ``state``; the port.
        Raises ``OSError`` when the port is taken."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.state = ServerState()
        return self.port

    def run(self, app: Any, server_pem: Path, *, start_timeout_s: float = 10.0) -> None:
        """Serve ``app`` on the bound socket with the key and chain in ``server_pem``; returns
        once it answers. Raises ``RuntimeError`` (and stops) if it does not start."""
        if self._sock is None:
            raise RuntimeError("listen() first")
        config = uvicorn.Config(
            app,
            ssl_certfile=str(server_pem),
            ssl_keyfile=str(server_pem),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._sock]},
            name=self.name.lower().replace(" ", "-"),
            daemon=True,
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving: hung calls end at once, open keep-alive connections do not hold it."""
        self.state.stopping = True
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


class LoopbackSimulator:
    """A simulator served by a ``LoopbackServer`` named ``name`` on ``127.0.0.1:port`` (0: a
    free one). ``workdir`` keeps the CA and the server certificate (a temporary directory named
    ``workdir_prefix...``, removed on stop, when omitted). A subclass gives the app to serve
    (``_app``, called once the port is bound)."""

    def __init__(
        self, name: str, *, port: int, workdir: str | Path | None, workdir_prefix: str
    ) -> None:
        self._requested_port = port
        self._own_workdir = workdir is None
        self._workdir = Path(workdir).resolve() if workdir is not None else None
        self._workdir_prefix = workdir_prefix
        self._http = LoopbackServer(name)

    def _app(self) -> Any:
        """The ASGI app to serve; ``port`` and ``workdir`` are known by then."""
        raise NotImplementedError

    def start(self) -> Self:
        if self._http.running:
            return self
        workdir = self._workdir
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix=self._workdir_prefix))
            self._workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        _, server_pem = write_tls_files(workdir)
        self._http.listen(self._requested_port)
        app = self._app()
        try:
            self._http.run(app, server_pem)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._http.stop()  # hangs end at once; open keep-alive connections do not hold it up
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("the simulator is not started")
        return self._workdir

    @property
    def ca_path(self) -> Path:
        return self.workdir / "ca.pem"
