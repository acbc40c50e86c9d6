"""The write-back's promise, end to end: 200 closed orders, the simulators faulting 30% of the
time (503s, 429s with Retry-After, lock errors, SOAP faults, answers lost after the work was
done, hangs past the timeout), and the ``fieldbridge serve`` process that runs the relay
killed with SIGKILL mid-batch and started again. Every order reaches each remote exactly
once: one effective WorkOrder update per order (repeats carry the same content and converge),
one SAP billing request per message UUID, one finance delivery per webhook-id."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from devtools.world import World, world
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from sandbox.finance import FinanceSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator
from tests.support.cli import FIELDBRIDGE, cli_env, free_port, wait_for
from tests.support.outbox import OUTBOX, closed_orders

ORDERS = 200
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def sims() -> Iterator[World]:
    with world(
        salesforce=SalesforceSimulator(seed=12),
        sap=SAPSimulator(seed=12, customers=ORDERS, stocks=0, malformed=0.0),
        finance=FinanceSimulator(seed=12),
    ) as running:
        yield running


def counts(container: Container) -> dict[str, int]:
    with container.new_uow() as uow:
        found = uow.connection().execute(
            select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)
        )
        return dict(found.all())


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    server = subprocess.Popen(
        [FIELDBRIDGE, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "the server did not come up")
    return server


def test_killed_mid_batch_every_order_reaches_each_remote_exactly_once(
    container: Container,
    database_url: str,
    tmp_path: Path,
    sims: World,
) -> None:
    sf, sap, finance = sims.salesforce, sims.sap, sims.finance
    assert sf is not None and sap is not None and finance is not None
    with container.new_uow() as uow:
        uow.session.add(models.WebhookSubscription(
            url=finance.endpoint, secret=finance.secret, active=True, created_by="ada"
        ))  # fmt: skip
        uow.commit()
    closed_orders(container, [r["InternalID"] for r in sap.records()][:ORDERS])
    with container.new_uow() as uow:
        keys = dict(uow.connection().execute(select(OUTBOX.c.key, OUTBOX.c.payload)).all())
    sf.set_faults(rate=0.3, kinds=["503", "REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW"],
                  retry_after_s=0.2, seed=1)  # fmt: skip
    sap.set_faults(rate=0.3, kinds=["500", "fault", "lost", "hang"], hang_s=0.5, seed=2)
    finance.set_faults(rate=0.3, kinds=["503", "429", "lost", "hang"], hang_s=0.5,
                       retry_after_s=0.2, seed=3)  # fmt: skip
    env = cli_env(database_url, tmp_path) | sims.variables()
    env |= {
        "FIELDBRIDGE_SALESFORCE_API_VERSION": sf.api_version,
        "FIELDBRIDGE_SAP_TIMEOUT_S": "0.3",
        "FIELDBRIDGE_WEBHOOK_TIMEOUT_S": "0.3",
        "FIELDBRIDGE_OUTBOX_RELAY_EVERY_S": "0.1",
        "FIELDBRIDGE_OUTBOX_LEASE_S": "3",
        "FIELDBRIDGE_OUTBOX_BACKOFF_BASE_S": "0.05",
        "FIELDBRIDGE_OUTBOX_BACKOFF_MAX_S": "0.5",
        "FIELDBRIDGE_OUTBOX_MAX_ATTEMPTS": "50",
    }
    log = tmp_path / "serve.log"
    first = serve(env, log)
    # killed while SAP's billing requests go out, one by one: some sent, none recorded
    wait_for(lambda: len(sap.invoice_requests()) >= 40, 120, "no billing requests went out")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = counts(container)
    assert at_kill.get("pending", 0) > 0, "the kill came too late to test anything"
    second = serve(env, log)
    try:
        wait_for(lambda: counts(container).get("pending", 0) == 0, 240,
                 f"rows still pending: {counts(container)}; see {log}")  # fmt: skip
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert counts(container) == {"delivered": 3 * ORDERS}, log.read_text()[-3000:]
    assert sap.fault_log and sf.fault_log and finance.fault_log

    orders = {p["key"] for k, p in keys.items() if k.startswith("crm.")}
    written = [w for w in sf.writes("WorkOrder")]
    assert {w["external_id"] for w in written} == orders, "every order's WorkOrder updated"
    by_key: dict[str, list[Any]] = {}
    for write in written:
        by_key.setdefault(write["external_id"], []).append(write["body"])
    assert all(b == bodies[0] for bodies in by_key.values() for b in bodies), (
        "a WorkOrder written twice got the same content: one effective update"
    )
    uuids = Counter(q["MessageUUID"] for q in sap.invoice_requests())
    assert set(uuids) == {p["message_uuid"] for k, p in keys.items() if k.startswith("erp.")}
    assert set(uuids.values()) == {1} and len(uuids) == ORDERS
    ids = Counter(d["webhook_id"] for d in finance.deliveries())
    assert set(ids) == {k for k in keys if k.startswith("finance.")}
    assert set(ids.values()) == {1} and len(ids) == ORDERS
