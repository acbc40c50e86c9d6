"""Access control, operation by operation: every operation of the OpenAPI document, called by
every caller (each role, no token, an expired, a revoked and a tampered token), gets what
``docs/access-matrix.md`` says. An operation without a row there fails the build, and so does
a row whose operation is gone.

Each call is the least that lets the token and role checks decide: a path naming a row that
exists (the order is the dispatcher's: the world's requester and technician may not see it),
``If-Match`` with the current ETag where the operation takes one, and no body, except where
the role is only known to the handler, after the body is read (``BODIES``). Those bodies
change nothing a later call depends on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.access import COLUMNS, MATRIX_FILE, operation_labels, outcome, read_matrix
from tests.support.databases import Templates
from tests.support.fuzzing import ApiWorld, api_world, served_document
from tests.support.http import PNG

DOCUMENT = served_document()
LABELS = operation_labels(DOCUMENT)
MATRIX = read_matrix()
TABLE = MATRIX_FILE.relative_to(MATRIX_FILE.parents[1])
UNLIMITED = {"service_request_rate_per_min": 100_000, "status_rate_per_min": 100_000}

BODIES: dict[str, dict[str, Any]] = {
    "PATCH /api/v1/work-orders/{ident}": {"json": {}},
    # From new, no caller may close an order: a 409 for those who may see it.
    "POST /api/v1/work-orders/{ident}/transitions": {"json": {"to": "closed"}},
    "PUT /api/v1/work-orders/{ident}/checklist": {"json": {"items": {}}},
    "POST /api/v1/work-orders/{ident}/attachments": {
        "files": {"file": ("pump.png", PNG, "image/png")},
        "data": {"kind": "photo"},
    },
    "POST /api/v1/service-requests": {"json": {"description": "Hydrant leaking on Mill Rd"}},
}
"""A body for each operation whose role check is the handler's own."""


@pytest.fixture(scope="module")
def world(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    with api_world(templates, tmp_path_factory.mktemp("access"), **UNLIMITED) as made:
        yield made


def test_the_table_has_a_row_for_every_operation_and_no_other() -> None:
    missing = [label for label in LABELS if label not in MATRIX]
    gone = [label for label in MATRIX if label not in LABELS]
    assert not missing, f"{TABLE}: add a row for each of {missing}"
    assert not gone, f"{TABLE}: these operations are no longer in the document: {gone}"


def _resource(world: ApiWorld, path: str) -> str:
    """``path`` with its parameters filled in: a row of the world where there is one."""
    collection = re.search(r"/([^/{]+)/\{ident\}", path)
    values = {
        "ident": world.ids.get(collection[1], 1) if collection else 1,
        "attachment_id": 1,
        "tracking_code": world.tracking_code,
    }
    return path.format_map(values)


def _call(world: ApiWorld, label: str, token: str | None) -> httpx.Response:
    method, path = label.split(" ", 1)
    operation = DOCUMENT["paths"][path][method.lower()]
    url = _resource(world, path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    takes = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
    if "if-match" in takes:
        admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
        headers["If-Match"] = world.client.get(_etag_source(url), headers=admin).headers["etag"]
    return world.client.request(method, url, headers=headers, **BODIES.get(label, {}))


def _etag_source(url: str) -> str:
    """The resource whose version ``If-Match`` names: ``/api/v1/work-orders/7`` for its
    transitions, checklist and attachments as for itself."""
    match = re.match(r"^(/api/v1/[^/]+/\d+)", url)
    assert match, url
    return match[1]


@pytest.mark.parametrize("label", LABELS)
def test_each_caller_gets_what_the_table_says(label: str, world: ApiWorld) -> None:
    expected = MATRIX.get(label)
    if expected is None:
        pytest.fail(f"{label}: no row in {TABLE}")
    got = {}
    for caller in COLUMNS:
        response = _call(world, label, world.tokens[caller])
        got[caller] = outcome(response.status_code, expected[caller])
        if response.status_code >= 500:
            pytest.fail(f"{label} as {caller}: {response.status_code} {response.text}")
    wrong = {
        caller: f"{got[caller]}, not {want}"
        for caller, want in expected.items()
        if got[caller] != want
    }
    assert not wrong, f"{label} ({TABLE}): {wrong}"
