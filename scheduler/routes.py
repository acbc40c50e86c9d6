"""What an engine hands back (timed routes by index) and how that becomes a ``Plan``.

Every engine returns ``EngineRoute``s in the instance's seconds; ``to_plan`` turns them into
the published format, gives every job left out its reason, and sums the totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from scheduler.instance import Instance, Reason
from scheduler.model import (
    BreakTaken,
    Plan,
    Route,
    Stop,
    Totals,
    Unassigned,
)


@dataclass
class EngineStop:
    job: int
    arrival: int
    start: int


@dataclass
class EngineRoute:
    technician: int
    start: int  # leaves the start place
    end: int  # back at the end place
    stops: list[EngineStop] = field(default_factory=list)
    breaks: list[tuple[int, int]] = field(default_factory=list)  # (start, seconds)


class EngineRefused(Exception):
    """An engine cannot express this problem; ``reason`` tells a dispatcher why (and which
    technician or job), so another engine can be chosen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def to_plan(inst: Instance, routes: list[EngineRoute], engine: str, seconds: float) -> Plan:
    out: list[Route] = []
    served: dict[int, int] = {}  # job -> technician
    total_travel = 0
    for route in sorted(routes, key=lambda route: route.technician):
        if not route.stops:
            continue
        zone = ZoneInfo(inst.technicians[route.technician].time_zone)

        def at(seconds: int, zone: ZoneInfo = zone) -> datetime:
            return inst.at(seconds).astimezone(zone)

        stops = []
        legs = inst.legs(route.technician, [s.job for s in route.stops])
        for stop, leg in zip(route.stops, legs, strict=False):
            stops.append(
                Stop(
                    job=inst.jobs[stop.job].id,
                    arrival=at(stop.arrival),
                    start=at(stop.start),
                    end=at(stop.start + inst.service[stop.job]),
                    travel_s=leg,
                )
            )
            served[stop.job] = route.technician
        travel_s = sum(legs)
        total_travel += travel_s
        out.append(
            Route(
                technician=inst.technicians[route.technician].id,
                start=at(route.start),
                end=at(route.end),
                stops=stops,
                breaks=[BreakTaken(start=at(b), end=at(b + n)) for b, n in route.breaks],
                travel_s=travel_s,
                work_s=sum(inst.service[s.job] for s in route.stops),
            )
        )
    unassigned = [
        Unassigned(job=inst.jobs[j].id, code=reason.code, reason=reason.text)
        for j in range(len(inst.jobs))
        if j not in served
        for reason in [inst.why_not.get(j) or _left_out(inst, j, served)]
    ]
    return Plan(
        engine=engine,
        seconds=round(seconds, 3),
        routes=out,
        unassigned=unassigned,
        totals=Totals.of(inst.jobs, out),
    )


def _left_out(inst: Instance, job_index: int, served: dict[int, int]) -> Reason:
    """A job someone could do that the plan left out: higher-priority work took the time
    of everyone who could do it, or there was simply no room in their days."""
    job = inst.jobs[job_index]
    eligible = set(inst.eligible[job_index])
    busier = [
        k for k, t in served.items() if t in eligible and inst.jobs[k].priority < job.priority
    ]
    if busier:
        return Reason(
            "dropped",
            f"dropped for higher-priority work: the {len(eligible)} technician(s) who could "
            f"do it are busy with {len(busier)} more urgent job(s)",
        )
    return Reason(
        "capacity",
        f"no room: the {len(eligible)} technician(s) who could do it have no time, parts or "
        "working minutes left for it in its windows",
    )
