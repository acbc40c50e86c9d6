"""Webhooks out: finance events delivered as Standard Webhooks
(https://www.standardwebhooks.com), signed with each subscriber's ``whsec_`` secret.

- ``WebhookConnector.deliver`` sends one event (same ``webhook-id`` and body on every retry),
  with the shared error vocabulary and retry policy; ``check_url`` refuses receiver URLs on
  our own network unless ``FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE`` is set.
- ``receiver`` is the helper shipped to subscribers (standard library and
  ``standardwebhooks`` only): ``WebhookReceiver.verify`` checks signature, timestamp and
  replay, ``new_secret`` makes a secret.
"""

from connectors.webhooks.client import DeliveryResult, WebhookConnector
from connectors.webhooks.receiver import (
    BadPayload,
    BadSignature,
    MemorySeenIds,
    Replayed,
    SeenIds,
    StaleTimestamp,
    WebhookReceiver,
    WebhookRefused,
    new_secret,
)
from connectors.webhooks.settings import WebhookSettings
from connectors.webhooks.urls import UnresolvedHost, check_url

__all__ = [
    "BadPayload",
    "BadSignature",
    "DeliveryResult",
    "MemorySeenIds",
    "Replayed",
    "SeenIds",
    "StaleTimestamp",
    "UnresolvedHost",
    "WebhookConnector",
    "WebhookReceiver",
    "WebhookRefused",
    "WebhookSettings",
    "check_url",
    "new_secret",
]
