"""The FastAPI application: ``create_app()`` wires the container, middleware and routers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import deps, openapi, problems
from api.gate import GateMiddleware
from api.headers import BrowserHeadersMiddleware
from api.idempotency import IdempotencyMiddleware
from api.ratelimit import RateLimits
from api.request_ids import RequestIdMiddleware
from api.routers import (
    audit,
    billing,
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
from orchestrator.access import idempotency
from orchestrator.field import packet
from orchestrator.field import uploads as resumable
from orchestrator.runtime import metrics
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from orchestrator.store.db import checkpoint

PURGE_EVERY_S = 3600
CHECKPOINT_EVERY_S = 1.0


async def _every(seconds: float, job: Callable[..., None], *args: Any) -> None:
    """Run ``job`` in the threadpool now and every ``seconds``; a failure waits for the next."""
    while True:
        with contextlib.suppress(Exception):
            await run_in_threadpool(job, *args)
        await asyncio.sleep(seconds)


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings, checkpoint_in_background=True)

    def purge() -> None:
        with container.new_uow() as uow:
            idempotency.purge_expired(uow, container.settings.idempotency_ttl_hours)
        with container.new_uow() as uow:
            packet.prune_changes(uow, container.settings.change_feed_days)
        with container.new_uow() as uow:
            resumable.purge_expired(uow, container.attachments)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.open_loop_database()
        await run_in_threadpool(container.background.start)
        tasks = [
            asyncio.create_task(_every(PURGE_EVERY_S, purge)),
            asyncio.create_task(_every(CHECKPOINT_EVERY_S, checkpoint, container.engine)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
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
    app.state.rate_limits = RateLimits(container.settings)
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
        public.v1,
    ):
        v1.routes.extend(router.routes)
    app.include_router(v1, prefix="/api/v1")
    app.include_router(public.root)
    openapi.install(app)  # after the routers: a request for the API never tries its routes
    return app
