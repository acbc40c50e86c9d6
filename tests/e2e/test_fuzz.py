"""Bad input is never a 500: schemathesis fuzzes every operation of our own OpenAPI schema.

Requests carry an admin token, so they get past authentication into validation and the
handlers. A response is acceptable when it is below 500 and, if an error, problem+json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from orchestrator.access import tokens as auth
from orchestrator.runtime.bootstrap import bootstrap
from orchestrator.runtime.settings import Settings
from tests.support.databases import Templates, make_settings

_SPEC = create_app(
    container=bootstrap(Settings(database_url="sqlite://", secret_key="x" * 40))
).openapi()
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(_SPEC).get_all_operations()]


@pytest.fixture(scope="module")
def fuzz_client(
    templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    container = bootstrap(make_settings(templates.sqlite_copy(tmp / "fuzz.db"), Path(tmp)))
    with container.new_uow() as uow:
        token = auth.issue(uow, container.secret_key, role="admin", subject="fuzzer").token
    with TestClient(create_app(container=container)) as client:
        # Something to point at, so generated ids sometimes hit real rows.
        headers = {"Authorization": f"Bearer {token}"}
        client.post("/api/v1/work-orders", json={"summary": "seed"}, headers=headers)
        client.post("/api/v1/divisions", json={"code": "D", "name": "D"}, headers=headers)
        yield client, token
    container.dispose()


def _as_text(part: Any) -> Any:
    """A form field that schemathesis made a number (or a boolean, or null), as the text a
    client sends: the test client fails to write anything else when the app reads the body,
    as it does for an Idempotency-Key."""
    if not isinstance(part, tuple) or isinstance(part[1], str | bytes):
        return part
    filename, content, *rest = part
    return (filename, json.dumps(content), *rest)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_input_makes_a_server_error(operation: Any, fuzz_client: tuple[TestClient, str]) -> None:
    client, token = fuzz_client

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {token}"
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if kwargs.get("files"):
            kwargs["files"] = [(name, _as_text(part)) for name, part in kwargs["files"]]
        response = client.request(**kwargs)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        if response.status_code >= 400:
            content_type = response.headers["content-type"]
            assert content_type.startswith("application/problem+json"), (
                case.method,
                case.formatted_path,
                response.status_code,
                content_type,
            )

    check()
