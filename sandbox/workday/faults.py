"""The Workday simulator's faults (the plan is shared by every simulator: ``sandbox._faults``)."""

from __future__ import annotations

from typing import ClassVar

from sandbox._faults import FaultPlan as _FaultPlan

__all__ = ["DEFAULT_KINDS", "KINDS", "FaultPlan"]

KINDS = ("500", "processing", "validation", "latency", "hang")
DEFAULT_KINDS = ("500", "processing")


class FaultPlan(_FaultPlan):
    """``500`` answers at once with a plain-text 500 from the load balancer (no SOAP
    envelope); ``processing`` with a SOAP Fault (HTTP 500) carrying a ``Processing_Fault``
    (Workday could not process it now); ``validation`` with one carrying a
    ``Validation_Fault`` (which a client must not retry); ``latency`` and ``hang`` as
    everywhere (a hang ends with a plain 503). Only ``500`` and ``processing`` are dealt
    unless ``kinds`` says otherwise."""

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = DEFAULT_KINDS
