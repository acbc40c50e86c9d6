"""A problem compiled for the engines: integer seconds, one travel matrix, and who may do what.

Times become seconds after ``epoch`` (midnight UTC before the earliest shift). Places become
rows of one matrix: technicians' start and end places first, then jobs'. Eligibility (skills,
certifications valid on the technician's day, pinned technician, parts on the van, a window
reachable in the shift) is decided here, once, so that every engine sees the same rules and
every job nobody may do gets one reason a dispatcher understands.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from scheduler import travel
from scheduler.model import Job, Problem, ReasonCode, Technician


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    text: str


@dataclass
class Instance:
    problem: Problem
    epoch: datetime
    shifts: list[tuple[int, int]]  # per technician, seconds after epoch
    breaks: list[list[tuple[int, int, int]]]  # per technician: (earliest, latest start, seconds)
    windows: list[list[tuple[int, int]]]  # per job: when work may start (all day: every shift)
    service: list[int]  # per job, seconds
    eligible: list[list[int]]  # per job, the technicians who may do it
    why_not: dict[int, Reason] = field(default_factory=dict)  # jobs nobody may do
    go: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    back: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    @cached_property
    def durations(self) -> NDArray[np.int64]:
        """Seconds between every two places (rows: see start_row, end_row, job_row). Made
        when an engine first asks: a whole city's day would not fit in memory."""
        techs = self.technicians
        places = [t.start for t in techs] + [t.home_end for t in techs]
        return travel.matrix(self.problem.travel, places + [j.location for j in self.jobs])

    def subset(self, techs: list[int], jobs: list[int]) -> Instance:
        """The same rules for some technicians and jobs only (renumbered in the given order),
        without compiling again; jobs keep only the technicians kept."""
        renumber = {t: n for n, t in enumerate(techs)}
        problem = Problem.model_construct(
            technicians=[self.technicians[t] for t in techs],
            jobs=[self.jobs[j] for j in jobs],
            travel=self.problem.travel,
        )
        return Instance(
            problem=problem,
            epoch=self.epoch,
            shifts=[self.shifts[t] for t in techs],
            breaks=[self.breaks[t] for t in techs],
            windows=[self.windows[j] for j in jobs],
            service=[self.service[j] for j in jobs],
            eligible=[[renumber[t] for t in self.eligible[j] if t in renumber] for j in jobs],
            why_not={n: self.why_not[j] for n, j in enumerate(jobs) if j in self.why_not},
            go=self.go[np.ix_(techs, jobs)],
            back=self.back[np.ix_(jobs, techs)],
        )

    def legs(self, tech: int, jobs: list[int]) -> list[int]:
        """Seconds of each drive of technician ``tech`` doing ``jobs`` in order: to each job,
        then home. Read from ``durations`` when an engine made it; else only these legs."""
        rows = [self.start_row(tech), *(self.job_row(j) for j in jobs), self.end_row(tech)]
        if "durations" in self.__dict__:
            return [int(self.durations[a, b]) for a, b in pairwise(rows)]
        technician = self.technicians[tech]
        return travel.route(
            self.problem.travel,
            [technician.start, *(self.jobs[j].location for j in jobs), technician.home_end],
        )

    @property
    def technicians(self) -> list[Technician]:
        return self.problem.technicians

    @property
    def jobs(self) -> list[Job]:
        return self.problem.jobs

    def start_row(self, tech: int) -> int:
        return tech

    def end_row(self, tech: int) -> int:
        return len(self.technicians) + tech

    def job_row(self, job: int) -> int:
        return 2 * len(self.technicians) + job

    def at(self, seconds: int) -> datetime:
        return self.epoch + timedelta(seconds=int(seconds))

    def seconds(self, when: datetime) -> int:
        return int((when - self.epoch).total_seconds())


def compile_problem(problem: Problem) -> Instance:
    techs, jobs = problem.technicians, problem.jobs
    starts = [t.shift.start for t in techs] or [w.start for j in jobs for w in j.windows]
    first = min(starts, default=datetime(2000, 1, 1, tzinfo=UTC)).astimezone(UTC)
    epoch = first.replace(hour=0, minute=0, second=0, microsecond=0)

    def secs(when: datetime) -> int:
        return int((when - epoch).total_seconds())

    sites = [j.location for j in jobs]
    shifts = [(secs(t.shift.start), secs(t.shift.end)) for t in techs]
    breaks = [  # a break starts inside the shift and ends by its end (the model checks it can)
        [
            (
                max(secs(b.window.start), start),
                min(secs(b.window.end), end - b.minutes * 60),
                b.minutes * 60,
            )
            for b in t.breaks
        ]
        for t, (start, end) in zip(techs, shifts, strict=True)
    ]
    instance = Instance(
        problem=problem,
        epoch=epoch,
        shifts=shifts,
        breaks=breaks,
        windows=[],
        service=[j.duration_s for j in jobs],
        eligible=[],
        go=travel.between(problem.travel, [t.start for t in techs], sites),
        back=travel.between(problem.travel, sites, [t.home_end for t in techs]),
    )
    horizon = (min((s for s, _ in shifts), default=0), max((e for _, e in shifts), default=0))
    for job_index, job in enumerate(jobs):
        if job.pinned_start is not None:
            at = secs(job.pinned_start)
            windows = [(at, at)]
        elif job.windows:
            windows = [(secs(w.start), secs(w.end)) for w in job.windows]
        else:
            windows = [horizon]
        instance.windows.append(sorted(windows))
        eligible, reason = _eligibility(instance, job_index)
        instance.eligible.append(eligible)
        if reason is not None:
            instance.why_not[job_index] = reason
    return instance


def _eligibility(inst: Instance, job_index: int) -> tuple[list[int], Reason | None]:
    """The technicians who may do job ``job_index``; when there are none, why, in the terms of
    the first rule that leaves nobody (skills, certifications, pinning, parts, time)."""
    job = inst.jobs[job_index]
    candidates = list(range(len(inst.technicians)))
    if not candidates:
        return [], Reason("no_technician", "no technician is on shift in this problem")
    if job.pinned_technician is not None:
        candidates = [t for t in candidates if inst.technicians[t].id == job.pinned_technician]
    if job.territory is not None:
        left = [t for t in candidates if inst.technicians[t].territory in (None, job.territory)]
        if not left:
            return [], Reason("territory", _nobody(job, f"works territory {job.territory!r}"))
        candidates = left
    for skill in job.skills:
        left = [t for t in candidates if skill in inst.technicians[t].skills]
        if not left:
            return [], Reason("skill", _nobody(job, f"holds skill {skill!r}"))
        candidates = left
    for code in job.certifications:
        holders = [
            t for t in candidates if any(c.code == code for c in inst.technicians[t].certifications)
        ]
        if not holders:
            return [], Reason("certification", _nobody(job, f"holds certification {code!r}"))
        valid = [
            t
            for t in holders
            if any(
                c.code == code and c.valid_on(inst.technicians[t].day)
                for c in inst.technicians[t].certifications
            )
        ]
        if not valid:
            return [], Reason(
                "certification",
                f"certification {code!r} is not valid on the day for any "
                f"{'of its holders' if job.pinned_technician is None else 'pinned technician'}"
                " (expired or not yet issued)",
            )
        candidates = valid
    if job.parts:
        left = [t for t in candidates if _stocked(inst.technicians[t], job)]
        if not left:
            need = ", ".join(f"{sku} x{n}" for sku, n in sorted(job.parts.items()))
            return [], Reason("parts", f"parts on no eligible van: {need}")
        candidates = left
    limit = [
        t
        for t in candidates
        if inst.technicians[t].max_working_minutes is None
        or job.duration_s <= 60 * (inst.technicians[t].max_working_minutes or 0)
    ]
    if not limit:
        return [], Reason(
            "capacity", f"{job.duration_s / 60:g} min is more work than any day allows"
        )
    candidates = limit
    reachable = [t for t in candidates if _reachable(inst, t, job_index)]
    if not reachable:
        return [], Reason(
            "window",
            "window unreachable in any shift: no eligible technician can start it in a window "
            "and be back by the end of the shift",
        )
    return reachable, None


def _nobody(job: Job, what: str) -> str:
    if job.pinned_technician is not None:
        return f"the pinned technician {job.pinned_technician!r} no longer {what}"
    return f"no technician {what}"


def _stocked(tech: Technician, job: Job) -> bool:
    stock = Counter(tech.van_stock)
    return all(stock[sku] >= n for sku, n in job.parts.items())


def _reachable(inst: Instance, tech: int, job_index: int) -> bool:
    """Alone in technician ``tech``'s day (breaks ignored), could job ``job_index`` start in a
    window?"""
    shift_start, shift_end = inst.shifts[tech]
    go = int(inst.go[tech, job_index])
    back = int(inst.back[job_index, tech])
    earliest = shift_start + go
    latest = shift_end - back - inst.service[job_index]
    return any(max(a, earliest) <= min(b, latest) for a, b in inst.windows[job_index])
