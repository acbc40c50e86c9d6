"""The HR certification feed synced into the store: the technicians it names, and a sync run."""

from __future__ import annotations

from datetime import date
from typing import Any

from mappings import canonical
from mappings.hr import HRMapping
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.sync import StreamResult, hr_streams, run_stream
from sandbox.hr import HRSimulator
from tests.support.simulators import hr_connector

MAPPING = HRMapping()
STREAM = hr_streams()["certifications"]
TODAY = date(2026, 12, 3)


def sync(container: Container, sim: HRSimulator, **options: Any) -> StreamResult:
    with hr_connector(sim, max_attempts=12) as hr:
        return run_stream(container.new_uow, hr, STREAM, MAPPING, **options)


def add_technicians(
    container: Container, workers: list[str], zone: str = "Europe/Berlin"
) -> dict[str, int]:
    out = {}
    for worker in workers:
        with container.new_uow() as uow:
            created = reference.create(
                uow,
                reference.KINDS["technicians"],
                canonical.Technician(
                    source_system="hr",
                    external_id=worker,
                    name=f"Technician {worker}",
                    home_latitude=52.5,
                    home_longitude=13.4,
                    time_zone=zone,
                    weekly_hours={"thu": [{"start": "00:00", "end": "23:59"}]},
                ),
            )
        out[worker] = created["id"]
    return out
