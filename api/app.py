"""The FastAPI application: ``create_app()`` wires the container, middleware and routers."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import deps, openapi, problems
from api.gate import GateMiddleware
from api.headers import BrowserHeadersMiddleware
from api.idempotency import IdempotencyMiddleware
from api.ratelimit import WINDOW_S, RateLimits
from api.request_ids import RequestIdMiddleware
from api.routers import (
    audit,
    billing,
    maintenance,
    me,
    ops,
    outbox,
    plans,
    public,
    reference,
    schedule,
    sync,
    uploads,
    work_orders,
)
from orchestrator.access import idempotency, rate_limits
from orchestrator.field import packet
from orchestrator.field import uploads as resumable
from orchestrator.runtime import metrics
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from orchestrator.store.db import checkpoint

PURGE_EVERY_S = 3600
CHECKPOINT_EVERY_S = 1.0


class Housekeeping:
    """What a server does once, whatever its number of processes: every hour drop expired
    idempotency keys, change-feed rows, unfinished uploads and rate-limit counts; every
    second copy SQLite's WAL into the database file (``checkpoint``). Run by the process that
    serves alone, or by the supervisor of ``fieldbridge serve --workers N``."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._every, args=(seconds, job), name=name, daemon=True)
            for name, seconds, job in (
                ("purge", PURGE_EVERY_S, self.purge),
                ("checkpoint", CHECKPOINT_EVERY_S, lambda: checkpoint(container.engine)),
            )
        ]

    def purge(self) -> None:
        container = self.container
        with container.new_uow() as uow:
            idempotency.purge_expired(uow, container.settings.idempotency_ttl_hours)
        with container.new_uow() as uow:
            packet.prune_changes(uow, container.settings.change_feed_days)
        with container.new_uow() as uow:
            resumable.purge_expired(uow, container.attachments)
        rate_limits.purge_expired(container.engine, WINDOW_S)

    def _every(self, seconds: float, job: Callable[[], object]) -> None:
        """``job`` now and every ``seconds`` until stopped; a failure waits for the next."""
        while True:
            with contextlib.suppress(Exception):
                job()
            if self._stop.wait(seconds):
                return

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    workers: int = 1,
    supervised: bool = False,
) -> FastAPI:
    """The API for one process of a server of ``workers`` processes. ``supervised``: a worker
    of ``fieldbridge serve --workers N``, whose supervisor runs the background and the
    housekeeping; else this process runs them itself, for as long as it serves."""
    container = container or bootstrap(settings, checkpoint_in_background=True)
    housekeeping = None if supervised else Housekeeping(container)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.open_loop_database()
        await run_in_threadpool(container.background.start)
        if housekeeping is not None:
            housekeeping.start()
        try:
            yield
        finally:
            if housekeeping is not None:
                await run_in_threadpool(housekeeping.stop)
            await run_in_threadpool(container.background.stop)
            await container.close_loop_database()

    app = FastAPI(
        title="fieldbridge",
        summary="Work-order middleware for field service",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api.openapi from local assets; ReDoc is off
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks look for providers on every request even when none
        # is configured, a visible share of a read's CPU (DEVELOPERS.md). Off until
        # fieldbridge exports telemetry of its own.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.container = container
    app.state.metrics = metrics.registry_for(lambda: container.new_uow(read_only=True))
    app.state.rate_limits = RateLimits(container.settings, container.engine, workers)
    # POST /plans solves in this process: its share of the cores, so N workers never start
    # more solver processes than the machine has cores.
    app.state.planning_cores = max(1, (os.cpu_count() or 1) // workers)
    problems.install(app, confirm=deps.confirm_token)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(GateMiddleware)  # the token, role and rate limit before any body
    if container.settings.trusted_proxies:  # X-Forwarded-For from these, and no others
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=list(container.settings.trusted_proxies)
        )
    app.add_middleware(BrowserHeadersMiddleware)  # nosniff, CSP on HTML, OPTIONS and Allow
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer and log line has an id

    # One router for everything under /api/v1: FastAPI matches an included router by trying
    # each of its routes, and every further included router adds that walk to each request.
    v1 = APIRouter()
    for router in (
        work_orders.router,
        *reference.routers,
        audit.router,
        plans.router,
        *schedule.routers,
        *sync.routers,
        *outbox.routers,
        *billing.routers,
        ops.router,
        me.router,
        uploads.router,
        maintenance.router,
        public.v1,
    ):
        v1.routes.extend(router.routes)
    app.include_router(v1, prefix="/api/v1")
    app.include_router(public.root)
    openapi.install(app)  # after the routers: a request for the API never tries its routes
    return app
