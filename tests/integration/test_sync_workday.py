"""Workday's certifications synced into the store, against the Workday simulator over real
HTTPS: a first load lands each technician's certifications on the technician entered with
their Employee_ID, later runs read only the workers with a transaction since the cursor,
reconciliation tombstones a removed certification, seeded faults change nothing of the
result, and everything sent and answered fits Workday's own WSDL (when it is at
``../shared/wsdl/workday``; those checks skip, saying why, when it is not)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from connectors.errors import AuthExpired
from connectors.http import PinnedSession
from mappings.workday import TechnicianFilter, WorkdayMapping
from mappings.workday.workers import worker_id
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import StreamResult, cursors, reconcile, run_stream, workday_streams
from orchestrator.sync.status import KNOWN_STREAMS
from sandbox.workday import TECHNICIAN_ORGS, WorkdaySimulator
from sandbox.workday.workers import certification_code, certifications_of
from tests.support.workday import add_technicians, assert_valid, on, real_wsdl

FILTER = TechnicianFilter(organizations=frozenset(TECHNICIAN_ORGS))
MAPPING = WorkdayMapping(FILTER)
STREAM = workday_streams(FILTER)["certifications"]


@pytest.fixture
def sim() -> Iterator[WorkdaySimulator]:
    with WorkdaySimulator(seed=11, workers=120, technicians=40) as simulator:
        yield simulator


def sync(container: Container, sim: WorkdaySimulator, **options: Any) -> StreamResult:
    with on(sim, max_attempts=12) as workday:
        return run_stream(container.new_uow, workday, STREAM, MAPPING, **options)


def truth(sim: WorkdaySimulator, known: set[str]) -> dict[str, tuple[Any, ...]]:
    """What the store should hold: each certification of a technician known here."""
    out = {}
    for key, worker in sim.workers().items():
        if key not in known or not FILTER.matches(worker):
            continue
        for achievement in certifications_of(worker):
            data = achievement["Certification_Data"][0]
            code = certification_code(achievement)
            out[f"{key}|{code}"] = (
                key,
                code,
                data["Certification_Name"],
                data["Issuer"],
                data["Certification_Number"],
                data["Issued_Date"],
                data["Expiration_Date"],
            )
    return out


def stored(container: Container, live: bool = True) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Certification)
    techs = models.table_of(models.Technician)
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(table, techs.c.external_id.label("worker"))
            .join(techs, techs.c.id == table.c.technician_id)
            .where(table.c.source_system == "workday")
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
            )
            for r in rows
            if (r.deleted_at is None) == live
        }


def held(container: Container) -> dict[str, str]:
    table = models.table_of(models.QuarantinedRecord)
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(table.c.external_id, table.c.reason).where(
                (table.c.system == "workday") & table.c.resolved_at.is_(None)
            )
        )
        return {r.external_id: r.reason for r in rows}


def test_a_first_load_lands_certifications_on_their_technicians(
    container: Container, sim: WorkdaySimulator
) -> None:
    technicians = sorted(sim.technician_ids)
    known = set(technicians[:-3])  # three technicians the office has not entered yet
    add_technicians(container, sorted(known))

    result = sync(container, sim, batch_size=500)

    assert stored(container) == truth(sim, known) and len(truth(sim, known)) > 37
    waiting = held(container)
    assert {k.split("|")[0] for k in waiting} == set(technicians[-3:])
    assert all("no technician with workday id" in why for why in waiting.values())
    # 120 workers, 40 technicians: the office workers bring nothing; 1 page of 120 workers
    assert result.api_calls == 1 and result.read == len(truth(sim, set(technicians)))

    # the missing technicians are entered: their certifications come in on the next run
    add_technicians(container, technicians[-3:])
    sync(container, sim)
    assert stored(container) == truth(sim, set(technicians)) and held(container) == {}
    (cursor,) = [c for c in cursors_of(container) if c["system"] == "workday"]
    assert cursor["entity"] == "certifications" and cursor["cursor_stamp"] is not None
    assert ("workday", "certifications") in KNOWN_STREAMS


def pushes(container: Container) -> list[str]:
    """The sequence keys of the certification pushes owed to the CRM, in order."""
    table = models.table_of(models.OutboxMessage)
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(table.c.sequence_key)
            .where(table.c.event == "crm.certification_updated")
            .order_by(table.c.id)
        )
        return [r.sequence_key for r in rows]


def cursors_of(container: Container) -> list[dict[str, Any]]:
    with container.new_uow(read_only=True) as uow:
        return cursors(uow)


def test_later_runs_read_only_the_workers_changed_and_reconcile_finds_removals(
    container: Container, sim: WorkdaySimulator
) -> None:
    technicians = sorted(sim.technician_ids)
    add_technicians(container, technicians)
    sync(container, sim)
    first = pushes(container)
    assert sorted(first) == sorted(f"certification:{k}" for k in stored(container))
    sim.clear_ledger()

    renewed, gained, removed = technicians[0], technicians[1], technicians[2]
    code = certification_code(certifications_of(sim.worker(renewed) or {})[0])
    sim.renew(renewed, code, date(2026, 12, 1))
    held_codes = {certification_code(c) for c in certifications_of(sim.worker(gained) or {})}
    new_code = next(c for c in ("GAS_SAFE", "F_GAS", "BS7671", "IPAF_X") if c not in held_codes)
    sim.certify(gained, new_code, date(2026, 11, 20))
    gone = certification_code(certifications_of(sim.worker(removed) or {})[0])
    sim.revoke(removed, gone)

    result = sync(container, sim)

    changed = {renewed, gained, removed}
    assert result.read == sum(
        len(certifications_of(sim.worker(k) or {})) for k in changed
    )  # only the workers with a transaction since the cursor
    (request,) = [e["request"] for e in sim.ledger()]
    assert "Transaction_Date_Range_Data" in request
    after = stored(container)
    assert after[f"{renewed}|{code}"][5] == date(2026, 12, 1)
    assert f"{gained}|{new_code}" in after
    assert f"{removed}|{gone}" in after  # a worker's answer does not say what it lost
    # each change is owed to the CRM once; the workers' unchanged certifications are not
    assert sorted(pushes(container)[len(first) :]) == sorted(
        [f"certification:{renewed}|{code}", f"certification:{gained}|{new_code}"]
    )

    with on(sim) as workday:
        report = reconcile(container.new_uow, workday, STREAM)
    assert report.tombstoned_ids == [f"{removed}|{gone}"] and report.missing_here == 0
    assert stored(container) == truth(sim, set(technicians))
    assert list(stored(container, live=False)) == [f"{removed}|{gone}"]


def test_seeded_faults_change_nothing_of_the_result(container: Container) -> None:
    with WorkdaySimulator(
        seed=4,
        workers=60,
        technicians=20,
        faults={
            "rate": 0.19,
            "seed": 3,
            "kinds": ["500", "processing", "latency"],
            "latency_ms": 20,
        },
    ) as sim:
        technicians = sorted(sim.technician_ids)
        add_technicians(container, technicians)
        # the filter's organisations are asked of Workday: 4 pages of 5 of the 20 technicians
        result = sync(container, sim, batch_size=5)
        assert stored(container) == truth(sim, set(technicians))
        assert sim.fault_log and result.api_calls == 4 + sum(
            1 for f in sim.fault_log if f["kind"] != "latency"
        )


def test_refused_credentials_stop_the_run_naming_the_settings(sim: WorkdaySimulator) -> None:
    with on(sim, password="not-it") as workday, pytest.raises(AuthExpired) as caught:
        list(workday.worker_pages())
    assert "FIELDBRIDGE_WORKDAY_PASSWORD" in str(caught.value) and workday.api_calls == 1


def test_the_simulator_answers_as_of_a_moment_across_pages(sim: WorkdaySimulator) -> None:
    """A change entered between two pages of one read does not show in the read."""
    with on(sim) as workday:
        pages = workday.worker_pages(page_size=50)
        first = next(pages)
        key = sorted(sim.technician_ids)[-1]
        sim.edit_contact(key, email="new.address@example.co.uk")
        rest = [w for page in pages for w in page]
    read = {worker_id(w): w for w in [*first, *rest]}
    assert len(read) == 120
    emails = read[key]["Worker_Data"]["Personal_Data"]["Contact_Data"]["Email_Address_Data"]
    assert emails[0]["Email_Address"] != "new.address@example.co.uk"


@real_wsdl
def test_requests_answers_and_faults_fit_workdays_own_wsdl(sim: WorkdaySimulator) -> None:
    key = sorted(sim.technician_ids)[0]
    stamp = sim.terminate(key, date(2026, 12, 31))
    sim.leave(sorted(sim.technician_ids)[1], date(2026, 12, 10), date(2027, 1, 10))
    with on(sim) as workday:
        list(workday.worker_pages(page_size=40))
        list(workday.worker_pages(stamp, organizations=list(TECHNICIAN_ORGS)))
    sent = [e["request"].encode() for e in sim.ledger()]
    assert len(sent) == 4
    session = PinnedSession(timeout_s=10, ca_bundle=sim.ca_path)
    for request in sent:
        assert_valid(request)  # what the connector sends
        reply = session.post(sim.service_url(), data=request, headers={"Content-Type": "text/xml"})
        assert reply.status_code == 200
        assert_valid(reply.content)  # and what the simulator answers
    for kind in ("processing", "validation"):
        sim.set_faults(rate=1.0, kinds=[kind])
        reply = session.post(sim.service_url(), data=sent[0], headers={"Content-Type": "text/xml"})
        assert reply.status_code == 500 and b"_Fault" in reply.content
        assert_valid(reply.content)
    sim.clear_faults()
