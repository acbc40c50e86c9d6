"""Planning the day from the store: schedule runs and their timelines.

``POST /schedule/runs`` answers 202 at once with the run's ``Location``; the run goes on
in the background (the container's background mode) and ``GET /schedule/runs/{id}`` shows its
status, progress and, when done, the plan and what became of each order.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from starlette.requests import Request

from api import problems
from api.deps import PathId, Uow, allow, get_container
from api.problems import ApiProblem
from api.schemas import InsertIn, ReplanIn, ScheduleRunIn, ScheduleRunList, ScheduleRunPublic
from orchestrator.domain.lifecycle import Actor
from orchestrator.planning import changes, runs
from scheduler.gantt import gantt_svg

router = APIRouter(prefix="/schedule", tags=["scheduling"])
routers = [router]
Planner = Annotated[Actor, allow(runs.PLANNERS, "plan the day")]
NO_PLAN = "the day has no plan yet: ask for a schedule run first"


@router.post(
    "/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ScheduleRunPublic,
    response_model_exclude_none=True,
)
async def request_run(
    body: ScheduleRunIn, uow: Uow, actor: Planner, request: Request, response: Response
) -> Any:
    """Plan a day: 202 and the run's ``Location``; poll it for progress and the plan."""
    out = await uow.run(
        runs.request_run,
        runs.RequestScheduleRun(
            day=body.date,
            actor=actor,
            territories=tuple(body.territories),
            time_limit_s=body.time_limit_s,
            engine=body.engine,
        ),
    )
    get_container(request).submit_run(out["id"])  # after the commit: it exists
    response.headers["Location"] = f"/api/v1/schedule/runs/{out['id']}"
    return out


@router.get("/runs", response_model=ScheduleRunList, response_model_exclude_none=True)
def list_runs(
    uow: Uow,
    actor: Planner,
    date: Annotated[dt.date | None, Query(description="runs of this day only")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The latest runs first, without their plans: which version of a day is in force."""
    with uow:
        return runs.list_runs(uow, actor, date, limit)


@router.get("/runs/{ident}", response_model=ScheduleRunPublic, response_model_exclude_none=True)
def read_run(ident: PathId, uow: Uow, actor: Planner) -> Any:
    """Status (queued, running, done, failed), progress, then the plan and each order's fate."""
    with uow:  # a whole day's plan: in the threadpool
        return runs.get_run(uow, ident, actor)


@router.get(
    "/runs/{ident}/gantt",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "an SVG timeline"},
        **problems.responses({409: "the run has no plan yet: poll it until it is done"}),
    },
)
def gantt(ident: PathId, uow: Uow, actor: Planner) -> Response:
    """The run's plan as an SVG timeline: one row per technician."""
    with uow:
        stored = runs.stored_run(uow, ident, actor)
    if stored is None:
        raise ApiProblem(409, f"schedule run {ident} has no plan yet: poll it until it is done")
    plan, problem = stored
    svg = gantt_svg(plan, problem, title=f"Schedule run {ident}")
    return Response(svg, media_type="image/svg+xml")


@router.post(
    "/insert",
    responses=problems.responses(
        {
            404: "no work order has this work_order_id",
            409: f"the order is not triaged; or {NO_PLAN}",
        }
    ),
)
def insert_urgent(body: InsertIn, uow: Uow, actor: Planner, request: Request) -> Any:
    """Place one triaged order into the day's plan in force, now, moving no other order to
    another technician; the day is then re-optimised in the background."""
    container = get_container(request)
    with uow:
        out = changes.insert_urgent(
            uow,
            changes.InsertUrgent(body.work_order_id, actor, body.date),
            window_min=container.settings.appointment_window_min,
        )
    if "reoptimisation_run_id" in out:
        container.submit_run(out["reoptimisation_run_id"])
    return out


@router.post("/replan", responses=problems.responses({409: NO_PLAN}))
def replan(body: ReplanIn, uow: Uow, actor: Planner, request: Request) -> Any:
    """A technician unavailable from a time, or a job running late: the rest of the day
    planned again, started work kept, and every moved order listed with the reason."""
    with uow:
        return changes.replan_day(
            uow,
            changes.Replan(
                actor=actor,
                day=body.date,
                technician_id=body.technician_id,
                unavailable_from=body.unavailable_from,
                work_order_id=body.work_order_id,
                late_minutes=body.late_minutes,
                as_of=body.as_of,
                time_limit_s=body.time_limit_s,
            ),
            window_min=get_container(request).settings.appointment_window_min,
        )
