"""No login: health, the status page by tracking code, and service requests (rate limited)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.runtime.bootstrap import bootstrap
from tests.support.databases import make_settings
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order


def test_health_and_docs_need_no_login(api: Api) -> None:
    health = api.call("GET", "/health", None, expect=200).json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert api.call("GET", "/docs", None).status_code == 200
    spec = api.call("GET", "/openapi.json", None, expect=200).json()
    assert "/api/v1/work-orders/{ident}/transitions" in spec["paths"]


def test_a_citizen_reports_without_login_and_follows_the_status(
    api: Api, world: World, move: Mover
) -> None:
    accepted = api.call(
        "POST",
        "/api/v1/service-requests",
        None,
        json={
            "description": "Burst main flooding the road outside no. 4",
            "contact": {"name": "Zoe Citizen", "phone": "+49 30 1234567"},
            "site_id": world.site_id,
        },
        expect=201,
    ).json()
    code = accepted["tracking_code"]
    assert "work_order_id" not in accepted or accepted["work_order_id"] is None
    status = api.call("GET", f"/status/{code}", None, expect=200).json()
    assert status["status"] == "new" and status["appointment_window"] is None
    # The dispatcher finds it among new orders and books it.
    orders = api.call("GET", "/api/v1/work-orders?status=new", world.dispatcher).json()["items"]
    oid = next(o["id"] for o in orders if o["tracking_code"] == code)
    advance(api, world, move, oid, "scheduled")
    status = api.call("GET", f"/status/{code}", None, expect=200).json()
    assert status["status"] == "scheduled"
    assert status["appointment_window"] == {
        "start": "2026-06-10T09:00:00+02:00",
        "end": "2026-06-10T11:00:00+02:00",
        "time_zone": "Europe/Berlin",
    }
    page = api.client.get(f"/status/{code}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "Appointment booked" in page.text
    for leak in ("Zoe", "Citizen", "1234567", "Burst main", "Tess", "Pump house", "Acme"):
        assert leak not in str(status) and leak not in page.text, leak


def test_unknown_tracking_codes_are_404(api: Api) -> None:
    response = api.call("GET", "/status/FB-NOPE0-NOPE0", None)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_orders_created_by_the_office_have_a_tracking_code_too(api: Api, world: World) -> None:
    order = new_order(api, world)
    assert api.call("GET", f"/status/{order['tracking_code']}", None).json()["status"] == "new"


def test_service_requests_are_validated_by_field(api: Api) -> None:
    response = api.call(
        "POST", "/api/v1/service-requests", None, json={"description": "", "colour": "red"}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"description", "colour"}


def test_technicians_may_not_raise_service_requests(api: Api, world: World) -> None:
    response = api.call(
        "POST", "/api/v1/service-requests", world.tech_token, json={"description": "A leak"}
    )
    assert response.status_code == 403


def test_status_and_service_requests_are_rate_limited_per_client(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, status_rate_per_min=3, service_request_rate_per_min=2
    )
    container = bootstrap(settings)
    try:
        with TestClient(create_app(container=container)) as client:
            codes = [client.get("/status/FB-AAAAA-AAAAA").status_code for _ in range(4)]
            assert codes == [404, 404, 404, 429]
            limited = client.get("/status/FB-AAAAA-AAAAA")
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.headers["content-type"].startswith("application/problem+json")
            posts = [
                client.post("/api/v1/service-requests", json={"description": "leak"}).status_code
                for _ in range(3)
            ]
            assert posts == [201, 201, 429]
    finally:
        container.dispose()
