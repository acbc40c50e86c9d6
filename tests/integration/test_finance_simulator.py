"""The finance receiver simulator over real HTTPS, delivered to by the webhook connector."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.errors import Permanent, Retryable
from connectors.webhooks import WebhookConnector, WebhookSettings, new_secret
from connectors.webhooks.urls import IPAddress, Resolver, resolve
from sandbox.finance import FinanceSimulator


def event(number: int) -> dict[str, Any]:
    return {
        "type": "finance.billing_trigger",
        "work_order": f"WO-{number:05d}",
        "amount": {"currency": "GBP", "value": f"{100 + number}.50"},
    }


def connector(sim: FinanceSimulator, resolver: Resolver = resolve, **over: Any) -> WebhookConnector:
    values: dict[str, Any] = {"allow_private": True, "ca_bundle": sim.ca_path} | over
    return WebhookConnector(WebhookSettings(**values), sleep=lambda _: None, resolver=resolver)


class Lookups:
    """A DNS that answers each host from a table, and remembers each question."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers, self.asked = answers, []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return [ipaddress.ip_address(a) for a in self.answers[host]]


@pytest.fixture
def sim() -> Iterator[FinanceSimulator]:
    with FinanceSimulator(seed=3) as simulator:
        yield simulator


def test_delivered_once_and_replay_is_200(sim: FinanceSimulator) -> None:
    with connector(sim) as wh:
        first = wh.deliver(sim.endpoint, sim.secret, "bt-1", event(1))
        again = wh.deliver(sim.endpoint, sim.secret, "bt-1", event(1))
    assert (first.status, first.attempts) == (204, 1)
    assert (again.status, again.attempts) == (200, 1)
    deliveries = sim.deliveries()
    assert [(d["webhook_id"], d["payload"]) for d in deliveries] == [("bt-1", event(1))]
    assert [(e["webhook_id"], e["status"], e["accepted"]) for e in sim.ledger] == [
        ("bt-1", 204, True),
        ("bt-1", 200, False),
    ]


def test_faults_each_id_delivered_exactly_once(sim: FinanceSimulator) -> None:
    sim.set_faults(rate=0.3, seed=11, kinds=["503", "429", "lost"], retry_after_s=0)
    with connector(sim, max_attempts=10) as wh:
        results = [wh.deliver(sim.endpoint, sim.secret, f"bt-{n}", event(n)) for n in range(50)]
    assert all(r.status in (200, 204) for r in results)
    kinds = {f["kind"] for f in sim.fault_log}
    assert kinds == {"503", "429", "lost"}  # the seed deals every kind
    deliveries = sim.deliveries()
    assert sorted(d["webhook_id"] for d in deliveries) == sorted(f"bt-{n}" for n in range(50))
    assert all(d["payload"] == event(int(d["webhook_id"][3:])) for d in deliveries)
    ledger = sim.ledger
    assert wh.api_calls == len(ledger) > 50
    assert sum(e["accepted"] for e in ledger) == 50
    lost = [e["webhook_id"] for e in ledger if e["fault"] == "lost" and e["accepted"]]
    assert lost and all(r.status == 200 for n, r in enumerate(results) if f"bt-{n}" in lost)


def test_wrong_secret_is_permanent_400(sim: FinanceSimulator) -> None:
    with connector(sim) as wh, pytest.raises(Permanent) as caught:
        wh.deliver(sim.endpoint, new_secret(), "bt-9", event(9))
    assert caught.value.status == 400 and "BadSignature" in caught.value.message
    assert wh.api_calls == 1 and sim.deliveries() == []
    assert [(e["status"], e["accepted"]) for e in sim.ledger] == [(400, False)]


def test_stale_timestamp_is_permanent_400(sim: FinanceSimulator) -> None:
    with connector(sim) as wh, pytest.raises(Permanent) as caught:
        wh.deliver(sim.endpoint, sim.secret, "bt-9", event(9), timestamp=1_000_000_000)
    assert "StaleTimestamp" in caught.value.message and sim.deliveries() == []


def test_private_address_refused_without_allow_private(sim: FinanceSimulator) -> None:
    with connector(sim, allow_private=False) as wh, pytest.raises(Permanent) as caught:
        wh.deliver(sim.endpoint, sim.secret, "bt-1", event(1))
    assert caught.value.code == "URL_REFUSED" and sim.ledger == []


def test_controls_and_env(sim: FinanceSimulator) -> None:
    assert sim.secret.startswith("whsec_")
    assert FinanceSimulator(seed=3).secret == sim.secret != FinanceSimulator(seed=4).secret
    env = sim.env()
    assert env["FIELDBRIDGE_WEBHOOK_CA_BUNDLE"] == str(sim.ca_path)
    http = requests.Session()
    http.trust_env = False
    answer = http.post(
        f"{sim.url}/__faults",
        json={"rate": 1, "kinds": ["503"]},
        verify=str(sim.ca_path),
        timeout=10,
    )
    assert answer.status_code == 200
    with connector(sim, max_attempts=2) as wh, pytest.raises(Retryable):
        wh.deliver(sim.endpoint, sim.secret, "bt-1", event(1))
    assert (
        http.get(f"{sim.url}/__ledger", verify=str(sim.ca_path), timeout=10).json()[0]["fault"]
        == "503"
    )


def test_a_delivery_connects_to_the_address_its_one_lookup_approved(sim: FinanceSimulator) -> None:
    """One lookup an attempt, and the connection goes where that lookup said: no second
    lookup, which a rebinding DNS could answer with an address of our own network. The
    request still names the host: TLS checks the certificate issued for ``localhost``."""
    url = sim.endpoint.replace("127.0.0.1", "localhost")
    assert "localhost" in url
    lookups = Lookups({"localhost": ["127.0.0.1"]})
    with connector(sim, resolver=lookups) as wh:
        assert wh.deliver(url, sim.secret, "bt-1", event(1)).status == 204
    assert lookups.asked == ["localhost"]
    # the system's resolver would find the receiver; this lookup says 127.0.0.2, where nothing
    # listens: the connection follows the lookup, not a resolver of its own
    elsewhere = Lookups({"localhost": ["127.0.0.2"]})
    with connector(sim, resolver=elsewhere, max_attempts=2) as wh, pytest.raises(Retryable):
        wh.deliver(url, sim.secret, "bt-2", event(2))
    assert elsewhere.asked == ["localhost", "localhost"]  # once an attempt
    assert [d["webhook_id"] for d in sim.deliveries()] == ["bt-1"]
