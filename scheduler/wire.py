"""A part's race as JSON: what crosses the broker in the production mode.

``auto.solve`` hands each part of the day to ``auto.race``; the production mode runs those
calls in other processes as Celery tasks, through Redis. What crosses is plain JSON, checked
when it arrives: the part's technicians, jobs and travel as the problem's own models, the
compiled numbers as whole seconds and indices, and the routes that come back as
``EngineRoute``s. Never a pickle: whoever can write to the broker (an unauthenticated Redis
is common) would run code on every worker. Anything else is refused (``Refused``) before an
engine sees it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from scheduler.instance import Instance, Reason
from scheduler.model import Job, Problem, Technician, Travel
from scheduler.routes import EngineRoute

__all__ = ["Refused", "dump_race", "dump_routes", "load_race", "load_routes"]

Seconds = int
Race = tuple[str, Instance, float, float, int]
"""``auto.race``'s arguments: engine, part, share_s, deadline, threads."""


class Refused(ValueError):
    """What came over the broker is not a part's race (or its routes) in JSON: refused, and
    nothing in it run."""


class _Part(BaseModel):
    """An ``Instance`` in JSON (its travel-time cache left out: the engine makes it again)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    technicians: list[Technician]
    jobs: list[Job]
    travel: Travel
    epoch: AwareDatetime
    shifts: list[tuple[Seconds, Seconds]]
    breaks: list[list[tuple[Seconds, Seconds, Seconds]]]
    windows: list[list[tuple[Seconds, Seconds]]]
    service: list[Seconds]
    eligible: list[list[int]]
    why_not: dict[int, Reason]
    go: list[list[Seconds]] = Field(description="technician x job: from the start place")
    back: list[list[Seconds]] = Field(description="job x technician: to the end place")

    @model_validator(mode="after")
    def _sizes_agree(self) -> _Part:
        techs, jobs = len(self.technicians), len(self.jobs)
        sizes = {
            "shifts": (len(self.shifts), techs),
            "breaks": (len(self.breaks), techs),
            "windows": (len(self.windows), jobs),
            "service": (len(self.service), jobs),
            "eligible": (len(self.eligible), jobs),
            "go": (len(self.go), techs),
            "back": (len(self.back), jobs),
        }
        for name, (given, wanted) in sizes.items():
            if given != wanted:
                raise ValueError(f"{name}: {given} rows for {wanted}")
        if any(len(row) != jobs for row in self.go) or any(len(row) != techs for row in self.back):
            raise ValueError("go, back: not a technician x job matrix")
        if any(not 0 <= tech < techs for allowed in self.eligible for tech in allowed):
            raise ValueError("eligible: a technician index out of range")
        if any(not 0 <= job < jobs for job in self.why_not):
            raise ValueError("why_not: a job index out of range")
        return self


class _Race(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["pyvrp", "vroom"]
    part: _Part
    share_s: float = Field(ge=0)
    deadline: float
    threads: int = Field(ge=1)


_ROUTES: TypeAdapter[list[EngineRoute] | None] = TypeAdapter(list[EngineRoute] | None)


def dump_race(engine: str, part: Instance, share_s: float, deadline: float, threads: int) -> Any:
    """``auto.race``'s arguments as JSON values (for a task's message)."""
    wire = _Part.model_construct(
        technicians=part.technicians,
        jobs=part.jobs,
        travel=part.problem.travel,
        epoch=part.epoch,
        shifts=part.shifts,
        breaks=part.breaks,
        windows=part.windows,
        service=part.service,
        eligible=part.eligible,
        why_not=part.why_not,
        go=part.go.tolist(),
        back=part.back.tolist(),
    )
    return {
        "engine": engine,
        "part": wire.model_dump(mode="json"),
        "share_s": share_s,
        "deadline": deadline,
        "threads": threads,
    }


def load_race(message: object) -> Race:
    """``auto.race``'s arguments from a task's message, checked; ``Refused`` if it is not one
    ``dump_race`` could have made."""
    try:
        race = _Race.model_validate(message)
    except ValidationError as exc:
        raise Refused(f"not a part's race in JSON: {exc}") from None
    part = race.part
    techs, jobs = len(part.technicians), len(part.jobs)
    instance = Instance(
        # the part's own models, each checked; not the whole day's rules (a job may prefer a
        # technician of another part), as ``Instance.subset`` makes it
        problem=Problem.model_construct(
            technicians=part.technicians, jobs=part.jobs, travel=part.travel
        ),
        epoch=part.epoch,
        shifts=list(part.shifts),
        breaks=[list(rules) for rules in part.breaks],
        windows=[list(windows) for windows in part.windows],
        service=list(part.service),
        eligible=[list(allowed) for allowed in part.eligible],
        why_not=dict(part.why_not),
        go=np.array(part.go, dtype=np.int64).reshape(techs, jobs),
        back=np.array(part.back, dtype=np.int64).reshape(jobs, techs),
    )
    return race.engine, instance, race.share_s, race.deadline, race.threads


def dump_routes(routes: list[EngineRoute] | None) -> Any:
    """A race's answer as JSON values (for a task's result)."""
    return _ROUTES.dump_python(routes, mode="json")


def load_routes(message: object) -> list[EngineRoute] | None:
    """A race's answer from a task's result, checked; ``Refused`` if it is not one."""
    try:
        return _ROUTES.validate_python(message)
    except ValidationError as exc:
        raise Refused(f"not a part's routes in JSON: {exc}") from None
