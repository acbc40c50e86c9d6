"""The HR feed's faults (the plan is shared by every simulator: ``sandbox._faults``)."""

from __future__ import annotations

from typing import ClassVar

from sandbox._faults import FaultPlan as _FaultPlan

__all__ = ["DEFAULT_KINDS", "KINDS", "FaultPlan"]

KINDS = ("500", "503", "429", "latency", "hang")
DEFAULT_KINDS = ("500", "503", "429")


class FaultPlan(_FaultPlan):
    """``500`` and ``503`` answer at once with an error (``503`` and ``429`` with
    ``Retry-After: retry_after_s``); ``latency`` and ``hang`` as everywhere."""

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = DEFAULT_KINDS
