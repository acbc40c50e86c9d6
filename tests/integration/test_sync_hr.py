"""The HR certification feed (``sandbox/hr``) synced into the store by the shared engine.

Each test gets its own seeded feed and its own migrated database (SQLite, and PostgreSQL
where it answers): certifications land on the technicians the HR system names, malformed
records and records of unknown workers wait in quarantine (the latter until the technician
is added), faults change nothing of the result, revocations and renewals come in
incrementally, and a certification counts for dispatch only while active and valid on the
job's day in the technician's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from mappings import canonical
from mappings.errors import MappingError
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.reference import records as reference
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import cursors
from orchestrator.work_orders import commands as wo
from sandbox.hr import HRSimulator
from tests.support.hr import MAPPING, TODAY, add_technicians, sync

ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def sim() -> Iterator[HRSimulator]:
    with HRSimulator(seed=7, workers=40, malformed=0.04, today=TODAY) as simulator:
        yield simulator


def stored(container: Container) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Certification)
    techs = models.table_of(models.Technician)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table, techs.c.external_id.label("worker"))
            .join(techs, techs.c.id == table.c.technician_id)
            .where(table.c.source_system == "hr")
        )
        return {
            r.external_id: (
                r.worker,
                r.code,
                r.name,
                r.issuer,
                r.number,
                r.issued_on,
                r.expires_on,
                r.status,
            )
            for r in found
        }


def held(container: Container) -> dict[str, Any]:
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(table).where((table.c.system == "hr") & table.c.resolved_at.is_(None))
        )
        return {r.external_id: r for r in found}


def expected(records: list[dict[str, Any]], known: set[str]) -> tuple[dict[str, Any], set[str]]:
    """What the store should hold, and which records should wait in quarantine."""
    store, waiting = {}, set()
    for raw in records:
        try:
            mapped = MAPPING.to_canonical("certification", raw)
        except MappingError:
            waiting.add(raw["id"])
            continue
        if raw["worker_id"] not in known:
            waiting.add(raw["id"])
            continue
        data = mapped.data
        store[raw["id"]] = (
            raw["worker_id"],
            data["code"],
            data["name"],
            data["issuer"],
            data["number"],
            data["issued_on"],
            data["expires_on"],
            data["status"],
        )
    return store, waiting


@dataclass(frozen=True)
class GasWork:
    """Gas work: a division and a work type requiring one certification, and orders of it
    scheduled for 3 December, 12:00 to 14:00 UTC."""

    container: Container
    division_id: int
    work_type_id: int

    @classmethod
    def create(cls, container: Container, code: str) -> GasWork:
        """The division and the work type, requiring certification ``code``."""
        kind = reference.KINDS
        with container.new_uow() as uow:
            division = reference.create(
                uow, kind["divisions"], canonical.Division(code="GAS", name="Gas")
            )
        with container.new_uow() as uow:
            work_type = reference.create(
                uow,
                kind["work-types"],
                canonical.WorkType(
                    code="GAS",
                    name="Gas work",
                    default_duration_min=60,
                    required_certifications=[code],
                ),
            )
        return cls(container, division["id"], work_type["id"])

    def schedule(self, tech_id: int) -> dict[str, Any]:
        """A new order, triaged, then scheduled for technician ``tech_id``."""
        with self.container.new_uow() as uow:
            order = wo.create(
                uow, wo.CreateWorkOrder(canonical.WorkOrder(summary="Gas check"), ADMIN)
            )
        with self.container.new_uow() as uow:
            order = wo.transition(
                uow,
                wo.TransitionWorkOrder(
                    order["id"],
                    State.TRIAGED,
                    {
                        "priority": 2,
                        "work_type_id": self.work_type_id,
                        "division_id": self.division_id,
                    },
                    ADMIN,
                    order["version"],
                ),
            )
        with self.container.new_uow() as uow:
            return wo.transition(
                uow,
                wo.TransitionWorkOrder(
                    order["id"],
                    State.SCHEDULED,
                    {
                        "technician_id": tech_id,
                        "window_start": datetime(2026, 12, 3, 12, tzinfo=UTC),
                        "window_end": datetime(2026, 12, 3, 14, tzinfo=UTC),
                    },
                    ADMIN,
                    order["version"],
                ),
            )


def test_certifications_land_on_their_technicians_and_bad_records_wait(
    container: Container, sim: HRSimulator
) -> None:
    workers = sorted({r["worker_id"] for r in sim.records()})
    known = set(workers[:-3])  # three workers the store does not know yet
    add_technicians(container, sorted(known))
    result = sync(container, sim, batch_size=50)
    want, waiting = expected(sim.records(), known)
    assert stored(container) == want and len(want) > 80
    quarantine = held(container)
    assert set(quarantine) == waiting
    reasons = {
        "expires_before_issued": ("expires_on", "expires_on is before issued_on"),
        "unknown_status": ("status", "is not in the mapping's table"),
        "missing_code": ("code", "Field required"),
        "unparseable_date": ("issued_on", "Input should be a valid date"),
    }
    for record_id, why in sim.malformed_reasons().items():
        field, text = reasons[why]
        assert quarantine[record_id].field == field and text in quarantine[record_id].reason
    unknown = [q for q in quarantine.values() if q.field == "worker_id"]
    assert unknown and all("dangling reference" in q.reason for q in unknown)
    assert result.read == sim.count() and result.pages >= sim.count() // 50
    with container.new_uow() as uow:
        (cursor,) = [c for c in cursors(uow) if c["system"] == "hr"]
    assert cursor["read"] == result.read and cursor["api_calls"] == result.api_calls > 0

    # the missing technicians are added: their certifications come in on the next run
    add_technicians(container, workers[-3:])
    again = sync(container, sim)
    want, waiting = expected(sim.records(), set(workers))
    assert stored(container) == want and set(held(container)) == waiting
    assert again.written >= len([q for q in unknown])


def test_retryable_faults_change_nothing_of_the_result(
    container: Container, sim: HRSimulator
) -> None:
    workers = sorted({r["worker_id"] for r in sim.records()})
    add_technicians(container, workers)
    sim.set_faults(rate=0.3, kinds=["500", "503", "429"], seed=5, retry_after_s=0)
    result = sync(container, sim, batch_size=20)
    assert len(sim.fault_log) > 0 and result.api_calls > result.pages
    sim.clear_faults()
    want, waiting = expected(sim.records(), set(workers))
    assert stored(container) == want and set(held(container)) == waiting


def test_revocations_and_renewals_come_in_incrementally(
    container: Container, sim: HRSimulator
) -> None:
    workers = sorted({r["worker_id"] for r in sim.records()})
    add_technicians(container, workers)
    sync(container, sim)
    good = sorted(stored(container))
    worker, code = good[0].split("|")
    sim.revoke(worker, code)
    renewed = sim.touch(good[1:6])
    result = sync(container, sim)
    now = stored(container)
    assert now[good[0]][-1] == "revoked"
    want, _ = expected(sim.records(), set(workers))
    assert now == want
    assert result.written == 1 + len(renewed.ids)
    assert sync(container, sim).written == 0, "read again within the look-back: nothing new"


def test_a_certification_counts_for_dispatch_only_while_active_and_valid_that_local_day(
    container: Container, sim: HRSimulator
) -> None:
    """A job at 12:00 UTC on 3 December is on the 3rd in Berlin and on the 4th in Auckland: a
    certification that expires on the 3rd lets the Berlin technician do it, not the one in
    Auckland; a revoked one lets nobody."""
    (first,) = sorted({r["worker_id"] for r in sim.records()})[:1]
    record = next(
        r
        for r in sim.records()
        if r["worker_id"] == first and r["id"] in set(expected(sim.records(), {first})[0])
    )
    code = record["code"]
    berlin = add_technicians(container, [first])[first]
    auckland_worker = "W999999"
    auckland = add_technicians(container, [auckland_worker], zone="Pacific/Auckland")[
        auckland_worker
    ]
    sim.touch([record["id"]], {"expires_on": "2026-12-03", "issued_on": "2024-01-01"})
    sync(container, sim)
    # the Auckland technician holds the same certification, entered by hand
    with container.new_uow() as uow:
        row = uow.session.get(models.Technician, auckland)
        assert row is not None
        row.certifications.append(
            models.Certification(
                code=code, issued_on=date(2024, 1, 1), expires_on=date(2026, 12, 3)
            )
        )
        uow.commit()
    gas_work = GasWork.create(container, code)

    assert gas_work.schedule(berlin)["technician_id"] == berlin
    with pytest.raises(InvalidInput) as refused:
        gas_work.schedule(auckland)
    assert f"holds no certification {code} valid on 2026-12-04" in str(refused.value)

    sim.revoke(first, code)
    sync(container, sim)
    with pytest.raises(InvalidInput) as revoked:
        gas_work.schedule(berlin)
    assert f"holds no certification {code} valid on 2026-12-03" in str(revoked.value)
    with container.new_uow() as uow:
        row = uow.session.get(models.Technician, berlin)
        assert row is not None
        shown = reference.to_public(reference.KINDS["technicians"], row)["certifications"]
    assert [(c["code"], c["status"]) for c in shown if c["code"] == code] == [(code, "revoked")]
