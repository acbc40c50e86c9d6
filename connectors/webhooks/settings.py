"""Webhook delivery settings: environment variables prefixed ``FIELDBRIDGE_WEBHOOK_``.

``TIMEOUT_S`` (10), ``MAX_ATTEMPTS`` (5), ``CA_BUNDLE`` (optional: a bundle that wins over
``REQUESTS_CA_BUNDLE``) and ``ALLOW_PRIVATE`` (False: subscriber URLs that are or resolve to
loopback, private, link-local, reserved or multicast addresses are refused). The URL and the
secret belong to each subscription, not to the settings.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from connectors.settings import ConnectorSettings

__all__ = ["ENV_PREFIX", "WebhookSettings"]

ENV_PREFIX = "FIELDBRIDGE_WEBHOOK_"


class WebhookSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    timeout_s: float = Field(default=10.0, gt=0, le=600)
    allow_private: bool = Field(
        default=False, description="deliver to loopback and private addresses too"
    )
