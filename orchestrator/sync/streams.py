"""Streams: what one inbound sync reads, declared; the engine owns the state (the cursor).

A stream names its system, its name (the cursor's ``entity``: ``customers``, ``contacts``,
``assets``, ``work_orders``), the sObject it queries, the fields it selects (the mapping's),
its optional filter, the canonical entities each record becomes (an Account: a customer,
then its site) and its order: (SystemModstamp, Id), the cursor's stamp and tie-breaker.

A Salesforce stream describes its reads as ``connectors.salesforce.query.Query``s (fields,
conditions, order); the connector writes the SOQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from connectors.salesforce.query import And, Compare, Condition, In, Or, Query
from mappings.hr.certifications import SYSTEM as HR
from mappings.records import Entity, stamp_of
from mappings.salesforce import RECORD_TYPE, SYSTEM, SalesforceMapping
from mappings.sap.inbound import READ_AT, change_stamp
from mappings.sap.inbound import SYSTEM as SAP
from mappings.workday import SYSTEM as WORKDAY
from mappings.workday import TechnicianFilter, certification_records, technician_records

STREAM_NAMES: tuple[str, ...] = ("customers", "contacts", "assets", "work_orders")
"""Salesforce's, in the order a run takes them: references point at streams run before."""
HR_STREAM_NAMES: tuple[str, ...] = ("certifications",)
SAP_STREAM_NAMES: tuple[str, ...] = ("customers", "assets")
WORKDAY_STREAM_NAMES: tuple[str, ...] = ("technicians", "certifications")


@dataclass(frozen=True)
class Cursor:
    """Where a run reads from: the stamp and id of the last record committed, and how far
    back before it to read again (``lookback_s``)."""

    stamp: datetime
    last_id: str | None
    lookback_s: float

    @property
    def since(self) -> datetime:
        """The stamp to read from again: the last one committed, less the look-back."""
        return self.stamp - timedelta(seconds=self.lookback_s)


@dataclass(frozen=True)
class Read:
    """What a stream will read: its pages, and what it decided on the way (how many records
    it counted, if it counted; whether it reads in bulk; the earliest stamp it reads)."""

    pages: Iterator[list[dict[str, Any]]]
    since: datetime | None = None
    to_read: int | None = None
    bulk: bool = False


@dataclass(frozen=True)
class Stream:
    """One inbound stream: its system and name (the cursor's key), the canonical entities each
    record becomes, and its order (stamp field, then id field). How it reads is its own."""

    system: str
    name: str
    entities: tuple[Entity, ...]
    stamp_field: str
    id_field: str
    ordered: bool = True
    """Records come in (stamp, id) order, so the cursor moves page by page; a source that
    pages in another order (SAP: by ID within a change-date selection) moves it at the end."""

    def stamp(self, raw: Mapping[str, Any]) -> datetime | None:
        """A record's change stamp (None when it has none it can be read by)."""
        return stamp_of(raw.get(self.stamp_field))

    def key(self, raw: Mapping[str, Any]) -> str:
        """A record's id at its source ("" when it has none)."""
        return str(raw.get(self.id_field) or "")

    def read(
        self,
        source: Any,
        cursor: Cursor | None,
        *,
        batch_size: int,
        bulk_threshold: int | None,
    ) -> Read:
        """The records changed since ``cursor`` (None: every record, deleted ones too), in
        (stamp, id) order, in pages of ``batch_size``."""
        raise NotImplementedError

    def keys(
        self, source: Any, *, batch_size: int, bulk_threshold: int | None
    ) -> Iterator[list[str]]:
        """The ids of every record the system of record holds now (not deleted), in pages:
        what reconciliation compares the store with."""
        raise NotImplementedError


class SoqlSource(Protocol):
    """What a SOQL stream reads through (``SalesforceConnector`` is one)."""

    def query_pages(
        self, query: Query, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]: ...

    def bulk_query_pages(
        self, query: Query, *, include_deleted: bool = False, page_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]: ...

    def count(self, query: Query, *, include_deleted: bool = False) -> int: ...


@dataclass(frozen=True)
class SoqlStream(Stream):
    """A Salesforce stream: ``queryAll`` of the sObject's mapped fields (and the stream's
    filter: the mapping's record types), by (SystemModstamp, Id); through a Bulk API 2.0 job
    when more than the bulk threshold changed."""

    sobject: str = ""
    fields: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    """The stream's filter: every record it reads meets each of them."""

    def query(self, *where: Condition) -> Query:
        """The query: the fields, the stream's filter and ``where``, in the stream's order."""
        return Query(
            self.sobject,
            self.fields,
            (*self.conditions, *where),
            order_by=(self.stamp_field, self.id_field),
        )

    def read(
        self,
        source: SoqlSource,
        cursor: Cursor | None,
        *,
        batch_size: int,
        bulk_threshold: int | None,
    ) -> Read:
        where: tuple[Condition, ...] = ()
        since = None
        if cursor is not None:
            after, since = self.since(cursor)
            where = (after,)
        query = self.query(*where)
        to_read, bulk = None, False
        if bulk_threshold is not None:
            to_read = source.count(query, include_deleted=True)
            bulk = to_read > bulk_threshold
        pages = (
            source.bulk_query_pages(query, include_deleted=True, page_size=batch_size)
            if bulk
            else source.query_pages(query, include_deleted=True, batch_size=batch_size)
        )
        return Read(pages, since, to_read, bulk)

    def keys(
        self, source: SoqlSource, *, batch_size: int, bulk_threshold: int | None
    ) -> Iterator[list[str]]:
        query = Query(self.sobject, (self.id_field,), self.conditions, order_by=(self.id_field,))
        bulk = bulk_threshold is not None and source.count(query) > bulk_threshold
        pages = (
            source.bulk_query_pages(query, page_size=batch_size)
            if bulk
            else source.query_pages(query, batch_size=batch_size)
        )
        for page in pages:
            yield [str(r[self.id_field]) for r in page]

    def since(self, cursor: Cursor) -> tuple[Condition, datetime]:
        """The condition that reads from the cursor (less the look-back), and where it starts:
        with no look-back, ``SystemModstamp > c OR (SystemModstamp = c AND Id > id)``; else
        ``SystemModstamp >= c - look-back``, to the whole second (the query writes date-times
        to the second)."""
        stamp_field, stamp = self.stamp_field, cursor.stamp
        if cursor.lookback_s == 0 and cursor.last_id is not None and stamp.microsecond == 0:
            tie = And(Compare(stamp_field, "=", stamp), Compare(self.id_field, ">", cursor.last_id))
            return Or(Compare(stamp_field, ">", stamp), tie), stamp
        since = (stamp - timedelta(seconds=cursor.lookback_s)).replace(microsecond=0)
        return Compare(stamp_field, ">=", since), since


class FeedSource(Protocol):
    """What the HR certification feed is read through (``HRConnector`` is one)."""

    def certification_pages(
        self, updated_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class CertificationFeed(Stream):
    """The HR system's certifications: the feed from ``updated_since`` (inclusive: the
    cursor's stamp less the look-back), in (``updated_at``, ``id``) order."""

    def read(
        self,
        source: FeedSource,
        cursor: Cursor | None,
        *,
        batch_size: int,
        bulk_threshold: int | None,
    ) -> Read:
        since = None if cursor is None else cursor.since
        pages = source.certification_pages(updated_since=since, page_size=min(batch_size, 1000))
        return Read(pages, since)

    def keys(
        self, source: FeedSource, *, batch_size: int, bulk_threshold: int | None
    ) -> Iterator[list[str]]:
        """The whole feed (it has no key-only read): each record's ``id``."""
        for page in source.certification_pages(page_size=min(batch_size, 1000)):
            yield [str(r[self.id_field]) for r in page if isinstance(r.get(self.id_field), str)]


def hr_streams() -> dict[str, Stream]:
    """The HR system's streams, by name, in run order."""
    return {
        "certifications": CertificationFeed(
            system=HR,
            name="certifications",
            entities=("certification",),
            stamp_field="updated_at",
            id_field="id",
        )
    }


class SAPQuerySource(Protocol):
    """What SAP's records are read through (``SAPConnector`` is one)."""

    def customer_pages(
        self, changed_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]: ...

    def equipment_pages(
        self, changed_since: datetime | None = None, *, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class SAPCustomers(Stream):
    """SAP's customers (billing accounts): QueryCustomerIn by change date (at or after the
    cursor's stamp less the look-back), paged by ID, so the cursor moves only when a run has
    read them all. Records are made JSON-safe (dates as ISO 8601 text) on the way in."""

    def stamp(self, raw: Mapping[str, Any]) -> datetime | None:
        return change_stamp(raw)

    def pages(
        self, source: SAPQuerySource, since: datetime | None, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        return source.customer_pages(changed_since=since, page_size=page_size)

    def read(
        self,
        source: SAPQuerySource,
        cursor: Cursor | None,
        *,
        batch_size: int,
        bulk_threshold: int | None,
    ) -> Read:
        since = None if cursor is None else cursor.since
        pages = self.pages(source, since, min(batch_size, 1000))
        return Read(([json_safe(r) for r in page] for page in pages), since)

    def keys(
        self, source: SAPQuerySource, *, batch_size: int, bulk_threshold: int | None
    ) -> Iterator[list[str]]:
        for page in self.pages(source, None, min(batch_size, 1000)):
            yield [k for k in map(self.key, page) if k]


@dataclass(frozen=True)
class SAPEquipment(SAPCustomers):
    """SAP's equipment (identified stock): QueryIdentifiedStocksIn, selected and paged like
    the customers. Its answer carries no change date-time, so each record is stamped with
    the moment the run asked (``READ_AT``): the cursor moves to it when the run has read
    them all, and the next run asks from there less the look-back (which also covers SAP's
    clock running behind ours)."""

    def stamp(self, raw: Mapping[str, Any]) -> datetime | None:
        return stamp_of(raw.get(READ_AT))

    def pages(
        self, source: SAPQuerySource, since: datetime | None, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        asked = datetime.now(UTC).isoformat()
        for page in source.equipment_pages(changed_since=since, page_size=page_size):
            yield [{**record, READ_AT: asked} for record in page]


def json_safe(value: Any) -> Any:
    """``value`` with every date-time as ISO 8601 text (a record kept in quarantine is JSON)."""
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def sap_streams() -> dict[str, Stream]:
    """SAP's streams, by name, in run order."""
    return {
        "customers": SAPCustomers(
            system=SAP,
            name="customers",
            entities=("customer",),
            stamp_field="SystemAdministrativeData/LastChangeDateTime",
            id_field="InternalID",
            ordered=False,
        ),
        "assets": SAPEquipment(
            system=SAP,
            name="assets",
            entities=("asset",),
            stamp_field=READ_AT,
            id_field="IdentifiedStockID",
            ordered=False,
        ),
    }


class WorkerSource(Protocol):
    """What Workday's workers are read through (``WorkdayConnector`` is one)."""

    def worker_pages(
        self,
        updated_from: datetime | None = None,
        updated_through: datetime | None = None,
        *,
        as_of: datetime | None = None,
        organizations: Sequence[str] = (),
        page_size: int = 999,
    ) -> Iterator[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class WorkdayCertifications(Stream):
    """Workday's workers that ``technicians`` selects, read with ``Get_Workers`` as of the
    moment the run asks (``As_Of_Entry_DateTime``, held across its pages); with a cursor,
    only the workers with a transaction from the cursor's stamp less the look-back up to
    that moment (``Transaction_Date_Range_Data``). A filter of organisations alone is asked
    of Workday (``Request_Criteria``), so only those workers are read. Each worker becomes
    one record per certification (``certification_records``), stamped with that moment, so
    the cursor moves to it when the run has read them all.

    A certification removed from a worker is not in the worker's answer: reconciliation
    (``keys``: every technician's certifications now) tombstones it."""

    technicians: TechnicianFilter = field(default_factory=TechnicianFilter)

    def stamp(self, raw: Mapping[str, Any]) -> datetime | None:
        return stamp_of(raw.get(self.stamp_field))

    def records_of(self, worker: Mapping[str, Any], asked: datetime) -> list[dict[str, Any]]:
        """The stream's records of one worker, stamped ``asked``."""
        return certification_records(worker, asked)

    def _records(
        self, source: WorkerSource, since: datetime | None, batch_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        asked = datetime.now(UTC)
        chosen = self.technicians
        only_orgs = not (chosen.job_profiles or chosen.field)
        pages = source.worker_pages(
            since,
            asked if since is not None else None,
            as_of=asked,
            organizations=sorted(chosen.organizations) if only_orgs else (),
            page_size=min(batch_size, 999),
        )
        for page in pages:
            records = [
                record
                for worker in page
                if chosen.matches(worker)
                for record in self.records_of(worker, asked)
            ]
            if records:
                yield records

    def read(
        self,
        source: WorkerSource,
        cursor: Cursor | None,
        *,
        batch_size: int,
        bulk_threshold: int | None,
    ) -> Read:
        since = None if cursor is None else cursor.since
        return Read(self._records(source, since, batch_size), since)

    def keys(
        self, source: WorkerSource, *, batch_size: int, bulk_threshold: int | None
    ) -> Iterator[list[str]]:
        for page in self._records(source, None, batch_size):
            yield [k for k in map(self.key, page) if k]


@dataclass(frozen=True)
class WorkdayTechnicians(WorkdayCertifications):
    """Workday's workers that ``technicians`` selects as technicians, read like the
    certifications (the same requests): one record per worker (``technician_records``:
    what of the worker Workday owns here). Run before the certifications, so that a
    worker's certifications find the technician made for them."""

    def records_of(self, worker: Mapping[str, Any], asked: datetime) -> list[dict[str, Any]]:
        return technician_records(worker, asked)


def workday_streams(technicians: TechnicianFilter | None = None) -> dict[str, Stream]:
    """Workday's streams, by name, in run order (``technicians``: which workers are)."""
    chosen = technicians or TechnicianFilter()
    common: dict[str, Any] = {
        "system": WORKDAY,
        "stamp_field": "As_Of_Entry_DateTime",
        "id_field": "id",
        "ordered": False,
        "technicians": chosen,
    }
    return {
        "technicians": WorkdayTechnicians(name="technicians", entities=("technician",), **common),
        "certifications": WorkdayCertifications(
            name="certifications", entities=("certification",), **common
        ),
    }


def salesforce_streams(mapping: SalesforceMapping) -> dict[str, SoqlStream]:
    """The Salesforce streams of ``mapping``, by name, in run order."""
    sobjects = {
        "customers": mapping.account.sobject,
        "contacts": mapping.contact.sobject,
        "assets": mapping.asset.sobject,
        "work_orders": mapping.work_order.sobject,
    }
    wanted: dict[str, tuple[Entity, ...]] = {
        "customers": ("customer", "site"),
        "contacts": ("contact",),
        "assets": ("asset",),
        "work_orders": ("work_order",),
    }
    return {
        name: SoqlStream(
            system=SYSTEM,
            name=name,
            entities=tuple(e for e in mapping.entities(sobjects[name]) if e in wanted[name]),
            stamp_field="SystemModstamp",
            id_field="Id",
            sobject=sobjects[name],
            fields=tuple(mapping.soql_fields(sobjects[name])),
            conditions=record_type_filter(mapping.record_types(sobjects[name])),
        )
        for name in STREAM_NAMES
    }


def record_type_filter(record_types: tuple[str, ...]) -> tuple[Condition, ...]:
    """The condition that reads only records of ``record_types`` (none: every record)."""
    return (In(RECORD_TYPE, record_types),) if record_types else ()
