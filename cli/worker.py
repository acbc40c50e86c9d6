"""``fieldbridge worker`` and ``fieldbridge beat``: the production mode's processes (Celery on
the Redis at ``FIELDBRIDGE_BROKER_URL``; see ``orchestrator.runtime.tasks`` for what they run and
the reliability settings). Start as many workers as you like, on one machine or many; start
one beat."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import stop
from orchestrator.runtime import logs
from orchestrator.runtime.bootstrap import bootstrap, read_settings, worker_context
from orchestrator.runtime.settings import Settings


def _production() -> Settings:
    settings = read_settings()
    if not settings.broker_url:
        raise stop(
            "FIELDBRIDGE_BROKER_URL is not set (redis://host:6379/0): the production mode "
            "needs a broker; the embedded mode runs its relay inside `fieldbridge serve`"
        )
    return settings


def worker_cmd(
    concurrency: Annotated[int, typer.Option(help="tasks at a time", min=1, max=64)] = 4,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="the worker's name (%h: the host)")] = None,
) -> None:
    """Run a worker: outbox deliveries when woken, and a loop that claims due outbox rows
    straight from the database whatever the broker does."""
    from orchestrator.runtime import tasks

    settings = _production()
    logs.configure(settings.log_format, loglevel)
    argv = ["worker", "--pool", "threads", "--concurrency", str(concurrency),
            "--loglevel", loglevel, "--queues", "fieldbridge", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    if hostname:
        argv += ["--hostname", hostname]
    with bootstrap(settings) as container:
        tasks.run_worker(worker_context(container), argv)


def beat_cmd(
    schedule: Annotated[Path, typer.Option(help="where beat keeps when each job last ran")] = Path(
        ".fieldbridge/celerybeat-schedule"
    ),
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the periodic jobs (the outbox sweep every 30 s); one beat for all workers."""
    from orchestrator.runtime import tasks

    app = tasks.configure(_production())
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--schedule", str(schedule), "--loglevel", loglevel])
