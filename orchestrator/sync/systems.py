"""The systems a sync runs against, as the settings describe them: each system's mapping and
streams, its connector (settings read from the environment), the start-up check of a
Salesforce mapping against the org, and ``run_system``: one run of a system's streams, the
same for ``fieldbridge sync run`` and the production mode's scheduled task. Problems with the
set-up are ``SyncSetupError`` with a sentence for a person."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.errors import Permanent
from connectors.hr import HRConnector, HRSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SAPConnector, SAPSettings
from mappings.errors import MappingConfigError
from mappings.hr import HRMapping
from mappings.records import InboundMap
from mappings.salesforce import SalesforceMapping
from mappings.sap import SAPMapping
from orchestrator.sync.engine import StreamResult, run_stream
from orchestrator.sync.streams import (
    HR_STREAM_NAMES,
    SAP_STREAM_NAMES,
    STREAM_NAMES,
    Stream,
    hr_streams,
    salesforce_streams,
    sap_streams,
)
from orchestrator.uow import UnitOfWork

__all__ = [
    "NAMES",
    "SYSTEMS",
    "AnyConnector",
    "SyncSetupError",
    "check_mapping",
    "connect",
    "run_system",
    "salesforce_mapping",
    "streams_of",
]

NAMES: dict[str, tuple[str, ...]] = {
    "salesforce": STREAM_NAMES,
    "sap": SAP_STREAM_NAMES,
    "hr": HR_STREAM_NAMES,
}
SYSTEMS = tuple(NAMES)
AnyConnector = SalesforceConnector | HRConnector | SAPConnector


class SyncSetupError(Exception):
    """A sync that cannot start: settings incomplete, a mapping unreadable or not fitting the
    org. ``problems`` lists each misfit when there are several."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def salesforce_mapping(path: Path | None) -> SalesforceMapping:
    """The standard org's mapping, or the one in ``path``."""
    if path is None:
        return SalesforceMapping()
    try:
        return SalesforceMapping.load(path)
    except OSError as exc:
        raise SyncSetupError(
            f"cannot read the mapping file {path}: {exc.strerror or exc}"
        ) from None
    except (ValueError, ValidationError) as exc:
        raise SyncSetupError(f"the mapping file {path} is not a valid mapping: {exc}") from None


def streams_of(system: str, mapping_file: Path | None) -> tuple[InboundMap, dict[str, Stream]]:
    """The system's mapping and its streams, by name, in run order."""
    if system == "hr":
        return HRMapping(), hr_streams()
    if system == "sap":
        return SAPMapping(), sap_streams()
    if system != "salesforce":
        raise SyncSetupError(f"no system named {system!r} (one of {', '.join(SYSTEMS)})")
    mapping = salesforce_mapping(mapping_file)
    return mapping, dict(salesforce_streams(mapping))


def connect(system: str) -> tuple[AnyConnector, int | None]:
    """The system's connector (its settings read from the environment) and its bulk
    threshold."""
    try:
        if system == "hr":
            return HRConnector(HRSettings()), None
        if system == "sap":
            return SAPConnector(SAPSettings()), None
        settings = SalesforceSettings()
    except (ValueError, ValidationError) as exc:
        raise SyncSetupError(f"the {system} settings are incomplete: {exc}") from None
    return SalesforceConnector(settings), settings.bulk_threshold


def check_mapping(sf: SalesforceConnector, mapping: SalesforceMapping) -> None:
    """The mapping held against the org's describes; ``SyncSetupError`` naming each misfit."""
    describes: dict[str, Any] = {}
    for sobject in mapping.sobjects():
        try:
            describes[sobject] = sf.describe(sobject)
        except Permanent:
            continue  # reported by the check as missing from the org
    try:
        mapping.validate_against(describes)
    except MappingConfigError as exc:
        raise SyncSetupError(
            f"the Salesforce mapping does not fit the org ({len(exc.problems)} problems):",
            exc.problems,
        ) from None


def run_system(
    uow: Callable[[], UnitOfWork],
    system: str,
    names: Sequence[str] | None = None,
    *,
    mapping_file: Path | None = None,
    full: bool = False,
    lookback_s: float = 300.0,
    batch_size: int = 2000,
    on_start: Callable[[str], Any] | None = None,
    on_page: Callable[[str, StreamResult], None] | None = None,
) -> list[StreamResult]:
    """One run of ``system``'s streams (``names``, default all, in run order). A connector's
    error ends the run (``ConnectorError``); what a stream committed stays."""
    mapping, streams = streams_of(system, mapping_file)
    wanted = list(names) if names else list(streams)
    unknown = [n for n in wanted if n not in streams]
    if unknown:
        raise SyncSetupError(f"{system} has no stream {unknown[0]!r} ({', '.join(streams)})")
    connector, bulk_threshold = connect(system)
    results: list[StreamResult] = []
    with connector as source:
        if isinstance(source, SalesforceConnector):
            assert isinstance(mapping, SalesforceMapping)
            check_mapping(source, mapping)
        for name in wanted:
            if on_start is not None:
                on_start(name)
            report = None if on_page is None else (lambda r, n=name: on_page(n, r))
            result = run_stream(
                uow,
                source,
                streams[name],
                mapping,
                full=full,
                lookback_s=lookback_s,
                batch_size=batch_size,
                bulk_threshold=bulk_threshold,
                on_page=report,
            )
            if on_page is not None:
                on_page(name, result)
            results.append(result)
    return results
