"""Logs that say which request or task they belong to.

``configure`` installs one handler on the root logger: text for a person
(``2026-12-03 18:00:00 INFO fieldbridge.outbox [request 5f2c...] ...``) or one JSON object a
line for a log pipeline (``FIELDBRIDGE_LOG_FORMAT=json``: ``time``, ``level``, ``logger``,
``message``, ``request_id``, ``task_id``, and any ``extra``). The ids come from context
variables: the API sets ``request_id`` per request (its ``X-Request-ID``, or a new one), a
Celery worker sets ``task_id`` per task; both follow the work into threads and the event loop.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

__all__ = ["ContextFilter", "bound", "configure", "new_request_id", "request_id", "task_id"]

request_id: ContextVar[str | None] = ContextVar("fieldbridge_request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("fieldbridge_task_id", default=None)
_GIVEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_request_id(given: str | None = None) -> str:
    """The caller's id when it is a sane one (up to 64 letters, digits, ``._:-``), else new."""
    if given is not None and _GIVEN.fullmatch(given):
        return given
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Puts the request and task ids on every record (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request, task = request_id.get(), task_id.get()
        where = [f"request {request}"] if request else []
        where += [f"task {task}"] if task else []
        record.__dict__.update(
            request_id=request, task_id=task, context=f" [{', '.join(where)}]" if where else ""
        )
        return True


@contextmanager
def bound(*, request: str | None = None, task: str | None = None) -> Iterator[None]:
    """Within this block, records carry these ids."""
    tokens = []
    if request is not None:
        tokens.append((request_id, request_id.set(request)))
    if task is not None:
        tokens.append((task_id, task_id.set(task)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def configure(fmt: Literal["text", "json"] = "text", level: str = "INFO") -> logging.Handler:
    """One handler on the root logger (standard error), in ``fmt``; returns it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return handler
