"""The sync engine, inbound (flow 1 of ARCHITECTURE.md): records changed at a system of
record since the stored cursor, mapped, upserted by (system, external id), page by page.

- ``streams``: what a stream reads (system, entity, sObject, fields, order) and the
  Salesforce streams of a mapping (customers: Account -> customer and site; contacts;
  assets; work_orders: WorkOrder -> intake), the HR system's (certifications) and SAP's
  (customers: billing accounts), Workday's (certifications: each technician's, read from
  their worker).
- ``engine``: ``run_stream`` runs one stream: reads its cursor, queries from the cursor minus
  a look-back window, maps each record, resolves its references, upserts it (a stale or
  unchanged stamp is skipped; a deletion leaves a tombstone), quarantines what cannot be
  applied, and commits each page's writes with the cursor's advance in one transaction.
- ``apply``: one entity of a page applied in a handful of statements; the run's counts;
  quarantine. ``work_orders``: intake once, the ownership policy, our keys written back.
  ``classify``: what applying a page decides, record by record (no database, no I/O).
- ``reconcile``: the full key sets compared; what the system of record no longer has is
  tombstoned, what the store lacks reported (``reports``).
- ``retry_quarantine`` applies held records again from their payloads (after a mapping fix).

``cli.sync`` is ``fieldbridge sync run``, ``fieldbridge sync status`` and
``fieldbridge sync retry-quarantine``.
"""

from orchestrator.sync.engine import (
    DEFAULT_LOOKBACK_S,
    RetryResult,
    Source,
    StreamResult,
    cursors,
    retry_quarantine,
    run_stream,
)
from orchestrator.sync.reconcile import Report, reconcile, reports
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
    "DEFAULT_LOOKBACK_S",
    "HR_STREAM_NAMES",
    "SAP_STREAM_NAMES",
    "STREAM_NAMES",
    "WORKDAY_STREAM_NAMES",
    "Report",
    "RetryResult",
    "Source",
    "Stream",
    "StreamResult",
    "cursors",
    "hr_streams",
    "reconcile",
    "reports",
    "retry_quarantine",
    "run_stream",
    "salesforce_streams",
    "sap_streams",
    "workday_streams",
]
