"""The FastAPI application: ``create_app()`` wires the container, middleware and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from api import problems
from api.idempotency import IdempotencyMiddleware, UploadLimitMiddleware
from api.ratelimit import RateLimits
from api.request_ids import RequestIdMiddleware
from api.routers import (
    audit,
    billing,
    outbox,
    plans,
    public,
    reference,
    schedule,
    sync,
    work_orders,
)
from orchestrator import idempotency, metrics
from orchestrator.bootstrap import Container, bootstrap
from orchestrator.db import checkpoint
from orchestrator.handlers import outbox as outbox_h
from orchestrator.outbox.wiring import build_relay
from orchestrator.settings import Settings

log = logging.getLogger("fieldbridge.outbox")
PURGE_EVERY_S = 3600
CHECKPOINT_EVERY_S = 1.0


async def _every(seconds: float, job: Callable[..., None], *args: Any) -> None:
    """Run ``job`` in the threadpool now and every ``seconds``; a failure waits for the next."""
    while True:
        with contextlib.suppress(Exception):
            await run_in_threadpool(job, *args)
        await asyncio.sleep(seconds)


def _relay(container: Container) -> Callable[[], None]:
    """The embedded relay: one round (deliver what is due) for the lifespan to repeat, which
    logs an alert when the outbox's alerts change (dead letters, an old pending row)."""
    relay, problems = build_relay(container.uow, container.settings)
    for name, why in problems.items():
        log.error("outbox: %s is not configured, its rows stay pending: %s", name, why)
    shown: list[list[str]] = [[]]

    def round_() -> None:
        with metrics.TASK_SECONDS.labels("outbox.relay_round").time():
            relay.drain()
        with container.uow(read_only=True) as uow:
            now = outbox_h.alerts(uow, container.settings.outbox_alert_age_s)
        if now != shown[0]:
            for reason in now:
                log.error("outbox alert: %s", reason)
            shown[0] = now

    return round_


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings, checkpoint_in_background=True)

    def purge() -> None:
        with container.uow() as uow:
            idempotency.purge_expired(uow, container.settings.idempotency_ttl_hours)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.open_loop_database()
        await run_in_threadpool(container.resume_background_work)
        tasks = [
            asyncio.create_task(_every(PURGE_EVERY_S, purge)),
            asyncio.create_task(_every(CHECKPOINT_EVERY_S, checkpoint, container.engine)),
        ]
        settings = container.settings
        if settings.broker_url:  # the production mode: workers deliver, woken after commits
            from orchestrator import tasks as production

            production.enable(settings)
        elif settings.outbox_relay:
            relay = await run_in_threadpool(_relay, container)
            tasks.append(asyncio.create_task(_every(settings.outbox_relay_every_s, relay)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await run_in_threadpool(container.runner.shutdown)
            await container.close_loop_database()

    app = FastAPI(
        title="fieldbridge",
        summary="Work-order middleware for field service",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's OpenTelemetry hooks look for providers on every request even when none
        # is configured: 5 to 10% of a read's CPU in bench/api_bench.py. Off until
        # fieldbridge exports telemetry of its own.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.container = container
    app.state.metrics = metrics.registry_for(lambda: container.uow(read_only=True))
    app.state.rate_limits = RateLimits(container.settings)
    problems.install(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(UploadLimitMiddleware)
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
        public.v1,
    ):
        v1.routes.extend(router.routes)
    app.include_router(v1, prefix="/api/v1")
    app.include_router(public.root)
    return app
