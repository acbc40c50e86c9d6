"""Field execution at volume: technicians' days, their change feed while the office works, and
their devices' uploads, against a running fieldbridge server.

Usage::

    .venv/bin/python bench/field_bench.py [--backends postgresql] [--technicians 500]
        [--orders-per-technician 15] [--concurrency 32] [--clients 2] [--duration 10]
        [--warmup 2] [--windows 3] [--alone-duration 5] [--office-rate 20] [--ops 100]
        [--ops-concurrency 1] [--phases day,changes,ops] [--workers N] [--json results.json]

(PostgreSQL by default; ``--backends sqlite,postgresql`` runs SQLite too. About two minutes
a backend at the default sizes, most of it seeding.)

For each backend the deployment is ``api_bench.py``'s (``bench/load.py``): a throwaway
database (a SQLite file in a temp dir, or ``fb_bench_<random>`` on
``postgresql+psycopg://postgres@127.0.0.1:5432``, dropped ``WITH (FORCE)`` afterwards;
PostgreSQL is skipped, and the output says so, when nothing answers on that port),
``fieldbridge migrate``, an admin token, ``fieldbridge serve`` (``--workers N`` with
``--workers``; else the server's default: one process on SQLite, one a CPU on PostgreSQL,
``FIELDBRIDGE_WORKERS`` where set). Then the store is
seeded in bulk (Core inserts over the same database, untimed): ``--technicians`` technicians
in four time zones, each with a van of parts from the catalogue, and
``--orders-per-technician`` orders each, every window on one day in the technician's time
zone (``--in-progress`` of them checked in, the rest dispatched), each at a site of its own
with an asset, a customer and a contact, of one of three work types (a checklist of five,
resolution codes, the parts the job takes); each asset has ``--history`` closed orders with
parts used (the packet's asset history); every order has its audit chain, hashed as the
product hashes it, and the change feed's rows that chain wrote. On PostgreSQL the tables are
then analysed (what autovacuum does to a table of this size). Each technician gets a token
(``orchestrator.access.tokens.issue``, as ``fieldbridge token create --role technician``).

The phases, each a closed loop of keep-alive connections (``--concurrency`` of them for
``day`` and ``changes``) split over ``--clients`` load-generator processes:

``day``      ``GET /api/v1/me/day?date=`` that day, as a random technician; an answer without
             every one of their orders counts as an error. Then one day is read in the
             benchmark's own process and its statements counted.
``changes``  ``GET /api/v1/me/changes?since=`` as a random technician, each device polling
             with the token of its last answer, while the office edits an order's
             description (``PATCH /api/v1/work-orders/{id}``, a dispatched order of a random
             technician, ``If-Match`` its version) open-loop at ``--office-rate`` a second
             from a process of its own. Then an empty delta is asked in the benchmark's own
             process and its statements counted and explained: it must be one statement, and
             its plan must read the feed through an index.
``ops``      ``POST /api/v1/me/ops``: each upload a fresh batch of ``--ops`` ops of one
             technician on their in-progress orders (notes, parts used from the van, labour
             lines, meter readings, checklist ticks, in turn), ``--ops-concurrency``
             uploads at a time (one by default: the time one batch takes to apply, not a
             queue of them). An upload counts as an error unless every op is ``applied``.
             Then one more upload is applied in the benchmark's own process and its
             statements counted.

Method (``bench/load.py``): ``--warmup`` seconds unmeasured, then ``--duration`` seconds cut
into ``--windows`` windows; requests/s is the median over the windows, p50/p95 over all the
measured samples (errors included), errors over the whole phase. The office's own rate is
measured the same way, and the changes phase holds only if the office kept 97% of its rate
with no error. A closed loop of 32 connections against the server's processes measures the
queue as much as the service (Little's law: the mean latency is 32 / throughput), so
``day`` and ``changes`` are then run ``--alone-duration`` seconds more over ONE connection
with nothing else running (the office stopped), and that p95 is shown beside ("p95 alone",
``..._p95_alone_ms``): what one request costs. The floors are held to the 32-connection
figures, as the issue asks.

Floors (issue 19, 500 technicians of 15 orders on PostgreSQL, 32 concurrent clients):
``GET /me/day`` p95 < 50 ms; ``GET /me/changes`` p95 < 20 ms while the office makes 20
changes a second, an empty delta one indexed read; an upload of 100 ops applied in < 250 ms
(p50 and p95). A phase meets its floor only with no error. The exit code is 0 even when a
floor is missed (this is a benchmark, not a test); a miss is printed as MISSED. ``--json
PATH`` writes one flat object whose keys carry their unit: ``postgresql_day_p95_ms``,
``postgresql_changes_p95_ms``, ``postgresql_changes_requests_per_s``,
``postgresql_day_p95_alone_ms``, ``postgresql_day_statements``,
``postgresql_office_changes_per_s``, ``postgresql_empty_delta_statements``,
``postgresql_ops_batch_p50_ms``, ``postgresql_ops_batch_p95_ms``,
``postgresql_ops_batch_statements``, ``..._floor_met``, ``technicians``, ``orders``, ...
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from rich.table import Table
from sqlalchemy import Connection, event, func, insert, select, text

from orchestrator.access import tokens
from orchestrator.domain.audit import GENESIS, EventBody, canonical_json
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import ops, packet
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.work_orders.audit_trail import feed_rows
from orchestrator.work_orders.commands import new_tracking_code

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fieldgen import PARTS
from bench.load import (
    Client,
    Load,
    Send,
    Server,
    console,
    machine_busy,
    rounded_ms,
    run_figures,
    run_load,
    run_main,
    running_server,
    say_outcome,
    usage_figures,
    warn_if_busy,
)
from bench.stores import by_backend, parse_backends, parse_phases, parser_for, store

PHASES = ("day", "changes", "ops")
CHUNK = 1000  # rows a seeding statement
ZONES = {  # the technicians' time zones, each with a city to scatter its sites around
    "Europe/Berlin": (52.52, 13.40),
    "Europe/London": (51.51, -0.13),
    "America/New_York": (40.71, -74.01),
    "Asia/Tokyo": (35.68, 139.69),
}
CHECKLIST = ("isolate", "inspect", "clean", "test", "handover")
WORK_TYPES = {"BOILER": ("P001", "P002"), "PUMP": ("P003",), "METER": ("P004", "P005")}
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
"""Not counted as the empty delta's statements (SQLite's engine begins with a statement)."""
SQLITE_READS = ("SCAN", "SEARCH")  # the lines of SQLite's query plan that read a table
OFFICE_SHARE = 0.97  # of --office-rate the office must keep for the changes phase to count


@dataclass(frozen=True)
class Floor:
    """Each percentile held under its milliseconds, e.g. ``((95, 50.0),)``."""

    under_ms: tuple[tuple[int, float], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"p{p}<{ms:.0f} ms" for p, ms in self.under_ms)


FLOORS = {
    "day": Floor(((95, 50.0),)),
    "changes": Floor(((95, 20.0),)),
    "ops": Floor(((50, 250.0), (95, 250.0))),
}


# --- the store, seeded in bulk ------------------------------------------------------------------


@dataclass
class Seeded:
    """What the load needs of the seeded store, as plain values (they go to other processes).

    ``technicians``: ``{"id", "token", "orders", "in_progress": [[order id, asset id]],
    "van": [part codes]}`` each; ``office``: ``[order id, version]`` of the dispatched
    orders, in the order the office edits them."""

    day: date
    technicians: list[dict[str, Any]]
    office: list[list[int]]
    orders: int
    history: int
    seconds: float = 0.0


def _insert(conn: Connection, model: type[models.Base], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in statements of ``CHUNK``; their ids, in order."""
    table = models.table_of(model)
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for first in range(0, len(rows), CHUNK):
        ids += conn.execute(statement, rows[first : first + CHUNK]).scalars().all()
    return ids


def _append(conn: Connection, model: type[models.Base], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (ids not needed) in statements of ``CHUNK``."""
    for first in range(0, len(rows), CHUNK):
        conn.execute(insert(models.table_of(model)), rows[first : first + CHUNK])


def _reference(conn: Connection) -> dict[str, Any]:
    """The catalogue, the work types and a division."""
    _append(
        conn,
        models.Part,
        [
            {
                "code": code,
                "name": f"Part {code}",
                "unit": "EA",
                "unit_price": 12.5,
                "currency": "EUR",
            }
            for code in PARTS
        ],
    )
    checklist = [{"code": code, "label": code.title(), "required": True} for code in CHECKLIST]
    kinds = _insert(
        conn,
        models.WorkType,
        [
            {
                "code": code,
                "name": f"{code.title()} service",
                "default_duration_min": 60,
                "checklist": checklist,
                "resolution_codes": ["fixed", "temporary", "replaced"],
                "parts": {part: 1 for part in parts},
            }
            for code, parts in WORK_TYPES.items()
        ],
    )
    [division] = _insert(conn, models.Division, [{"code": "FIELD", "name": "Field service"}])
    return {"work_types": kinds, "division": division}


def _places(
    conn: Connection, count: int, zones: list[str], rng: random.Random
) -> dict[str, list[int]]:
    """``count`` sites (the n-th in ``zones[n]``), each with an asset, and a customer with a
    contact for every five sites."""
    customers = _insert(
        conn, models.Customer, [{"name": f"Customer {n}"} for n in range(-(-count // 5))]
    )
    contacts = _insert(
        conn,
        models.Contact,
        [
            {"customer_id": c, "last_name": f"Contact {c}", "phone": "+49 30 1234"}
            for c in customers
        ],
    )
    sites = []
    for index, zone in enumerate(zones):
        lat, lon = ZONES[zone]
        sites.append(
            {
                "customer_id": customers[index // 5],
                "name": f"Site {index}",
                "address": f"{index} Bench Street",
                "latitude": round(lat + rng.uniform(-0.15, 0.15), 5),
                "longitude": round(lon + rng.uniform(-0.15, 0.15), 5),
                "time_zone": zone,
                "access_notes": "Ring at the back door",
            }
        )
    site_ids = _insert(conn, models.Site, sites)
    assets = _insert(
        conn,
        models.Asset,
        [{"site_id": s, "serial": f"SN-{s:07d}", "model": "Vitodens 200"} for s in site_ids],
    )
    return {
        "sites": site_ids,
        "assets": assets,
        "customers": [customers[n // 5] for n in range(count)],
        "contacts": [contacts[n // 5] for n in range(count)],
    }


@dataclass
class Trails:
    """The audit events and change-feed rows of orders seeded in bulk, as ``append_event``
    writes them: each event hashed on the one before it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    feed: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, order: dict[str, Any], steps: list[tuple[str, dict[str, Any]]], at: datetime
    ) -> None:
        """The order's trail through ``steps`` (state reached, payload), a minute apart up to
        ``at`` (its version is one per event)."""
        previous, state = GENESIS, None
        for seq, (target, payload) in enumerate(steps, 1):
            body = EventBody(
                work_order_id=order["id"],
                seq=seq,
                at=at - timedelta(minutes=len(steps) - seq),
                actor="bench",
                role="technician" if target in ("in_progress", "completed") else "dispatcher",
                kind="created" if state is None else "transition",
                from_state=state,
                to_state=target,
                payload=json.loads(canonical_json(payload)),
                prev_hash=previous,
            )
            previous = body.digest()
            self.events.append({**dataclasses.asdict(body), "hash": previous})
            assigned = order["technician_id"] if target not in ("new", "triaged") else None
            self.feed += feed_rows(order["id"], assigned, body.payload)
            state = target


def _steps(order: dict[str, Any], final: str) -> list[tuple[str, dict[str, Any]]]:
    """The moves an order made to reach ``final`` (dispatched, in_progress or closed)."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("new", {"customer_id": order["customer_id"], "site_id": order["site_id"]}),
        ("triaged", {k: order[k] for k in ("priority", "division_id", "work_type_id")}),
        ("scheduled", {k: order[k] for k in ("technician_id", "window_start", "window_end")}),
        ("dispatched", {}),
    ]
    if final in ("in_progress", "closed"):
        steps.append(("in_progress", {"visit": 1}))
    if final == "closed":
        steps += [
            ("completed", {"visits": 1, "checked": list(CHECKLIST), "resolution_code": "fixed"}),
            ("closed", {"visits": 1, "first_time_fix": True}),
        ]
    return steps


def _order(index: int, places: dict[str, list[int]], reference: dict[str, Any]) -> dict[str, Any]:
    kinds = reference["work_types"]
    return {
        "tracking_code": new_tracking_code(),
        "priority": 1 + index % 5,
        "summary": f"Service visit {index}",
        "description": "Annual service; the customer reports low pressure",
        "customer_id": places["customers"][index],
        "site_id": places["sites"][index],
        "asset_id": places["assets"][index],
        "contact_id": places["contacts"][index],
        "division_id": reference["division"],
        "work_type_id": kinds[index % len(kinds)],
        "checklist_state": {},
    }


def _day_orders(
    conn: Connection,
    args: argparse.Namespace,
    techs: list[dict[str, Any]],
    day: date,
    places: dict[str, list[int]],
    reference: dict[str, Any],
    trails: Trails,
) -> list[dict[str, Any]]:
    """Each technician's orders of ``day``: windows from 07:00 there, half an hour apart,
    an hour and a half long; the first ``--in-progress`` checked in, the rest dispatched."""
    rows = []
    for tech_index, tech in enumerate(techs):
        zone = ZoneInfo(tech["time_zone"])
        for slot in range(args.orders_per_technician):
            index = tech_index * args.orders_per_technician + slot
            start = datetime(day.year, day.month, day.day, 7, tzinfo=zone) + timedelta(
                minutes=30 * slot
            )
            checked_in = slot < args.in_progress
            row = _order(index, places, reference) | {
                "status": "in_progress" if checked_in else "dispatched",
                "technician_id": tech["id"],
                "window_start": start.astimezone(UTC),
                "window_end": (start + timedelta(minutes=90)).astimezone(UTC),
                "visits": 1 if checked_in else 0,
                "first_checked_in_at": utcnow() if checked_in else None,
                "last_checked_in_at": utcnow() if checked_in else None,
            }
            rows.append(row | {"version": len(_steps(row, row["status"]))})
    ids = _insert(conn, models.WorkOrder, rows)
    now = utcnow()
    for row, ident in zip(rows, ids, strict=True):
        row["id"] = ident
        trails.add(row, _steps(row, row["status"]), now)
    return rows


def _history(
    conn: Connection,
    args: argparse.Namespace,
    techs: list[dict[str, Any]],
    places: dict[str, list[int]],
    reference: dict[str, Any],
    trails: Trails,
    rng: random.Random,
) -> int:
    """``--history`` closed orders on each asset (weeks ago, by a random technician), each
    with a part or two used."""
    rows = []
    for index in range(len(places["assets"]) * args.history):
        tech = rng.choice(techs)
        closed = utcnow() - timedelta(days=rng.randint(14, 700))
        rows.append(
            _order(index % len(places["assets"]), places, reference)
            | {
                "status": "closed",
                "technician_id": tech["id"],
                "visits": 1,
                "window_start": closed - timedelta(hours=2),
                "window_end": closed,
                "first_checked_in_at": closed - timedelta(hours=1),
                "last_checked_in_at": closed - timedelta(hours=1),
                "completed_at": closed,
                "closed_at": closed,
                "resolution_code": "fixed",
                "version": 7,
            }
        )
    ids = _insert(conn, models.WorkOrder, rows)
    uses = []
    for row, ident in zip(rows, ids, strict=True):
        row["id"] = ident
        trails.add(row, _steps(row, "closed"), row["closed_at"])
        for code in rng.sample(PARTS, rng.randint(1, 2)):
            uses.append(
                {
                    "work_order_id": ident,
                    "part_code": code,
                    "quantity": 1,
                    "from_van": True,
                    "off_van": False,
                    "actor": "bench",
                    "role": "technician",
                    "technician_id": row["technician_id"],
                    "at": row["closed_at"],
                }
            )
    _append(conn, models.PartUse, uses)
    return len(rows)


def seed(container: Container, server: Server, args: argparse.Namespace) -> Seeded:
    """The store as the module says, and a technician's token each (signed with the server's
    secret key)."""
    started = time.perf_counter()
    rng = random.Random(args.seed)
    day = utcnow().date()
    zones = [list(ZONES)[n % len(ZONES)] for n in range(args.technicians)]
    with container.new_uow() as uow:
        conn = uow.connection()
        reference = _reference(conn)
        techs: list[dict[str, Any]] = [
            {
                "name": f"Technician {n + 1}",
                "time_zone": zone,
                "home_latitude": ZONES[zone][0],
                "home_longitude": ZONES[zone][1],
                "skills": [],
                "weekly_hours": {},
                "hours_exceptions": [],
                "van_stock": {code: rng.randint(3, 10) for code in rng.sample(PARTS, 8)},
            }
            for n, zone in enumerate(zones)
        ]
        for tech, ident in zip(techs, _insert(conn, models.Technician, techs), strict=True):
            tech["id"] = ident
        per = args.orders_per_technician
        places = _places(conn, len(techs) * per, [z for z in zones for _ in range(per)], rng)
        trails = Trails()
        orders = _day_orders(conn, args, techs, day, places, reference, trails)
        history = _history(conn, args, techs, places, reference, trails, rng)
        _append(conn, models.AuditEvent, trails.events)
        _append(conn, models.TechnicianChange, trails.feed)
        uow.commit()
        out = []
        by_technician: dict[int, list[dict[str, Any]]] = {tech["id"]: [] for tech in techs}
        for order in orders:
            by_technician[order["technician_id"]].append(order)
        for tech in techs:
            issued = tokens.issue(
                uow,
                server.secret_key,
                role="technician",
                subject=f"bench-tech-{tech['id']}",
                technician_id=tech["id"],
                ttl_hours=24,
            )
            mine = by_technician[tech["id"]]
            out.append(
                {
                    "id": tech["id"],
                    "token": issued.token,
                    "orders": len(mine),
                    "in_progress": [[o["id"], o["asset_id"]] for o in mine if o["visits"]],
                    "versions": {str(o["id"]): o["version"] for o in mine if o["visits"]},
                    "van": sorted(tech["van_stock"]),
                }
            )
    if container.engine.dialect.name == "postgresql":
        with container.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    office = [[o["id"], o["version"]] for o in orders if o["status"] == "dispatched"]
    rng.shuffle(office)
    return Seeded(day, out, office, len(orders), history, time.perf_counter() - started)


# --- the requests (sent from the load generator's processes) -----------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def send_day(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """A random technician's day; every one of their orders must be in it."""
    tech = client.rng.choice(client.spec["technicians"])
    path = f"/api/v1/me/day?date={client.spec['day']}"
    async with session.get(path, headers=_auth(tech["token"])) as resp:
        body = await resp.read()
    if resp.status != 200:
        return False, f"HTTP {resp.status}"
    got = len(json.loads(body)["orders"])
    if got != tech["orders"]:
        return False, f"a day of {got} orders, not {tech['orders']}"
    return True, ""


async def send_changes(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """A random technician's device asks what changed since its last answer; a delta with
    something in it is kept (how many orders)."""
    tech = client.rng.choice(client.spec["technicians"])
    since = client.state.get(tech["id"], client.spec["since"])
    path = f"/api/v1/me/changes?since={since}"
    async with session.get(path, headers=_auth(tech["token"])) as resp:
        body = await resp.read()
    if resp.status != 200:
        return False, f"HTTP {resp.status}"
    delta = json.loads(body)
    client.state[tech["id"]] = delta["sync_token"]
    if delta["orders"] or delta["removed"]:
        client.kept.append(len(delta["orders"]) + len(delta["removed"]))
    return True, ""


async def send_office(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """The office edits the next order's description (its version known: each order is
    edited once a round of them, and nothing else here moves a dispatched order)."""
    orders: list[list[int]] = client.spec["orders"]
    index = client.state.get("next", 0)
    client.state["next"] = index + 1
    ident, version = orders[index % len(orders)]
    headers = _auth(client.spec["token"]) | {"If-Match": f'"{version + index // len(orders)}"'}
    body = {"description": f"Customer called: {uuid.uuid4().hex[:12]}"}
    async with session.patch(f"/api/v1/work-orders/{ident}", json=body, headers=headers) as resp:
        await resp.read()
    return resp.status == 200, f"HTTP {resp.status}"


def batch(tech: dict[str, Any], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` ops of one technician on their in-progress orders, kinds in turn."""
    now = datetime.now(UTC)
    out = []
    for index in range(count):
        ident, asset = tech["in_progress"][index % len(tech["in_progress"])]
        at = now - timedelta(seconds=count - index)
        op: dict[str, Any] = {
            "op_id": str(uuid.uuid4()),
            "at": at.isoformat(),
            "work_order_id": ident,
            "base_version": tech["versions"][str(ident)],
        }
        kind = index % 5
        if kind == 0:
            op |= {"kind": "note", "text": f"Replaced the seal, pressure back at {index} bar"}
        elif kind == 1:
            op |= {
                "kind": "part_used",
                "part_code": rng.choice(tech["van"]),
                "quantity": 1,
                "from_van": True,
            }
        elif kind == 2:
            start = at - timedelta(minutes=30)
            op |= {
                "kind": "labour",
                "activity": "work",
                "start": start.isoformat(),
                "end": at.isoformat(),
            }
        elif kind == 3:
            op |= {
                "kind": "reading",
                "asset_id": asset,
                "measure": "pressure",
                "value": round(rng.uniform(1, 2), 2),
                "unit": "bar",
            }
        else:
            op |= {"kind": "checklist", "items": {rng.choice(CHECKLIST): True}}
        out.append(op)
    return out


async def send_ops(session: aiohttp.ClientSession, client: Client) -> tuple[bool, str]:
    """One upload of ``ops`` ops by the next technician; every op must be applied."""
    techs = client.spec["technicians"]
    index = client.state.get("next", 0)
    client.state["next"] = index + 1
    tech = techs[index % len(techs)]
    sent = batch(tech, client.spec["ops"], client.rng)
    body = {"device_id": f"bench-{tech['id']}", "ops": sent}
    async with session.post("/api/v1/me/ops", json=body, headers=_auth(tech["token"])) as resp:
        answer = await resp.read()
    if resp.status != 200:
        return False, f"HTTP {resp.status}"
    results = json.loads(answer)["results"]
    for op, result in zip(sent, results, strict=True):  # what the device saw last
        tech["versions"][str(op["work_order_id"])] = result["version"]
    refused = [r for r in results if r["status"] != "applied"]
    if refused:
        return False, f"{len(refused)} ops {refused[0]['status']}: {refused[0]['reason']}"
    return True, ""


# --- the phases --------------------------------------------------------------------------------


@dataclass
class Phase:
    backend: str
    name: str
    load: Load
    notes: list[str] = field(default_factory=list)
    misses_also: list[str] = field(default_factory=list)  # what the load alone does not show
    statements: int | None = None  # one request's, its handler run in this process
    plan: list[str] = field(default_factory=list)  # and their plan
    alone: Load | None = None  # the same requests over one connection, nothing else running

    @property
    def error_kinds(self) -> Counter[str]:
        alone = Counter() if self.alone is None else self.alone.errors
        return self.load.errors + Counter({f"alone: {k}": n for k, n in alone.items()})

    @property
    def errors(self) -> int:
        return sum(self.error_kinds.values())

    @property
    def misses(self) -> list[str]:
        out = (
            [
                f"p{percent} >= {ms:.0f} ms"
                for percent, ms in FLOORS[self.name].under_ms
                if not self.load.ms(percent) < ms
            ]
            if self.name in FLOORS
            else []
        )
        if self.errors:
            out.append("errors")
        return out + self.misses_also


def _shares(items: list[Any], clients: int) -> list[list[Any]]:
    return [items[n::clients] for n in range(clients)]


def _closed(
    server: Server,
    send: Send,
    specs: list[dict[str, Any]],
    args: argparse.Namespace,
    concurrency: int,
) -> Load:
    return run_load(
        server,
        send,
        specs,
        concurrency=concurrency,
        warmup=args.warmup,
        duration=args.duration,
        windows=args.windows,
        seed=args.seed,
    )


def _alone(
    server: Server, send: Send, spec: dict[str, Any], args: argparse.Namespace
) -> Load | None:
    """The requests once more over one connection with nothing else running: the time one
    takes, apart from the queue 32 connections make (None with ``--alone-duration 0``)."""
    if args.alone_duration <= 0:
        return None
    return run_load(
        server,
        send,
        [spec],
        concurrency=1,
        warmup=args.warmup,
        duration=args.alone_duration,
        windows=1,
        seed=args.seed,
    )


def day_phase(
    backend: str, server: Server, container: Container, seeded: Seeded, args: argparse.Namespace
) -> Phase:
    clients = max(1, min(args.clients, args.concurrency))
    day = seeded.day.isoformat()
    specs = [{"technicians": share, "day": day} for share in _shares(seeded.technicians, clients)]
    load = _closed(server, send_day, specs, args, args.concurrency)
    alone = _alone(server, send_day, {"technicians": seeded.technicians, "day": day}, args)
    with statements(container) as ran, container.new_uow() as uow:
        packet.day(uow, _technician(seeded.technicians[0]["id"]), seeded.day)
    notes = [f"{len(ran)} statements a day"]
    return Phase(backend, "day", load, notes=notes, alone=alone, statements=len(ran))


def _newest_change(container: Container) -> int:
    with container.engine.connect() as conn:
        table = models.table_of(models.TechnicianChange)
        return int(conn.execute(select(func.max(table.c.id))).scalar() or 0)


def changes_phase(
    backend: str, server: Server, container: Container, seeded: Seeded, args: argparse.Namespace
) -> list[Phase]:
    """The devices' polls, closed loop, while the office edits at its rate in a thread of
    this process (its load from a process of its own), started first and ending after."""
    since = packet.encode_token(_newest_change(container))
    office: dict[str, Any] = {}

    def edit() -> None:
        try:
            office["load"] = run_load(
                server,
                send_office,
                [{"token": server.token, "orders": seeded.office}],
                concurrency=8,
                warmup=args.warmup,
                duration=args.duration + 3,
                windows=args.windows,
                rate=args.office_rate,
                seed=args.seed,
            )
        except Exception as exc:  # raised again in the benchmark's thread, below
            office["failed"] = exc

    thread = threading.Thread(target=edit, name="office")
    thread.start()
    clients = max(1, min(args.clients, args.concurrency))
    specs = [
        {"technicians": share, "since": since} for share in _shares(seeded.technicians, clients)
    ]
    try:
        polls = _closed(server, send_changes, specs, args, args.concurrency)
    finally:
        thread.join()
    if "failed" in office:
        raise RuntimeError("the office's load failed") from office["failed"]
    edits: Load = office["load"]
    kept = edits.per_s >= OFFICE_SHARE * args.office_rate
    newest = packet.encode_token(_newest_change(container))
    alone = _alone(server, send_changes, {"technicians": seeded.technicians, "since": newest}, args)
    changes = Phase(
        backend,
        "changes",
        polls,
        alone=alone,
        notes=[f"{len(polls.kept):,} deltas not empty"],
        misses_also=[] if kept and not edits.errors else [f"the office's {args.office_rate:g}/s"],
    )
    office_phase = Phase(
        backend,
        "office",
        edits,
        notes=[f"PATCHes asked at {args.office_rate:g}/s"],
        misses_also=[] if kept else [f"< {OFFICE_SHARE:.0%} of {args.office_rate:g}/s"],
    )
    return [changes, office_phase, empty_delta(backend, container, seeded, since)]


@contextlib.contextmanager
def statements(container: Container) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on the store meanwhile (transaction control left out), with their
    parameters: what a handler called in this process costs the database."""
    ran: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            ran.append((statement, parameters))

    event.listen(container.engine, "before_cursor_execute", capture)
    try:
        yield ran
    finally:
        event.remove(container.engine, "before_cursor_execute", capture)


def _technician(technician_id: int) -> Actor:
    return Actor(
        subject=f"bench-tech-{technician_id}", role=Role.TECHNICIAN, technician_id=technician_id
    )


@dataclass
class Explained:
    statements: int
    plan: list[str]
    indexed: bool


def explain_empty_delta(container: Container, technician_id: int, since: str) -> Explained:
    """``GET /me/changes`` for a technician with nothing new, in this process on the same
    store: the statements it runs (captured from the engine; beside them the route runs the
    token check every route makes), and the plan of each (its scans)."""
    with statements(container) as ran, container.new_uow() as uow:
        answer = packet.changes(uow, _technician(technician_id), since)
    if answer["orders"] or answer["removed"]:
        raise RuntimeError(f"an empty delta was expected, not {len(answer['orders'])} orders")
    postgres = container.engine.dialect.name == "postgresql"
    plan: list[str] = []
    with container.engine.connect() as conn:
        for statement, parameters in ran:
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            lines = [str(row[0] if postgres else row[-1]).strip() for row in rows]
            plan += [line for line in lines if "Scan" in line or line.startswith(SQLITE_READS)]
    full_scan = [
        line
        for line in plan
        if "Seq Scan on technician_changes" in line
        or (line.startswith("SCAN technician_changes") and "INDEX" not in line)
    ]
    return Explained(len(ran), plan, not full_scan)


def _unchanged(container: Container, seeded: Seeded, since: str) -> tuple[int, str]:
    """A technician none of whose orders changed after the sync token ``since``, and that
    token; when every one's did, the first technician and the feed's newest token."""
    table = models.table_of(models.TechnicianChange)
    query = select(table.c.technician_id).where(table.c.id > packet.decode_token(since))
    with container.engine.connect() as conn:
        changed = set(conn.execute(query.distinct()).scalars())
    idle = [t["id"] for t in seeded.technicians if t["id"] not in changed]
    if idle:
        return idle[0], since
    return seeded.technicians[0]["id"], packet.encode_token(_newest_change(container))


def empty_delta(backend: str, container: Container, seeded: Seeded, since: str) -> Phase:
    """The empty delta of a technician whose orders did not change while the office worked,
    asked with the token their device held before (the feed has moved on since)."""
    explained = explain_empty_delta(container, *_unchanged(container, seeded, since))
    misses = [] if explained.statements == 1 else [f"{explained.statements} statements"]
    if not explained.indexed:
        misses.append("a full scan of the feed")
    nothing = Load([], [], Counter(), [], None, None)
    read = "indexed" if explained.indexed else "a full scan"
    return Phase(
        backend,
        "empty delta",
        nothing,
        notes=[f"{explained.statements} statement(s), {read}"],
        misses_also=misses,
        statements=explained.statements,
        plan=explained.plan,
    )


def ops_phase(
    backend: str, server: Server, container: Container, seeded: Seeded, args: argparse.Namespace
) -> Phase:
    clients = max(1, min(args.clients, args.ops_concurrency))
    techs = [t for t in seeded.technicians if t["in_progress"]]
    specs = [{"technicians": share, "ops": args.ops} for share in _shares(techs, clients)]
    load = _closed(server, send_ops, specs, args, args.ops_concurrency)
    tech = techs[-1]
    with statements(container) as ran, container.new_uow() as uow:
        ops.submit(uow, _technician(tech["id"]), "bench", batch(tech, args.ops, random.Random()))
    notes = [f"{load.per_s * args.ops:,.0f} ops/s", f"{len(ran):,} statements an upload"]
    return Phase(backend, "ops", load, notes=notes, statements=len(ran))


@contextlib.contextmanager
def deployment(
    backend: str, url: str | None, workdir: Path, workers: int | None = None
) -> Iterator[tuple[Server, Container]]:
    """The server on the backend's database (``workers``: its ``--workers``; None: its
    default), and a container on the same store for the benchmark's own reads and writes
    (seeding, tokens, the empty delta)."""
    url = url or f"sqlite:///{workdir / 'bench.db'}"
    with (
        running_server(url, workdir, workers=workers) as server,
        store(url, workdir) as container,
    ):
        yield server, container


def bench_backend(backend: str, url: str | None, args: argparse.Namespace) -> list[Phase]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fb_field_bench_{backend}_"))
    try:
        args.busy[backend] = busy = machine_busy()
        warn_if_busy(busy, backend)
        console.print(f"[bold]{backend}[/bold]: migrating, issuing a token, starting the server")
        with deployment(backend, url, workdir, args.workers) as (server, container):
            seeded = seed(container, server, args)
            args.seeded[backend] = seeded
            console.print(
                f"  server pid {server.process.pid} on {server.base}; seeded "
                f"{len(seeded.technicians):,} technicians, {seeded.orders:,} orders of "
                f"{seeded.day}, {seeded.history:,} closed in {seeded.seconds:.1f} s"
            )
            phases: list[Phase] = []
            for name in args.phases:
                if name == "day":
                    phases.append(day_phase(backend, server, container, seeded, args))
                elif name == "changes":
                    phases += changes_phase(backend, server, container, seeded, args)
                else:
                    phases.append(ops_phase(backend, server, container, seeded, args))
                for phase in phases[-3 if name == "changes" else -1 :]:
                    console.print(f"  {_line(phase)}")
            if server.process.poll() is not None:
                console.print(f"[red]the server died:[/red]\n{server.log.read_text()[-2000:]}")
            return phases
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- output -------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _line(phase: Phase) -> str:
    load = phase.load
    if not load.window_per_s:
        return f"{phase.name:12} {'; '.join(phase.notes)}"
    return (
        f"{phase.name:12} {load.per_s:8,.1f}/s  p50 {_ms(load.ms(50)):>6} ms  "
        f"p95 {_ms(load.ms(95)):>6} ms  errors {phase.errors}  {'; '.join(phase.notes)}"
    )


def served(workers: int | None) -> str:
    """How the server ran, for the table's title."""
    if workers is None:
        return "the server's default workers"
    return "one server process" if workers == 1 else f"{workers} server workers"


def print_table(phases: list[Phase], args: argparse.Namespace) -> None:
    table = Table(
        title=(
            f"fieldbridge field execution, {served(args.workers)}: {args.technicians:,} "
            f"technicians x {args.orders_per_technician} orders, {args.concurrency} "
            f"connections over {args.clients} client process(es), {args.windows} x "
            f"{args.duration / args.windows:.1f} s windows per phase; alone: one connection, "
            f"nothing else running, {args.alone_duration:g} s"
        )
    )
    columns = ["backend", "phase", "requests/s", "windows req/s", "p50 ms", "p95 ms"]
    columns += ["p95 alone ms", "errors", "server CPU", "steal", "floor", "verdict", "notes"]
    for name in columns:
        table.add_column(name, justify="right" if name.endswith(("/s", "ms", "CPU")) else "left")
    for phase in phases:
        load, misses = phase.load, phase.misses
        verdict = (
            "[green]met[/green]"
            if not misses
            else f"[bold red]MISSED[/bold red] ({', '.join(misses)})"
        )
        floor = {
            "day": FLOORS["day"].label,
            "changes": FLOORS["changes"].label + ", office kept",
            "ops": FLOORS["ops"].label,
            "empty delta": "1 indexed read",
            "office": f">={OFFICE_SHARE * args.office_rate:.1f}/s",
        }[phase.name]
        table.add_row(
            phase.backend,
            phase.name,
            f"{load.per_s:,.1f}" if load.window_per_s else "-",
            " / ".join(f"{w:,.1f}" for w in load.window_per_s) or "-",
            _ms(load.ms(50)),
            _ms(load.ms(95)),
            "-" if phase.alone is None else _ms(phase.alone.ms(95)),
            f"[bold red]{phase.errors}[/bold red]" if phase.errors else "0",
            "-" if load.server_cpu is None else f"{load.server_cpu:.0%}",
            "-" if load.steal is None else f"{load.steal:.0%}",
            floor,
            verdict,
            "; ".join(phase.notes),
        )
    console.print(table)
    for phase in phases:
        for line in phase.plan:
            console.print(f"{phase.backend} {phase.name}'s plan: {line}", markup=False)
    say_outcome([(f"{p.backend} {p.name}", p.error_kinds, p.misses) for p in phases])


KEYS = {  # each phase's figures: the prefix of its latencies, the name of its rate
    "day": ("day", "day_requests_per_s"),
    "changes": ("changes", "changes_requests_per_s"),
    "office": ("office", "office_changes_per_s"),
    "ops": ("ops_batch", "ops_batches_per_s"),
}


def flat_json(phases: list[Phase], args: argparse.Namespace, skipped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "technicians": args.technicians,
        "orders_per_technician": args.orders_per_technician,
        "orders": args.technicians * args.orders_per_technician,
        "ops_per_batch": args.ops,
        "office_changes_per_s_asked": args.office_rate,
        "server_workers": args.workers,  # None: the server's default
    } | run_figures(args, skipped)
    for backend, seeded in args.seeded.items():
        out[f"{backend}_history_orders"] = seeded.history
        out[f"{backend}_seed_s"] = round(seeded.seconds, 1)
    for phase in phases:
        figures: dict[str, Any] = {}
        if phase.name == "empty delta":
            figures["empty_delta_statements"] = phase.statements
            figures["empty_delta_floor_met"] = not phase.misses
            out |= by_backend(phase.backend, figures, first=False)
            continue
        (key, rate), load = KEYS[phase.name], phase.load
        figures[rate] = round(load.per_s, 1)
        figures[f"{key}_p50_ms"] = rounded_ms(load.ms(50))
        figures[f"{key}_p95_ms"] = rounded_ms(load.ms(95))
        if phase.alone is not None:
            figures[f"{key}_p95_alone_ms"] = rounded_ms(phase.alone.ms(95))
        figures[f"{key}_errors"] = phase.errors
        if phase.statements is not None:
            figures[f"{key}_statements"] = phase.statements
        figures |= usage_figures(key, load.server_cpu, load.steal)
        if phase.name == "changes":
            figures["changes_nonempty_deltas"] = len(load.kept)
        if phase.name == "ops":
            figures["ops_batches"] = len(load.latency_ms)
        figures[f"{phase.name}_floor_met"] = not phase.misses
        out |= by_backend(phase.backend, figures, first=False)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.set_defaults(backends="postgresql")
    add = parser.add_argument
    add("--technicians", type=int, default=500, help="technicians seeded")
    add("--orders-per-technician", type=int, default=15, help="orders of each one's day")
    add("--in-progress", type=int, default=2, help="of them checked in (the ops' orders)")
    add("--history", type=int, default=2, help="closed orders on each asset")
    add("--duration", type=float, default=10, help="measured seconds per phase")
    add("--warmup", type=float, default=2, help="unmeasured seconds per phase")
    add("--windows", type=int, default=3, help="windows per phase (median)")
    add("--concurrency", type=int, default=32, help="connections in flight (day, changes)")
    add("--clients", type=int, default=2, help="load-generator processes")
    add("--alone-duration", type=float, default=5, help="seconds over one connection; 0: none")
    add("--office-rate", type=float, default=20, help="office edits a second (changes)")
    add("--ops", type=int, default=100, help="ops in one upload")
    add("--ops-concurrency", type=int, default=1, help="uploads in flight")
    add("--phases", default=",".join(PHASES), help="comma-separated")
    add("--seed", type=int, default=1, help="random seed")
    add("--workers", type=int, help="the server's --workers (default: the server's default)")
    args = parser.parse_args(argv)
    parse_backends(parser, args)
    args.busy, args.seeded = {}, {}
    parse_phases(parser, args, PHASES)
    positive = (
        args.technicians,
        args.orders_per_technician,
        args.in_progress,
        args.duration,
        args.windows,
        args.concurrency,
        args.clients,
        args.office_rate,
        args.ops,
        args.ops_concurrency,
        1 if args.workers is None else args.workers,
    )
    if min(positive) <= 0 or args.history < 0:
        parser.error("every size, duration and rate must be positive (--history may be 0)")
    if args.in_progress > args.orders_per_technician:
        parser.error("--in-progress: at most --orders-per-technician")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(
        args,
        lambda backend, url: bench_backend(backend, url, args),
        lambda results: print_table(results, args),
        lambda results, skipped: flat_json(results, args, skipped),
    )


if __name__ == "__main__":
    sys.exit(main())
