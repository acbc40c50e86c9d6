"""The outbox in the store: closed orders that owe the remotes, a relay on a clock the test moves,
and the rows as they stand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from orchestrator.outbox.events import CRM_COMPLETED, ERP_BILLING, enqueue_closed
from orchestrator.outbox.relay import Relay, RelayPolicy
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.work_orders import commands as wo_h

OUTBOX = models.table_of(models.OutboxMessage)
ROUTES = {CRM_COMPLETED: "salesforce", ERP_BILLING: "sap"}


class Clock:
    """The relay's clock, moved on by the test (stored retries come due without waiting)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def relay(container: Container, destinations: dict[str, Any], clock: Clock, **policy: Any) -> Relay:
    return Relay(container.new_uow, destinations, ROUTES, RelayPolicy(**policy), clock=clock)


def deliver_all(outbox_relay: Relay, clock: Clock, rounds: int = 60) -> None:
    """Rounds of the relay, the clock moved past every stored retry, until nothing is due."""
    for _ in range(rounds):
        outbox_relay.drain()
        if not pending(outbox_relay):
            return
        clock.advance(3600)
    raise AssertionError("rows still pending after every round")


def pending(outbox_relay: Relay) -> int:
    with outbox_relay.new_uow() as uow:
        found = uow.connection().execute(
            select(OUTBOX.c.id).where(
                (OUTBOX.c.state == "pending") & OUTBOX.c.event.in_(outbox_relay.routed_events())
            )
        )
        return len(found.all())


def outbox_rows(container: Container) -> list[Any]:
    with container.new_uow() as uow:
        return list(uow.connection().execute(select(OUTBOX).order_by(OUTBOX.c.id)))


def closed_orders(container: Container, buyers: list[str]) -> list[int]:
    """One closed order per SAP buyer, as the lifecycle leaves it, its rows enqueued."""
    ids = []
    with container.new_uow() as uow:
        for index, buyer in enumerate(buyers):
            customer = models.Customer(
                name=f"Customer {buyer}", source_system="sap", external_id=buyer
            )
            uow.session.add(customer)
            uow.session.flush()
            now = utcnow()
            wo = models.WorkOrder(
                tracking_code=wo_h.new_tracking_code(), status="closed", priority=3,
                summary=f"Boiler service {index}", customer_id=customer.id, visits=1,
                first_checked_in_at=now - timedelta(minutes=95),
                completed_at=now - timedelta(minutes=5), closed_at=now, status_changed_at=now,
            )  # fmt: skip
            uow.session.add(wo)
            uow.session.flush()
            enqueue_closed(uow, wo, now)
            ids.append(wo.id)
        uow.commit()
    return ids
