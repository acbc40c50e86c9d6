"""``fieldbridge demo``: the whole story on the embedded defaults, against the simulators.

Salesforce, SAP, the HR system and a finance subscriber start in-process on loopback, a fresh
SQLite store in a temporary directory; then, through the HTTP API (in-process, as a user
would drive it): sync in, reference data, orders raised (service requests, and Salesforce
WorkOrders taken in by the sync), triage, a schedule run of the scheduling engine, dispatch,
the field day (checklists, photos, signatures; some cannot-complete and a revisit the next
working day), review and close, the write-backs delivered by the relay while the simulators
fail now and then, and a report. The exit code is 0 only if every closed order reached each
destination exactly once, as the simulators' own ledgers show:

- Salesforce: exactly one WorkOrder record carries the order's key (its tracking code, or it
  is the record the order was raised from), and the write-backs to it carrying the status
  are one effective write: a repeat (a retry after a lost answer) is allowed only when it
  writes the same content, since an upsert of the same content converges.
- SAP: exactly one customer invoice request with the order's message UUID.
- finance: exactly one billing event for the order.

This module sits in ``api`` because it drives the HTTP API; ``orchestrator`` may not import it.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import random
import secrets
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from devtools.world import World, world
from sandbox.finance import FinanceSimulator
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator

err = Console(stderr=True)


def _picture(image_format: str) -> bytes:
    """A real picture (an upload is decoded whole before it is kept): 4 x 4, one colour."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (40, 120, 200)).save(out, image_format)
    return out.getvalue()


PNG = _picture("PNG")
JPEG = _picture("JPEG")
ZONE = "Europe/Berlin"
CENTRE = (52.52, 13.40)
CANNOT_COMPLETE_SHARE = 0.1
FAULT_RATE = 0.08
ORDERS_PER_TECHNICIAN = 4
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
WORK_TYPES = (
    {
        "code": "BOILER",
        "name": "Boiler service",
        "default_duration_min": 60,
        "required_skills": ["heating"],
        "checklist": [
            {"code": "flue", "label": "Flue gas analysis"},
            {"code": "pressure", "label": "System pressure checked"},
        ],
        "min_photos": 1,
        "signature_required": True,
    },
    {
        "code": "ELEC",
        "name": "Electrical inspection",
        "default_duration_min": 75,
        "required_skills": ["electrical"],
        "checklist": [
            {"code": "isolate", "label": "Isolate supply"},
            {"code": "rcd", "label": "RCD trip test"},
            {"code": "notes", "label": "Remarks", "required": False},
        ],
        "min_photos": 2,
        "signature_required": True,
    },
)
REQUESTS = (
    "The boiler shows fault F28 and there is no hot water",
    "Radiators upstairs stay cold since the weekend",
    "The RCD trips whenever the pump starts",
    "Scorch marks on the distribution board in the basement",
    "Annual safety inspection of the plant room is due",
)


class DemoError(RuntimeError):
    """The story could not go on: an answer it did not expect."""


@dataclass
class Api:
    """The HTTP API in-process: a token per role, and calls that insist on their status."""

    client: Any
    container: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str, subject: str, technician_id: int | None = None) -> str:
        from orchestrator.access import tokens as auth

        with self.container.new_uow() as uow:
            issued = auth.issue(
                uow,
                self.container.secret_key,
                role=role,
                subject=subject,
                technician_id=technician_id,
                ttl_hours=12,
            )
        return str(issued.token)

    def call(self, method: str, path: str, token: str | None, expect: int = 200, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.request(method, path, headers=headers, **kw)
        if response.status_code != expect:
            raise DemoError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def etag(self, oid: int, token: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        return str(self.client.get(f"/api/v1/work-orders/{oid}", headers=headers).headers["etag"])

    def change(self, method: str, path: str, oid: int, token: str, **kw: Any) -> Any:
        """A change to an order, with its current ETag."""
        headers = {"If-Match": self.etag(oid, token)}
        return self.call(method, path, token, headers=headers, **kw)

    def move(self, oid: int, token: str, to: str, **fields: Any) -> Any:
        path = f"/api/v1/work-orders/{oid}/transitions"
        return self.change("POST", path, oid, token, json={"to": to, **fields})

    def all(self, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 100, **params} | ({"cursor": cursor} if cursor else {})
            page = self.call("GET", path, token, params=query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


@dataclass
class Check:
    """One destination's ledger held against the closed orders."""

    destination: str
    once: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    states: dict[str, int]
    closed: int
    first_time_fix: int
    outbox: dict[str, dict[str, int]]
    checks: list[Check]
    faults: dict[str, int]
    relay: dict[str, int]
    timings: dict[str, float]

    @property
    def ok(self) -> bool:
        return self.closed > 0 and all(
            not c.problems and c.once == self.closed for c in self.checks
        )


def _weekday_after(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class Story:
    def __init__(self, api: Api, sims: World, orders: int, seed: int) -> None:
        self.api, self.sims, self.n, self.rng = api, sims, orders, random.Random(seed)  # nosec B311  # the demo's seeded data (the same seed, the same demo); it guards nothing
        self.timings: dict[str, float] = {}
        self.day = _weekday_after(datetime.now(UTC).date())
        self.revisit_day = _weekday_after(self.day)
        self.tech_tokens: dict[int, str] = {}
        self.work_types: list[int] = []
        self.sites: list[tuple[int, int]] = []  # (customer id, site id), SAP customers
        self.relay_totals: Counter[str] = Counter()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        err.rule(f"[bold]{name}")
        yield
        self.timings[name] = time.monotonic() - started

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )

    # --- the story, step by step -----------------------------------------------------------

    def run(self) -> Outcome:
        api = self.api
        self.admin = api.token("admin", "ada")
        self.dispatcher = api.token("dispatcher", "dora")
        self.supervisor = api.token("supervisor", "sam")
        with self.step("sync in: SAP customers and equipment"):
            self.sync("sap")
        with self.step("reference data"):
            self.reference_data()
        with self.step("sync in: HR certifications"):
            self.sync("hr")
        with self.step("finance subscription"):
            finance = self.sims.finance
            assert finance is not None  # nosec B101  # the world started every simulator; this narrows the type
            body = {"url": finance.endpoint, "secret": finance.secret, "description": "finance"}
            api.call("POST", "/api/v1/webhook-subscriptions", self.admin, 201, json=body)
            err.print(f"billing triggers go to {finance.endpoint}")
        with self.step("orders raised"):
            ids = self.raise_orders()
        with self.step("triage"):
            self.triage(ids)
        with self.step(f"schedule {self.day.isoformat()}"):
            self.schedule(self.day)
        with self.step("dispatch and the field day"):
            revisits = self.field_day(allow_failure=True)
        if revisits:
            with self.step(f"revisits {self.revisit_day.isoformat()}"):
                self.triage(revisits, revisit=True)
                self.schedule(self.revisit_day)
                self.field_day(allow_failure=False)
        with self.step("review and close"):
            self.close()
        with self.step("write-backs"):
            self.deliver()
        with self.step("ledgers"):
            return self.outcome()

    def sync(self, system: str) -> None:
        from orchestrator.sync.systems import run_system

        container = self.api.container
        with err.status(f"syncing {system}"):
            results = run_system(
                container.new_uow,
                container.sync_system(system),
                lookback_s=container.settings.sync_lookback_s,
            )
        for result in results:
            err.print(
                f"{result.system} {result.stream}: {result.read} read, {result.written} written, "
                f"{result.quarantined} quarantined"
            )

    def reference_data(self) -> None:
        api, admin = self.api, self.admin
        division = api.call(
            "POST", "/api/v1/divisions", admin, 201, json={"code": "BE", "name": "Berlin"}
        )
        self.division = division["id"]
        territory = api.call(
            "POST",
            "/api/v1/territories",
            admin,
            201,
            json={"code": "BE1", "name": "Berlin", "division_id": self.division},
        )["id"]
        # the certification most of the crew holds in the HR system, valid on both days
        hr = self.sims.hr
        assert hr is not None  # nosec B101  # the world started every simulator; this narrows the type
        workers = sorted({r["worker_id"] for r in hr.records()})[: self.technicians_needed()]
        held = Counter(
            r["code"]
            for r in hr.records()
            if r["worker_id"] in workers
            and r["status"] == "active"
            and (r["expires_on"] is None or r["expires_on"] > self.revisit_day.isoformat())
        )
        code = held.most_common(1)[0][0]
        for spec in WORK_TYPES:
            body = dict(spec)
            if spec["code"] == "ELEC":
                body["required_certifications"] = [code]
            self.work_types.append(
                api.call("POST", "/api/v1/work-types", admin, 201, json=body)["id"]
            )
        hours = {d: [{"start": "08:00", "end": "17:00"}] for d in WEEKDAYS}
        for number, worker in enumerate(workers):
            lat, lon = self.near()
            tech = api.call(
                "POST",
                "/api/v1/technicians",
                admin,
                201,
                json={
                    "name": f"Technician {number + 1}",
                    "source_system": "hr",
                    "external_id": worker,
                    "skills": ["heating", "electrical"],
                    "home_latitude": lat,
                    "home_longitude": lon,
                    "time_zone": ZONE,
                    "weekly_hours": hours,
                    "territory_id": territory,
                },
            )["id"]
            self.tech_tokens[tech] = api.token("technician", f"tech-{number + 1}", tech)
        customers = api.all("/api/v1/customers", self.dispatcher, source_system="sap")
        for customer in customers[: self.n]:
            lat, lon = self.near()
            site = api.call(
                "POST",
                "/api/v1/sites",
                self.dispatcher,
                201,
                json={
                    "customer_id": customer["id"],
                    "name": f"{customer['name']} site"[:200],
                    "address": "Berlin",
                    "latitude": lat,
                    "longitude": lon,
                    "time_zone": ZONE,
                    "territory_id": territory,
                },
            )
            self.sites.append((customer["id"], site["id"]))
        err.print(
            f"{len(workers)} technicians (HR workers), {len(self.work_types)} work types "
            f"(electrical work needs {code}), {len(self.sites)} sites of SAP customers"
        )

    def technicians_needed(self) -> int:
        return max(2, -(-self.n // ORDERS_PER_TECHNICIAN))

    def near(self) -> tuple[float, float]:
        lat, lon = CENTRE
        return round(lat + self.rng.uniform(-0.08, 0.08), 5), round(
            lon + self.rng.uniform(-0.12, 0.12), 5
        )

    def raise_orders(self) -> list[int]:
        api, sf = self.api, self.sims.salesforce
        assert sf is not None  # nosec B101  # the world started every simulator; this narrows the type
        from_sf = self.n // 3
        ids: list[int] = []
        with self.progress() as progress:
            task = progress.add_task("service requests", total=self.n - from_sf)
            for number in range(self.n - from_sf):
                customer, site = self.sites[number % len(self.sites)]
                body = {
                    "description": REQUESTS[number % len(REQUESTS)],
                    "site_id": site,
                    "customer_id": customer,
                    "contact": {"name": f"Caller {number + 1}", "phone": "+49 30 1234567"},
                }
                made = api.call("POST", "/api/v1/service-requests", self.dispatcher, 201, json=body)
                ids.append(made["work_order_id"])
                progress.advance(task)
        for number in range(from_sf):
            sf.create("WorkOrder", {"Subject": REQUESTS[number % len(REQUESTS)], "Status": "New"})
        self.sync("salesforce")
        taken = [
            o
            for o in api.all("/api/v1/work-orders", self.dispatcher, status="new")
            if o["source_system"] == "salesforce"
        ]
        # Salesforce knows the customer as a CRM account; SAP bills an ERP billing account,
        # and nothing links the two yet: the dispatcher names the billing account and site.
        for number, order in enumerate(taken):
            customer, site = self.sites[(len(ids) + number) % len(self.sites)]
            path = f"/api/v1/work-orders/{order['id']}"
            body = {"customer_id": customer, "site_id": site}
            api.change("PATCH", path, order["id"], self.dispatcher, json=body)
            ids.append(order["id"])
        err.print(f"{self.n - from_sf} service requests, {len(taken)} orders from Salesforce")
        return ids

    def triage(self, ids: list[int], revisit: bool = False) -> None:
        with self.progress() as progress:
            task = progress.add_task("revisits" if revisit else "triage", total=len(ids))
            for oid in ids:
                fields: dict[str, Any] = {}
                if not revisit:
                    fields = {
                        "priority": self.rng.randint(1, 5),
                        "division_id": self.division,
                        "work_type_id": self.rng.choice(self.work_types),
                    }
                self.api.move(oid, self.dispatcher, "triaged", **fields)
                progress.advance(task)

    def schedule(self, day: date) -> None:
        api = self.api
        body = {"date": day.isoformat(), "time_limit_s": min(10, 1 + self.n // 20)}
        run = api.call("POST", "/api/v1/schedule/runs", self.dispatcher, 202, json=body)
        with self.progress() as progress:
            task = progress.add_task("scheduling engine", total=100)
            deadline = time.monotonic() + 120
            while run["status"] not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(0.1)
                run = api.call("GET", f"/api/v1/schedule/runs/{run['id']}", self.dispatcher)
                progress.update(task, completed=100 * run["progress"]["fraction"])
        if run["status"] != "done":
            raise DemoError(f"schedule run {run['id']}: {run['status']} {run.get('error')}")
        outcomes = Counter(o["outcome"] for o in run["orders"])
        err.print(f"schedule run {run['id']}: {dict(outcomes)}")
        for outcome in run["orders"]:
            if outcome["outcome"] not in ("scheduled", "unchanged", "kept"):
                err.print(
                    f"  order {outcome['work_order_id']}: {outcome['outcome']} "
                    f"{outcome.get('reason') or ''}"
                )

    def field_day(self, *, allow_failure: bool) -> list[int]:
        api = self.api
        scheduled = api.all("/api/v1/work-orders", self.dispatcher, status="scheduled")
        scheduled.sort(key=lambda o: (o["technician_id"], o["window_start"]))
        revisits: list[int] = []
        kinds = {wt["id"]: wt for wt in api.all("/api/v1/work-types", self.dispatcher)}
        with self.progress() as progress:
            task = progress.add_task("field day", total=len(scheduled))
            for order in scheduled:
                oid, tech = order["id"], self.tech_tokens[order["technician_id"]]
                api.move(oid, self.dispatcher, "dispatched")
                lat, lon = self.near()
                api.move(oid, tech, "in_progress", position={"lat": lat, "lon": lon})
                if allow_failure and self.rng.random() < CANNOT_COMPLETE_SHARE:
                    api.move(oid, tech, "cannot_complete", reason="part not on the van")
                    revisits.append(oid)
                else:
                    self.document(oid, tech, kinds[order["work_type_id"]])
                    api.move(oid, tech, "completed")
                progress.advance(task)
        err.print(f"{len(scheduled) - len(revisits)} completed, {len(revisits)} cannot complete")
        return revisits

    def document(self, oid: int, tech: str, work_type: dict[str, Any]) -> None:
        api = self.api
        items = {c["code"]: True for c in work_type["checklist"]}
        path = f"/api/v1/work-orders/{oid}"
        api.change("PUT", f"{path}/checklist", oid, tech, json={"items": items})
        uploads = [("photo", PNG if n % 2 else JPEG) for n in range(work_type["min_photos"])]
        if work_type["signature_required"]:
            uploads.append(("signature", PNG))
        for kind, content in uploads:
            api.change(
                "POST",
                f"{path}/attachments",
                oid,
                tech,
                expect=201,
                files={"file": (f"{kind}.bin", content, "application/octet-stream")},
                data={"kind": kind},
            )

    def close(self) -> None:
        done = self.api.all("/api/v1/work-orders", self.supervisor, status="completed")
        with self.progress() as progress:
            task = progress.add_task("review and close", total=len(done))
            for order in done:
                self.api.move(order["id"], self.supervisor, "closed")
                progress.advance(task)

    def deliver(self) -> None:
        """The relay, with faults on every remote: a failed row's next attempt is stored, and
        the demo's relay clock moves to it instead of sleeping through the backoff."""
        self.sims.set_faults(FAULT_RATE, self.rng.randrange(1 << 30))
        skew = [timedelta(0)]
        relay = self.api.container.relay(clock=lambda: datetime.now(UTC) + skew[0])
        if relay.parked:
            raise DemoError(f"the relay is not configured: {relay.parked}")
        status = self.outbox()
        total = sum(sum(s.values()) for s in status["by_destination"].values())
        with self.progress() as progress:
            task = progress.add_task("delivering", total=total)
            for _ in range(200):
                result = relay.drain()
                for name in ("delivered", "retried", "dead"):
                    self.relay_totals[name] += getattr(result, name)
                status = self.outbox()
                progress.update(task, completed=total - status["by_state"]["pending"])
                if not status["by_state"]["pending"]:
                    break
                skew[0] += timedelta(seconds=60)  # on to the next stored attempt
        self.sims.clear_faults()

    def outbox(self) -> dict[str, Any]:
        return dict(self.api.call("GET", "/api/v1/outbox", self.supervisor))

    # --- the report's facts ---------------------------------------------------------------

    def outcome(self) -> Outcome:
        from orchestrator.outbox.events import BILLING_NAMESPACE, ERP_BILLING

        api = self.api
        orders = api.all("/api/v1/work-orders", self.supervisor)
        closed = [o for o in orders if o["status"] == "closed"]
        sf, sap, finance = self.sims.salesforce, self.sims.sap, self.sims.finance
        assert sf is not None and sap is not None and finance is not None  # nosec B101  # the world started every simulator; this narrows the type
        checks = [Check("Salesforce WorkOrder"), Check("SAP invoice request"), Check("finance")]
        requests = Counter(str(r.get("MessageUUID", "")).lower() for r in sap.invoice_requests())
        events = Counter(d["payload"].get("tracking_code") for d in finance.deliveries())
        writes: dict[str, list[str]] = {}
        for write in sf.writes("WorkOrder"):
            if "Status" in (write["body"] or {}):
                writes.setdefault(write["id"], []).append(json.dumps(write["body"], sort_keys=True))
        for order in closed:
            code = order["tracking_code"]
            records = {r["Id"] for r in sf.find("WorkOrder", "Fieldbridge_Id__c", code)}
            if order["source_system"] == "salesforce":
                records.add(order["external_id"])
            bodies = {b for r in records for b in writes.get(r, [])}
            if len(records) != 1:
                checks[0].problems.append(f"{code}: {len(records)} WorkOrder records")
            else:
                self._tally(checks[0], code, len(bodies), "distinct write-backs")
            key = f"{ERP_BILLING}|{order['id']}"
            message = str(uuid.uuid5(BILLING_NAMESPACE, key))
            self._tally(checks[1], code, requests[message], "invoice requests")
            self._tally(checks[2], code, events[code], "billing events")
        faults = {
            "Salesforce": sum(1 for e in sf.ledger if e["fault"]),
            "SAP": sum(1 for e in sap.ledger() if e["fault"]),
            "finance": sum(1 for e in finance.ledger if e["fault"]),
        }
        return Outcome(
            states=dict(Counter(o["status"] for o in orders)),
            closed=len(closed),
            first_time_fix=sum(1 for o in closed if o["first_time_fix"]),
            outbox=self.outbox()["by_destination"],
            checks=checks,
            faults=faults,
            relay=dict(self.relay_totals),
            timings=self.timings,
        )

    @staticmethod
    def _tally(check: Check, code: str, count: int, what: str) -> None:
        if count == 1:
            check.once += 1
        else:
            check.problems.append(f"{code}: {count} {what}")


def report(outcome: Outcome, console: Console) -> None:
    table = Table(title="orders by state")
    table.add_column("state")
    table.add_column("orders", justify="right")
    for state, count in sorted(outcome.states.items()):
        table.add_row(state, str(count))
    console.print(table)
    share = outcome.first_time_fix / outcome.closed if outcome.closed else 0.0
    console.print(
        f"first-time-fix rate: {share:.0%} ({outcome.first_time_fix} of {outcome.closed} "
        "closed orders fixed on the first visit)"
    )
    table = Table(title="write-backs (outbox; crm: completed jobs and certification pushes)")
    for name in ("destination", "delivered", "dead", "pending"):
        table.add_column(name, justify="left" if name == "destination" else "right")
    for name, counts in sorted(outcome.outbox.items()):
        table.add_row(name, *(str(counts.get(s, 0)) for s in ("delivered", "dead", "pending")))
    console.print(table)
    console.print(
        "relay: {delivered} delivered, {retried} retried, {dead} dead; faults the simulators "
        "dealt: {faults}".format(
            **{k: outcome.relay.get(k, 0) for k in ("delivered", "retried", "dead")},
            faults=", ".join(f"{k} {v}" for k, v in outcome.faults.items()),
        )
    )
    table = Table(title="ledgers: each closed order exactly once")
    for name in ("destination", "exactly once", "of closed", "problems"):
        table.add_column(name, justify="left" if name in ("destination", "problems") else "right")
    for check in outcome.checks:
        problems = "; ".join(check.problems[:5]) or "none"
        if len(check.problems) > 5:
            problems += f" (+{len(check.problems) - 5} more)"
        table.add_row(check.destination, str(check.once), str(outcome.closed), problems)
    console.print(table)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items())
    console.print(f"timings: {timings}")
    if outcome.ok:
        console.print("[green]OK:[/green] every closed order reached each destination exactly once")
    else:
        console.print("[red]FAILED:[/red] not every closed order reached each destination once")


def html_report(outcome: Outcome) -> str:
    def rows(pairs: list[list[str]]) -> str:
        return "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in pairs
        )

    states = [[k, str(v)] for k, v in sorted(outcome.states.items())]
    outbox = [
        [k, *(str(v.get(s, 0)) for s in ("delivered", "dead", "pending"))]
        for k, v in sorted(outcome.outbox.items())
    ]
    checks = [
        [c.destination, str(c.once), str(outcome.closed), "; ".join(c.problems) or "none"]
        for c in outcome.checks
    ]
    ftf = outcome.first_time_fix / outcome.closed if outcome.closed else 0.0
    verdict = "OK" if outcome.ok else "FAILED"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fieldbridge demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .7em}}</style></head><body>
<h1>fieldbridge demo: {verdict}</h1>
<h2>Orders by state</h2><table><tr><th>state</th><th>orders</th></tr>{rows(states)}</table>
<p>First-time-fix rate: {ftf:.0%} ({outcome.first_time_fix} of {outcome.closed})</p>
<h2>Write-backs</h2><table><tr><th>destination</th><th>delivered</th><th>dead</th>
<th>pending</th></tr>{rows(outbox)}</table>
<h2>Ledgers</h2><table><tr><th>destination</th><th>exactly once</th><th>of closed</th>
<th>problems</th></tr>{rows(checks)}</table>
</body></html>
"""


def run_demo(
    orders: int = 40, seed: int = 7, workdir: Path | None = None, html_path: Path | None = None
) -> int:
    """The whole story; 0 when every closed order reached each destination exactly once."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from orchestrator.runtime.bootstrap import bootstrap
    from orchestrator.runtime.settings import Settings
    from orchestrator.store import migrate

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fb-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        with err.status("starting the simulators"):
            sims = stack.enter_context(_simulators(workdir, orders, seed))
        settings = Settings(
            env="embedded",
            database_url=f"sqlite:///{workdir / 'fieldbridge.db'}",
            secret_key=secrets.token_urlsafe(32),
            secret_key_file=workdir / "secret_key",
            attachments_dir=workdir / "attachments",
            outbox_relay=False,  # the demo drives the relay itself
            service_request_rate_per_min=100_000,
            status_rate_per_min=100_000,
        )
        migrate.upgrade(settings.database_url)
        container = stack.enter_context(bootstrap(settings, systems=sims.systems()))
        client = stack.enter_context(TestClient(create_app(container=container)))
        outcome = Story(Api(client, container), sims, orders, seed).run()
    report(outcome, err)
    if html_path is not None:
        html_path.write_text(html_report(outcome), encoding="utf-8")
        err.print(f"HTML report: {html_path}")
    return 0 if outcome.ok else 1


def _simulators(workdir: Path, orders: int, seed: int) -> contextlib.AbstractContextManager[World]:
    """The simulators the story needs: a small Salesforce org, an SAP customer per order, an
    HR system with a technician per few orders, a finance receiver."""
    technicians = max(2, -(-orders // ORDERS_PER_TECHNICIAN))
    return world(
        salesforce=SalesforceSimulator(
            seed=seed, workdir=workdir / "salesforce", customers=20, malformed=0.0
        ),
        sap=SAPSimulator(
            seed=seed, workdir=workdir / "sap", customers=orders, stocks=10, malformed=0.0
        ),
        hr=HRSimulator(seed=seed, workdir=workdir / "hr", workers=technicians, malformed=0.0),
        finance=FinanceSimulator(seed=seed, workdir=workdir / "finance"),
    )
