"""Builders for small planning problems: one working day in Berlin unless told otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.model import Plan, Problem, Stop

DAY = "2026-12-07"  # a Monday, CET (+01:00)
HOME = {"lat": 52.52, "lon": 13.40}


def at(hour: int, minute: int = 0, *, day: str = DAY, offset: str = "+01:00") -> str:
    return f"{day}T{hour:02d}:{minute:02d}:00{offset}"


def moment(hour: int, minute: int = 0) -> datetime:
    """``at(hour, minute)`` as a datetime."""
    return datetime.fromisoformat(at(hour, minute))


def window(start: tuple[int, int], end: tuple[int, int], **kw: Any) -> dict[str, str]:
    return {"start": at(*start, **kw), "end": at(*end, **kw)}


def tech(ident: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ident,
        "time_zone": "Europe/Berlin",
        "start": HOME,
        "shift": window((8, 0), (17, 0)),
    }
    out.update(fields)
    return out


def job(ident: str, lat: float = 52.50, lon: float = 13.38, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, "location": {"lat": lat, "lon": lon}, "duration_s": 1800}
    out.update(fields)
    return out


def problem(techs: list[dict[str, Any]], jobs: list[dict[str, Any]], **kw: Any) -> Problem:
    return Problem.model_validate({"technicians": techs, "jobs": jobs, **kw})


def assignment(plan: Plan) -> dict[str, str]:
    """Who does each job the plan routes."""
    return {s.job: r.technician for r in plan.routes for s in r.stops}


def reasons(plan: Plan) -> dict[str, tuple[str, str]]:
    """Each job left out: (code, reason)."""
    return {u.job: (u.code, u.reason) for u in plan.unassigned}


def stop(plan: Plan, ident: str) -> Stop:
    return next(s for r in plan.routes for s in r.stops if s.job == ident)
