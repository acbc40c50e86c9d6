"""Preventive maintenance in the store: two years of generation over 200 assets, against the
occurrences the rules define computed here on their own with dateutil's rrule; and two
generators at once, which make each occurrence once.

The simulation runs week by week: the orders whose completion day has come are completed
(in the store, as the commands would: ``completed``, ``completed_at``; some late, some
early, a few cancelled), then a generation runs as of that day.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from sqlalchemy import bindparam, func, select, update

from orchestrator.maintenance import plans as plan_h
from orchestrator.maintenance.generate import SOURCE, Generated, external_id, generate
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models

START = date(2027, 1, 4)  # a Monday: the first run
WEEKS = 104
LAST = START + timedelta(weeks=WEEKS)
MODELS = {"Chiller-X": 60, "Boiler-B": 60, "Pump-P": 60, "Valve-V": 20}


@dataclass(frozen=True)
class Plan:
    id: int
    assets: tuple[int, ...]
    rule: str
    starts_on: date
    counts_from: str
    ahead: int  # horizon + lead


def _fate(plan_id: int, asset_id: int, due_on: date) -> tuple[int, bool]:
    """How many days after its due day an occurrence's order ends (negative: early), and
    whether it ends cancelled: the same here and in the reference."""
    draw = random.Random(f"{plan_id}/{asset_id}/{due_on}")
    offset = draw.randint(-5, 20)
    return offset, offset == 20


def _next(rule: str, start: date, after: date, inclusive: bool) -> date | None:
    found = rrulestr(rule, dtstart=datetime.combine(start, time())).after(
        datetime.combine(after, time()), inc=inclusive
    )
    return None if found is None else found.date()


def reference(
    plans: list[Plan], completed_by: date, generated_on: date
) -> set[tuple[int, int, date]]:
    """The occurrences the rules define once orders ending by ``completed_by`` have ended and
    a generation has run as of ``generated_on``."""
    out: set[tuple[int, int, date]] = set()
    for plan in plans:
        until = generated_on + timedelta(days=plan.ahead)
        for asset in plan.assets:
            if plan.counts_from == "schedule":
                recurrence = rrulestr(plan.rule, dtstart=datetime.combine(plan.starts_on, time()))
                for moment in recurrence.between(
                    datetime.combine(plan.starts_on, time()), datetime.combine(until, time()),
                    inc=True,
                ):  # fmt: skip
                    out.add((plan.id, asset, moment.date()))
                continue
            due = _next(plan.rule, plan.starts_on, plan.starts_on, True)
            while due is not None and due <= until:
                out.add((plan.id, asset, due))
                offset, cancelled = _fate(plan.id, asset, due)
                ended = due + timedelta(days=offset)
                if ended > completed_by:
                    break
                if cancelled:
                    due = _next(plan.rule, due, due, False)
                else:
                    due = _next(plan.rule, ended, max(ended, due), False)
    return out


def _world(container: Container) -> tuple[list[Plan], int]:
    """200 assets of four models over ten sites; plans by model and by asset, counted from
    the schedule and from completion; and one inactive plan. The ids of the plans, and of
    the inactive one."""
    with container.new_uow() as uow:
        session = uow.session
        customer = models.Customer(name="Stadtwerke")
        session.add(customer)
        session.flush()
        sites = [
            models.Site(customer_id=customer.id, name=f"Plant {n}", address=f"Weg {n}",
                        latitude=52.5, longitude=13.4, time_zone="Europe/Berlin")
            for n in range(10)
        ]  # fmt: skip
        session.add_all(sites)
        inspect = models.WorkType(code="PM-INSPECT", name="Inspection", default_duration_min=60,
                                  min_photos=1, signature_required=True)  # fmt: skip
        service = models.WorkType(code="PM-SERVICE", name="Service", default_duration_min=90)
        session.add_all([inspect, service])
        session.flush()
        by_model: dict[str, list[int]] = {}
        serial = 0
        for name, count in MODELS.items():
            for _ in range(count):
                asset = models.Asset(site_id=sites[serial % 10].id, serial=f"SN-{serial:04d}",
                                     model=name)  # fmt: skip
                session.add(asset)
                session.flush()
                by_model.setdefault(name, []).append(asset.id)
                serial += 1
        uow.commit()
    given: list[tuple[dict[str, Any], tuple[int, ...]]] = [
        (dict(asset_model="Chiller-X", rule="FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1",
              starts_on=START + timedelta(days=10), work_type_id=inspect.id, priority=3),
         tuple(by_model["Chiller-X"])),
        (dict(asset_model="Boiler-B", rule="FREQ=MONTHLY;INTERVAL=4", counts_from="completion",
              starts_on=START + timedelta(days=14), horizon_days=21, lead_days=7,
              work_type_id=service.id, priority=2),
         tuple(by_model["Boiler-B"])),
        (dict(asset_model="Pump-P", rule="RRULE:FREQ=WEEKLY;INTERVAL=16;BYDAY=TU",
              starts_on=START + timedelta(days=20), horizon_days=14, work_type_id=inspect.id),
         tuple(by_model["Pump-P"])),
        (dict(asset_model="Pump-P", rule="FREQ=MONTHLY;INTERVAL=6", counts_from="completion",
              starts_on=START + timedelta(days=30), work_type_id=service.id, priority=4),
         tuple(by_model["Pump-P"])),
    ]  # fmt: skip
    for nth, valve in enumerate(by_model["Valve-V"]):
        spec: dict[str, Any]
        if nth % 2:
            spec = dict(rule="FREQ=MONTHLY;INTERVAL=6", counts_from="completion")
        else:
            spec = dict(rule="FREQ=WEEKLY;INTERVAL=16", lead_days=10)
        spec |= dict(asset_id=valve, starts_on=START + timedelta(days=10 + nth), horizon_days=20,
                     work_type_id=service.id)  # fmt: skip
        given.append((spec, (valve,)))
    made: list[Plan] = []
    with container.new_uow() as uow:
        for spec, assets in given:
            data = plan_h.PlanData.model_validate({"name": "PM", **spec})
            out = plan_h.create(uow, data)
            made.append(Plan(out["id"], assets, data.rule.removeprefix("RRULE:"), data.starts_on,
                             data.counts_from, data.horizon_days + data.lead_days))  # fmt: skip
        idle = plan_h.PlanData(name="idle", asset_model="Chiller-X", rule="FREQ=DAILY",
                               starts_on=START, work_type_id=inspect.id, active=False)  # fmt: skip
        inactive = plan_h.create(uow, idle)["id"]
    return made, inactive


def _end_what_is_due(container: Container, today: date) -> None:
    """Complete (or cancel) each open generated order whose end day has come, as the
    commands would: its state, when, its version."""
    occ, orders = models.MaintenanceOccurrence, models.WorkOrder
    table = models.table_of(orders)
    ended: dict[str, list[dict[str, Any]]] = {"completed": [], "cancelled": []}
    with container.new_uow() as uow:
        rows = uow.connection().execute(
            select(occ.plan_id, occ.asset_id, occ.due_on, orders.id)
            .join(orders, orders.id == occ.work_order_id)
            .where(orders.status == "new")
        )
        for plan_id, asset_id, due_on, order_id in rows:
            offset, cancelled = _fate(plan_id, asset_id, due_on)
            day = due_on + timedelta(days=offset)
            if day <= today:
                at = datetime.combine(day, time(12), tzinfo=UTC)
                state = "cancelled" if cancelled else "completed"
                ended[state].append({"order": order_id, "at": at})
        for state, changes in ended.items():
            if not changes:
                continue
            values: dict[str, Any] = {"status": state, "status_changed_at": bindparam("at"),
                                      "version": table.c.version + 1}  # fmt: skip
            if state == "completed":
                values["completed_at"] = bindparam("at")
            statement = update(table).where(table.c.id == bindparam("order")).values(**values)
            uow.connection().execute(statement, changes)
        uow.commit()


def _stored(container: Container) -> set[tuple[int, int, date]]:
    occ = models.MaintenanceOccurrence
    with container.new_uow(read_only=True) as uow:
        rows = uow.session.execute(select(occ.plan_id, occ.asset_id, occ.due_on))
        return {(r.plan_id, r.asset_id, r.due_on) for r in rows}


def _twice_at_once(container: Container, as_of: date) -> list[Generated]:
    barrier = threading.Barrier(2)
    results: list[Generated] = []
    failures: list[BaseException] = []

    def one() -> None:
        try:
            with container.new_uow() as uow:
                barrier.wait(timeout=30)
                results.append(generate(uow, as_of))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(results) == 2
    return results


def test_two_years_of_mixed_plans_make_exactly_the_occurrences_the_rules_define(
    container: Container,
) -> None:
    plans, inactive = _world(container)
    made = 0
    for week in range(WEEKS + 1):
        today = START + timedelta(weeks=week)
        _end_what_is_due(container, today)
        with container.new_uow() as uow:
            made += generate(uow, today).made
    stored = _stored(container)
    expected = reference(plans, LAST, LAST)
    assert stored == expected
    assert made == len(expected) > 1200
    assert not any(plan == inactive for plan, _, _ in stored)

    # every occurrence has its one ordinary order: intake source pm, the plan's work type
    # and priority, the asset and its site and customer
    occ, orders, assets, sites = (models.MaintenanceOccurrence, models.WorkOrder,
                                  models.Asset, models.Site)  # fmt: skip
    with container.new_uow(read_only=True) as uow:
        rows = uow.session.execute(
            select(occ.plan_id, occ.asset_id, occ.due_on, orders.source_system,
                   orders.external_id, orders.work_type_id, orders.priority, orders.asset_id,
                   orders.site_id, orders.customer_id, models.MaintenancePlan.work_type_id,
                   models.MaintenancePlan.priority, assets.site_id, sites.customer_id)
            .join(orders, orders.id == occ.work_order_id)
            .join(models.MaintenancePlan, models.MaintenancePlan.id == occ.plan_id)
            .join(assets, assets.id == occ.asset_id)
            .join(sites, sites.id == assets.site_id)
        ).all()  # fmt: skip
        pm_orders = uow.session.scalar(
            select(func.count()).select_from(orders).where(orders.source_system == SOURCE)
        )
    assert len(rows) == len(expected) == pm_orders
    for row in rows:
        plan, asset, due_on = row[:3]
        assert row[3:10] == (SOURCE, external_id(plan, asset, due_on), *row[10:12], asset,
                             *row[12:14])  # fmt: skip

    # two generators at once: as of the last day, nothing more; a month on, each new
    # occurrence once
    again = _twice_at_once(container, LAST)
    assert [g.made for g in again] == [0, 0]
    assert _stored(container) == expected
    later = LAST + timedelta(days=35)
    both = _twice_at_once(container, later)
    grown = reference(plans, LAST, later)
    assert _stored(container) == grown
    assert sum(g.made for g in both) == len(grown - expected) > 0
    with container.new_uow(read_only=True) as uow:
        pm_orders = uow.session.scalar(
            select(func.count()).select_from(orders).where(orders.source_system == SOURCE)
        )
        unlinked = uow.session.scalar(
            select(func.count()).select_from(occ).where(occ.work_order_id.is_(None))
        )
    assert pm_orders == len(grown) and unlinked == 0
