"""What whoever can write to the broker might send: a pickle whose loading runs code (here it
only creates a file, so a test can tell whether it was loaded)."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from typing import Any


class CreatesAFile:
    """A pickle whose loading opens ``path`` for writing: code run by whoever reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def crafted(path: Path) -> str:
    """A part's message as it was before JSON: base64 of a pickle, here a harmful one."""
    return base64.b64encode(pickle.dumps(("vroom", CreatesAFile(path), 1.0, 0.0, 1))).decode()
