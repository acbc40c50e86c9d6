"""Workday end to end, on each store: 2,000 workers (600 of them technicians, 1 to 4
certifications each) loaded through the technicians and certifications streams under seeded
faults, then a day of changes (renewals, an expiry, a termination today and one to come, a
leave, a new hire, certifications added and removed) synced and reconciled. The store equals
the simulator's truth after each; a technician Workday made waits for the office before it
is dispatchable; the planning problem leaves out whoever may not go and a job whose
certification expired or was removed goes unassigned; the terminated technician's orders are
flagged, never moved; and each certification change is pushed to Salesforce's
ServiceResourceSkill once, a removed one end-dated.

Size: the technician filter is organisations alone, which the stream asks of Workday, so the
1,400 office workers are never read: zeep parses 600 workers a full read, not 2,000."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from mappings.salesforce import SalesforceMapping
from mappings.workday import TechnicianFilter, WorkdayMapping
from orchestrator.outbox.destinations import SalesforceSkills
from orchestrator.outbox.events import CRM_CERTIFICATION
from orchestrator.outbox.relay import Relay, RelayPolicy
from orchestrator.planning.problem import build_problem
from orchestrator.reference import records
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import reconcile, run_stream, workday_streams
from sandbox.salesforce import SalesforceSimulator
from sandbox.workday import CATALOGUE, TECHNICIAN_ORGS, WorkdaySimulator
from sandbox.workday.workers import certification_code, certifications_of
from scheduler.solve import solve
from tests.support.outbox import Clock, deliver_all, outbox_rows
from tests.support.simulators import salesforce_connector
from tests.support.workday import on

FILTER = TechnicianFilter(organizations=frozenset(TECHNICIAN_ORGS))
MAPPING = WorkdayMapping(FILTER)
STREAMS = workday_streams(FILTER)
TODAY = datetime.now(UTC).date()
DAY = TODAY + timedelta(days=3)  # the day planned
ZONE = "Europe/London"
ALL_WEEK = {d: [{"start": "08:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu",
                                                             "fri", "sat", "sun")}  # fmt: skip


@pytest.fixture
def sim() -> Iterator[WorkdaySimulator]:
    faults = {"rate": 0.15, "seed": 5, "kinds": ["500", "processing", "latency"],
              "latency_ms": 20}  # fmt: skip
    with WorkdaySimulator(seed=25, workers=2000, technicians=600, faults=faults) as simulator:
        yield simulator


@pytest.fixture
def sf() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=25) as simulator:
        yield simulator


def sync(container: Container, sim: WorkdaySimulator, *, reconciled: bool = False) -> None:
    """Both streams from their cursors (pages of 150 workers), then, when asked,
    reconciliation of the certifications (a removed one is not in its worker's answer)."""
    with on(sim, max_attempts=12) as workday:
        for stream in STREAMS.values():
            run_stream(container.new_uow, workday, stream, MAPPING, batch_size=150)
        if reconciled:
            reconcile(container.new_uow, workday, STREAMS["certifications"], batch_size=150)


# -- the truth, read from the simulator's own records ------------------------------------------


def _work(entries: list[dict[str, Any]], field: str) -> str | None:
    for entry in entries:
        for usage in entry.get("Usage_Data") or []:
            for typed in usage["Type_Data"]:
                if typed["Type_Reference"]["ID"][0]["_value_1"] == "WORK":
                    return str(entry[field])
    return None


def technicians_truth(sim: WorkdaySimulator) -> dict[str, tuple[Any, ...]]:
    out = {}
    for key, worker in sim.workers().items():
        if key not in sim.technician_ids:
            continue
        data = worker["Worker_Data"]
        contact = data["Personal_Data"]["Contact_Data"]
        status = data["Employment_Data"]["Worker_Status_Data"]
        away = [(lv["Leave_Start_Date"].isoformat(), lv["Estimated_Leave_End_Date"].isoformat())
                for lv in status.get("Leave_Status_Data") or []]  # fmt: skip
        if status.get("Terminated"):
            away.append((status["Termination_Date"].isoformat(), None))
        out[key] = (
            data["Personal_Data"]["Name_Data"]["Legal_Name_Data"]["Name_Detail_Data"][
                "Formatted_Name"
            ],
            _work(contact["Email_Address_Data"], "Email_Address"),
            _work(contact["Phone_Data"], "Formatted_Phone"),
            status["Active"],
            sorted(away),
        )
    return out


def technicians_stored(container: Container) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Technician)
    with container.new_uow() as uow:
        rows = uow.connection().execute(select(table).where(table.c.source_system == "workday"))
        return {
            r.external_id: (r.name, r.email, r.phone, r.active,
                            sorted((p["from"], p["to"]) for p in r.unavailable))
            for r in rows
            if r.deleted_at is None
        }  # fmt: skip


def certifications_truth(sim: WorkdaySimulator) -> dict[str, tuple[Any, ...]]:
    out = {}
    for key, worker in sim.workers().items():
        if key not in sim.technician_ids:
            continue
        for achievement in certifications_of(worker):
            data = achievement["Certification_Data"][0]
            out[f"{key}|{certification_code(achievement)}"] = (
                data["Certification_Number"], data["Issued_Date"], data["Expiration_Date"]
            )  # fmt: skip
    return out


def certifications_stored(container: Container, live: bool = True) -> dict[str, tuple[Any, ...]]:
    table = models.table_of(models.Certification)
    with container.new_uow() as uow:
        rows = uow.connection().execute(select(table).where(table.c.source_system == "workday"))
        return {
            r.external_id: (r.number, r.issued_on, r.expires_on)
            for r in rows
            if (r.deleted_at is None) == live
        }


# -- the office's side --------------------------------------------------------------------------


def technician_ids(container: Container) -> dict[str, int]:
    table = models.table_of(models.Technician)
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(table.c.external_id, table.c.id).where(table.c.source_system == "workday")
        )
        return {r.external_id: r.id for r in rows}


def shown(container: Container, ident: int) -> dict[str, Any]:
    with container.new_uow() as uow:
        return records.get(uow, records.KINDS["technicians"], ident)


def fill_in(container: Container, ident: int) -> None:
    """The office enters what dispatch needs of a technician Workday made."""
    kind = records.KINDS["technicians"]
    office = {"home_latitude": 51.5, "home_longitude": -0.12, "time_zone": ZONE,
              "weekly_hours": ALL_WEEK}  # fmt: skip
    with container.new_uow() as uow:
        records.update(uow, kind, ident, office, shown(container, ident)["version"])


def add_orders(container: Container, technicians: dict[str, int], codes: dict[str, str]) -> dict:
    """A site; a work type per certification code; a triaged job needing each; scheduled
    orders assigned to technicians on given days. The orders' ids, by name."""
    zone_noon = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=10)
    with container.new_uow() as uow:
        connection = uow.connection()
        site = connection.execute(
            insert(models.table_of(models.Site)).values(
                name="Depot", address="1 Road", latitude=51.51, longitude=-0.11, time_zone=ZONE
            )
        ).inserted_primary_key[0]
        types: dict[str, int] = {}
        for name, code in codes.items():
            types[name] = connection.execute(
                insert(models.table_of(models.WorkType)).values(
                    code=f"WT_{name}",
                    name=f"needs {code}",
                    default_duration_min=60,
                    required_skills=[],
                    required_certifications=[code],
                    checklist=[],
                )
            ).inserted_primary_key[0]
        orders: dict[str, int] = {}
        plan = [(f"job_{name}", "triaged", None, 0, name) for name in codes]
        plan += [(name, "scheduled", technicians[who], days, "plain")
                 for name, (who, days) in ASSIGNED.items()]  # fmt: skip
        types["plain"] = connection.execute(
            insert(models.table_of(models.WorkType)).values(
                code="WT_plain",
                name="plain",
                default_duration_min=30,
                checklist=[],
                required_skills=[],
                required_certifications=[],
            )
        ).inserted_primary_key[0]
        for number, (name, status, tech, days, kind) in enumerate(plan):
            start = zone_noon + timedelta(days=days) if status == "scheduled" else None
            orders[name] = connection.execute(
                insert(models.table_of(models.WorkOrder)).values(
                    tracking_code=f"WD-{number:04d}",
                    status=status,
                    priority=3,
                    summary=name,
                    site_id=site,
                    work_type_id=types[kind],
                    technician_id=tech,
                    window_start=start,
                    window_end=start and start + timedelta(hours=2),
                )
            ).inserted_primary_key[0]
        uow.commit()
    return orders


ASSIGNED = {  # order: (technician role, days after DAY)
    "terminated_on_day": ("terminated", 0),
    "to_leave_on_day": ("on_leave", 0),
    "leaving_before": ("leaving", 0),
    "leaving_after": ("leaving", 12),
}


def attention(container: Container) -> dict[int, str | None]:
    table = models.table_of(models.WorkOrder)
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(
                table.c.id, table.c.attention_reason, table.c.technician_id, table.c.status
            ).where(table.c.needs_attention)
        )
        return {r.id: r.attention_reason for r in rows}


def holdings(sf: SalesforceSimulator) -> Counter[str]:
    """How many times each ServiceResourceSkill was written."""
    return Counter(w["external_id"] for w in sf.writes("ServiceResourceSkill"))


def pick(sim: WorkdaySimulator) -> dict[str, Any]:
    """Technicians for each part of the day, and the certification codes its jobs need: X
    (to expire) and Y (to be removed) held by one technician each among those the office
    fills in, Z held by ``control`` alone of those."""
    held = {k: [certification_code(a) for a in certifications_of(sim.worker(k) or {})]
            for k in sorted(sim.technician_ids)}  # fmt: skip
    expiring = next(k for k, codes in held.items() if len(codes) >= 2)
    code_x = held[expiring][0]
    removing = next(k for k, codes in held.items() if k != expiring and code_x not in codes
                    and set(codes) - set(held[expiring]))  # fmt: skip
    code_y = next(c for c in held[removing] if c not in held[expiring])
    others = [k for k, codes in held.items() if code_x not in codes and code_y not in codes
              and k not in (expiring, removing)]  # fmt: skip
    theirs = held[expiring] + held[removing]
    control = next(k for k in others if set(held[k]) - set(theirs))
    code_z = next(c for c in held[control] if c not in theirs)
    rest = [k for k in others if k != control and code_z not in held[k]]
    return {
        "expiring": expiring, "removing": removing, "control": control,
        "terminated": rest[0], "on_leave": rest[1], "leaving": rest[2], "renewed": rest[3:6],
        "gaining": rest[6], "codes": {"X": code_x, "Y": code_y, "Z": code_z}, "held": held,
    }  # fmt: skip


def test_a_workday_day_on_the_store(  # long: one day told in order, each step checked
    container: Container, sim: WorkdaySimulator, sf: SalesforceSimulator
) -> None:
    began = time.perf_counter()
    sync(container, sim)  # the first load
    assert technicians_stored(container) == technicians_truth(sim)
    assert certifications_stored(container) == certifications_truth(sim)
    assert len(technicians_truth(sim)) == 600
    ids = technician_ids(container)
    who = pick(sim)
    fresh = shown(container, ids[who["control"]])
    assert fresh["dispatchable"] is False and fresh["active"] is True
    assert fresh["missing"] == ["home_latitude", "home_longitude", "time_zone", "weekly_hours"]
    office = ("expiring", "removing", "control", "terminated", "on_leave", "leaving")
    for role in office:
        fill_in(container, ids[who[role]])
    assert shown(container, ids[who["control"]])["dispatchable"] is True
    assert shown(container, ids[who["control"]])["missing"] == []

    clock = Clock()
    skills = SalesforceSkills(salesforce_connector(sf, max_attempts=6), SalesforceMapping())
    relay = Relay(container.new_uow, {"salesforce": skills}, {CRM_CERTIFICATION: "salesforce"},
                  RelayPolicy(), clock=clock)  # fmt: skip
    deliver_all(relay, clock)
    first = holdings(sf)
    assert set(first) == set(certifications_truth(sim)) and set(first.values()) == {1}
    orders = add_orders(container, {role: ids[who[role]] for role in office}, who["codes"])

    # -- a day of changes ---------------------------------------------------------------------
    years = CATALOGUE[who["codes"]["X"]][2]
    lapsed = DAY - timedelta(days=1)
    sim.renew(who["expiring"], who["codes"]["X"], lapsed.replace(year=lapsed.year - years))
    sim.revoke(who["removing"], who["codes"]["Y"])
    renewed = [f"{k}|{who['held'][k][0]}" for k in who["renewed"]]
    for key in renewed:
        sim.renew(*key.split("|"), TODAY)
    added_code = next(c for c in sorted(CATALOGUE) if c not in who["held"][who["gaining"]])
    sim.certify(who["gaining"], added_code, TODAY)
    sim.terminate(who["terminated"], TODAY)
    sim.terminate(who["leaving"], DAY + timedelta(days=10))  # dispatchable until then
    sim.leave(who["on_leave"], DAY, DAY + timedelta(days=2))
    hired = sim.hire(technician=True)
    time.sleep(0.05)  # each change is entered 1 ms after the last: let the clock pass them
    sync(container, sim, reconciled=True)
    assert {f["kind"] for f in sim.fault_log} - {"latency"}, "faults were dealt, and survived"

    assert technicians_stored(container) == technicians_truth(sim)
    assert certifications_stored(container) == certifications_truth(sim)
    removed = f"{who['removing']}|{who['codes']['Y']}"
    assert list(certifications_stored(container, live=False)) == [removed]
    ids = technician_ids(container)
    assert hired in ids and shown(container, ids[hired])["dispatchable"] is False

    # the terminated technician is kept, not dispatchable; their order flagged, not moved
    gone = shown(container, ids[who["terminated"]])
    assert gone["active"] is False and gone["dispatchable"] is False
    assert shown(container, ids[who["leaving"]])["dispatchable"] is True  # not yet
    flagged = attention(container)
    assert set(flagged) == {orders[n] for n in ("terminated_on_day", "to_leave_on_day",
                                                "leaving_after")}  # fmt: skip
    assert "no longer active in workday" in flagged[orders["terminated_on_day"]]
    assert "unavailable (leave)" in flagged[orders["to_leave_on_day"]]
    with container.new_uow() as uow:
        still = (
            uow.connection()
            .execute(
                select(models.WorkOrder.technician_id).where(
                    models.WorkOrder.id == orders["terminated_on_day"]
                )
            )
            .scalar()
        )
    assert still == ids[who["terminated"]]

    # the day's plan: who may go, and jobs needing a lapsed or removed certification unassigned
    with container.new_uow() as uow:
        day = build_problem(uow, DAY)
    planned = {t.id for t in day.problem.technicians}
    assert planned == {str(ids[who[r]]) for r in ("expiring", "removing", "control", "leaving")}
    plan = solve(day.problem, engine="vroom", time_limit_s=2)
    out = {u.job for u in plan.unassigned}
    assert {str(orders["job_X"]), str(orders["job_Y"])} <= out
    placed = {stop.job: route.technician for route in plan.routes for stop in route.stops}
    assert placed[str(orders["job_Z"])] == str(ids[who["control"]])

    # each certification change pushed once; the removed one end-dated
    deliver_all(relay, clock)
    changed = {f"{who['expiring']}|{who['codes']['X']}", removed, *renewed,
               f"{who['gaining']}|{added_code}"}  # fmt: skip
    changed |= {k for k in certifications_truth(sim) if k.startswith(f"{hired}|")}
    assert holdings(sf) - first == Counter(dict.fromkeys(changed, 1))
    (holding,) = sf.find("ServiceResourceSkill", "Fieldbridge_Id__c", removed)
    assert holding["EffectiveEndDate"] is not None
    pushed = [r for r in outbox_rows(container) if r.event == CRM_CERTIFICATION]
    assert {r.state for r in pushed} == {"delivered"}
    assert time.perf_counter() - began < 60, "the day's budget (aim: under 40 s a store)"
