"""The bare baseline of ``api_bench.py``: FastAPI inserting one row into SQLite, nothing else.

``POST /rows`` with ``{"name": ...}`` (a pydantic model) inserts one row into a SQLite file
and answers ``{"id": ..., "name": ...}`` with 201. The file is set up as fieldbridge's store
sets up its own (``orchestrator/store/db.py``: WAL, ``synchronous=NORMAL``), one connection,
one transaction a row; the handler is a coroutine, so the insert runs on the event loop as
fieldbridge's SQLite units of work do (no thread hop). Served as ``fieldbridge serve``
serves the API: ``uvicorn.run`` in ONE process, uvicorn's default loop and HTTP
implementations (uvloop and httptools where installed), no access log, no proxy headers,
the cyclic collector tuned the same way (``cli/serve.py``: start-up objects frozen, the
young generation collected every ``GC_YOUNG_THRESHOLD`` allocations).

What a request costs on this machine with no application logic: the benchmark holds
fieldbridge's figures to ratios of it, measured in the same run, since the machine's speed
swings (``api_bench.py``'s Floors).

Run by ``running_bare(workdir)``; by hand: ``.venv/bin/python -m bench.bare --database
PATH [--host 127.0.0.1] [--port 8000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from pydantic import BaseModel

if TYPE_CHECKING:  # the server's process imports only what the app needs
    import aiohttp

    from bench.load import Client, Server

ROOT = Path(__file__).resolve().parent.parent


class Row(BaseModel):
    name: str


def create_app(database: Path) -> FastAPI:
    """The app: ``GET /health``, and ``POST /rows`` inserting into ``database``."""
    db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/rows", status_code=201)
    async def insert(row: Row) -> dict[str, int | str]:
        with db:  # one transaction
            ident = db.execute("INSERT INTO rows (name) VALUES (?)", (row.name,)).lastrowid
        return {"id": ident or 0, "name": row.name}

    return app


@contextlib.contextmanager
def running_bare(workdir: Path) -> Iterator[Server]:
    """The bare app on a new SQLite file in ``workdir``, in a process of its own, until it
    answers ``/health``; stopped afterwards. (``Server.token`` is empty: it asks for none.)"""
    from bench.load import Server, serving

    cmd = [sys.executable, "-m", "bench.bare", "--database", str(workdir / "bare.db")]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with serving(cmd, {**os.environ, "PYTHONPATH": path}, workdir) as (base, process, log):
        yield Server(base, "", process, log, "")


async def send_insert(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """One ``POST /rows`` (a ``send`` for ``bench.load.run_load``)."""
    index = client.state.get("next", 0)
    client.state["next"] = index + 1
    async with session.post("/rows", json={"name": f"bench row {index}"}) as resp:
        await resp.read()
        return resp.status == 201, f"HTTP {resp.status}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", type=Path, required=True, help="the SQLite file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    import uvicorn

    from cli.serve import settle_memory

    application = create_app(args.database)
    settle_memory()  # the collector tuned as ``fieldbridge serve`` tunes it
    uvicorn.run(
        application,
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
