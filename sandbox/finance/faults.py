"""The finance receiver's faults (the plan is shared by every simulator: ``sandbox._faults``)."""

from __future__ import annotations

from typing import ClassVar

from sandbox._faults import FaultPlan as _FaultPlan

__all__ = ["DEFAULT_KINDS", "KINDS", "LOST", "FaultPlan"]

LOST = "lost"
KINDS = ("500", "503", "429", LOST, "latency", "hang")
DEFAULT_KINDS = ("503", "429", LOST)


class FaultPlan(_FaultPlan):
    """``500`` and ``503`` answer at once with an error and receive nothing (``503`` and
    ``429`` with ``Retry-After: retry_after_s``); ``lost`` receives the delivery (verified and
    recorded as any other) and then answers 500, as when the answer is lost on its way back;
    ``latency`` and ``hang`` as everywhere (a hang ends with a 503). Only ``503``, ``429``
    and ``lost`` are dealt unless ``kinds`` says otherwise."""

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = DEFAULT_KINDS
