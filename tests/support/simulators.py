"""The simulators as a test uses them: fresh ones of its own, and connectors pointed at one by
the settings it gives out (``env()``), retrying without sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from connectors.hr import HRConnector, HRSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SAPConnector, SAPSettings
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator


class Startable(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> Any: ...


SimulatorT = TypeVar("SimulatorT", bound=Startable)


@contextmanager
def fresh_simulators(make: Callable[..., SimulatorT]) -> Iterator[Callable[..., SimulatorT]]:
    """A maker of simulators (``make``'s keyword arguments), each started as it is made; every
    one made is stopped on leaving."""
    made: list[SimulatorT] = []

    def fresh(**options: Any) -> SimulatorT:
        sim = make(**options)
        sim.start()
        made.append(sim)
        return sim

    yield fresh
    for sim in made:
        sim.stop()


def settings_of(env: dict[str, str], system: str) -> dict[str, Any]:
    """A simulator's ``FIELDBRIDGE_<SYSTEM>_*`` settings as the settings class's arguments."""
    prefix = f"FIELDBRIDGE_{system}_"
    return {name.removeprefix(prefix).lower(): value for name, value in env.items()}


def salesforce_settings(sim: SalesforceSimulator, **over: Any) -> SalesforceSettings:
    """The org's password flow at the simulator's API version."""
    values = settings_of(sim.env("password"), "SALESFORCE") | {"api_version": sim.api_version}
    return SalesforceSettings(**values | over)


def salesforce_connector(sim: SalesforceSimulator, **over: Any) -> SalesforceConnector:
    return SalesforceConnector(salesforce_settings(sim, **over), sleep=lambda _: None)


def sap_connector(sim: SAPSimulator, **over: Any) -> SAPConnector:
    settings = SAPSettings(**settings_of(sim.env(), "SAP") | over)
    return SAPConnector(settings, sleep=lambda _: None)


def hr_connector(sim: HRSimulator, **over: Any) -> HRConnector:
    return HRConnector(HRSettings(**settings_of(sim.env(), "HR") | over), sleep=lambda _: None)
