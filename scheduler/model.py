"""The planning problem and its plan: the JSON format of ``fieldbridge plan``.

A problem is one working day of a set of technicians and the jobs to give them. Every time
is an ISO 8601 date-time with its UTC offset (a plan is shown in each technician's IANA time
zone); every duration names its unit. Job windows bound when work *starts* (the customer is
told "we arrive between 08:00 and 12:00"). A malformed problem is refused by pydantic with
an error that names the item and the field (``fieldbridge plan`` and the API print them);
one nobody can fully serve still gets a plan, with a reason for every job left out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

_ZONES = frozenset(available_timezones())


def _zone(value: str) -> str:
    if value not in _ZONES:
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Zone = Annotated[str, AfterValidator(_zone)]
Priority = Annotated[int, Field(ge=1, le=5, description="1 is the most urgent, 5 the least")]
Quantities = dict[Key, Annotated[int, Field(ge=1)]]
Stock = dict[Key, Annotated[int, Field(ge=0)]]

PRIORITY_WEIGHT = {1: 16, 2: 8, 3: 4, 4: 2, 5: 1}
"""What a job of each priority is worth when plans are compared: a priority-1 job counts as
much as two of priority 2, and so on (``Totals.priority_weighted_share``)."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    index: int | None = Field(
        default=None, ge=0, description="this place's row in travel.matrix_s, when one is given"
    )


class Window(Model):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Certification(Model):
    code: Key
    issued_on: date | None = None
    expires_on: date | None = Field(default=None, description="last day it is valid")

    def valid_on(self, day: date) -> bool:
        return (self.issued_on is None or self.issued_on <= day) and (
            self.expires_on is None or day <= self.expires_on
        )


class Break(Model):
    window: Window = Field(description="when the break may start")
    minutes: int = Field(gt=0, le=24 * 60)


class Technician(Model):
    id: Key
    time_zone: Zone
    start: Place = Field(description="where the day starts (home or depot)")
    end: Place | None = Field(default=None, description="where it ends; the start if omitted")
    shift: Window
    skills: list[Key] = []
    certifications: list[Certification] = []
    breaks: list[Break] = []
    max_working_minutes: int | None = Field(
        default=None, gt=0, description="most minutes of on-site work (job durations) in the day"
    )
    van_stock: Stock = {}
    hourly_cost: float = Field(default=1.0, gt=0, description="weighs this technician's travel")
    territory: Key | None = Field(
        default=None, description="works only jobs of this territory; any job if omitted"
    )

    @model_validator(mode="after")
    def _breaks_fit_the_shift(self) -> Technician:
        for index, rule in enumerate(self.breaks):
            earliest = max(rule.window.start, self.shift.start)
            if (
                rule.window.end < self.shift.start
                or earliest + timedelta(minutes=rule.minutes) > self.shift.end
            ):
                raise ValueError(
                    f"breaks.{index}.window: a {rule.minutes}-minute break due then cannot be "
                    "taken inside the shift"
                )
        return self

    @property
    def day(self) -> date:
        """The day worked, in the technician's time zone: certifications must hold on it."""
        return self.shift.start.astimezone(ZoneInfo(self.time_zone)).date()

    @property
    def home_end(self) -> Place:
        return self.end or self.start


class Job(Model):
    id: Key
    location: Place
    duration_s: int = Field(gt=0, le=24 * 3600, description="how long the work takes")
    windows: list[Window] = Field(
        default=[], description="when work may start; any time in a shift if empty"
    )
    skills: list[Key] = []
    certifications: list[Key] = Field(default=[], description="codes valid on the job's day")
    priority: Priority = 3
    parts: Quantities = {}
    pinned_technician: Key | None = None
    pinned_start: AwareDatetime | None = Field(
        default=None, description="work starts exactly then (with pinned_technician)"
    )
    preferred_technician: Key | None = None
    territory: Key | None = Field(
        default=None, description="only technicians of this territory (or of none) may do it"
    )

    @model_validator(mode="after")
    def _pinned_start_needs_technician(self) -> Job:
        if self.pinned_start is not None and self.pinned_technician is None:
            raise ValueError("pinned_start needs pinned_technician")
        return self


class Travel(Model):
    """Travel times: the caller's matrix (whole seconds, rows and columns by ``Place.index``)
    or, without one, the great-circle distance times ``road_factor`` at ``speed_kmh``."""

    matrix_s: list[list[Annotated[int, Field(ge=0)]]] | None = None
    speed_kmh: float = Field(default=40.0, gt=0, le=200)
    road_factor: float = Field(default=1.3, ge=1, le=5)


class Problem(Model):
    technicians: list[Technician]
    jobs: list[Job]
    travel: Travel = Travel()

    @model_validator(mode="after")
    def _consistent(self) -> Problem:
        techs = _unique("technicians", [t.id for t in self.technicians])
        _unique("jobs", [j.id for j in self.jobs])
        for index, job in enumerate(self.jobs):
            for name in ("pinned_technician", "preferred_technician"):
                tech = getattr(job, name)
                if tech is not None and tech not in techs:
                    raise ValueError(f"jobs.{index}.{name}: no technician {tech!r}")
        matrix = self.travel.matrix_s
        if matrix is not None:
            size = len(matrix)
            if any(len(row) != size for row in matrix):
                raise ValueError("travel.matrix_s: not a square matrix")
            for where, place in self._places():
                if place.index is None or place.index >= size:
                    raise ValueError(
                        f"{where}.index: needs a row of travel.matrix_s (0..{size - 1})"
                    )
        return self

    def _places(self) -> list[tuple[str, Place]]:
        out = []
        for index, tech in enumerate(self.technicians):
            out.append((f"technicians.{index}.start", tech.start))
            if tech.end is not None:
                out.append((f"technicians.{index}.end", tech.end))
        out += [(f"jobs.{n}.location", job.location) for n, job in enumerate(self.jobs)]
        return out


def _unique(what: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for index, ident in enumerate(ids):
        if ident in seen:
            raise ValueError(f"{what}.{index}.id: {ident!r} is used twice")
        seen.add(ident)
    return seen


# --- the plan -----------------------------------------------------------------------------------

ReasonCode = Literal[
    "no_technician",
    "territory",
    "skill",
    "certification",
    "parts",
    "window",
    "capacity",
    "dropped",
]


class Stop(Model):
    job: str
    arrival: datetime
    start: datetime
    end: datetime
    travel_s: int = Field(description="driving from the previous place")


class BreakTaken(Model):
    start: datetime
    end: datetime


class Route(Model):
    technician: str
    start: datetime = Field(description="leaves the start place")
    end: datetime = Field(description="back at the end place")
    stops: list[Stop]
    breaks: list[BreakTaken]
    travel_s: int
    work_s: int = Field(description="on-site work, the jobs' durations")


class Unassigned(Model):
    job: str
    code: ReasonCode
    reason: str


class Totals(Model):
    jobs: int
    assigned: int
    travel_s: int
    priority_weighted_share: float = Field(description="assigned jobs' weight / all jobs' weight")
    travel_s_per_job: float | None = Field(
        default=None, description="travel_s per assigned job; none (null or left out) when none is"
    )
    preferred_jobs: int = Field(default=0, description="jobs that name a preferred technician")
    preferred_kept: int = Field(default=0, description="of those, done by that technician")

    @classmethod
    def of(cls, jobs: list[Job], routes: list[Route]) -> Totals:
        """The totals of ``routes`` for a problem's ``jobs``."""
        weight = {j.id: PRIORITY_WEIGHT[j.priority] for j in jobs}
        preferred = {j.id: j.preferred_technician for j in jobs if j.preferred_technician}
        served = [(s.job, r.technician) for r in routes for s in r.stops]
        travel_s = sum(r.travel_s for r in routes)
        total = sum(weight.values())
        done = sum(weight.get(j, 0) for j, _ in served)
        return cls(
            jobs=len(jobs),
            assigned=len(served),
            travel_s=travel_s,
            priority_weighted_share=round(done / total, 6) if total else 1.0,
            travel_s_per_job=round(travel_s / len(served), 1) if served else None,
            preferred_jobs=len(preferred),
            preferred_kept=sum(preferred.get(j) == t for j, t in served),
        )


class Plan(Model):
    engine: str
    seconds: float
    routes: list[Route]
    unassigned: list[Unassigned]
    totals: Totals
