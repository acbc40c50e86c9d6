"""Solve a problem: compile it, run an engine, check the plan, hand it back.

``solve(problem, engine="vroom" | "pyvrp" | "auto", time_limit_s=...)``. When a job names a
preferred technician, the engine gets 90% of the time and ``preferences`` the rest. Whatever
the engine, the plan passes ``validate.check`` before it leaves: an engine's mistake is an
error here, never a plan a dispatcher acts on.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import Executor
from typing import Literal

from pydantic import ValidationError

from scheduler import auto, preferences, pyvrp_engine, validate, vroom_engine
from scheduler.instance import compile_problem
from scheduler.model import Plan, Problem
from scheduler.routes import to_plan

Engine = Literal["auto", "vroom", "pyvrp"]


PREFERENCE_SHARE = 0.1
"""Of the time limit, what the preferred-technician pass keeps when some job names one."""


def solve(
    problem: Problem,
    *,
    engine: Engine = "auto",
    time_limit_s: float | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
) -> Plan:
    """The day's plan by ``engine``; ``auto`` races the engines on each independent part of
    the day, on ``executor`` when given (``scheduler.auto.solve``)."""
    began = time.perf_counter()
    limit = time_limit_s
    wants = any(j.preferred_technician for j in problem.jobs)
    if wants and limit is not None:
        time_limit_s = limit * (1 - PREFERENCE_SHARE)
    inst = compile_problem(problem)
    if engine == "auto":
        left = None if time_limit_s is None else time_limit_s - (time.perf_counter() - began)
        routes = auto.solve(inst, time_limit_s=left, executor=executor, workers=workers)
    elif engine == "vroom":
        routes = vroom_engine.solve(inst, time_limit_s=time_limit_s)
    elif engine == "pyvrp":
        routes = pyvrp_engine.solve(inst, time_limit_s=time_limit_s)  # may raise EngineRefused
    else:
        raise ValueError(f"unknown engine {engine!r}")
    plan = to_plan(inst, routes, engine, time.perf_counter() - began)
    if wants:
        plan = preferences.honour(problem, plan, deadline=limit and began + limit)
        plan = plan.model_copy(update={"seconds": round(time.perf_counter() - began, 3)})
    validate.check(problem, plan)
    return plan


_NAMED = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.+)$", re.DOTALL)
"""A check across fields names the field it is about at the start of its message."""


def describe(error: ValidationError) -> list[str]:
    """Each problem with a problem, as ``jobs.3.windows.0.end: reason``."""
    out = []
    for detail in error.errors(include_url=False):
        loc, msg = [str(p) for p in detail["loc"]], detail["msg"]
        if named := _NAMED.match(msg):
            loc, msg = [*loc, named.group(1)], named.group(2)
        msg = msg.removeprefix("Value error, ")
        out.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return out
