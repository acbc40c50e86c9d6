"""The outbox over HTTP: finance subscriptions (admin only, private addresses refused unless
allowed, the secret shown once), what a closed order owes, dead letters making /health
degraded, and a retry after the fix delivering once (``sandbox/finance`` receives)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.webhooks import WebhookConnector, WebhookSettings
from orchestrator.outbox.destinations import FinanceWebhooks
from orchestrator.outbox.events import FINANCE_TRIGGER
from orchestrator.outbox.relay import Relay, RelayPolicy
from sandbox.finance import FinanceSimulator
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import close_one


@pytest.fixture
def finance() -> Iterator[FinanceSimulator]:
    with FinanceSimulator(seed=2) as simulator:
        yield simulator


def test_subscriptions_are_for_admins_and_refuse_private_addresses(
    api: Api, world: World, finance: FinanceSimulator
) -> None:
    body = {"url": finance.endpoint, "description": "finance ledger"}
    api.call("POST", "/api/v1/webhook-subscriptions", world.dispatcher, json=body, expect=403)
    refused = api.call("POST", "/api/v1/webhook-subscriptions", world.admin, json=body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "url"
    bad = {"url": "ftp://finance.example/hook"}
    refused = api.call("POST", "/api/v1/webhook-subscriptions", world.admin, json=bad)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url"
    weak = {"url": "https://93.184.215.14/hook", "secret": "not-a-whsec"}
    refused = api.call("POST", "/api/v1/webhook-subscriptions", world.admin, json=weak)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "secret"


@pytest.mark.systems(FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE="true")
def test_an_admin_subscribes_lists_and_deactivates_where_private_addresses_are_allowed(
    api: Api, world: World, finance: FinanceSimulator
) -> None:
    body = {"url": finance.endpoint, "description": "finance ledger"}
    made = api.call("POST", "/api/v1/webhook-subscriptions", world.admin, json=body, expect=201)
    assert made.json()["secret"].startswith("whsec_") and made.json()["active"] is True
    listed = api.call("GET", "/api/v1/webhook-subscriptions", world.admin, expect=200).json()
    assert [s["url"] for s in listed] == [finance.endpoint]
    assert "secret" not in listed[0], "the secret is shown once"
    sub = made.json()["id"]
    api.call("DELETE", f"/api/v1/webhook-subscriptions/{sub}", world.admin, expect=204)
    api.call("DELETE", "/api/v1/webhook-subscriptions/999", world.admin, expect=404)
    listed = api.call("GET", "/api/v1/webhook-subscriptions", world.admin, expect=200).json()
    assert listed[0]["active"] is False


@pytest.mark.systems(FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE="true")
def test_a_dead_letter_degrades_health_and_a_retry_after_the_fix_delivers_once(
    api: Api, world: World, move: Mover, finance: FinanceSimulator
) -> None:
    body = {"url": finance.endpoint, "secret": finance.secret}
    sub = api.call("POST", "/api/v1/webhook-subscriptions", world.admin, json=body, expect=201)
    closed = close_one(api, world, move)
    shown = api.call("GET", "/api/v1/outbox", world.supervisor, expect=200).json()
    assert shown["by_state"] == {"pending": 3, "parked": 0, "delivered": 0, "dead": 0}
    assert set(shown["by_destination"]) == {"crm", "erp", "finance"}
    assert shown["oldest_pending_age_s"] >= 0 and shown["dead_letters"] == []
    api.call("GET", "/api/v1/outbox", world.dispatcher, expect=403)
    health = api.call("GET", "/health", None, expect=200).json()
    assert health["status"] == "ok" and health["reasons"] == []

    finance.set_faults(rate=1.0, kinds=["503"])
    settings = WebhookSettings(allow_private=True, ca_bundle=finance.ca_path, max_attempts=2)
    webhooks = FinanceWebhooks(
        WebhookConnector(settings, sleep=lambda _: None), api.container.new_uow
    )
    routes = {FINANCE_TRIGGER: "webhooks"}
    relay = Relay(
        api.container.new_uow, {"webhooks": webhooks}, routes, RelayPolicy(max_attempts=1)
    )
    assert relay.drain().dead == 1
    shown = api.call("GET", "/api/v1/outbox", world.supervisor, expect=200).json()
    (dead,) = shown["dead_letters"]
    assert dead["key"] == f"{FINANCE_TRIGGER}|{closed['id']}|{sub.json()['id']}"
    assert "503" in dead["last_error"]
    health = api.call("GET", "/health", None, expect=200).json()
    assert health["status"] == "degraded" and "1 dead letter in the outbox" in health["reasons"]

    finance.clear_faults()
    api.call("POST", f"/api/v1/outbox/{dead['id']}/retry", world.supervisor, expect=403)
    again = api.call("POST", f"/api/v1/outbox/{dead['id']}/retry", world.admin, expect=200)
    assert again.json()["state"] == "pending" and again.json()["attempts"] == 0
    api.call("POST", "/api/v1/outbox/99999/retry", world.admin, expect=404)
    assert relay.drain().delivered == 1
    (delivered,) = finance.deliveries()
    assert delivered["webhook_id"] == dead["key"]
    assert delivered["payload"]["tracking_code"] == closed["tracking_code"]
    assert api.call("GET", "/health", None, expect=200).json()["status"] == "ok"
