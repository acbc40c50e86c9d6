"""No login: health, the status page by tracking code, and service requests (rate limited)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.runtime.bootstrap import bootstrap
from tests.support.databases import make_settings
from tests.support.http import Api, Mover, World, csp
from tests.support.lifecycle import advance, new_order


def test_health_and_docs_need_no_login(api: Api) -> None:
    health = api.call("GET", "/health", None, expect=200).json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert api.call("GET", "/docs", None).status_code == 200
    spec = api.call("GET", "/openapi.json", None, expect=200).json()
    assert "/api/v1/work-orders/{ident}/transitions" in spec["paths"]


def _publish_code(api: Api, world: World, code: str) -> None:
    """The world's site gets the code the organisation publishes for it."""
    api.call(
        "PATCH",
        f"/api/v1/sites/{world.site_id}",
        world.dispatcher,
        json={"code": code},
        headers={"If-Match": '"1"'},
        expect=200,
    )


def test_a_citizen_reports_without_login_and_follows_the_status(
    api: Api, world: World, move: Mover
) -> None:
    _publish_code(api, world, "PUMP-HOUSE-1")
    accepted = api.call(
        "POST",
        "/api/v1/service-requests",
        None,
        json={
            "description": "Burst main flooding the road outside no. 4",
            "contact": {"name": "Zoe Citizen", "phone": "+49 30 1234567"},
            "site_code": "PUMP-HOUSE-1",
        },
        expect=201,
    ).json()
    code = accepted["tracking_code"]
    assert "work_order_id" not in accepted or accepted["work_order_id"] is None
    status = api.call("GET", f"/status/{code}", None, expect=200).json()
    assert status["status"] == "new" and status["appointment_window"] is None
    # The dispatcher finds it among new orders, at the site the code names, and books it.
    orders = api.call("GET", "/api/v1/work-orders?status=new", world.dispatcher).json()["items"]
    [order] = [o for o in orders if o["tracking_code"] == code]
    assert (order["site_id"], order["customer_id"]) == (world.site_id, world.customer_id)
    oid = order["id"]
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


def test_the_status_page_runs_nothing_and_may_not_be_framed(api: Api, world: World) -> None:
    code = new_order(api, world)["tracking_code"]
    page = api.client.get(f"/status/{code}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = csp(page)
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "script-src" not in policy, "the page has no script"
    [style] = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]
    assert "style=" not in page.text, "no inline style attribute: the policy would block it"


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


def test_public_requests_may_not_name_ids_whether_or_not_they_exist(api: Api, world: World) -> None:
    """Anonymous, or with a requester's token (a customer's login): an outsider either way."""
    answers = {}
    requester = api.token("requester", "rita")
    for field, ident in (
        ("site_id", world.site_id),
        ("site_id", 99999),
        ("customer_id", world.customer_id),
        ("customer_id", 99999),
    ):
        body = {"description": "Leak in the cellar", field: ident}
        for token in (None, requester):
            response = api.call("POST", "/api/v1/service-requests", token, json=body, expect=422)
            assert [e["field"] for e in response.json()["errors"]] == [field]
            answers.setdefault((field, token), set()).add(response.text)
    assert all(len(texts) == 1 for texts in answers.values()), "existence must not show"
    both = {"description": "Leak", "site_id": 99999, "customer_id": world.customer_id}
    response = api.call("POST", "/api/v1/service-requests", None, json=both, expect=422)
    assert {e["field"] for e in response.json()["errors"]} == {"site_id", "customer_id"}
    orders = api.call("GET", "/api/v1/work-orders", world.dispatcher).json()["items"]
    assert orders == [], "a refused request leaves nothing behind"
    # With a token an id may still be named, and one that points at nothing is said so.
    signed_in = {"description": "Leak in the cellar", "site_id": world.site_id}
    api.call("POST", "/api/v1/service-requests", world.dispatcher, json=signed_in, expect=201)


def test_an_unknown_site_code_is_named_and_codes_do_not_mix_with_ids(
    api: Api, world: World
) -> None:
    _publish_code(api, world, "PH-1")
    unknown = api.call(
        "POST",
        "/api/v1/service-requests",
        None,
        json={"description": "Leak in the cellar", "site_code": "PH-2"},
        expect=422,
    ).json()
    assert [e["field"] for e in unknown["errors"]] == ["site_code"]
    both = {"description": "Leak", "site_code": "PH-1", "site_id": world.site_id}
    mixed = api.call("POST", "/api/v1/service-requests", world.dispatcher, json=both, expect=422)
    assert [e["field"] for e in mixed.json()["errors"]] == ["site_code"]


def test_sites_publish_unique_codes(api: Api, world: World) -> None:
    site = {
        "customer_id": world.customer_id,
        "name": "Water tower",
        "address": "2 Hill Rd, Berlin",
        "latitude": 52.5,
        "longitude": 13.4,
        "time_zone": "Europe/Berlin",
    }
    created = api.call(
        "POST", "/api/v1/sites", world.dispatcher, json=site | {"code": "WT-1"}, expect=201
    ).json()
    assert created["code"] == "WT-1"
    other = api.call("GET", f"/api/v1/sites/{world.site_id}", world.dispatcher).json()
    assert other["code"] is None
    taken = api.call("POST", "/api/v1/sites", world.dispatcher, json=site | {"code": "WT-1"})
    assert taken.status_code == 409 and taken.json()["fields"] == ["code"]
    patch = api.call(
        "PATCH",
        f"/api/v1/sites/{world.site_id}",
        world.dispatcher,
        json={"code": "WT-1"},
        headers={"If-Match": '"1"'},
    )
    assert patch.status_code == 409 and patch.json()["fields"] == ["code"]
    _publish_code(api, world, "PH-1")  # the refused PATCH changed nothing: still version 1
    without = api.call("POST", "/api/v1/sites", world.dispatcher, json=site, expect=201).json()
    assert without["code"] is None, "any number of sites may publish no code"


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
