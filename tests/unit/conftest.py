"""What every unit test runs with: no connector settings or CA bundle from the environment,
and HTTP mocked with ``responses`` (an unregistered URL is a connection error, never the
network; a test registers the answers it needs on ``mocked``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import responses

CONNECTOR_ENV = ("FIELDBRIDGE_SALESFORCE_", "FIELDBRIDGE_SAP_", "FIELDBRIDGE_HR_",
                 "FIELDBRIDGE_WEBHOOK_")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(CONNECTOR_ENV) or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def mocked() -> Iterator[responses.RequestsMock]:
    """Every test runs with HTTP mocked: an unregistered URL is a connection error."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps
