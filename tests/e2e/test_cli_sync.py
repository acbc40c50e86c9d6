"""``fieldbridge sync run`` and ``fieldbridge sync status`` against the Salesforce simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.salesforce import SalesforceSimulator

FIELDBRIDGE = str(Path(sys.executable).with_name("fieldbridge"))


@pytest.fixture(scope="module")
def sim() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=5, customers=40, assets=60, malformed=0.05) as s:
        yield s


@pytest.fixture
def env(tmp_path: Path, database_url: str, sim: SalesforceSimulator) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    out.update(
        FIELDBRIDGE_DATABASE_URL=database_url,
        FIELDBRIDGE_ATTACHMENTS_DIR=str(tmp_path / "att"),
        FIELDBRIDGE_SECRET_KEY_FILE=str(tmp_path / "key"),
        FIELDBRIDGE_SALESFORCE_API_VERSION=sim.api_version,
        COLUMNS="200",
        **sim.env("password"),
    )
    return out


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FIELDBRIDGE, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_sync_run_fills_the_store_and_status_shows_the_cursors(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    done = run(env, "sync", "run")
    assert done.returncode == 0, done.stderr
    for stream in ("customers", "contacts", "assets"):
        assert f"salesforce {stream}" in done.stderr
    again = run(env, "sync", "run", "--entity", "contacts", "--full")
    assert again.returncode == 0, again.stderr
    assert "salesforce contacts" in again.stderr and "salesforce assets" not in again.stderr
    status = run(env, "sync", "status")
    assert status.returncode == 0, status.stderr
    assert "customers" in status.stderr and "held in quarantine: salesforce" in status.stderr


def test_a_mapping_that_does_not_fit_the_org_stops_the_run_naming_the_field(
    env: dict[str, str], tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[contact]\nphone = "Mobile_Phone__c"\n')
    assert run(env, "migrate").returncode == 0
    refused = run(env | {"FIELDBRIDGE_SALESFORCE_MAPPING_FILE": str(mapping)}, "sync", "run")
    assert refused.returncode == 2
    assert "Contact.Mobile_Phone__c: no such field" in refused.stderr
    assert run(env, "sync", "run", "--entity", "sites").returncode == 2
