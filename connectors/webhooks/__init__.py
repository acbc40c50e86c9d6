"""Webhooks out: finance events delivered as Standard Webhooks
(https://www.standardwebhooks.com), signed with each subscriber's ``whsec_`` secret.

- ``WebhookConnector.deliver`` sends one event (same ``webhook-id`` and body on every retry),
  with the shared error vocabulary and retry policy; ``check_url`` refuses receiver URLs on
  our own network unless ``FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE`` is set, and at delivery
  ``checked_address`` does so in the one lookup whose address the connection then uses.
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
from connectors.webhooks.urls import Resolver, UnresolvedHost, check_url, checked_address

__all__ = [
    "BadPayload",
    "BadSignature",
    "DeliveryResult",
    "MemorySeenIds",
    "Replayed",
    "Resolver",
    "SeenIds",
    "StaleTimestamp",
    "UnresolvedHost",
    "WebhookConnector",
    "WebhookReceiver",
    "WebhookRefused",
    "WebhookSettings",
    "check_url",
    "checked_address",
    "new_secret",
]
