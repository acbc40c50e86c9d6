"""The API's documentation: the OpenAPI document, and Swagger UI at ``/docs``, offline.

FastAPI writes each operation from its route; ``document`` then adds, once, what FastAPI
cannot see: the bearer scheme and which operations take a token, and the errors each
operation can answer, every one an RFC 9457 problem (``api.problems.ProblemDetails``). Most
errors follow from the route itself: a body (400, 413), a token (401), a role (403,
``api.deps.allow``), a path naming a resource (404), ``If-Match`` (412, 428), input (422), a
rate limit (429), and on every POST ``Idempotency-Key`` (``api.idempotency``: 409, 422). What
only a handler knows, its router names in ``responses=`` (``api.problems.responses``).
And each answer that shows a resource links to the operations on it (``_link``): clients,
and schemathesis's state machine, follow them. Nothing here runs per request.

Swagger UI's JavaScript and CSS are served from the installed ``swagger_ui_bundle``, so the
page loads nothing from another host, and its Content-Security-Policy (``SWAGGER_SOURCES``,
``api.headers.page``) lets it load nothing else. ReDoc is off: no installed package ships it.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api import deps, headers
from api.problems import PROBLEM, ProblemDetails
from api.ratelimit import LIMITED
from orchestrator.domain.lifecycle import Role

DOCS = "/docs"
ASSETS = f"{DOCS}/assets"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
SWAGGER_SOURCES = {
    "script_src": "'self'",  # the bundle; the page's inline start-up script by its hash
    # Inline styles: the UI sets some in the markup it renders; the page shows no one's data.
    "style_src": "'self' 'unsafe-inline'",
    "img_src": "'self' data: blob:",  # the stylesheet's icons; an image answer tried out
    "connect_src": "'self'",  # the document and the requests tried out
}
"""What the docs page may load (``api.headers.page``): this server's, nothing else."""
BEARER = "bearer"
COMPONENTS = "#/components/schemas/"
QUALIFIED = {
    "mappings.canonical": "",
    "orchestrator.reference.records": "",  # the API's technician (home and zone optional)
    "scheduler.model": "Planning",
}
"""What a model is called when another module has one of the same name (pydantic then names
both by their module: ``scheduler__model__Technician``): its name after this prefix."""

_FASTAPI_422 = f"{COMPONENTS}HTTPValidationError"
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "repeat the POST with the same key and it takes effect once: a repeat "
    "gets the first answer again (Idempotent-Replayed: true)",
}
_KEY_HELD = (
    "a request with this Idempotency-Key is still being processed, or it took effect and its "
    "answer was lost: read the resource instead of repeating the request"
)
_KEY_REFUSED = "an Idempotency-Key that is blank, too long, or was sent with another request"
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


class _SwaggerAssets(StaticFiles):
    """Swagger UI's folder, of which only the files the page loads are served."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in SWAGGER_FILES:
            return "", None
        return super().lookup_path(path)


def install(app: FastAPI) -> None:
    """``/docs`` (and its OAuth2 redirect page) from local assets, and ``app.openapi``
    documented. Call it after the routers are included: these routes are then tried last."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS}/oauth2-redirect"

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        swagger = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title}: HTTP API",
            oauth2_redirect_url=root + redirect_url,
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )
        return headers.page(bytes(swagger.body).decode(), **SWAGGER_SOURCES)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return headers.page(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())

    app.mount(ASSETS, _SwaggerAssets(directory=str(swagger_ui_path)), name="swagger-ui")

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()  # FastAPI's, kept until the routes change
        if BEARER not in spec.get("components", {}).get("securitySchemes", {}):
            document(spec, app)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def document(spec: dict[str, Any], app: FastAPI) -> None:
    """Add to FastAPI's document the bearer scheme, each operation's security and errors,
    and the problem schema; name every schema without a module path."""
    renamed: dict[str, str] = {}
    for path, method, route in _operations(app):
        operation = spec["paths"][path][method.lower()]
        _document_operation(operation, route, method)
        for content in operation.get("requestBody", {}).get("content", {}).values():
            name = content["schema"].get("$ref", "").removeprefix(COMPONENTS)
            if name.startswith("Body_"):  # FastAPI's name for a form: Body_<operation id>
                words = route.name.split("_")
                renamed[name] = "".join(word.capitalize() for word in words) + "Form"
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if _FASTAPI_422 not in json.dumps(spec):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    problem = ProblemDetails.model_json_schema(ref_template=COMPONENTS + "{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas[ProblemDetails.__name__] = problem
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a token from `fieldbridge token create`",
        }
    }
    for name in schemas:
        if "__" in name and name not in renamed:
            module, _, own = name.rpartition("__")
            qualifier = QUALIFIED.get(module.replace("__", "."))
            if qualifier is None:
                raise LookupError(f"schema {name}: say in QUALIFIED what to call it")
            renamed[name] = qualifier + own
    _rename(spec, renamed)
    components["schemas"] = dict(sorted(schemas.items()))
    _link(spec["paths"])


_ETAG = {"ETag": {"schema": {"type": "string"}, "description": 'its version, for If-Match: "3"'}}
_EXTRA_LINKS = {
    ("/api/v1/service-requests", "post", "201"): (
        "get_status",
        "/status/{tracking_code}",
        {"path.tracking_code": "$response.body#/tracking_code"},
    ),
}
"""Links no resource's path shows (``_link``): an answer's field naming another resource."""


def _link(paths: dict[str, Any]) -> None:
    """OpenAPI links, for clients that follow them (and schemathesis's state machine): an
    answer that shows a resource as reading it does (``POST /work-orders``, a transition, a
    PATCH, the read itself) leads to each operation on that resource, ``ident`` taken from the
    body's ``id`` and ``If-Match`` from its ``ETag`` where the operation takes one."""
    for resource, operations in paths.items():
        collection, _, last = resource.rpartition("/")
        if last != "{ident}" or "get" not in operations:
            continue
        shows = _shown(operations["get"], "200")
        on_it = {
            (path, method): operation
            for path, ops in paths.items()
            if path == resource or (path.startswith(f"{resource}/") and path.count("{") == 1)
            for method, operation in ops.items()
        }
        for source in [*paths.get(collection, {}).values(), *on_it.values()]:
            for status, answer in source["responses"].items():
                if status.startswith("2") and _shown(source, status) == shows:
                    for (path, method), target in on_it.items():
                        if target is not source or method != "get":  # a read leads on, not back
                            name = "_".join(filter(None, (method, path[len(resource) + 1 :])))
                            _link_to(answer, name.replace("/", "_"), target)
    for (path, method, status), (name, target_path, parameters) in _EXTRA_LINKS.items():
        answer = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if answer is not None and target_path in paths:
            target = paths[target_path]["get"]
            link = {"operationId": target["operationId"], "parameters": parameters}
            answer.setdefault("links", {})[name] = link


def _link_to(answer: dict[str, Any], name: str, target: dict[str, Any]) -> None:
    """A link from ``answer`` (which shows a resource) to ``target``, an operation on it."""
    parameters = {"path.ident": "$response.body#/id"}
    for parameter in target.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == "if-match":
            parameters[f"header.{parameter['name']}"] = "$response.header.ETag"
            answer.setdefault("headers", {}).update(copy.deepcopy(_ETAG))
    link = {"operationId": target["operationId"], "parameters": parameters}
    answer.setdefault("links", {})[name] = link


def _shown(operation: dict[str, Any], status: str) -> Any:
    """The schema of the JSON an operation answers with ``status``, if any."""
    content = operation["responses"].get(status, {}).get("content", {})
    return content.get("application/json", {}).get("schema")


def _operations(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in context.methods or ():
                yield str(context.path_format), method, route


def _document_operation(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    token = deps.token_kind(route.dependant)
    if token:
        operation["security"] = [{BEARER: []}] + ([{}] if token == "optional" else [])  # nosec B105  # a token kind, not a password
    if method == "POST":
        operation.setdefault("parameters", []).append(copy.deepcopy(_IDEMPOTENCY_KEY))
    answers: dict[str, Any] = operation["responses"]
    if _FASTAPI_422 in json.dumps(answers.get("422", {})):
        del answers["422"]  # FastAPI's own: the app answers a problem instead (below)
    said = {
        int(key): [answer["description"]] for key, answer in answers.items() if key.startswith("4")
    }
    for status, description in _errors(route, method, token):
        said.setdefault(status, []).append(description)
    for status, descriptions in said.items():
        answers[str(status)] = _problem(status, descriptions)
    operation["responses"] = dict(sorted(answers.items()))


def _errors(route: APIRoute, method: str, token: str | None) -> Iterator[tuple[int, str]]:
    """The errors an operation can answer that its route shows: ``(status, what it means)``."""
    dependants = list(deps.walk(route.dependant))
    calls = [d.call for d in dependants if d.call is not None]
    form = deps.takes_form(route.dependant)
    if form:
        yield 400, "the form cannot be read: it is not well-formed multipart/form-data"
    elif route.body_field is not None:
        yield 400, "the body cannot be read: it is not UTF-8 text"
    if token == "required":  # nosec B105  # a token kind, not a password
        yield 401, "no valid bearer token: missing, malformed, expired or revoked"
    elif token == "optional":  # nosec B105  # a token kind, not a password
        yield 401, "a bearer token was sent, and it is malformed, expired or revoked"
    for call in calls:
        if call in deps.ADMITTED:
            roles, action = deps.ADMITTED[call]
            names = ", ".join(role for role in Role if role in roles)
            yield 403, f"the token's role may not {action} (only {names} may)"
    if any(d.path_params for d in dependants):
        yield 404, "what the path names does not exist, or this caller may not see it"
    if method == "POST":
        yield 409, _KEY_HELD
    if deps.if_match in calls:
        yield 412, "If-Match names no version, or one that is no longer current: read it again"
    if form:
        yield 413, "the form is larger than the upload limit (FIELDBRIDGE_MAX_UPLOAD_MB)"
    elif route.body_field is not None:
        yield 413, "the body is larger than the JSON limit (FIELDBRIDGE_MAX_JSON_BYTES)"
    if route.body_field is not None or any(_refusable(d) for d in dependants):
        yield 422, "invalid input: `errors` names each field at fault and why"
    if method == "POST":
        yield 422, _KEY_REFUSED
    if deps.if_match in calls:
        yield 428, "no If-Match: send the ETag of your last read of this resource"
    if any(call in LIMITED for call in calls):
        yield 429, "too many requests from this client: wait as Retry-After says"


def _refusable(dependant: Dependant) -> bool:
    """Whether a parameter's value can be refused: one that is constrained, of a type other
    than text, or required where it may be missing (a path always has its parameters)."""
    for kind in ("path_params", "query_params", "header_params", "cookie_params"):
        for field in getattr(dependant, kind):
            info = field.field_info
            free_text = info.annotation in (str, str | None) and not info.metadata
            if not free_text or (info.is_required() and kind != "path_params"):
                return True
    return False


def _problem(status: int, descriptions: list[str]) -> dict[str, Any]:
    """An error answer: what it means (a list when it has several causes) and its schema."""
    if len(descriptions) == 1:
        description = descriptions[0]
    else:
        description = "\n".join(f"- {text}" for text in descriptions)
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": f"{COMPONENTS}{ProblemDetails.__name__}"}}},
    }
    if status in _HEADERS:
        answer["headers"] = copy.deepcopy(_HEADERS[status])
    return answer


def _rename(spec: dict[str, Any], renamed: dict[str, str]) -> None:
    schemas = spec["components"]["schemas"]
    taken = set(schemas) - set(renamed)
    clashes = sorted(new for new in renamed.values() if new in taken)
    if clashes or len(set(renamed.values())) != len(renamed):
        raise ValueError(f"schema names would clash: {clashes or sorted(renamed.values())}")
    for old, new in renamed.items():
        schemas[new] = schemas.pop(old) | {"title": new}
    _point(spec, {COMPONENTS + old: COMPONENTS + new for old, new in renamed.items()})


def _point(node: Any, refs: dict[str, str]) -> None:
    """Every ``$ref`` in ``node`` that ``refs`` names, pointed at its new name."""
    if isinstance(node, dict):
        if node.get("$ref") in refs:
            node["$ref"] = refs[node["$ref"]]
        for value in node.values():
            _point(value, refs)
    elif isinstance(node, list):
        for value in node:
            _point(value, refs)
