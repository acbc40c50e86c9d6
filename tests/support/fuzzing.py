"""Calling the API as every caller does (each role's token, none, and tokens no operation may
accept), in a world to act in; and, for schemathesis, one way to send a generated case and
hold its answer to the document.

A case goes through the test's own ``TestClient`` (the app's lifespan runs once, as in
``fieldbridge serve``), and its answer is judged by schemathesis's own checks, never by hand.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jwt
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from orchestrator.access import tokens as auth
from orchestrator.maintenance.generate import generate
from orchestrator.runtime.bootstrap import Container, bootstrap
from orchestrator.runtime.settings import Settings
from tests.support.access import ANONYMOUS
from tests.support.databases import Templates, make_settings
from tests.support.http import Api, make_world

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
"""The bar: no 5xx, and every answer a status, content type, body and headers the document
gives the operation."""

BASE_URL = "http://testserver"
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"stateful": {"generation": {"mode": "positive"}, "inference": {"algorithms": []}}}}
)
"""Sequences (the state machine) follow the document's own links, none that schemathesis
guesses from names, with valid input, so that they get somewhere: the fuzz of each operation
sends the invalid."""


def examples(default: int) -> int:
    """Examples per fuzzed operation: ``FIELDBRIDGE_FUZZ_EXAMPLES`` (``make fuzz``) or
    ``default`` (``make test``'s short budget)."""
    return int(os.environ.get("FIELDBRIDGE_FUZZ_EXAMPLES", default))


def served_document() -> dict[str, Any]:
    """The OpenAPI document ``/openapi.json`` serves, from an app on an empty database (for
    parametrising tests by operation when they are collected)."""
    container = bootstrap(Settings(database_url="sqlite://", secret_key="x" * 40))
    try:
        spec: dict[str, Any] = create_app(container=container).openapi()
    finally:
        container.dispose()
    return spec


@dataclass
class ApiWorld:
    """An app with the reference data of ``make_world``, an order or two, and a token for each
    caller of ``tests.support.access.COLUMNS`` (None: anonymous)."""

    client: TestClient
    container: Container
    tokens: dict[str, str | None]
    schema: schemathesis.BaseSchema
    ids: dict[str, int]
    """A row's id by collection (``work-orders``, ``divisions`` ...): the order is the
    dispatcher's, so neither the world's requester nor its technician may see it."""
    tracking_code: str


@contextmanager
def api_world(templates: Templates, tmp: Path, **settings: Any) -> Iterator[ApiWorld]:
    """The world, on a copy of the migrated SQLite template under ``tmp``."""
    container = bootstrap(make_settings(templates.sqlite_copy(tmp / "world.db"), tmp, **settings))
    try:
        with TestClient(create_app(container=container)) as client:
            api = Api(client, container)
            world = make_world(api)
            tokens: dict[str, str | None] = {
                "requester": api.token("requester", "rita"),
                "dispatcher": world.dispatcher,
                "supervisor": world.supervisor,
                "technician": world.tech_token,
                "admin": world.admin,
                "integration": api.token("integration", "bot"),
                ANONYMOUS: None,
                **bad_tokens(api),
            }
            asset = {"serial": "P-3", "site_id": world.site_id, "name": "Pump 3"}
            placed = api.call("POST", "/api/v1/assets", world.dispatcher, json=asset, expect=201)
            part = {"code": "FD-16", "name": "Filter drier", "unit": "EA"}
            stocked = api.call("POST", "/api/v1/parts", world.admin, json=part, expect=201)
            order = {"summary": "Pump 3 vibrates", "site_id": world.site_id}
            made = api.call("POST", "/api/v1/work-orders", world.dispatcher, json=order, expect=201)
            pm = {"name": "Pump 3 service", "asset_id": placed.json()["id"], "rule": "FREQ=DAILY",
                  "starts_on": date.today().isoformat(), "horizon_days": 0,
                  "work_type_id": world.work_type_id}  # fmt: skip
            plan = api.call("POST", "/api/v1/maintenance-plans", world.dispatcher, json=pm,
                            expect=201)  # fmt: skip
            with container.new_uow() as uow:  # it has made an order: never deleted
                generate(uow, date.today())
            request = {"description": "Street light out on Elm St"}
            requested = api.call(
                "POST", "/api/v1/service-requests", tokens["requester"], json=request, expect=201
            )
            schema = schemathesis.openapi.from_dict(
                client.get("/openapi.json").json(), config=CONFIG
            )
            ids = {
                "work-orders": made.json()["id"],
                "divisions": world.division_id,
                "territories": world.territory_id,
                "customers": world.customer_id,
                "sites": world.site_id,
                "assets": placed.json()["id"],
                "technicians": world.technician_id,
                "work-types": world.work_type_id,
                "parts": stocked.json()["id"],
                "maintenance-plans": plan.json()["id"],
            }
            code = requested.json()["tracking_code"]
            yield ApiWorld(client, container, tokens, schema, ids, code)
    finally:
        container.dispose()


def bad_tokens(api: Api) -> dict[str, str]:
    """Tokens no operation may accept: an admin's that has expired (signed with the right
    key), an admin's that was revoked, and a requester's with its role rewritten to admin
    (its signature kept, so it no longer matches)."""
    secret = api.container.secret_key
    claims = jwt.decode(api.token("admin", "eve"), options={"verify_signature": False})
    expired = jwt.encode(claims | {"exp": claims["iat"] - 60}, secret, algorithm=auth.ALGORITHM)
    with api.container.new_uow() as uow:
        revoked = auth.issue(uow, secret, role="admin", subject="mallory")
        auth.revoke(uow, revoked.id)
    header, payload, signature = api.token("requester", "trudy").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = json.dumps(claims | {"role": "admin"}).encode()
    payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    tampered = f"{header}.{payload}.{signature}"
    return {"expired": expired, "revoked": revoked.token, "tampered": tampered}


def _as_text(part: Any) -> Any:
    """A form field that schemathesis made a number (or a boolean, or null), as the text a
    client sends: the test client fails to write anything else when the app reads the body,
    as it does for an Idempotency-Key."""
    if not isinstance(part, tuple) or isinstance(part[1], str | bytes):
        return part
    filename, content, *rest = part
    return (filename, json.dumps(content), *rest)


def send(client: TestClient, case: schemathesis.Case, token: str | None) -> httpx.Response:
    """``case`` as ``token``'s holder sends it (no Authorization header without a token)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = kwargs.setdefault("headers", {})
    for name, value in list(headers.items()):  # a generated value beyond ASCII (the security
        if isinstance(value, str) and not value.isascii():  # scheme's, say) goes on the wire
            headers[name] = value.encode()  # as the raw bytes a client may send (obs-text)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), str | bytes):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        kwargs["files"] = [(name, _as_text(part)) for name, part in kwargs["files"]]
    request = client.build_request(**kwargs)
    request.read()  # a multipart body is a stream: kept, for the checks, if the app never reads it
    return client.send(request)


def call_and_validate(
    client: TestClient, case: schemathesis.Case, token: str | None
) -> httpx.Response:
    """Send ``case`` and hold the answer to the document with ``CHECKS`` (schemathesis raises
    a ``FailureGroup`` naming each failed check, with a curl command to reproduce it)."""
    response = send(client, case, token)
    case.validate_response(response, checks=CHECKS, headers=dict(response.request.headers))
    return response
