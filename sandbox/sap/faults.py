"""The SAP simulator's faults (the plan is shared by every simulator: ``sandbox._faults``)."""

from __future__ import annotations

from typing import ClassVar

from sandbox._faults import FaultPlan as _FaultPlan

__all__ = ["DEFAULT_KINDS", "KINDS", "FaultPlan"]

KINDS = ("500", "fault", "latency", "hang", "lost")
DEFAULT_KINDS = ("500", "fault")


class FaultPlan(_FaultPlan):
    """``500`` answers at once with the ICM's plain-text 500 (no SOAP envelope); ``fault``
    with a SOAP Fault (HTTP 500) saying the system is temporarily unavailable; ``lost``
    processes the call (a write is committed) and then answers the plain 500, as when the
    answer is lost on its way back; ``latency`` and ``hang`` as everywhere (a hang ends with a
    plain 503). Only ``500`` and ``fault`` are dealt unless ``kinds`` says otherwise."""

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = DEFAULT_KINDS
