"""``FinanceSimulator``: a finance subscriber receiving fieldbridge's billing webhooks over
real HTTPS on loopback, in a background thread.

    with FinanceSimulator(seed=1) as finance:
        connector = WebhookConnector(
            WebhookSettings(allow_private=True, ca_bundle=finance.ca_path)
        )
        connector.deliver(finance.endpoint, finance.secret, "bt-1", {"type": "..."})
        finance.deliveries()   # one event per webhook-id

A throwaway CA (``trustme``) signs the server's certificate for 127.0.0.1 and localhost; its
PEM is at ``ca_path``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox._controls import Controls
from sandbox._server import LoopbackSimulator
from sandbox.finance.app import BILLING, Desk, FinanceApp
from sandbox.finance.verify import Verifier


def _derived_secret(seed: int) -> str:
    digest = hashlib.sha256(f"fieldbridge-finance-{seed}".encode()).digest()
    return "whsec_" + base64.b64encode(digest).decode("ascii")


class FinanceSimulator(LoopbackSimulator, Controls):
    """A finance system on ``https://127.0.0.1:<port>`` receiving ``POST /webhooks/billing``.

    ``seed`` fixes the signing secret (unless ``secret``, ``whsec_<base64>``, is given).
    Deliveries are checked with ``tolerance_s`` (300) against the clock. ``faults`` takes the
    settings of ``set_faults`` (e.g. ``{"rate": 0.3, "seed": 7}``; kinds ``503``, ``429``,
    ``lost`` by default, also ``500``, ``latency``, ``hang``). ``workdir`` keeps the CA and
    the server certificate (a temporary directory, removed on stop, when omitted).
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        secret: str | None = None,
        tolerance_s: int = 300,
        faults: Mapping[str, Any] | None = None,
        port: int = 0,
        workdir: str | Path | None = None,
    ) -> None:
        super().__init__(
            "finance simulator", port=port, workdir=workdir, workdir_prefix="fieldbridge-finance-"
        )
        self._secret = secret or _derived_secret(seed)
        self._desk = Desk(Verifier(self._secret, tolerance_s))
        if faults:
            self.set_faults(**faults)

    def _app(self) -> Any:
        return FinanceApp(self._desk, self._http.state).app

    @property
    def _shared(self) -> Desk:
        return self._desk

    # --- where it is (and ``url``, ``port``, ``workdir``, ``ca_path``) ---------------------

    @property
    def endpoint(self) -> str:
        """The URL billing webhooks are delivered to."""
        return self.url + BILLING

    @property
    def secret(self) -> str:
        """The signing secret the receiver accepts (``whsec_<base64>``)."""
        return self._secret

    def env(self) -> dict[str, str]:
        """The settings that let fieldbridge deliver here (a loopback address, this CA); the
        URL (``endpoint``) and ``secret`` belong to the subscription."""
        return {
            "FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE": "true",
            "FIELDBRIDGE_WEBHOOK_CA_BUNDLE": str(self.ca_path),
        }

    # --- what it received (faults, clear_ledger: Controls) ---------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        """The events received, one per webhook-id, in the order received: webhook_id,
        timestamp (as signed), received_at, payload."""
        with self._desk.lock:
            return [dict(e) for e in self._desk.received.values()]

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """Every delivery request served, in order: seq, at, method, path, webhook_id, status,
        fault (None, or the fault that answered it), accepted (a new event received), reason
        (why it was refused)."""
        with self._desk.lock:
            return [dict(e) for e in self._desk.ledger]
