"""What needs no login: health, the status page by tracking code, and service requests."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api import headers, problems
from api.deps import OptionalUser, PublicUow, Uow, get_container
from api.ratelimit import limited
from api.schemas import Health, PublicStatus, ServiceRequestAccepted, ServiceRequestIn
from orchestrator.outbox import admin
from orchestrator.work_orders import commands, queries

root = APIRouter(tags=["public"])
v1 = APIRouter(tags=["public"])


@root.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database cannot be reached"}},
)
def health(request: Request) -> Any:
    from importlib.metadata import version

    try:
        with get_container(request).engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # the health check reports, never raises
        database = f"unavailable: {type(exc).__name__}"
    reasons: list[str] = []
    if database == "ok":
        container = get_container(request)
        try:
            with container.new_uow(read_only=True) as uow:
                reasons = admin.alerts(uow, container.settings.outbox_alert_age_s)
        except Exception as exc:  # the health check reports, never raises
            reasons = [f"the outbox cannot be read: {type(exc).__name__}"]
    else:
        reasons = [f"the database is {database}"]
    body = {
        "status": "ok" if not reasons else "degraded",
        "database": database,
        "version": version("fieldbridge"),
        "reasons": reasons,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


@root.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics: the outbox's depth and age by destination, deliveries, dead
    letters, each stream's sync lag, the quarantine, task times
    (``orchestrator.runtime.metrics``)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@root.get(
    "/status/{tracking_code}",
    response_model=PublicStatus,
    dependencies=[Depends(limited("status"))],
    responses={200: {"content": {"text/html": {}}}},
)
async def public_status(tracking_code: str, request: Request, uow: PublicUow) -> Any:
    out = await uow.run(queries.public_status, tracking_code)
    if "text/html" in request.headers.get("accept", ""):
        return headers.page(_status_page(out))  # its one style element, by its hash
    return out


_STYLE = "<style>body{font-family:system-ui;max-width:36rem;margin:3rem auto}</style>"


def _status_page(out: dict[str, Any]) -> str:
    window = out["appointment_window"]
    when = (
        f"<p>Appointment: {html.escape(window['start'])} to {html.escape(window['end'])} "
        f"({html.escape(window['time_zone'])})</p>"
        if window
        else ""
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>Request {html.escape(out['tracking_code'])}</title>{_STYLE}<body>"
        f"<h1>{html.escape(out['status_label'])}</h1>"
        f"<p>Tracking code <b>{html.escape(out['tracking_code'])}</b></p>{when}"
        f"<p><small>Last update {html.escape(out['last_update'].isoformat())}</small></p>"
        "</body></html>"
    )


@v1.post(
    "/service-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceRequestAccepted,
    dependencies=[Depends(limited("service-requests"))],
    responses=problems.responses(
        {
            403: "a technician's token may not submit service requests",
            422: "without a token, `site_id` or `customer_id` named (whether it exists or not), "
            "or a `site_code` no site has",
        }
    ),
)
async def service_request(
    body: ServiceRequestIn, uow: Uow, actor: OptionalUser, response: Response
) -> Any:
    contact = body.contact
    cmd = commands.SubmitServiceRequest(
        description=body.description,
        actor=actor,
        contact_name=contact.name if contact else None,
        contact_phone=contact.phone if contact else None,
        contact_email=contact.email if contact else None,
        address=body.address,
        site_code=body.site_code,
        site_id=body.site_id,
        customer_id=body.customer_id,
    )
    out = await uow.run(commands.submit_service_request, cmd)
    response.headers["Location"] = out["status_url"]
    return out
