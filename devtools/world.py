"""The outside world on loopback, in one piece: the simulators of Salesforce, SAP, the HR
system and a finance webhook receiver (``sandbox``), started together and stopped together,
with the settings that point fieldbridge at them.

``fieldbridge sandbox up``, the demo, the chaos run (and the production-mode benchmark through
it) and the end-to-end tests that need several simulators start them through ``world``: each
gives the simulators it wants, made with the options it wants (seeded data, a port, a work
folder), and gets a ``World`` back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.runtime.bootstrap import Systems, read_systems
from sandbox.finance import FinanceSimulator
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator

__all__ = ["World", "WorldError", "world"]

SAP_FAULTS = ["500", "fault", "lost"]
FINANCE_FAULTS = ["503", "429", "lost"]


class WorldError(RuntimeError):
    """A simulator could not start (its port taken, say); the ones started are stopped."""


@dataclass(frozen=True)
class World:
    """The simulators that run, by system (None: not started)."""

    salesforce: SalesforceSimulator | None = None
    sap: SAPSimulator | None = None
    hr: HRSimulator | None = None
    finance: FinanceSimulator | None = None

    def simulators(self) -> dict[str, Any]:
        """The running simulators by system, in the order they started."""
        found = {"salesforce": self.salesforce, "hr": self.hr, "sap": self.sap}
        return {name: sim for name, sim in (found | {"finance": self.finance}).items() if sim}

    def variables(self, salesforce_flow: str = "password") -> dict[str, str]:
        """The ``FIELDBRIDGE_*`` settings that point fieldbridge at the running simulators
        (Salesforce through ``salesforce_flow``: ``password`` or ``jwt``)."""
        found: dict[str, str] = {}
        for name, sim in self.simulators().items():
            found |= sim.env(salesforce_flow) if name == "salesforce" else sim.env()
        return found

    def systems(self, **overrides: Any) -> Systems:
        """The connectors' settings for the composition root (``bootstrap(systems=...)``),
        read from ``variables()`` and not from the environment; ``overrides`` are further
        variables (``FIELDBRIDGE_SAP_TIMEOUT_S="2"``)."""
        return read_systems(self.variables() | {k: str(v) for k, v in overrides.items()})

    def set_faults(
        self,
        rate: float,
        seed: int,
        *,
        retry_after_s: float = 1.0,
        salesforce_kinds: list[str] | None = None,
    ) -> None:
        """Each simulator fails ``rate`` of its calls, seeded: Salesforce with its own kinds
        (or ``salesforce_kinds``), SAP with server errors, SOAP faults and lost answers,
        finance with 503, 429 and lost answers."""
        if self.salesforce is not None:
            kinds = {"kinds": salesforce_kinds} if salesforce_kinds else {}
            self.salesforce.set_faults(rate=rate, seed=seed, retry_after_s=retry_after_s, **kinds)
        if self.sap is not None:
            self.sap.set_faults(rate=rate, seed=seed + 1, kinds=SAP_FAULTS)
        if self.finance is not None:
            self.finance.set_faults(rate=rate, seed=seed + 2, kinds=FINANCE_FAULTS,
                                    retry_after_s=retry_after_s)  # fmt: skip

    def clear_faults(self) -> None:
        for sim in self.simulators().values():
            sim.clear_faults()


@contextlib.contextmanager
def world(
    *,
    salesforce: SalesforceSimulator | None = None,
    sap: SAPSimulator | None = None,
    hr: HRSimulator | None = None,
    finance: FinanceSimulator | None = None,
) -> Iterator[World]:
    """Start the simulators given (made, not yet started); stop every one
    that started when the block ends, or when a later one cannot start (``WorldError``,
    naming it)."""
    started = World(salesforce, sap, hr, finance)
    with contextlib.ExitStack() as stack:
        for name, sim in started.simulators().items():
            try:
                stack.enter_context(sim)
            except OSError as exc:
                raise WorldError(
                    f"the {name} simulator cannot start: {exc.strerror or exc}"
                ) from None
        yield started
