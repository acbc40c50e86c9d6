"""Solomon VRPTW instances: read them, pose them as our own problem, judge routes exactly.

A Solomon instance is a fleet (VEHICLE NUMBER, CAPACITY) and a table of customers (CUST NO.,
XCOORD., YCOORD., DEMAND, READY TIME, DUE DATE, SERVICE TIME), customer 0 being the depot.
Travel time is the Euclidean distance, one unit of distance per unit of time; service starts
in [READY TIME, DUE DATE] (arriving early means waiting); every route leaves and comes back
to the depot within its window and carries at most CAPACITY.

``to_problem`` expresses an instance as a ``Problem`` (one technician per vehicle, one job per
customer, the load as a part on the van) so that it goes through the same engines and the same
validator as a field-service day. Times become whole seconds, ``scale`` seconds per unit, and
every rounding leans the safe way: each leg is rounded *up*, a window's opening up and its
close down, so a plan feasible in whole seconds is feasible in exact doubles. ``evaluate``
then judges routes independently in exact doubles (tolerance 1e-3 units), the convention under
which the published best-known distances (``read_bks``) are compared. ``measure`` does the
whole for one instance: it solves it through an engine and judges the routes.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from scheduler.model import Job, Place, Plan, Problem, Technician, Travel, Window
from scheduler.solve import Engine, solve

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Time 0 of every instance."""
MAX_SCALE = 1000
"""Seconds per time unit when the instance allows it (rounding then costs at most 0.001
units per leg)."""
TOLERANCE = 1e-3
"""Time units a service start or a return may run late in ``evaluate`` (floating point)."""
MAX_SERVICE_S = 24 * 3600
"""The longest job ``scheduler.model.Job.duration_s`` accepts."""
MAX_TIME_S = 2**31 - 1
"""Every time and every sum of legs stays below this: VROOM takes durations and costs as
uint32 (and refuses an instance whose cost bound, a sum of row maxima, overflows); PyVRP's
limit (2**44) is far above."""

_COLUMNS = "CUST NO., XCOORD., YCOORD., DEMAND, READY TIME, DUE DATE, SERVICE TIME"


class SolomonFormatError(ValueError):
    """The text is not a Solomon instance; ``line`` is 1-based (None: the text as a whole)."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True)
class Customer:
    number: int
    x_coord: float
    y_coord: float
    demand: int
    ready: float
    due: float
    service: float


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    vehicles: int
    capacity: int
    depot: Customer
    customers: tuple[Customer, ...]  # in file order, the depot excluded

    def customer(self, number: int) -> Customer:
        """The customer (or, for 0, the depot) with this number; KeyError if there is none."""
        return self._by_number[number]

    @cached_property
    def _by_number(self) -> dict[int, Customer]:
        return {c.number: c for c in (self.depot, *self.customers)}

    @property
    def horizon(self) -> float:
        return self.depot.due


def distance(frm: Customer, to: Customer) -> float:
    """The exact Euclidean distance (and travel time) between two customers, in doubles."""
    return math.hypot(frm.x_coord - to.x_coord, frm.y_coord - to.y_coord)


# --- reading --------------------------------------------------------------------------------


def load(path: str | Path) -> SolomonInstance:
    """Read and parse an instance file. OSError if it cannot be read; SolomonFormatError
    naming the file (and the line) if it is not an instance."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SolomonFormatError(str(path), line, "not a text file (not UTF-8)") from None
    return parse(text, source=str(path))


def parse(text: str, *, source: str = "<text>") -> SolomonInstance:
    """Parse the text of an instance: a name line, the VEHICLE NUMBER/CAPACITY section, then
    one row of seven numbers per customer under the CUSTOMER headings, the depot (0) first.
    Blank lines and heading lines (no numbers) are skipped; anything else that does not fit
    raises SolomonFormatError with the line."""
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1)]
    rows = [(n, tokens) for n, tokens in rows if tokens]
    if not rows:
        raise SolomonFormatError(source, None, "empty: no instance name, fleet or customers")
    name_line, name_tokens = rows[0]
    name = " ".join(name_tokens)
    fleet: tuple[int, int] | None = None
    table: list[Customer] = []
    seen: dict[int, int] = {}  # customer number -> line
    for line_no, tokens in rows[1:]:
        numbers = [_number(t) for t in tokens]
        if all(x is None for x in numbers):
            if table:
                raise SolomonFormatError(
                    source, line_no, f"expected a customer row ({_COLUMNS}), found {_show(tokens)}"
                )
            continue  # a heading: VEHICLE, NUMBER CAPACITY, CUSTOMER, CUST NO. ...
        if any(x is None for x in numbers):
            bad = tokens[next(i for i, x in enumerate(numbers) if x is None)]
            raise SolomonFormatError(source, line_no, f"{bad!r} is not a number")
        values = [x for x in numbers if x is not None]
        if fleet is None:
            if len(values) != 2:
                raise SolomonFormatError(
                    source,
                    line_no,
                    f"expected the fleet: VEHICLE NUMBER and CAPACITY (2 numbers), "
                    f"found {len(values)}",
                )
            vehicles = _whole(values[0], "VEHICLE NUMBER", source, line_no, least=1)
            capacity = _whole(values[1], "CAPACITY", source, line_no, least=0)
            fleet = (vehicles, capacity)
            continue
        if len(values) != 7:
            raise SolomonFormatError(
                source, line_no, f"expected 7 numbers ({_COLUMNS}), found {len(values)}"
            )
        number = _whole(values[0], "CUST NO.", source, line_no, least=0)
        x_coord, y_coord = values[1], values[2]
        demand = _whole(values[3], "DEMAND", source, line_no, least=0)
        ready, due, service = values[4], values[5], values[6]
        if ready < 0:
            raise SolomonFormatError(source, line_no, f"READY TIME {ready:g} is negative")
        if due < ready:
            raise SolomonFormatError(
                source, line_no, f"DUE DATE {due:g} is before READY TIME {ready:g}"
            )
        if service < 0:
            raise SolomonFormatError(source, line_no, f"SERVICE TIME {service:g} is negative")
        if not table and number != 0:
            raise SolomonFormatError(
                source, line_no, f"the first row must be the depot (CUST NO. 0), found {number}"
            )
        if number in seen:
            raise SolomonFormatError(
                source, line_no, f"customer {number} is listed twice (first on line {seen[number]})"
            )
        seen[number] = line_no
        table.append(Customer(number, x_coord, y_coord, demand, ready, due, service))
    if fleet is None:
        raise SolomonFormatError(
            source, None, f"no VEHICLE NUMBER/CAPACITY row after the name on line {name_line}"
        )
    if not table:
        raise SolomonFormatError(source, None, f"no customer rows ({_COLUMNS})")
    depot, customers = table[0], tuple(table[1:])
    if depot.demand or depot.service:
        raise SolomonFormatError(
            source, seen[0], "the depot (CUST NO. 0) must have DEMAND 0 and SERVICE TIME 0"
        )
    return SolomonInstance(name, fleet[0], fleet[1], depot, customers)


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole(value: float, what: str, source: str, line: int, *, least: int) -> int:
    if value != int(value) or value < least:
        raise SolomonFormatError(
            source, line, f"{what} must be a whole number of at least {least}, found {value:g}"
        )
    return int(value)


def _show(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_bks(path: str | Path) -> dict[str, float]:
    """Best-known distances by instance name, from a CSV with columns ``instance`` and
    ``distance_only_bks`` (rows without a value are left out). OSError if unreadable;
    ValueError naming the file and line if malformed."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as csv_file:
            return _bks_rows(path, csv.DictReader(csv_file))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not UTF-8)") from None


def _bks_rows(path: Path, reader: csv.DictReader[str]) -> dict[str, float]:
    columns = reader.fieldnames or []
    for column in ("instance", "distance_only_bks"):
        if column not in columns:
            raise ValueError(f"{path}, line 1: no {column!r} column (found {list(columns)})")
    out: dict[str, float] = {}
    for row in reader:
        name = (row["instance"] or "").strip()
        value = (row["distance_only_bks"] or "").strip()
        if not name or not value:
            continue
        bks = _number(value)
        if bks is None or bks <= 0:
            raise ValueError(
                f"{path}, line {reader.line_num}: distance_only_bks {value!r} "
                "is not a positive number"
            )
        out[name] = bks
    return out


# --- our problem ----------------------------------------------------------------------------


def safe_scale(instance: SolomonInstance) -> int:
    """The largest whole number of seconds per unit, up to ``MAX_SCALE``, at which the
    instance fits: every service at most ``MAX_SERVICE_S`` (C instances' 90-unit services
    allow 960) and every time and cost bound below ``MAX_TIME_S``."""
    service = max((c.service for c in instance.customers), default=0.0)
    candidates = [MAX_SCALE]
    if service > 0:
        candidates.append(math.floor(MAX_SERVICE_S / service))
    reach = _reach(instance)
    if reach > 0:
        candidates.append(math.floor(MAX_TIME_S / reach))
    scale = min(candidates)
    while scale >= 1 and _unfit(instance, scale):
        scale -= 1
    if scale < 1:
        raise ValueError(f"{instance.name}: too long to express in whole seconds")
    return scale


def _reach(instance: SolomonInstance) -> float:
    """An upper bound, in units, of any time and of VROOM's cost bound (every place's
    longest leg, summed over the jobs and twice over the vehicles)."""
    places = (instance.depot, *instance.customers)
    longest = max(max(distance(a, b) for b in places) for a in places)
    bound = (len(instance.customers) + 2 * instance.vehicles) * longest
    return max(instance.horizon, bound) + 1.0


def _unfit(instance: SolomonInstance, scale: int) -> str | None:
    service = max((c.service for c in instance.customers), default=0.0)
    if math.ceil(service * scale) > MAX_SERVICE_S:
        return f"a service of {service:g} units is more than {MAX_SERVICE_S} s"
    if math.ceil(_reach(instance) * scale) > MAX_TIME_S:
        return f"times and travel reach past {MAX_TIME_S} s"
    return None


def to_problem(instance: SolomonInstance, scale: int | None = None) -> Problem:
    """The instance as our problem, at ``scale`` seconds per unit (``safe_scale`` if None).

    One technician per vehicle ("v1".."vN"), starting and ending at the depot, shift = the
    depot's window; one job per customer (id = its number) whose window bounds the start of
    service, duration = its service time, demand as parts {"load": demand} against a van
    stock {"load": CAPACITY}. Travel is an explicit matrix (row 0 the depot, then customers
    in file order) of ceil(exact distance x scale). Windows open at ceil(ready x scale) and
    close at floor(due x scale); a service of 0 lasts 1 s (a job must last). Every rounding
    can only make a plan later, so one feasible in seconds is feasible in exact units.
    """
    if scale is None:
        scale = safe_scale(instance)
    elif scale < 1:
        raise ValueError(f"scale must be at least 1 second per unit, not {scale}")
    else:
        why = _unfit(instance, scale)
        if why is not None:
            raise ValueError(f"{instance.name}: scale {scale} does not fit: {why}")

    def at(units: float, rounding: str) -> datetime:
        seconds = math.ceil(units * scale) if rounding == "up" else math.floor(units * scale)
        return EPOCH + timedelta(seconds=seconds)

    places = (instance.depot, *instance.customers)
    matrix = [[0 if a is b else math.ceil(distance(a, b) * scale) for b in places] for a in places]
    depot = instance.depot
    shift = Window(start=at(depot.ready, "up"), end=at(depot.due, "down"))
    stock = {"load": instance.capacity} if instance.capacity > 0 else {}
    technicians = [
        Technician(
            id=f"v{v}",
            time_zone="UTC",
            start=Place(lat=0.0, lon=0.0, index=0),
            shift=shift,
            van_stock=stock,
        )
        for v in range(1, instance.vehicles + 1)
    ]
    jobs = []
    for row, customer in enumerate(instance.customers, start=1):
        opens, closes = at(customer.ready, "up"), at(customer.due, "down")
        if closes < opens:
            raise ValueError(
                f"{instance.name}: customer {customer.number}'s window "
                f"[{customer.ready:g}, {customer.due:g}] holds no whole second at scale {scale}"
            )
        jobs.append(
            Job(
                id=str(customer.number),
                location=Place(lat=0.0, lon=0.0, index=row),
                duration_s=max(1, math.ceil(customer.service * scale)),
                windows=[Window(start=opens, end=closes)],
                priority=3,
                parts={"load": customer.demand} if customer.demand > 0 else {},
            )
        )
    return Problem(technicians=technicians, jobs=jobs, travel=Travel(matrix_s=matrix))


def routes_of(plan: Plan) -> list[list[int]]:
    """The plan's routes as customer numbers (the depot left out), empty routes dropped."""
    return [[int(stop.job) for stop in route.stops] for route in plan.routes if route.stops]


# --- judging routes -------------------------------------------------------------------------


def evaluate(
    instance: SolomonInstance, routes: Sequence[Sequence[int]]
) -> tuple[float, bool, list[str]]:
    """Total exact Euclidean distance of the routes (each from the depot, through its
    customers, back to the depot), whether they are feasible in exact doubles, and what is
    wrong when not: every customer served exactly once, at most VEHICLE NUMBER routes, each
    within CAPACITY, service starting at max(arrival, READY TIME) no later than DUE DATE and
    every vehicle back by the depot's DUE DATE (both to ``TOLERANCE``), leaving at its READY
    TIME. Unknown customer numbers are reported and left out of the distance."""
    reasons: list[str] = []
    depot = instance.depot
    used = [r for r in routes if r]
    if len(used) > instance.vehicles:
        reasons.append(f"{len(used)} routes, the fleet has {instance.vehicles} vehicles")
    served: Counter[int] = Counter()
    total = 0.0
    for route_no, route in enumerate(routes, start=1):
        if not route:
            continue
        known = []
        for number in route:
            served[number] += 1
            if number == depot.number:
                reasons.append(f"route {route_no}: visits the depot as a customer")
                continue
            try:
                known.append(instance.customer(number))
            except KeyError:
                reasons.append(f"route {route_no}: no customer {number}")
        load = sum(c.demand for c in known)
        if load > instance.capacity:
            reasons.append(f"route {route_no}: carries {load}, the capacity is {instance.capacity}")
        clock, here = depot.ready, depot
        for customer in known:
            leg = distance(here, customer)
            total += leg
            arrival = clock + leg
            start = max(arrival, customer.ready)
            if start > customer.due + TOLERANCE:
                reasons.append(
                    f"route {route_no}: customer {customer.number} starts at {start:.4f}, "
                    f"due {customer.due:g}"
                )
            clock, here = start + customer.service, customer
        leg = distance(here, depot)
        total += leg
        if clock + leg > depot.due + TOLERANCE:
            reasons.append(
                f"route {route_no}: back at {clock + leg:.4f}, the depot closes {depot.due:g}"
            )
    for customer in instance.customers:
        if served[customer.number] == 0:
            reasons.append(f"customer {customer.number} is not served")
        elif served[customer.number] > 1:
            reasons.append(f"customer {customer.number} is served {served[customer.number]} times")
    return total, not reasons, reasons


# --- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One instance solved through an engine, its routes judged in exact doubles."""

    instance: str
    engine: str  # the engine the plan names
    seconds: float  # solving, the validator's check included
    routes: list[list[int]]
    distance: float
    feasible: bool  # the routes are feasible in exact doubles and the plan left nobody out
    reasons: list[str]  # what is wrong with the routes, in exact doubles
    best_known: float | None  # the distance-only best-known value, when there is one

    @property
    def gap_pct(self) -> float | None:
        """How far the distance is above the best known, in per cent (None without it)."""
        if self.best_known is None:
            return None
        return 100 * (self.distance - self.best_known) / self.best_known

    def record(self) -> dict[str, Any]:
        """The result as plain data: instance, engine, seconds (to the millisecond),
        vehicles (routes used), distance, routes, feasible and gap_pct."""
        return {
            "instance": self.instance,
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
            "vehicles": len(self.routes),
            "distance": self.distance,
            "routes": self.routes,
            "feasible": self.feasible,
            "gap_pct": self.gap_pct,
        }


def measure(
    instance: SolomonInstance,
    problem: Problem,
    *,
    engine: Engine,
    time_limit_s: float | None = None,
    best_known: float | None = None,
) -> Measured:
    """Solve ``problem`` (``to_problem(instance)``) with ``engine`` as any day is solved, the
    validator included, and judge its routes against ``instance`` with ``evaluate``. Raises
    what ``solve`` raises: ``EngineRefused`` when the engine cannot take the instance,
    ``validate.PlanInvalid`` when its plan breaks a rule."""
    began = time.perf_counter()
    plan = solve(problem, engine=engine, time_limit_s=time_limit_s)
    seconds = time.perf_counter() - began
    routes = routes_of(plan)
    distance, feasible, reasons = evaluate(instance, routes)
    return Measured(
        instance=instance.name,
        engine=plan.engine,
        seconds=seconds,
        routes=routes,
        distance=distance,
        feasible=feasible and not plan.unassigned,
        reasons=reasons,
        best_known=best_known,
    )
