"""Wiring: one place that turns settings into an engine, a session factory and adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from orchestrator.attachments import AttachmentStore
from orchestrator.db import make_engine, make_session_factory
from orchestrator.settings import Settings, get_settings
from orchestrator.uow import UnitOfWork


@dataclass
class Container:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Any]
    secret_key: str
    attachments: AttachmentStore

    def uow(
        self, *, read_only: bool = False, check: Callable[[UnitOfWork], None] | None = None
    ) -> UnitOfWork:
        return UnitOfWork(self.session_factory, read_only=read_only, check=check)

    def dispose(self) -> None:
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
        session_factory=make_session_factory(engine),
        secret_key=settings.resolved_secret_key(),
        attachments=AttachmentStore(settings.attachments_dir, settings.max_upload_bytes),
    )
