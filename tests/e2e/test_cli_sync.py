"""``fieldbridge sync run``, ``status`` and ``retry-quarantine`` against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from orchestrator.store import models
from sandbox.salesforce import SalesforceSimulator
from tests.support.cli import cli_env, run

# The commands' path is the same on both stores (the sync engine's tests cover both), and each
# is a process of its own: SQLite only.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(scope="module")
def sim() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(seed=5, customers=40, assets=60, malformed=0.05) as simulator:
        yield simulator


@pytest.fixture
def env(tmp_path: Path, database_url: str, sim: SalesforceSimulator) -> dict[str, str]:
    return cli_env(
        database_url,
        tmp_path,
        FIELDBRIDGE_SALESFORCE_API_VERSION=sim.api_version,
        COLUMNS="200",
        **sim.env("password"),
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


def test_retry_quarantine_applies_a_record_fixed_by_a_mapping_change(
    tmp_path: Path, database_url: str
) -> None:
    with SalesforceSimulator(seed=7, customers=30, contacts=60, assets=0, malformed=0.1) as org:
        env = cli_env(
            database_url,
            tmp_path,
            FIELDBRIDGE_SALESFORCE_API_VERSION=org.api_version,
            COLUMNS="200",
            **org.env("password"),
        )
        bad_emails = {
            i for i, (o, why) in org.malformed_reasons().items() if why == "invalid_email"
        }
        assert bad_emails
        assert run(env, "migrate").returncode == 0
        assert run(env, "sync", "run", "--entity", "customers").returncode == 0
        assert run(env, "sync", "run", "--entity", "contacts").returncode == 0
    assert held_contacts(database_url) >= bad_emails  # "not an e-mail address"

    same = run(env, "sync", "retry-quarantine", "--entity", "contact")
    assert same.returncode == 0, same.stderr
    assert "0 left quarantine" in same.stderr
    assert held_contacts(database_url) >= bad_emails
    attempts = quarantine_rows(database_url)
    assert all(r.attempts == 2 for r in attempts if r.external_id in bad_emails)

    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[contact]\nemail = ""\n')  # the org's e-mails are not ours to read
    fixed = run(
        env | {"FIELDBRIDGE_SALESFORCE_MAPPING_FILE": str(mapping)}, "sync", "retry-quarantine"
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "quarantine retried" in fixed.stderr
    assert not held_contacts(database_url) & bad_emails
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            contacts = models.table_of(models.Contact)
            stored = {
                r.external_id: r.email
                for r in conn.execute(select(contacts.c.external_id, contacts.c.email))
            }
    finally:
        engine.dispose()
    assert all(i in stored and stored[i] is None for i in bad_emails)
    assert run(env, "sync", "retry-quarantine", "--entity", "sites!").returncode == 2


def quarantine_rows(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            quarantine = models.table_of(models.QuarantinedRecord)
            return list(conn.execute(select(quarantine)))
    finally:
        engine.dispose()


def held_contacts(database_url: str) -> set[str]:
    return {
        r.external_id
        for r in quarantine_rows(database_url)
        if r.entity == "contact" and r.resolved_at is None
    }


def test_sync_run_for_hr_brings_certifications_onto_known_technicians(
    tmp_path: Path, database_url: str
) -> None:
    from sandbox.hr import HRSimulator

    with HRSimulator(seed=4, workers=12, malformed=0.05) as hr:
        env = cli_env(database_url, tmp_path, COLUMNS="200", **hr.env())
        assert run(env, "migrate").returncode == 0
        workers = sorted({r["worker_id"] for r in hr.records()})
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                models.table_of(models.Technician).insert(),
                [
                    {
                        "source_system": "hr",
                        "external_id": w,
                        "name": f"Technician {w}",
                        "home_latitude": 52.5,
                        "home_longitude": 13.4,
                        "time_zone": "Europe/Berlin",
                        "version": 1,
                    }
                    for w in workers
                ],
            )
        assert run(env, "sync", "run", "--entity", "customers", "--system", "hr").returncode == 2
        done = run(env, "sync", "run", "--system", "hr")
        assert done.returncode == 0, done.stderr
        assert "hr certifications" in done.stderr
        with engine.connect() as conn:
            certs = models.table_of(models.Certification)
            held = conn.execute(
                select(certs.c.external_id).where(certs.c.source_system == "hr")
            ).all()
        engine.dispose()
        assert len(held) == hr.count() - len(hr.malformed_ids())
        status = run(env, "sync", "status")
        assert "hr" in status.stderr and "certifications" in status.stderr
        first = hr.records()[0]
        hr.delete(first["worker_id"], first["code"])
        reconciled = run(env, "sync", "reconcile", "--system", "hr")
        assert reconciled.returncode == 0, reconciled.stderr
        assert "hr certifications" in reconciled.stderr
        assert f"tombstoned {first['id']}" in reconciled.stderr
        hr.expire_token()
        expired = run(env, "sync", "run", "--system", "hr")
        assert expired.returncode == 2 and "FIELDBRIDGE_HR_TOKEN" in expired.stderr


def test_sync_run_for_sap_brings_its_customers_in(tmp_path: Path, database_url: str) -> None:
    from sandbox.sap import SAPSimulator

    with SAPSimulator(seed=6, customers=30, malformed=0.1) as sap:
        env = cli_env(database_url, tmp_path, COLUMNS="200", **sap.env())
        assert run(env, "migrate").returncode == 0
        done = run(env, "sync", "run", "--system", "sap")
        assert done.returncode == 0, done.stderr
        assert "sap customers" in done.stderr
        engine = create_engine(database_url)
        with engine.connect() as conn:
            customers = models.table_of(models.Customer)
            held = conn.execute(
                select(customers.c.external_id).where(customers.c.source_system == "sap")
            ).all()
        engine.dispose()
        assert 0 < len(held) < sap.count()  # the malformed wait in quarantine
        refused = run(env | {"FIELDBRIDGE_SAP_PASSWORD": "wrong"}, "sync", "run", "--system", "sap")
        assert refused.returncode == 2 and "FIELDBRIDGE_SAP_PASSWORD" in refused.stderr
