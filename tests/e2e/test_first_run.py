"""A first run as a new user makes it: ``fieldbridge migrate`` and ``fieldbridge serve`` on a
fresh store with no system configured. The log says, once, at WARNING, which settings each
write-back destination lacks, and nothing at ERROR; ``/health`` is ``ok``; ``/docs`` loads
everything it needs from the server itself."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx2 as httpx

from tests.support.cli import cli_env, run, serving


def test_a_fresh_store_and_no_settings_serve_quietly_and_healthy(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path,
                  FIELDBRIDGE_OUTBOX_RELAY_EVERY_S="0.2")  # fmt: skip
    migrated = run(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    with serving(env, tmp_path) as server:
        health = httpx.get(server.base + "/health", timeout=5).json()
        assert (health["status"], health["reasons"]) == ("ok", [])
        page = httpx.get(server.base + "/docs", timeout=5)
        assert page.status_code == 200 and "://" not in page.text
        for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert httpx.get(server.base + asset, timeout=5).status_code == 200, asset
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
    logged = server.logged()
    assert " ERROR " not in logged and "Traceback" not in logged, logged
    warnings = [line for line in logged.splitlines() if " WARNING " in line]
    assert len(warnings) == 2, warnings  # once for each destination, not once a round
    assert any("FIELDBRIDGE_SAP_URL" in line for line in warnings)
    assert any("FIELDBRIDGE_SALESFORCE_" in line for line in warnings)
    assert all("parked" in line for line in warnings)
