"""Where the command line speaks to people: standard error, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def error(message: str) -> None:
    """One line on standard error, never wrapped, whatever a path holds."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
