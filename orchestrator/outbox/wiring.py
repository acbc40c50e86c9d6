"""The relay as the settings describe it: each routed destination with its connector (its
settings read from the environment, as the sync's are). A destination whose settings are
missing or wrong is left out, with the reason: its rows stay pending, and say so.

The relay's connectors make one attempt per delivery (``max_attempts`` 1): a failure is
stored as the row's next attempt (``outbox_backoff_*``, never before a ``Retry-After``), so
no worker sleeps through a remote's bad minute and the other rows go on."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from orchestrator.outbox.events import CRM_CERTIFICATION, CRM_COMPLETED
from orchestrator.outbox.relay import ByEvent, Destination, Relay, RelayPolicy
from orchestrator.settings import Settings

__all__ = ["DESTINATIONS", "build_relay", "policy_of"]

DESTINATIONS = ("salesforce", "sap", "webhooks")
ONE = 1  # attempt per delivery: the outbox stores the retry


def policy_of(settings: Settings) -> RelayPolicy:
    return RelayPolicy(
        lease_s=settings.outbox_lease_s,
        max_attempts=settings.outbox_max_attempts,
        max_age_s=settings.outbox_max_age_s,
        backoff_base_s=settings.outbox_backoff_base_s,
        backoff_max_s=settings.outbox_backoff_max_s,
    )


def _destination(name: str, settings: Settings, uow: Any) -> Destination:
    if name == "sap":
        from connectors.sap import SAPConnector, SAPSettings
        from orchestrator.outbox.destinations import SAPBilling

        sap = SAPSettings(max_attempts=ONE)
        return SAPBilling(
            lambda: SAPConnector(sap),
            workers=settings.outbox_workers,
            labour_product=settings.billing_labour_product,
            currency=settings.billing_currency,
        )
    if name == "salesforce":
        from connectors.salesforce import SalesforceConnector, SalesforceSettings
        from mappings.salesforce import SalesforceMapping
        from orchestrator.outbox.destinations import SalesforceJobs, SalesforceSkills

        path = settings.salesforce_mapping_file
        mapping = SalesforceMapping() if path is None else SalesforceMapping.load(path)
        sf = SalesforceConnector(SalesforceSettings(max_attempts=ONE))
        return ByEvent(
            {
                CRM_COMPLETED: SalesforceJobs(sf, mapping),
                CRM_CERTIFICATION: SalesforceSkills(sf, mapping),
            }
        )
    if name == "webhooks":
        from connectors.webhooks import WebhookConnector, WebhookSettings
        from orchestrator.outbox.destinations import FinanceWebhooks

        hooks = WebhookSettings(max_attempts=ONE)
        return FinanceWebhooks(
            lambda: WebhookConnector(hooks), uow, workers=settings.outbox_workers
        )
    raise ValueError(f"no destination named {name!r} (one of {', '.join(DESTINATIONS)})")


def build_relay(uow: Any, settings: Settings, **options: Any) -> tuple[Relay, dict[str, str]]:
    """The relay for ``settings.outbox_routes``, and why each destination left out is."""
    destinations: dict[str, Destination] = {}
    problems: dict[str, str] = {}
    for name in sorted(set(settings.outbox_routes.values())):
        try:
            destinations[name] = _destination(name, settings, uow)
        except (ValueError, ValidationError, OSError) as exc:
            problems[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    relay = Relay(uow, destinations, settings.outbox_routes, policy_of(settings), **options)
    return relay, problems
