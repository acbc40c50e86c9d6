"""Switchable, seeded faults: the same seed gives the same faults for the same calls."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "503",
    "REQUEST_LIMIT_EXCEEDED",
    "UNABLE_TO_LOCK_ROW",
    "INVALID_SESSION_ID",
    "latency",
    "hang",
)
DEFAULT_KINDS = ("503", "REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "INVALID_SESSION_ID")


@dataclass
class FaultPlan:
    """A share ``rate`` of API calls answered with one of ``kinds``, drawn from ``seed``.

    ``latency`` delays a call by ``latency_ms`` and then answers it normally; ``hang`` answers
    nothing for ``hang_s`` seconds (then 503); the others answer at once with the error and
    have no effect. ``REQUEST_LIMIT_EXCEEDED`` carries ``Retry-After: retry_after_s``.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    seed: int = 0
    latency_ms: float = 200.0
    hang_s: float = 30.0
    retry_after_s: int = 1
    log: list[dict[str, Any]] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.configure()

    def configure(self, **settings: Any) -> None:
        """Change settings (any of the fields above) and restart the seeded sequence."""
        unknown = set(settings) - {"rate", "kinds", "seed", "latency_ms", "hang_s", "retry_after_s"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for name, value in settings.items():
            if value is not None:
                setattr(self, name, value)
        self.rate = float(self.rate)
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.kinds = tuple(str(k) for k in self.kinds)
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ValueError(f"kinds must be a non-empty subset of {', '.join(KINDS)}")
        self.latency_ms = float(self.latency_ms)
        self.hang_s = float(self.hang_s)
        self.retry_after_s = int(self.retry_after_s)
        self._rng = random.Random(int(self.seed))
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
