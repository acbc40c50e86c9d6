"""Wiring: one place that turns settings into an engine, a session factory and adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from orchestrator.attachments import AttachmentStore
from orchestrator.db import LoopDatabase, make_engine
from orchestrator.handlers import scheduling
from orchestrator.runner import Runner
from orchestrator.settings import Settings, get_settings
from orchestrator.uow import UnitOfWork


@dataclass
class Container:
    settings: Settings
    engine: Engine
    secret_key: str
    attachments: AttachmentStore
    loop_database: LoopDatabase | None = None
    runner: Runner = field(default_factory=Runner)

    def uow(
        self, *, read_only: bool = False, check: Callable[[UnitOfWork], None] | None = None
    ) -> UnitOfWork:
        return UnitOfWork(
            self.engine, read_only=read_only, check=check, loop_database=self.loop_database
        )

    def open_loop_database(self) -> None:
        """From the event loop that serves requests (the API's lifespan): let
        ``UnitOfWork.run`` wait for a networked database without blocking that loop."""
        if LoopDatabase.wanted(self.settings.database_url):
            self.loop_database = LoopDatabase(self.settings.database_url)

    async def close_loop_database(self) -> None:
        database, self.loop_database = self.loop_database, None
        if database is not None:
            await database.dispose()

    def start_schedule_run(self, run_id: int) -> None:
        """Run a queued schedule run: in this process's runner (its parts on a process pool),
        or, in the production mode, as a task on a worker (its parts as tasks over the
        workers)."""
        if self.settings.broker_url:
            from orchestrator import tasks  # the production mode only

            tasks.send_schedule_run(run_id)
            return
        self.runner.submit(
            scheduling.execute,
            self.uow,
            run_id,
            window_min=self.settings.appointment_window_min,
            lease_s=self.settings.plan_lease_s,
        )

    def resume_background_work(self) -> None:
        """At start-up of the embedded mode: runs left queued by a stopped process go to the
        runner (and those it left running fail, saying so). In the production mode the workers
        take over the runs nobody runs (``orchestrator.tasks``), whatever became of the API."""
        if self.settings.broker_url:
            return
        for run_id in scheduling.recover(self.uow):
            self.start_schedule_run(run_id)

    def dispose(self) -> None:
        self.runner.shutdown()
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None, *, checkpoint_in_background: bool = False
) -> Container:
    """``checkpoint_in_background``: for a long-running process that checkpoints SQLite's WAL
    itself (``orchestrator.db.checkpoint``), so no request pays for it."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url, checkpoint_in_background=checkpoint_in_background)
    return Container(
        settings=settings,
        engine=engine,
        secret_key=settings.resolved_secret_key(),
        attachments=AttachmentStore(settings.attachments_dir, settings.max_upload_bytes),
    )
