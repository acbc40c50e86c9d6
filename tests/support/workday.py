"""Workday in the tests: the connector's settings, the connector on a simulator, answers made
by zeep from the project's WSDL, and Workday's own WSDL (kept outside the repository, in
``../shared/wsdl/workday``) to hold every message against, in libxml2's strict validation."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.workday import WorkdayConnector, WorkdaySettings
from sandbox.workday import WorkdaySimulator
from sandbox.workday.app import Service
from sandbox.workday.server import DEFAULT_WSDL_DIR
from tests.support.sap import body_of, real_schema

REAL_WSDL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "wsdl" / "workday"
REAL_WSDL = REAL_WSDL_DIR / "Human_Resources.wsdl"
OUR_WSDL = DEFAULT_WSDL_DIR / "Human_Resources.wsdl"
BASE = "https://wd2-impl-services1.workday.example/ccx/service/acme_tenant"
ENDPOINT = BASE + "/Human_Resources/v26.1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

real_wsdl = pytest.mark.skipif(
    not REAL_WSDL.is_file(),
    reason=f"Workday's own WSDL is not at {REAL_WSDL} (conformance data kept outside the repo)",
)


@functools.cache
def schema(wsdl: Path = REAL_WSDL) -> etree.XMLSchema:
    """The XML Schema of a WSDL's types (Workday's own by default), compiled once."""
    with tempfile.TemporaryDirectory() as tmp:
        return real_schema(wsdl, Path(tmp))


def assert_valid(envelope: bytes, wsdl: Path = REAL_WSDL) -> None:
    """The SOAP body's element (a request, an answer or a fault's detail) is valid against
    the WSDL's schema."""
    body = body_of(envelope)
    if body.tag.endswith("}Fault"):
        detail = body.find("detail")
        body = detail[0] if detail is not None and len(detail) else None
        if body is None:
            return
    checked = schema(wsdl)
    assert checked.validate(body), checked.error_log


@functools.cache
def service() -> Service:
    """The project's WSDL as the simulator reads it (to make answers with zeep)."""
    return Service(OUR_WSDL)


def settings(**over: Any) -> WorkdaySettings:
    values: dict[str, Any] = {
        "url": BASE,
        "username": "ISU_fieldbridge@acme_tenant",
        "password": "s3cret-pass",
        "timeout_s": 7.5,
        "max_attempts": 4,
    }
    return WorkdaySettings(**values | over)


def connector(sleeps: list[float] | None = None, **over: Any) -> WorkdayConnector:
    return WorkdayConnector(settings(**over), sleep=(sleeps if sleeps is not None else []).append)


def on(sim: WorkdaySimulator, **over: Any) -> WorkdayConnector:
    """The connector on the simulator, its settings given (not read from the environment)."""
    values: dict[str, Any] = {
        "url": sim.base_url,
        "username": sim.username,
        "password": sim.password,
        "ca_bundle": sim.ca_path,
        "timeout_s": 5,
        "max_attempts": 6,
    }
    return WorkdayConnector(WorkdaySettings(**values | over), sleep=lambda _: None)


def add_technicians(container: Any, workers: list[str]) -> dict[str, int]:
    """Technicians the office entered for these Workday workers (``("workday", id)``)."""
    from mappings import canonical
    from orchestrator.reference import records as reference

    out = {}
    for worker in workers:
        with container.new_uow() as uow:
            created = reference.create(
                uow,
                reference.KINDS["technicians"],
                canonical.Technician(
                    source_system="workday",
                    external_id=worker,
                    name=f"Technician {worker}",
                    home_latitude=53.8,
                    home_longitude=-1.55,
                    time_zone="Europe/London",
                ),
            )
        out[worker] = created["id"]
    return out
