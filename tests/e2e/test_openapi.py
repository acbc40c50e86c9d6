"""The API's documentation as a new user meets it: ``/docs`` works offline, and
``/openapi.json`` says which operations take a token and every error each can answer."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from fastapi.testclient import TestClient

from tests.support.http import Api

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
    # A reference PATCH checks If-Match when it is sent: 412, never 428.
    patching = paths["/api/v1/divisions/{ident}"]["patch"]
    assert "412" in _problem_answers(patching)
    assert "428" not in _problem_answers(patching)
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
