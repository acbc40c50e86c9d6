"""The API's documentation as a new user meets it: ``/docs`` works offline, and
``/openapi.json`` says which operations take a token and every error each can answer."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import schemathesis
from fastapi.testclient import TestClient

from tests.support.http import Api, Mover, World, csp
from tests.support.planning import RUNS, run_day, triaged

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetails"}
ASSET_TYPES = {"script": "javascript", "stylesheet": "text/css", "icon": "image/"}


def _spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def _problem_answers(operation: dict[str, Any]) -> dict[str, Any]:
    """Each documented error of ``operation``, by status, as its problem+json schema."""
    return {
        status: answer["content"]["application/problem+json"]["schema"]
        for status, answer in operation["responses"].items()
        if status.startswith("4")
    }


def test_the_docs_page_loads_everything_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text  # no other host, whatever the scheme
    loaded = [("script", src) for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text)]
    for tag in re.findall(r"<link[^>]*>", page.text):
        rel = re.search(r'rel="([^"]+)"', tag)
        href = re.search(r'href="([^"]+)"', tag)
        assert rel and href, tag
        loaded.append(("icon" if "icon" in rel.group(1) else rel.group(1), href.group(1)))
    assert {kind for kind, _ in loaded} == set(ASSET_TYPES)
    for kind, url in loaded:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert ASSET_TYPES[kind] in asset.headers["content-type"], (url, asset.headers)
    assert "url: '/openapi.json'" in page.text
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "://" not in redirect.text


def test_the_docs_pages_run_only_this_servers_scripts_and_their_own(client: TestClient) -> None:
    for url in ("/docs", "/docs/oauth2-redirect"):
        page = client.get(url)
        assert page.headers["x-content-type-options"] == "nosniff", url
        policy = csp(page)
        assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        sources = {source for directive in policy.values() for source in directive}
        assert not [s for s in sources if "://" in s or "*" in s or "eval" in s], sources
        scripts = policy["script-src"]
        assert "'unsafe-inline'" not in scripts, url
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        assert inline, url
        for code in inline:
            digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in scripts, url
    assert "'self'" in csp(client.get("/docs"))["script-src"], "the bundle is this server's"


def test_options_answers_every_method_a_path_takes(client: TestClient) -> None:
    expected = {
        "/api/v1/work-orders/1": "GET, PATCH, OPTIONS",
        "/api/v1/sites/7": "GET, PATCH, OPTIONS",
        "/api/v1/work-orders": "GET, POST, OPTIONS",
        "/api/v1/contacts/1": "GET, OPTIONS",
    }
    for path, allow in expected.items():
        answer = client.options(path)
        assert (answer.status_code, answer.headers["allow"]) == (204, allow), path
    wrong = client.delete("/api/v1/work-orders/1")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, expected["/api/v1/work-orders/1"])
    assert client.options("/api/v1/nowhere").status_code == 404
    for path, operations in _spec(client)["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        allowed = set(client.options(concrete).headers["allow"].split(", "))
        assert {method.upper() for method in operations} <= allowed, path


def test_only_the_pages_assets_are_served_and_redoc_is_off(client: TestClient) -> None:
    # Swagger UI's folder holds a demo page that loads a pet store from the internet.
    for url in ("/docs/assets/index.html", "/docs/assets/swagger-initializer.js", "/redoc"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"] == "application/problem+json"


def test_the_documents_own_routes_are_not_operations_in_it(client: TestClient) -> None:
    paths = _spec(client)["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/openapi", "/redoc"))]


def test_a_bearer_scheme_and_the_operations_that_need_a_token(client: TestClient) -> None:
    spec = _spec(client)
    assert spec["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a token from `fieldbridge token create`",
        }
    }
    listing = spec["paths"]["/api/v1/work-orders"]["get"]
    assert listing["security"] == [{"bearer": []}]
    assert {"401", "422"} <= set(_problem_answers(listing))
    assert _problem_answers(listing)["422"] == PROBLEM_SCHEMA  # not FastAPI's own 422 body
    creating = spec["paths"]["/api/v1/work-orders"]["post"]
    assert creating["security"] == [{"bearer": []}]
    assert {"401", "403", "409", "413", "422"} <= set(_problem_answers(creating))
    forbidden = creating["responses"]["403"]["description"]
    assert "only dispatcher, supervisor, admin, integration may" in forbidden
    intake = spec["paths"]["/api/v1/service-requests"]["post"]
    assert intake["security"] == [{"bearer": []}, {}]  # a token if you have one
    assert {"401", "403", "422", "429"} <= set(_problem_answers(intake))
    status_page = spec["paths"]["/status/{tracking_code}"]["get"]
    assert "security" not in status_page
    assert set(_problem_answers(status_page)) == {"404", "429"}
    assert "Retry-After" in status_page["responses"]["429"]["headers"]
    health = spec["paths"]["/health"]["get"]
    assert "security" not in health
    assert not _problem_answers(health)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = "401" in operation["responses"]
            assert documented == ("security" in operation), (method, path)


def test_every_error_is_documented_as_the_one_problem_schema(client: TestClient) -> None:
    spec = _spec(client)
    errors = [
        (method, path, status, answer["content"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status.startswith("4")
    ]
    assert errors
    expected = {"application/problem+json": {"schema": PROBLEM_SCHEMA}}
    assert [error for error in errors if error[3] != expected] == []
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert {"type", "title", "status", "detail"} <= set(schemas["ProblemDetails"]["required"])
    assert schemas["ProblemDetails"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/FieldProblem"
    }


def test_if_match_uploads_and_paths_say_what_they_can_answer(client: TestClient) -> None:
    paths = _spec(client)["paths"]
    transition = paths["/api/v1/work-orders/{ident}/transitions"]["post"]
    assert {"404", "409", "412", "422", "428"} <= set(_problem_answers(transition))
    assert "`allowed` lists" in transition["responses"]["409"]["description"]
    parameters = {p["name"].lower(): p for p in transition["parameters"]}
    assert parameters["if-match"]["required"] is False  # missing is a 428, not a 422
    assert parameters["idempotency-key"]["in"] == "header"
    upload = paths["/api/v1/work-orders/{ident}/attachments"]["post"]
    assert {"400", "403", "409", "412", "413", "428"} <= set(_problem_answers(upload))
    assert "multipart" in upload["responses"]["400"]["description"]
    reading = paths["/api/v1/work-orders/{ident}"]["get"]
    assert "404" in _problem_answers(reading)
    assert not {"409", "412", "413", "428"} & set(_problem_answers(reading))
    # A reference PATCH needs If-Match as an order's does.
    patching = paths["/api/v1/divisions/{ident}"]["patch"]
    assert {"412", "428"} <= set(_problem_answers(patching))
    verify = paths["/api/v1/audit/verify"]["get"]
    assert set(_problem_answers(verify)) == {"401", "403"}  # no input, nothing to refuse


def test_schema_names_carry_no_module_path(client: TestClient) -> None:
    spec = _spec(client)
    names = set(spec["components"]["schemas"])
    assert [name for name in names if "__" in name] == []
    assert {"Technician", "PlanningTechnician", "Certification", "PlanningCertification"} <= names
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', client.get("/openapi.json").text))
    assert refs <= names


def test_the_answers_are_what_the_document_says(api: Api) -> None:
    spec = _spec(api.client)
    schema = schemathesis.openapi.from_dict(spec)
    admin = api.token("admin")
    requester = api.token("requester")
    not_utf8 = {"headers": {"content-type": "application/json"}, "content": b'{"code": "\xff"}'}
    checks = [
        ("POST", "/api/v1/divisions", api.call("POST", "/api/v1/divisions", admin, **not_utf8)),
        ("GET", "/api/v1/work-orders", api.call("GET", "/api/v1/work-orders?limit=0", admin)),
        ("GET", "/api/v1/work-orders", api.call("GET", "/api/v1/work-orders", None)),
        ("POST", "/api/v1/work-orders", api.call("POST", "/api/v1/work-orders", requester)),
        (
            "POST",
            "/api/v1/work-orders/{ident}/transitions",
            api.call("POST", "/api/v1/work-orders/1/transitions", admin, json={"to": "triaged"}),
        ),
    ]
    statuses = []
    for method, path, response in checks:
        assert response.headers["content-type"] == "application/problem+json"
        schema[path][method].validate_response(response)
        statuses.append(response.status_code)
    assert statuses == [400, 422, 401, 403, 428]
    [error] = checks[1][2].json()["errors"]
    assert (error["field"], error["in"]) == ("limit", "query")


def test_answers_that_leave_members_out_are_what_the_document_says(
    api: Api, world: World, move: Mover
) -> None:
    """A schedule run leaves out what it has not yet (a queued run's start, a plan's travel per
    job when it assigns none): the document requires none of those. And every listing, with
    something in it, answers as the document says."""
    schema = schemathesis.openapi.from_dict(_spec(api.client))
    triaged(api, world, move, 2)
    south = {"code": "S1", "name": "South 1", "division_id": world.division_id}
    api.call("POST", "/api/v1/territories", world.admin, json=south, expect=201)
    nobody = run_day(api, world.dispatcher, territories=["S1"])  # a plan that assigns no job
    assert nobody["status"] == "done", nobody.get("error")
    assert "travel_s_per_job" not in nobody["plan"]["totals"]
    planned = run_day(api, world.dispatcher)
    assert planned["plan"]["totals"]["assigned"] == 2
    queued = api.call("POST", RUNS, world.dispatcher, json={"date": "2026-06-11"}, expect=202)
    assert not {"time_limit_s", "started_at", "finished_at"} & set(queued.json())
    empty = {"technicians": [], "jobs": []}
    answers = [
        ("POST", RUNS, queued),
        ("GET", f"{RUNS}/{{ident}}", api.call("GET", f"{RUNS}/{nobody['id']}", world.dispatcher)),
        ("GET", f"{RUNS}/{{ident}}", api.call("GET", f"{RUNS}/{planned['id']}", world.dispatcher)),
        ("POST", "/api/v1/plans", api.call("POST", "/api/v1/plans", world.dispatcher, json=empty)),
    ]
    day = api.call("GET", "/api/v1/me/day", world.tech_token, expect=200).json()
    mine = {"/api/v1/me/day": "", "/api/v1/me/changes": f"?since={day['sync_token']}"}
    for path, operations in schema.raw_schema["paths"].items():
        if "get" in operations and "{" not in path:  # a technician's own, with what they need
            token = world.tech_token if path in mine else world.admin
            answers.append(("GET", path, api.call("GET", path + mine.get(path, ""), token)))
    assert len(answers) > 15
    for method, path, response in answers:
        assert response.status_code < 300, (method, path, response.text)
        schema[path][method].validate_response(response)
