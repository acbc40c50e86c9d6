"""The systems a sync runs against: each system's mapping and streams (``sync_system``), the
start-up check of a Salesforce mapping against the org, and ``run_system``: one run of a
system's streams, the same for ``fieldbridge sync run`` and the production mode's scheduled
task. The connector comes from the composition root (``SyncSystem.connect``). Problems with
the set-up are ``SetupError`` with a sentence for a person."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.errors import Permanent
from connectors.hr import HRConnector
from connectors.salesforce import SalesforceConnector
from connectors.sap import SAPConnector
from connectors.workday import WorkdayConnector
from mappings.errors import MappingConfigError
from mappings.hr import HRMapping
from mappings.records import InboundMap
from mappings.salesforce import SalesforceMapping
from mappings.sap import SAPMapping
from mappings.workday import TechnicianFilter, WorkdayMapping
from orchestrator.domain.errors import SetupError
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.engine import StreamResult, run_stream
from orchestrator.sync.streams import (
    HR_STREAM_NAMES,
    SAP_STREAM_NAMES,
    STREAM_NAMES,
    WORKDAY_STREAM_NAMES,
    Stream,
    hr_streams,
    salesforce_streams,
    sap_streams,
    workday_streams,
)

__all__ = [
    "NAMES",
    "SYSTEMS",
    "AnyConnector",
    "SyncSystem",
    "check_mapping",
    "run_system",
    "salesforce_mapping",
    "sync_system",
]

NAMES: dict[str, tuple[str, ...]] = {
    "salesforce": STREAM_NAMES,
    "sap": SAP_STREAM_NAMES,
    "hr": HR_STREAM_NAMES,
    "workday": WORKDAY_STREAM_NAMES,
}
SYSTEMS = tuple(NAMES)
AnyConnector = SalesforceConnector | HRConnector | SAPConnector | WorkdayConnector


def salesforce_mapping(path: Path | None) -> SalesforceMapping:
    """The standard org's mapping, or the one in ``path``."""
    if path is None:
        return SalesforceMapping()
    try:
        return SalesforceMapping.load(path)
    except OSError as exc:
        raise SetupError(f"cannot read the mapping file {path}: {exc.strerror or exc}") from None
    except (ValueError, ValidationError) as exc:
        raise SetupError(f"the mapping file {path} is not a valid mapping: {exc}") from None


def _not_connected() -> AnyConnector:
    raise SetupError("no connector was given for this system")


@dataclass(frozen=True)
class SyncSystem:
    """One system as a sync sees it: its mapping, its streams by name in run order, and how
    to reach it (``connect``: a new connector, or ``SetupError`` saying which settings
    it lacks; ``bulk_threshold``: Salesforce's, for the Bulk API)."""

    name: str
    mapping: InboundMap
    streams: dict[str, Stream]
    connect: Callable[[], AnyConnector] = _not_connected
    bulk_threshold: int | None = None

    def connected_by(
        self, connect: Callable[[], AnyConnector], bulk_threshold: int | None
    ) -> SyncSystem:
        return replace(self, connect=connect, bulk_threshold=bulk_threshold)


def sync_system(
    system: str, mapping_file: Path | None, *, technicians: TechnicianFilter | None = None
) -> SyncSystem:
    """The system's mapping and streams (``mapping_file``: a Salesforce mapping of the org's
    own, the standard one when None; ``technicians``: which of Workday's workers are
    technicians, every one when None); not yet connected."""
    if system == "workday":
        return SyncSystem(system, WorkdayMapping(technicians), workday_streams(technicians))
    if system == "hr":
        return SyncSystem(system, HRMapping(), hr_streams())
    if system == "sap":
        return SyncSystem(system, SAPMapping(), sap_streams())
    if system != "salesforce":
        raise SetupError(f"no system named {system!r} (one of {', '.join(SYSTEMS)})")
    mapping = salesforce_mapping(mapping_file)
    return SyncSystem(system, mapping, dict(salesforce_streams(mapping)))


def check_mapping(sf: SalesforceConnector, mapping: SalesforceMapping) -> None:
    """The mapping held against the org's describes; ``SetupError`` naming each misfit."""
    describes: dict[str, Any] = {}
    for sobject in mapping.sobjects():
        try:
            describes[sobject] = sf.describe(sobject)
        except Permanent:
            continue  # reported by the check as missing from the org
    try:
        mapping.validate_against(describes)
    except MappingConfigError as exc:
        raise SetupError(
            f"the Salesforce mapping does not fit the org ({len(exc.problems)} problems):",
            exc.problems,
        ) from None


def run_system(
    new_uow: Callable[[], UnitOfWork],
    system: SyncSystem,
    names: Sequence[str] | None = None,
    *,
    full: bool = False,
    lookback_s: float = 300.0,
    batch_size: int = 2000,
    on_start: Callable[[str], Any] | None = None,
    on_page: Callable[[str, StreamResult], None] | None = None,
) -> list[StreamResult]:
    """One run of ``system``'s streams (``names``, default all, in run order). A connector's
    error ends the run (``ConnectorError``); what a stream committed stays."""
    wanted = list(names) if names else list(system.streams)
    unknown = [n for n in wanted if n not in system.streams]
    if unknown:
        raise SetupError(
            f"{system.name} has no stream {unknown[0]!r} ({', '.join(system.streams)})"
        )
    results: list[StreamResult] = []
    with system.connect() as source:
        if isinstance(source, SalesforceConnector):
            assert isinstance(system.mapping, SalesforceMapping)  # nosec B101  # a Salesforce system is built with its mapping; this narrows the type
            check_mapping(source, system.mapping)
        for name in wanted:
            if on_start is not None:
                on_start(name)
            report = None if on_page is None else (lambda r, n=name: on_page(n, r))
            result = run_stream(
                new_uow,
                source,
                system.streams[name],
                system.mapping,
                full=full,
                lookback_s=lookback_s,
                batch_size=batch_size,
                bulk_threshold=system.bulk_threshold,
                on_page=report,
            )
            if on_page is not None:
                on_page(name, result)
            results.append(result)
    return results
