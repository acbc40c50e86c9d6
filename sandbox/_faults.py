"""Switchable, seeded faults for every simulator: the same seed gives the same faults for the
same calls. Each simulator names its kinds (a subclass of ``FaultPlan`` sets ``KINDS`` and
``DEFAULT_KINDS``); ``latency`` and ``hang`` mean the same everywhere (``delay``)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sandbox._server import ServerState

__all__ = ["WEB_ERRORS", "FaultPlan", "delay"]

WEB_ERRORS = {"500": (500, "500 Internal Server Error"), "503": (503, "503 Service Unavailable")}
"""The answers ``delay`` may leave that come from the web server, not the service: status
and text."""
SETTINGS = frozenset({"rate", "kinds", "seed", "latency_ms", "hang_s", "retry_after_s"})


@dataclass
class FaultPlan:
    """A share ``rate`` of API calls answered with one of ``kinds``, drawn from ``seed``.

    ``latency`` delays a call by ``latency_ms`` and then answers it normally; ``hang`` answers
    nothing for ``hang_s`` seconds (then 503); the others answer at once with the error and
    have no effect. A rate-limiting kind carries ``Retry-After: retry_after_s``.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("latency", "hang")
    DEFAULT_KINDS: ClassVar[tuple[str, ...]] = ("latency",)

    rate: float = 0.0
    kinds: tuple[str, ...] = ()  # () : DEFAULT_KINDS
    seed: int = 0
    latency_ms: float = 200.0
    hang_s: float = 30.0
    retry_after_s: int = 1
    log: list[dict[str, Any]] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = self.DEFAULT_KINDS
        self.configure()

    def configure(self, **settings: Any) -> None:
        """Change settings (any of the fields above) and restart the seeded sequence."""
        unknown = set(settings) - SETTINGS
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for name, value in settings.items():
            if value is not None:
                setattr(self, name, value)
        self.rate = float(self.rate)
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if isinstance(self.kinds, str):
            self.kinds = (self.kinds,)
        self.kinds = tuple(str(k) for k in self.kinds)
        bad = [k for k in self.kinds if k not in self.KINDS]
        if bad or not self.kinds:
            raise ValueError(f"kinds must be a non-empty subset of {', '.join(self.KINDS)}")
        self.latency_ms = float(self.latency_ms)
        self.hang_s = float(self.hang_s)
        self.retry_after_s = int(self.retry_after_s)
        self._rng = random.Random(int(self.seed))  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing
        self.log = []

    def draw(self, call: int, method: str, path: str) -> str | None:
        """The fault for this call, if any (both draws are made for every call)."""
        if self.rate <= 0.0:
            return None
        hit = self._rng.random() < self.rate
        kind = self.kinds[self._rng.randrange(len(self.kinds))]
        if not hit:
            return None
        self.log.append({"call": call, "method": method, "path": path, "kind": kind})
        return kind

    def settings(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "hang_s": self.hang_s,
            "retry_after_s": self.retry_after_s,
        }


async def delay(fault: str | None, plan: FaultPlan, state: ServerState) -> str | None:
    """Play the waiting part of a fault: ``latency`` sleeps and leaves the call to be answered
    normally (None); ``hang`` waits ``hang_s`` (or until the server stops) and leaves a
    ``"503"`` to answer; any other fault is left as it is."""
    if fault == "latency":
        await asyncio.sleep(plan.latency_ms / 1000)
        return None
    if fault == "hang":
        await state.hang(plan.hang_s)
        return "503"
    return fault
