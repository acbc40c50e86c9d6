"""The database drops the API's connections (a restart, a failover): one clear 503, then on."""

from __future__ import annotations

import pytest

from orchestrator.runtime.bootstrap import Container
from tests.support.databases import BACKENDS, pg_exec
from tests.support.http import Api, World


# Only a networked database can drop a connection; without PostgreSQL there is nothing to run.
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_a_dropped_connection_is_one_503_with_retry_after_then_the_pool_reconnects(
    api: Api, world: World, container: Container
) -> None:
    assert api.call("GET", "/api/v1/customers/1", world.admin).status_code == 200
    name = container.engine.url.database
    pg_exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    lost = api.call("GET", "/api/v1/customers/1", world.admin)
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert lost.headers["content-type"].startswith("application/problem+json")
    assert "retry" in lost.json()["detail"]
    assert api.call("GET", "/api/v1/customers/1", world.admin).status_code == 200
    created = api.call("POST", "/api/v1/work-orders", world.dispatcher, json={"summary": "x"})
    assert created.status_code == 201
