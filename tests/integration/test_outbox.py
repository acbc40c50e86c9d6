"""The outbox: closing a work order writes what it owes the remotes in the same transaction,
and the relay delivers each row to effect exactly once, through faults, a relay killed
mid-batch, and refusals that end in dead letters (``sandbox/sap`` and ``sandbox/salesforce``
answer; the store is SQLite, and PostgreSQL where it answers)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from mappings.salesforce import SalesforceMapping
from orchestrator.domain.lifecycle import Actor, Role, State
from orchestrator.outbox import admin as outbox_h
from orchestrator.outbox.destinations import SalesforceJobs, SalesforceSkills, SAPBilling
from orchestrator.outbox.events import (
    CRM_CERTIFICATION,
    CRM_COMPLETED,
    ERP_BILLING,
    FINANCE_TRIGGER,
)
from orchestrator.outbox.relay import ANALYZE_AFTER_ROWS, Outcome, Relay, RelayPolicy
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.work_orders import audit_trail, queries
from orchestrator.work_orders import commands as wo_h
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator
from tests.support.databases import BACKENDS
from tests.support.hr import TODAY, add_technicians
from tests.support.hr import sync as sync_hr
from tests.support.lifecycle_world import World, order_in
from tests.support.outbox import OUTBOX, Clock, closed_orders, deliver_all, outbox_rows, relay
from tests.support.simulators import salesforce_connector, sap_connector

MAPPING = SalesforceMapping()


@pytest.fixture
def sap() -> Iterator[SAPSimulator]:
    with SAPSimulator(seed=4, customers=40, stocks=0, malformed=0.0) as simulator:
        yield simulator


@pytest.fixture
def sf() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=4) as simulator:
        yield simulator


# -- closing writes the rows --------------------------------------------------------------------


def test_closing_an_order_owes_each_remote_one_row_in_the_same_transaction(
    container: Container, world: World
) -> None:
    wid = order_in(container, world, "completed")
    sue = Actor("sue", Role.SUPERVISOR)
    with container.new_uow() as uow:  # two finance subscribers, one of them no longer active
        for url, active in (("https://finance.example/hook", True), ("https://old.example", False)):
            uow.session.add(models.WebhookSubscription(
                url=url, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", active=active,
                created_by="ada",
            ))  # fmt: skip
        uow.commit()
    with container.new_uow() as uow:
        version = queries.get(uow, wid, sue)["version"]
    with container.new_uow() as uow, pytest.raises(Exception, match="version"):
        wo_h.transition(uow, wo_h.TransitionWorkOrder(wid, State.CLOSED, {}, sue, version - 1))
    assert outbox_rows(container) == [], "a close refused writes nothing"
    with container.new_uow() as uow:
        closed = wo_h.transition(uow, wo_h.TransitionWorkOrder(wid, State.CLOSED, {}, sue, version))
    rows = outbox_rows(container)
    assert [(r.event, r.key, r.state, r.destination) for r in rows] == [
        (CRM_COMPLETED, f"{CRM_COMPLETED}|{wid}|v{closed['version']}", "pending", "crm"),
        (ERP_BILLING, f"{ERP_BILLING}|{wid}", "pending", "erp"),
        (FINANCE_TRIGGER, f"{FINANCE_TRIGGER}|{wid}|1", "pending", "finance"),
    ]
    job = rows[0].payload
    assert job["key"] == closed["tracking_code"] and job["state"] == "closed"
    assert job["visits"] == 1 and job["first_time_fix"] is True
    assert job["technician_key"] is not None and job["actual_end"] is not None
    assert rows[1].payload["message_uuid"] != rows[2].payload.get("message_uuid")
    with container.new_uow() as uow:
        trail = audit_trail.audit_trail(uow, wid, sue)["events"]
    assert trail[-1]["payload"]["outbox"] == [r.key for r in rows]


# -- the relay ---------------------------------------------------------------------------------


def test_seeded_faults_bill_each_closed_order_once(container: Container, sap: SAPSimulator) -> None:
    buyers = [outbox_relay["InternalID"] for outbox_relay in sap.records()][:30]
    closed_orders(container, buyers)
    sap.set_faults(rate=0.3, kinds=["500", "fault", "lost"], seed=8)
    clock = Clock()
    outbox_relay = relay(
        container, {"sap": SAPBilling(sap_connector(sap, max_attempts=2))}, clock, backoff_base_s=1
    )
    deliver_all(outbox_relay, clock)
    assert len(sap.fault_log) > 0
    billed = outbox_rows(container)
    mine = [row for row in billed if row.event == ERP_BILLING]
    assert {row.state for row in mine} == {"delivered"}
    uuids = Counter(req["MessageUUID"] for req in sap.invoice_requests())
    assert sorted(uuids) == sorted(row.payload["message_uuid"] for row in mine)
    assert set(uuids.values()) == {1}, "one invoice request per billing trigger"
    assert any(row.attempts > 1 for row in mine), "some went out more than once"
    by_uuid = {req["MessageUUID"]: req for req in sap.invoice_requests()}
    assert all(row.remote_id == by_uuid[row.payload["message_uuid"]]["UUID"] for row in mine)
    crm = [row for row in billed if row.event != ERP_BILLING]
    assert {row.state for row in crm} == {"pending"}, "no destination given: they wait"


def test_a_relay_killed_mid_batch_leaves_leases_that_run_out(
    container: Container, sap: SAPSimulator
) -> None:
    closed_orders(container, [r["InternalID"] for r in sap.records()][:12])
    clock = Clock()
    billing = SAPBilling(sap_connector(sap, max_attempts=2))
    first = relay(container, {"sap": billing}, clock, lease_s=60)
    claimed = first.claim()
    billing.deliver(claimed[:7])  # sent, then killed before a single outcome was recorded
    second = relay(container, {"sap": billing}, clock, lease_s=60)
    assert second.claim() == [], "leased rows are not claimed again while the lease lives"
    clock.advance(61)
    done = second.drain()
    assert (done.delivered, done.dead) == (12, 0)
    assert set(Counter(q["MessageUUID"] for q in sap.invoice_requests()).values()) == {1}
    assert len(sap.invoice_requests()) == 12


def test_a_relay_that_outlives_its_lease_cannot_overwrite_the_outcome(
    container: Container, sap: SAPSimulator
) -> None:
    closed_orders(container, [r["InternalID"] for r in sap.records()][:5])
    clock = Clock()
    billing = SAPBilling(sap_connector(sap, max_attempts=2))
    other = relay(container, {"sap": billing}, clock, lease_s=60)

    class Stalls:
        """Delivers after stalling past its lease, while another relay takes the rows."""

        def deliver(self, messages: list[Any]) -> list[Any]:
            clock.advance(61)
            assert other.drain().delivered == len(messages)
            return billing.deliver(messages)  # SAP answers the repeat with its first answer

    slow = relay(container, {"sap": Stalls()}, clock, lease_s=60)
    late = slow.run_once()
    assert (late.claimed, late.delivered, late.lost_leases) == (5, 0, 5)
    assert len(sap.invoice_requests()) == 5
    rows = [row for row in outbox_rows(container) if row.event == ERP_BILLING]
    assert {(row.state, row.attempts) for row in rows} == {("delivered", 1)}


def test_a_refused_trigger_is_a_dead_letter_and_retry_after_the_fix_delivers_it_once(
    container: Container, sap: SAPSimulator
) -> None:
    buyers = [outbox_relay["InternalID"] for outbox_relay in sap.records()][:3]
    ids = closed_orders(container, [*buyers, "9999999"])  # no such business partner in SAP
    clock = Clock()
    wrong = sap_connector(sap, max_attempts=2, password="not-the-password")
    outbox_relay = relay(
        container, {"sap": SAPBilling(wrong)}, clock, max_attempts=3, backoff_base_s=1
    )
    deliver_all(outbox_relay, clock)
    rows = {row.work_order_id: row for row in outbox_rows(container) if row.event == ERP_BILLING}
    assert {row.state for row in rows.values()} == {"dead"}
    assert all(row.attempts == 3 and "401" in row.last_error for row in rows.values())
    with container.new_uow() as uow:
        shown = outbox_h.status(uow)
    assert shown["by_state"]["dead"] == 4 and shown["by_destination"]["erp"]["dead"] == 4
    assert {d["key"] for d in shown["dead_letters"]} == {row.key for row in rows.values()}
    # the fix: the right password; then an operator retries each dead letter
    outbox_relay = relay(
        container, {"sap": SAPBilling(sap_connector(sap, max_attempts=2))}, clock, max_attempts=3
    )
    for row in rows.values():
        with container.new_uow() as uow:
            outbox_h.retry(uow, row.id)
    deliver_all(outbox_relay, clock)
    after = {row.work_order_id: row for row in outbox_rows(container) if row.event == ERP_BILLING}
    assert [after[i].state for i in ids] == ["delivered"] * 3 + ["dead"]
    assert "Business partner 9999999 does not exist" in after[ids[-1]].last_error
    assert after[ids[-1]].attempts == 1, "SAP's refusal is permanent: not tried again"
    assert len(sap.invoice_requests()) == 3
    with container.new_uow() as uow:
        assert outbox_h.replay(uow, clock.now - timedelta(days=1)) == 3
    deliver_all(outbox_relay, clock)
    assert len(sap.invoice_requests()) == 3, "a replay creates nothing new"


def test_completed_jobs_reach_salesforce_in_collections(
    container: Container, sf: SalesforceSimulator
) -> None:
    ids = closed_orders(container, [f"B{n}" for n in range(450)])
    clock = Clock()
    jobs = SalesforceJobs(salesforce_connector(sf, max_attempts=2), MAPPING)
    outbox_relay = relay(container, {"salesforce": jobs}, clock)
    deliver_all(outbox_relay, clock)
    rows = [row for row in outbox_rows(container) if row.event == CRM_COMPLETED]
    assert len(rows) == len(ids) and {row.state for row in rows} == {"delivered"}
    written = sf.writes("WorkOrder")
    assert len(written) == 450 and jobs.workorder_calls == 3  # 200 + 200 + 50
    by_key = {w["external_id"]: w for w in written}
    for row in rows:
        body = by_key[row.payload["key"]]["body"]
        assert body["Status"] == "Closed" and row.remote_id == by_key[row.payload["key"]]["id"]


# -- certification pushes ------------------------------------------------------------------------


def test_hr_changes_are_pushed_to_salesforce_skills_in_order(
    container: Container, sf: SalesforceSimulator
) -> None:
    from sandbox.hr import HRSimulator

    with HRSimulator(seed=7, workers=6, malformed=0.0, today=TODAY) as hr:
        add_technicians(
            container, sorted({outbox_relay["worker_id"] for outbox_relay in hr.records()})
        )
        sync_hr(container, hr)
        certs = [outbox_relay for outbox_relay in hr.records()]
        clock = Clock()
        skills = SalesforceSkills(salesforce_connector(sf, max_attempts=2), MAPPING)
        routes = {CRM_CERTIFICATION: "salesforce"}
        outbox_relay = Relay(
            container.new_uow, {"salesforce": skills}, routes, RelayPolicy(), clock=clock
        )
        deliver_all(outbox_relay, clock)
        pushed = [row for row in outbox_rows(container) if row.event == CRM_CERTIFICATION]
        assert len(pushed) == len(certs) and {row.state for row in pushed} == {"delivered"}
        holdings = sf.writes("ServiceResourceSkill")
        assert {w["external_id"] for w in holdings} == {
            outbox_relay["id"] for outbox_relay in certs
        }
        assert len(sf.writes("Skill")) == len({outbox_relay["code"] for outbox_relay in certs}), (
            "a skill once"
        )
        assert skills.calls == 3, "resources, skills, holdings: one Collections call each"
        worker, code = certs[0]["worker_id"], certs[0]["code"]
        hr.revoke(worker, code)
        sync_hr(container, hr)
        deliver_all(outbox_relay, clock)
    again = [row for row in outbox_rows(container) if row.event == CRM_CERTIFICATION]
    assert len(again) == len(certs) + 1 and {row.state for row in again} == {"delivered"}
    revoked = again[-1]
    assert revoked.key.startswith(f"{CRM_CERTIFICATION}|{worker}|{code}|")
    assert revoked.payload["counts"] is False
    (holding,) = sf.find("ServiceResourceSkill", "Fieldbridge_Id__c", f"{worker}|{code}")
    assert holding["EffectiveEndDate"] is not None, "a revoked certification stops counting"


def test_leases_of_a_dead_relay_are_let_go(container: Container, sap: SAPSimulator) -> None:
    closed_orders(container, [r["InternalID"] for r in sap.records()][:2])
    clock = Clock()
    dead = relay(
        container, {"sap": SAPBilling(sap_connector(sap, max_attempts=2))}, clock, lease_s=1
    )
    assert len(dead.claim()) == 2  # and then it died
    with container.new_uow() as uow:
        assert outbox_h.expire_leases(uow) == 0, "the leases still live"
    time.sleep(1.1)
    with container.new_uow() as uow:
        assert outbox_h.expire_leases(uow) == 2
    held = [r for r in outbox_rows(container) if r.event == ERP_BILLING]
    assert all(r.lease_owner is None and r.state == "pending" for r in held)


class Accepts:
    """A remote that takes everything."""

    def deliver(self, messages: Any) -> list[Outcome]:
        return [Outcome(remote_id=f"R{m.id}") for m in messages]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_after_a_burst_the_relay_refreshes_the_planners_statistics(container: Container) -> None:
    """Autovacuum looks at most once a minute; a claim planned on a burst's picture (every row
    pending) would walk every row the burst delivered. The relay analyzes the outbox itself
    once it has moved ANALYZE_AFTER_ROWS rows out of pending."""
    with container.new_uow() as uow:
        uow.connection().exec_driver_sql("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        now = utcnow()
        uow.connection().execute(insert(OUTBOX), [
            {"key": f"{CRM_COMPLETED}|{n}|v1", "event": CRM_COMPLETED, "destination": "crm",
             "sequence_key": f"work_order:{n}", "payload": {}, "state": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for n in range(ANALYZE_AFTER_ROWS + 200)
        ])  # fmt: skip
        uow.commit()

    def counted() -> float:  # the planner's idea of the table: -1 before any analyze
        with container.new_uow() as uow:
            found = uow.connection().exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'outbox'"
            )
            return float(found.scalar_one())

    outbox_relay = Relay(container.new_uow, {"null": Accepts()}, {CRM_COMPLETED: "null"},
                         RelayPolicy(batch=ANALYZE_AFTER_ROWS // 2))  # fmt: skip
    outbox_relay.run_once()
    assert counted() == -1, "half of the threshold moved: not yet"
    done = outbox_relay.drain()
    assert done.delivered == ANALYZE_AFTER_ROWS + 200 - ANALYZE_AFTER_ROWS // 2
    assert counted() == ANALYZE_AFTER_ROWS + 200
