"""Where the command line speaks to people: standard error, with rich."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.domain.errors import FieldbridgeError

err = Console(stderr=True)


def error(message: str) -> None:
    """One line on standard error, never wrapped, whatever a path holds."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def stop(message: str) -> typer.Exit:
    """The error said; the exit (code 2) for the caller to raise."""
    error(message)
    return typer.Exit(code=2)


@contextmanager
def refusals_stop() -> Iterator[None]:
    """A refusal of the application's (``FieldbridgeError``: an unknown id, a role that may
    not, a bad value) ends the command with its detail in one line and exit code 2."""
    try:
        yield
    except FieldbridgeError as exc:
        raise stop(exc.detail) from None


def when(moment: datetime | None) -> str:
    """A moment as a table shows it: UTC to the second, ``-`` for none."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
