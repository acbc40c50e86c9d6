"""Switchable, seeded faults: the same seed gives the same faults for the same calls (the
plan itself is shared by every simulator: ``sandbox._faults``)."""

from __future__ import annotations

from typing import ClassVar

from sandbox._faults import FaultPlan as _FaultPlan

__all__ = ["DEFAULT_KINDS", "KINDS", "FaultPlan"]

KINDS = (
    "503",
    "REQUEST_LIMIT_EXCEEDED",
    "UNABLE_TO_LOCK_ROW",
    "INVALID_SESSION_ID",
    "latency",
    "hang",
)
DEFAULT_KINDS = ("503", "REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "INVALID_SESSION_ID")


class FaultPlan(_FaultPlan):
    """Salesforce's faults: ``REQUEST_LIMIT_EXCEEDED`` carries ``Retry-After:
    retry_after_s``; ``INVALID_SESSION_ID`` answers 401 as an expired session does."""

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = DEFAULT_KINDS
