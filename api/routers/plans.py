"""``POST /api/v1/plans``: planning as a service, a problem in the scheduler's JSON format in
and its checked plan out, without the store."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request

from api.deps import allow
from api.problems import ApiProblem
from orchestrator.domain.lifecycle import Actor, Role
from scheduler import ENGINES, solve
from scheduler.model import Plan, Problem
from scheduler.routes import EngineRefused

router = APIRouter(prefix="/plans", tags=["planning"])
PLANNERS = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.INTEGRATION)
MAX_TIME_LIMIT_S = 120.0


@router.post("", response_model=Plan)
def plan(
    request: Request,
    problem: Problem,
    _: Annotated[Actor, allow(PLANNERS, "plan")],
    engine: Annotated[str, Query(description=f"one of {', '.join(ENGINES)}")] = ENGINES[0],
    time_limit_s: Annotated[
        float | None,
        Query(gt=0, le=MAX_TIME_LIMIT_S, description="default: 2 s, 1 s more per 20 jobs"),
    ] = None,
) -> Any:
    """Plan a day: routes per technician and a reason for every job left out. A day nobody
    can fully serve still gets a plan; a malformed one is 422 naming the item and field."""
    if engine not in ENGINES:
        raise ApiProblem(
            422,
            f"invalid input: engine must be one of {', '.join(ENGINES)}",
            errors=[{"field": "engine", "in": "query", "reason": f"one of {', '.join(ENGINES)}"}],
        )
    try:  # CPU-bound for up to time_limit_s: a plain def route runs in the threadpool
        return solve.solve(
            problem,
            engine=cast(solve.Engine, engine),
            time_limit_s=time_limit_s,
            workers=request.app.state.planning_cores,  # this process's share of the cores
        )
    except EngineRefused as exc:
        raise ApiProblem(
            422,
            exc.reason,
            errors=[{"field": "engine", "in": "query", "reason": exc.reason}],
        ) from None
