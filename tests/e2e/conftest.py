"""HTTP fixtures: the real app over Starlette's TestClient, a caller with tokens per role
(``tests/support/http.py``), the reference data, and a transition mover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.runtime.bootstrap import Container
from tests.support.http import Api, Mover, World, make_world


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as http_client:
        yield http_client


@pytest.fixture
def api(client: TestClient, container: Container) -> Api:
    return Api(client, container)


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


@pytest.fixture
def move(api: Api) -> Mover:
    """POST a transition with the order's current ETag; returns the response."""

    def _move(
        order_id: int, token: str, to: str, expect: int | None = 200, **fields: Any
    ) -> httpx.Response:
        current = api.call("GET", f"/api/v1/work-orders/{order_id}", token)
        etag = current.headers.get("etag", '"0"')
        return api.call(
            "POST",
            f"/api/v1/work-orders/{order_id}/transitions",
            token,
            json={"to": to, **fields},
            headers={"If-Match": etag},
            expect=expect,
        )

    return _move
