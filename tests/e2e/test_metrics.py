"""``GET /metrics``: the outbox's depth and age by destination, deliveries and dead letters,
each stream's sync lag and the quarantine, in Prometheus's text format, read from the store."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from orchestrator.store import models
from orchestrator.store.db import utcnow
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import close_one


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.call("GET", "/metrics", None, expect=200)
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_show_the_outbox_and_the_sync(api: Api, world: World, move: Mover) -> None:
    before = scrape(api)
    assert not any(name.startswith("fieldbridge_outbox") for name, _ in before)
    closed = close_one(api, world, move)
    outbox = models.table_of(models.OutboxMessage)
    cursors = models.table_of(models.SyncCursor)
    with api.container.new_uow() as uow:  # a billing request refused for good; a sync that ran
        uow.connection().execute(
            update(outbox)
            .where(outbox.c.key == f"erp.billing_request|{closed['id']}")
            .values(state="dead", created_at=utcnow() - timedelta(minutes=5))
        )
        uow.connection().execute(
            update(outbox)
            .where(outbox.c.event == "crm.work_order_completed")
            .values(created_at=utcnow() - timedelta(minutes=7))
        )
        uow.connection().execute(
            cursors.insert().values(
                system="sap", entity="customers", cursor_stamp=utcnow() - timedelta(hours=2),
                last_run_at=utcnow() - timedelta(minutes=1), read=10, written=10,
                quarantined=0, api_calls=1,
            )
        )  # fmt: skip
        uow.commit()
    got = scrape(api)

    def one(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert one("fieldbridge_outbox_rows", destination="crm", state="pending") == 1
    assert one("fieldbridge_outbox_rows", destination="erp", state="dead") == 1
    assert one("fieldbridge_outbox_dead_letters", destination="erp") == 1
    assert one("fieldbridge_outbox_delivered_total", destination="crm") == 0
    assert 7 * 60 <= one("fieldbridge_outbox_oldest_pending_age_seconds", destination="crm") < 600
    assert one("fieldbridge_outbox_oldest_pending_age_seconds", destination="erp") == 0
    assert (
        2 * 3600
        <= one("fieldbridge_sync_lag_seconds", system="sap", stream="customers")
        < 2 * 3600 + 60
    )
    assert (
        60 <= one("fieldbridge_sync_last_run_age_seconds", system="sap", stream="customers") < 120
    )
    assert any(name == "process_cpu_seconds_total" for name, _ in got)


def test_every_answer_carries_a_request_id(api: Api) -> None:
    made = api.call("GET", "/health", None, expect=200).headers["x-request-id"]
    assert len(made) == 32
    given = api.call("GET", "/health", None, headers={"X-Request-ID": "lb-7f3a"}, expect=200)
    assert given.headers["x-request-id"] == "lb-7f3a"
    refused = api.call("GET", "/api/v1/work-orders", None, headers={"X-Request-ID": "a b"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] != "a b"


def test_metrics_count_schedule_runs_and_those_nobody_runs(api: Api) -> None:
    now = utcnow()
    with api.container.new_uow() as uow:
        for status, attempts, lease_until in (
            ("queued", 0, None),
            ("running", 1, now + timedelta(seconds=60)),  # its worker renews it
            ("running", 1, now - timedelta(seconds=5)),  # its worker died
            ("done", 2, None),  # taken over once
        ):
            uow.session.add(models.ScheduleRun(
                kind="plan", day=now.date(), territories=[], engine="auto", status=status,
                phase=status, requested_by="dora", requested_role="dispatcher",
                attempts=attempts, lease_until=lease_until,
            ))  # fmt: skip
        uow.commit()
    got = scrape(api)
    assert {dict(labels)["status"]: v for (name, labels), v in got.items()
            if name == "fieldbridge_schedule_runs"} == {
        "queued": 1, "running": 2, "done": 1, "failed": 0,
    }  # fmt: skip
    assert got[("fieldbridge_schedule_runs_abandoned", ())] == 1
    assert got[("fieldbridge_schedule_runs_taken_over", ())] == 1
